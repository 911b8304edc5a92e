"""Training: the tiny recipe end to end, resume, QLoRA on the CPU, DDP, bad recipes, metadata, loading."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import QUICK, ROOT, TINY_RECIPE, train, train_ok

TINY = TINY_RECIPE


@pytest.mark.slow
def test_tiny_recipe_trains_and_saves_a_complete_adapter(trained):
    out, done = trained
    for name in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer.json",
        "recipe.yaml",
        "llama_mapper.json",
        "README.md",
        "all_results.json",
    ):
        assert (out / name).is_file(), name
    meta = json.loads((out / "llama_mapper.json").read_text())
    assert meta["base_model"] == {
        "model_id": "tiny-random-llama",
        "source": "tiny-random",
        "revision": meta["base_model"]["revision"],
        "description": meta["base_model"]["description"],
    }
    assert meta["dataset"]["source"] == "local" and meta["dataset"]["fingerprint"].startswith("sha256:")
    assert meta["dataset"]["generation"]["seed"] == 5
    assert meta["taxonomy"] == "taxonomy@2025.09" and meta["frameworks"] == "frameworks@v1.0"
    assert {"torch", "transformers", "trl", "peft"} <= set(meta["libraries"])
    assert meta["precision"] in ("bf16", "fp32")
    metrics = meta["metrics"]
    for key in (
        "train_loss",
        "eval_loss",
        "eval_exact_match",
        "eval_parseable",
        "test_exact_match",
        "test_unseen_exact_match",
        "test_n",
    ):
        assert key in metrics, key
    assert metrics["test_n"] == 16 and 0 <= metrics["test_exact_match"] <= 1
    # The task metric was logged at each evaluation (eval_steps=2, max_steps=4).
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert sum("eval_exact_match" in entry for entry in state["log_history"]) == 2


@pytest.mark.slow
def test_the_retriever_is_fine_tuned_saved_and_recorded(trained, tiny_dataset):
    from llama_mapper.catalog import load_catalog
    from llama_mapper.data.io import load_splits
    from llama_mapper.mapping.candidates import Embedder, load_embedder, retriever_path
    from llama_mapper.models.retriever import training_index, with_candidates
    from llama_mapper.resources.taxonomy import load_taxonomy

    out, _ = trained
    folder = retriever_path(out)
    assert folder is not None and folder == out / "retriever"
    meta = json.loads((out / "llama_mapper.json").read_text())
    info = meta["retriever"]
    assert info["pairs"] > 0 and info["steps"] >= 1 and info["taxonomy"] == "taxonomy@2025.09"
    for split in ("train", "validation", "test"):
        assert set(info["first_candidate_accuracy"][split]) == {"before", "after"}
    assert 0 <= meta["metrics"]["retriever_first_candidate_test_exact_match"] <= 1
    # its layers moved; the bundled encoder did not
    fine, base = load_embedder(folder)(["hate speech"]), Embedder()(["hate speech"])
    assert float((fine - base).abs().max()) > 1e-4
    # the model was tested on candidates re-ranked by that retriever
    stored = load_splits(tiny_dataset, ["train", "test"])
    index = training_index(
        list(stored["train"]),
        load_taxonomy(),
        load_embedder(folder),
        load_catalog(),
        meta["dataset"]["generation"],
    )
    expected = with_candidates(stored["test"].select(range(16)), index)["candidates"]
    predicted = [json.loads(line) for line in (out / "test_predictions.jsonl").read_text().splitlines()]
    assert [row["candidates"] for row in predicted] == expected


@pytest.mark.slow
def test_the_training_index_is_the_one_the_dataset_was_generated_with(tiny_dataset):
    """With the off-the-shelf encoder, re-ranking reproduces the stored candidates exactly: fine-tuning
    the retriever changes the encoder and nothing else."""
    from llama_mapper.catalog import load_catalog
    from llama_mapper.data.io import load_splits
    from llama_mapper.mapping.candidates import Embedder
    from llama_mapper.models.retriever import training_index, with_candidates
    from llama_mapper.resources.taxonomy import load_taxonomy

    dataset = load_splits(tiny_dataset, ["train", "test"])
    generation = json.loads((tiny_dataset / "generation.json").read_text())
    taxonomy = load_taxonomy()
    index = training_index(list(dataset["train"]), taxonomy, Embedder(), load_catalog(), generation)
    again = with_candidates(dataset["test"], index)
    assert again["candidates"] == dataset["test"]["candidates"]


@pytest.mark.slow
def test_saved_recipe_is_the_resolved_one_and_parses_again(trained):
    out, _ = trained
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    assert recipe["model_name_or_path"] == "tiny-random-llama"
    assert recipe["output_dir"] == str(out) and recipe["max_steps"] == 4 and recipe["lora_r"] == 8
    from llama_mapper.training.run import parse  # what scripts/train.py and `llama-mapper train` parse with

    script_args, training_args, model_args = parse(["--config", str(out / "recipe.yaml")])
    assert (script_args.dataset_name, training_args.learning_rate, model_args.lora_alpha) == (
        recipe["dataset_name"],
        1e-3,
        16,
    )


@pytest.mark.slow
def test_adapter_loads_with_peft_and_the_checkpoint_manager(trained):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from llama_mapper.hub.checkpoints import CheckpointManager
    from llama_mapper.models.base_model import resolve_base_model

    out, _ = trained
    base = AutoModelForCausalLM.from_pretrained(resolve_base_model("tiny-random-llama").path)
    peft_model = PeftModel.from_pretrained(base, str(out)).eval()
    model, tokenizer, meta = CheckpointManager(out.parent).load_checkpoint(out.name)
    assert meta["name"] == "tiny-lora@v0.0.1" and meta["base_model"]["model_id"] == "tiny-random-llama"
    ids = tokenizer("detector: x\ncategories: hate", return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(peft_model(**ids).logits, model(**ids).logits)
    # LoRA moved the model away from its base: the adapter is not a no-op.
    with torch.no_grad(), peft_model.disable_adapter():
        assert not torch.allclose(peft_model(**ids).logits, model(**ids).logits)


@pytest.mark.slow
def test_checkpoint_manager_rejects_what_is_not_an_adapter(tmp_path, trained):
    from llama_mapper.hub.checkpoints import CheckpointError, CheckpointManager

    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "adapter_config.json").write_text("{}")
    manager = CheckpointManager(tmp_path)
    with pytest.raises(CheckpointError, match="missing adapter_model.safetensors, llama_mapper.json"):
        manager.load_checkpoint("half")
    with pytest.raises(CheckpointError, match="no checkpoint 'nope@v1.0.0'.*known: half"):
        manager.load_checkpoint("nope@v1.0.0")


@pytest.mark.slow
def test_card_is_written_last_with_parseable_metadata_and_lineage(trained):
    from huggingface_hub import ModelCard

    out, _ = trained
    card = ModelCard.load(out / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "peft" and "llama-mapper" in data["tags"]
    assert data["llama_mapper"]["base_model"]["source"] == "tiny-random"
    assert data["model-index"][0]["results"][0]["metrics"][0]["type"] == "exact_match"
    meta = json.loads((out / "llama_mapper.json").read_text())
    assert f"{meta['metrics']['test_exact_match']:.3f}" in card.text
    assert "recipe.yaml" in card.text and meta["dataset"]["fingerprint"][:23] in card.text


@pytest.mark.slow
def test_interrupted_run_resumes_from_its_last_checkpoint(tiny_dataset, tmp_path):
    out = tmp_path / "resume"
    train_ok(tiny_dataset, out, "--max_steps", "2", "--test_eval_samples", "0")
    assert (out / "checkpoint-2").is_dir()
    second = train_ok(tiny_dataset, out, "--test_eval_samples", "0")
    assert "resuming from" in second.stderr and "checkpoint-2" in second.stderr
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4


@pytest.mark.slow
def test_qlora_4bit_path_runs_on_the_cpu(tiny_dataset, tmp_path):
    out = tmp_path / "qlora"
    train_ok(tiny_dataset, out, "--load_in_4bit", "true", *QUICK)
    meta = json.loads((out / "llama_mapper.json").read_text())
    assert meta["adapter"]["method"] == "qlora"
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 8
    # The recipe's 4-bit flag really gives NF4 bitsandbytes layers, computing in the training precision.
    import bitsandbytes as bnb

    from llama_mapper.models.base_model import resolve_base_model
    from llama_mapper.training.config import MapperModelConfig
    from llama_mapper.training.trainer import load_model

    args = MapperModelConfig(model_name_or_path="tiny-random-llama", load_in_4bit=True, use_peft=True)
    model = load_model(resolve_base_model("tiny-random-llama"), args, "fp32")
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers and all(m.weight.quant_type == "nf4" for m in layers)


@pytest.mark.slow
def test_ddp_with_two_cpu_processes(tiny_dataset, tmp_path):
    out = tmp_path / "ddp"
    # No --cpu: accelerate's --cpu picks its single-process launcher; without GPUs the ddp config
    # runs two CPU processes that talk through gloo (MapperSFTConfig sets use_cpu).
    launcher = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(ROOT / "recipes" / "accelerate_configs" / "ddp.yaml"),
        "--num_processes",
        "2",
    ]
    train_ok(tiny_dataset, out, *QUICK, launcher=launcher, timeout=400)
    assert (out / "adapter_model.safetensors").is_file()
    state = json.loads((out / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    # Two processes shared each step: 2 steps x 8 rows x 2 processes = half of the 64 examples.
    assert json.loads((out / "llama_mapper.json").read_text())["metrics"]["train_epoch"] == pytest.approx(0.5)


def test_the_final_save_gathers_fsdp_shards_and_a_run_without_weights_fails(tmp_path):
    """FSDP needs GPUs: accelerate's real FSDP plugin stands beside a trainer that saves the way
    transformers does under FSDP (the adapter file only from a full state dict)."""
    from types import SimpleNamespace

    import torch
    from accelerate.utils import FullyShardedDataParallelPlugin
    from safetensors.torch import save_file
    from torch.distributed.fsdp import StateDictType

    from llama_mapper.training.artifacts import require_weights, save_weights

    plugin = FullyShardedDataParallelPlugin(state_dict_type="SHARDED_STATE_DICT")  # as fsdp.yaml

    def save_model(folder):
        Path(folder).mkdir(parents=True, exist_ok=True)
        if plugin.state_dict_type == StateDictType.FULL_STATE_DICT:
            save_file({"lora_A.weight": torch.ones(2, 2)}, str(Path(folder) / "adapter_model.safetensors"))

    accelerator = SimpleNamespace(state=SimpleNamespace(fsdp_plugin=plugin), is_main_process=True)
    trainer = SimpleNamespace(is_fsdp_enabled=True, accelerator=accelerator, save_model=save_model)
    assert save_weights(trainer, tmp_path / "run", peft=True).name == "adapter_model.safetensors"
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "README.md").write_text("a card")
    with pytest.raises(
        RuntimeError, match=r"holds no adapter_model.safetensors .*README.md.*FULL_STATE_DICT"
    ):
        require_weights(empty, peft=True)
    (empty / "adapter_model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(RuntimeError, match="does not load"):
        require_weights(empty, peft=True)
    save_file({}, str(empty / "adapter_model.safetensors"))
    with pytest.raises(RuntimeError, match="holds no tensors"):
        require_weights(empty, peft=True)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (["--lerning_rate", "1e-3"], "lerning_rate"),
        (["--learning_rate", "fast"], "learning_rate"),
        (["--precision", "fp8"], "precision"),
    ],
)
def test_bad_recipes_fail_fast_with_a_clear_message(override, message, tmp_path, capsys):
    """Parsed in process (the script's first step): a typo, a wrong type or value stops before
    anything loads, naming the field."""
    from llama_mapper.training.run import parse

    with pytest.raises(SystemExit) as stop:
        parse(["--config", str(TINY), "--output_dir", str(tmp_path / "bad"), *override])
    assert stop.value.code != 0
    assert message in f"{stop.value.code} {capsys.readouterr().err}"


def test_unknown_recipe_key_fails_before_any_model_loads(tmp_path, capsys):
    from llama_mapper.training.run import parse

    recipe = tmp_path / "typo.yaml"
    recipe.write_text(TINY.read_text() + "\nlora_rank: 8\n")
    with pytest.raises(SystemExit) as stop:
        parse(["--config", str(recipe)])
    assert "lora_rank" in f"{stop.value.code} {capsys.readouterr().err}"


@pytest.mark.slow
def test_the_train_script_stops_with_the_fix_when_the_data_is_missing(tmp_path):
    """The script end to end: a non-zero exit, the fix on stderr, and no adapter written."""
    out = tmp_path / "bad"
    done = train("--output_dir", str(out), "--dataset_name", "no/such/folder", timeout=120)
    assert done.returncode != 0
    assert "make data" in done.stderr
    assert "base model" not in done.stderr
    assert not (out / "adapter_model.safetensors").exists()


def test_precision_never_picks_what_the_hardware_cannot_run():
    from llama_mapper.models.precision import choose_precision, cpu_has_native_bf16

    assert choose_precision("auto", use_cpu=True) == ("bf16" if cpu_has_native_bf16() else "fp32")
    assert choose_precision("fp32", use_cpu=True) == "fp32"
    with pytest.raises(ValueError, match="fp16 mixed precision needs a GPU"):
        choose_precision("fp16", use_cpu=True)


def test_every_timing_can_name_its_cpu_and_the_features_that_set_its_speed():
    from llama_mapper.models.precision import cpu_info, describe_cpu

    xeon = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8481C\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile amx_bf16\n\nprocessor\t: 1\nmodel name\t: other\n"
    epyc = "processor\t: 0\nmodel name\t: AMD EPYC 9B14\nflags\t\t: fpu avx2 avx512f avx512_bf16\n"
    assert cpu_info(xeon)["model"] == "Intel(R) Xeon(R) Platinum 8481C"
    assert cpu_info(xeon)["features"] == {"AMX": True, "AVX-512 bf16": True, "AVX-512": True}
    assert describe_cpu(cpu_info(epyc)).endswith("AMX no, AVX-512 bf16 yes, AVX-512 yes")
    here = cpu_info()  # this machine: a model name and a core count, whatever it is
    assert here["model"] and here["cores"] and set(here["features"]) == {"AMX", "AVX-512 bf16", "AVX-512"}


@pytest.mark.slow
def test_answer_only_loss_equals_trls_loss_and_masks_the_prompt(tiny_dataset):
    """The fast loss (LM head on the answer span only) is the same number as TRL's full one."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llama_mapper.data.io import load_splits
    from llama_mapper.models.base_model import resolve_base_model
    from llama_mapper.training.config import MapperSFTConfig
    from llama_mapper.training.trainer import MapperSFTTrainer, sft_examples

    path = resolve_base_model("tiny-random-llama").path
    rows = load_splits(tiny_dataset, ["train"])
    rows = sft_examples(rows["train"], "categories", limit=8)  # the default recipe's rows
    tokenizer = AutoTokenizer.from_pretrained(path)
    args = MapperSFTConfig(
        output_dir="/tmp/unused",
        report_to="none",
        max_length=128,
        precision="fp32",
        gradient_checkpointing=False,
    )
    trainer = MapperSFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(path),
        args=args,
        train_dataset=rows,
        processing_class=tokenizer,
    )
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(8)])
    # Loss only on the answer: every prompt token is masked, every answer token is not.
    for ids, labels in zip(batch["input_ids"], batch["labels"], strict=True):
        text = tokenizer.decode(ids[labels != -100])
        assert text.startswith("[") and "detector:" not in text
    trainer.model.eval()
    with torch.no_grad():
        fast = trainer.compute_loss(trainer.model, dict(batch))
        trainer.answer_only_logits = False
        full = trainer.compute_loss(trainer.model, dict(batch))
    assert fast.item() == pytest.approx(full.item(), rel=1e-4)


def test_make_train_runs_the_recipe_alone_or_through_accelerate():
    plain = subprocess.run(
        ["make", "-n", "train", "PYTHON=python", "RECIPE=recipes/x.yaml", "ARGS=--max_steps 1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "python scripts/train.py --config recipes/x.yaml --max_steps 1" in plain
    many = subprocess.run(
        [
            "make",
            "-n",
            "train",
            "PYTHON=python",
            "RECIPE=recipes/x.yaml",
            "ACCELERATE_CONFIG=recipes/accelerate_configs/zero3.yaml",
            "NUM_PROCESSES=8",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert (
        "accelerate.commands.launch --config_file recipes/accelerate_configs/zero3.yaml --num_processes 8"
        in many
    )


@pytest.mark.parametrize("name", ["ddp", "zero3", "fsdp"])
def test_accelerate_configs_load(name):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(ROOT / "recipes" / "accelerate_configs" / f"{name}.yaml"))
    assert config.distributed_type.value == {"ddp": "MULTI_GPU", "zero3": "DEEPSPEED", "fsdp": "FSDP"}[name]


@pytest.mark.parametrize(
    "recipe",
    sorted(str(p.relative_to(ROOT)) for p in (ROOT / "recipes").glob("*/sft/config_*.yaml")),
)
def test_every_recipe_parses_and_says_how_to_run_it(recipe):
    text = (ROOT / recipe).read_text()
    assert text.startswith("#") and f"RECIPE={recipe}" in text
    from llama_mapper.commands.train import parse  # what scripts/train.py runs

    script_args, training_args, model_args = parse(["--config", str(ROOT / recipe)])
    assert model_args.use_peft and training_args.output_dir.startswith("outputs/")


@pytest.mark.slow
def test_answers_first_reorders_training_candidates_only_where_retrieval_found_the_answer(tiny_dataset):
    from llama_mapper.data.io import load_splits
    from llama_mapper.training.trainer import answers_first, sft_examples

    row = {
        "categories": ["UNSUBSTANTIAL", "hate/threatening", "zorblax"],
        "category_labels": [
            ["OTHER.LowQuality"],
            ["HARM.SPEECH.Threat", "HARM.SPEECH.Hate.Other"],
            ["PII.Other"],
        ],
        "candidates": [
            ["OTHER.Hallucination", "OTHER.LowQuality", "OTHER.Misinformation"],
            ["HARM.SPEECH.Hate.Other", "HARM.SPEECH.Insult", "HARM.SPEECH.Threat"],
            ["OTHER.Unknown", "PII.Identifier.Other", "OTHER.Safe"],
        ],
    }
    assert answers_first(row)["candidates"] == [
        ["OTHER.LowQuality", "OTHER.Hallucination", "OTHER.Misinformation"],
        ["HARM.SPEECH.Threat", "HARM.SPEECH.Hate.Other", "HARM.SPEECH.Insult"],
        ["OTHER.Unknown", "PII.Identifier.Other", "OTHER.Safe"],  # not found: left as retrieval ranked it
    ]
    assert row["candidates"][0][0] == "OTHER.Hallucination"  # the row itself is not changed
    rows = load_splits(tiny_dataset, ["train"])["train"]
    plain, trusting = sft_examples(rows, "categories"), sft_examples(rows, "categories", trust_ranking=True)
    assert len(plain) == len(trusting)
    for example in trusting:  # every answer the list holds is now listed first
        prompt, answer = example["prompt"][-1]["content"], json.loads(example["completion"][0]["content"])
        listed = prompt.rpartition("candidates: ")[2].split("; ") if "candidates: " in prompt else []
        if answer[0] in listed:
            assert listed[0] == answer[0]

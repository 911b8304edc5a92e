"""Training set-up for ``scripts/train.py``: recipe dataclasses, data, precision, model, LoRA, trainer.

A recipe is one YAML file read by ``TrlParser`` into three dataclasses: :class:`ScriptArguments`
(data and evaluation), :class:`MapperSFTConfig` (the Trainer: TRL's ``SFTConfig`` + precision) and :class:`MapperModelConfig` (the base model,
quantisation and LoRA). Unknown keys are an error, before any model loads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trl import ModelConfig, SFTConfig, SFTTrainer
from trl import ScriptArguments as TrlScriptArguments

from llama_mapper.base_model import BaseModel, resolve_base_model
from llama_mapper.checkpoints import METADATA_FILE
from llama_mapper.evaluation import evaluate_model, flat_metrics
from llama_mapper.prompt import category_examples

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
REQUIRED_COLUMNS = {
    "categories": ("labels", "categories", "category_labels", "candidates", "status", "verdict"),
    "raw": ("labels", "prompt", "completion"),
}
RECIPE_FILE = "recipe.yaml"
LIBRARIES = (
    "llama-mapper",
    "torch",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "datasets",
    "huggingface_hub",
)


@dataclass
class ScriptArguments(TrlScriptArguments):
    """Data and evaluation settings of a training run.

    Data:
        dataset_name: a local dataset folder (``make data``) or a Hub dataset ``org/name@v1.0.0`` (a
            tag, branch or commit sha; no ``@``: ``dataset_revision``, else the latest release tag).
            The resolved commit sha is recorded.
    Task metric:
        task_eval_samples: validation rows whose greedy answers are scored (label exact-set) at each
            evaluation; test_eval_samples: test rows scored at the end (all when unset).
    """

    dataset_name: str | None = field(
        default="data/mapper-dataset",
        metadata={"help": "Local dataset folder, or Hub dataset org/name@v1.0.0."},
    )
    dataset_revision: str | None = field(
        default=None, metadata={"help": "Hub dataset revision to pin: a tag (v1.0.0) or a commit sha."}
    )
    prompt_mode: str = field(
        default="categories",
        metadata={
            "help": "categories: map the reader's extracted categories (small models); raw: read the "
            "compacted raw output (large models), the dataset's own prompt/completion columns.",
            "choices": ["categories", "raw"],
        },
    )
    dataset_eval_split: str = field(default="validation", metadata={"help": "Split for evaluation."})
    max_train_samples: int | None = field(
        default=None,
        metadata={"help": "Train on the first N examples (categories mode: distinct category prompts)."},
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Evaluate the loss on the first N validation examples."}
    )
    task_eval_samples: int = field(
        default=64, metadata={"help": "Validation rows scored by greedy exact-match at each evaluation."}
    )
    test_eval_samples: int | None = field(
        default=None, metadata={"help": "Test rows scored after training (all when unset; 0 skips)."}
    )
    eval_base_model: bool = field(
        default=False, metadata={"help": "Also score the untrained base model on the first test rows."}
    )
    base_eval_samples: int = field(default=150, metadata={"help": "Test rows for the base model's score."})
    compare_baselines: bool = field(
        default=False,
        metadata={"help": "Also score the non-model baselines (aliases, normalisation, embeddings) on test."},
    )
    retriever_epochs: int = field(
        default=0,
        metadata={
            "help": "categories mode: fine-tune the candidate retriever (all-MiniLM-L6-v2) on the train "
            "split for this many epochs first, and re-rank every split's candidates with it (0: keep the "
            "dataset's candidates)."
        },
    )
    retriever_learning_rate: float = field(default=3e-5, metadata={"help": "The retriever's learning rate."})
    answers_first: bool = field(
        default=False,
        metadata={
            "help": "categories mode: in training prompts, move a category's answer labels that are among "
            "its candidates to the front of the list, so that the model learns to trust the ranking (it "
            "cannot judge an unseen spelling better than the retriever). Test prompts are unchanged."
        },
    )
    max_new_tokens: int = field(default=48, metadata={"help": "Answer length limit when generating."})
    generation_batch_size: int = field(default=32, metadata={"help": "Prompts per generate() call."})
    answer_only_logits: bool = field(
        default=True,
        metadata={"help": "Compute the LM head only where the answer's loss is (a large saving on a CPU)."},
    )
    model_card_template: str = field(
        default="model_cards/adapter_card.md", metadata={"help": "Jinja template of the adapter's card."}
    )

    def __post_init__(self) -> None:
        if self.prompt_mode not in ("categories", "raw"):
            raise ValueError(f"prompt_mode must be categories or raw, not {self.prompt_mode!r}")
        if not self.dataset_name:
            raise ValueError("dataset_name is required: a local dataset folder or a Hub dataset repo id")


@dataclass
class MapperSFTConfig(SFTConfig):
    """TRL's ``SFTConfig`` with device-aware precision, resolved before the Trainer checks it.

    precision: ``auto`` picks bf16 on GPUs that support it, fp16 on older GPUs (a T4), bf16 on CPUs
    with native bf16 (AMX/AVX512-BF16) and fp32 on other CPUs, so that one recipe runs everywhere.
    It overrides ``bf16``/``fp16``.
    """

    precision: str = field(
        default="auto",
        metadata={"help": "auto | bf16 | fp16 | fp32 (overrides bf16/fp16).", "choices": list(PRECISIONS)},
    )

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {self.precision!r}")
        import torch

        if not torch.cuda.is_available():
            self.use_cpu = True
        self.resolved_precision = choose_precision(self.precision, self.use_cpu)
        self.bf16 = self.resolved_precision == "bf16"
        self.fp16 = self.resolved_precision == "fp16"
        super().__post_init__()


@dataclass
class MapperModelConfig(ModelConfig):
    """TRL's ``ModelConfig`` plus where LoRA goes.

    lora_layers: put LoRA only on the last N transformer layers; the backward pass then stops there,
    which on a CPU is the largest single speed-up. None: every layer.
    """

    lora_layers: int | None = field(
        default=None, metadata={"help": "LoRA only on the last N layers (None: all layers)."}
    )
    offline_fallback: bool = field(
        default=True,
        metadata={"help": "Use the bundled GGUF of the default base model when the Hub cannot be reached."},
    )


# ---------------------------------------------------------------------------------------------
# Precision
# ---------------------------------------------------------------------------------------------


def cpu_has_native_bf16() -> bool:
    """True on CPUs whose oneDNN kernels run bf16 natively (AMX or AVX512-BF16)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def choose_precision(requested: str = "auto", use_cpu: bool = False) -> str:
    """The precision to train in: never one the hardware cannot run."""
    import torch

    cuda = torch.cuda.is_available() and not use_cpu
    if requested == "auto":
        if cuda:
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_native_bf16() else "fp32"
    if requested == "fp16" and not cuda:
        raise ValueError("fp16 mixed precision needs a GPU; use precision: auto or fp32 on a CPU")
    if requested == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise ValueError("this GPU has no bf16 (e.g. a T4): use precision: auto or fp16")
    return requested


def torch_dtype_for(precision: str):
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def fingerprint_folder(path: Path) -> str:
    """sha256 over a local dataset's files (names and bytes), to record exactly what was trained on."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file() and ".cache" not in p.parts):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def load_sft_dataset(args: ScriptArguments):
    """The dataset and where it came from; fails with a clear message when it cannot be found."""
    from datasets import DatasetDict, load_dataset

    name = args.dataset_name
    local = Path(name)
    if local.exists() or name.startswith((".", "/")) or name.partition("@")[0].count("/") != 1:
        if not local.is_dir():
            raise FileNotFoundError(
                f"dataset folder {name!r} not found: generate it with `make data DATA_DIR={name}` "
                "or name a Hub dataset repo (org/name) with dataset_revision"
            )
        files = {
            split: str(p)
            for split in (args.dataset_train_split, args.dataset_eval_split, args.dataset_test_split)
            if (p := local / "data" / f"{split}-00000-of-00001.parquet").is_file()
        }
        if args.dataset_train_split not in files:
            raise FileNotFoundError(f"{name!r} has no {args.dataset_train_split} split (data/*.parquet)")
        dataset = load_dataset("parquet", data_files=files)
        generation = local / "generation.json"
        info = {
            "source": "local",
            "path": str(local.resolve()),
            "fingerprint": "sha256:" + fingerprint_folder(local),
            "generation": json.loads(generation.read_text()) if generation.is_file() else None,
        }
    else:
        from llama_mapper.hub import HubRef, hub_errors, resolve

        ref = HubRef.parse(name)
        if ref.revision is None and args.dataset_revision:
            ref = HubRef(ref.repo_id, args.dataset_revision)
        found = resolve(ref, repo_type="dataset")
        with hub_errors(f"cannot load dataset {found.ref}", found.repo_id):
            dataset = load_dataset(found.repo_id, revision=found.sha)
        info = {
            "source": "hub",
            "repo": found.repo_id,
            "revision": found.revision,
            "sha": found.sha,
            "generation": hub_generation(found.repo_id, found.sha),
        }
    if not isinstance(dataset, DatasetDict) or args.dataset_train_split not in dataset:
        raise ValueError(f"dataset {name!r} has no {args.dataset_train_split!r} split")
    needed = REQUIRED_COLUMNS[args.prompt_mode]
    missing = [c for c in needed if c not in dataset[args.dataset_train_split].column_names]
    if missing:
        raise ValueError(f"dataset {name!r} lacks the columns {missing}: regenerate it with make data")
    return dataset, info


def hub_generation(repo_id: str, sha: str | None) -> dict[str, Any] | None:
    """A Hub dataset's ``generation.json`` (how ``make data`` made it), when it has one."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    try:
        path = hf_hub_download(repo_id, "generation.json", repo_type="dataset", revision=sha)
    except EntryNotFoundError:
        return None
    return json.loads(Path(path).read_text())


def train_retriever(
    dataset, args: ScriptArguments, output_dir: str | Path, seed: int = 42, generation: dict | None = None
):
    """Fine-tune the candidate retriever on the train split (or reuse the one a resumed run saved)
    and re-rank the candidates of every split with it; returns ``(dataset, info)``.

    ``info`` records the retriever's settings and how often the first candidate is right before and
    after, per split (the stored candidates come from the off-the-shelf encoder).
    """
    from datasets import DatasetDict

    from llama_mapper import retriever as R
    from llama_mapper.catalog import load_catalog
    from llama_mapper.taxonomy import load_taxonomy

    taxonomy = load_taxonomy()
    train = dataset[args.dataset_train_split]
    folder = Path(output_dir) / R.RETRIEVER_DIR
    if R.retriever_path(output_dir) is None:
        config = R.finetune(
            R.training_pairs(train),
            taxonomy,
            folder,
            epochs=args.retriever_epochs,
            learning_rate=args.retriever_learning_rate,
            seed=seed,
        )
    else:
        config = json.loads((folder / R.CONFIG_FILE).read_text())
        logger.info("reusing the retriever fine-tuned before the interruption: %s", folder)
    index = R.training_index(
        list(train), taxonomy, R.load_embedder(folder, taxonomy), load_catalog(taxonomy.version), generation
    )
    before = {split: R.first_candidate_accuracy(rows) for split, rows in dataset.items()}
    dataset = DatasetDict({split: R.with_candidates(rows, index) for split, rows in dataset.items()})
    after = {split: R.first_candidate_accuracy(rows) for split, rows in dataset.items()}
    first = {split: {"before": before[split], "after": after[split]} for split in dataset}
    logger.info("first candidate right, before -> after fine-tuning the retriever: %s", first)
    return dataset, {**config, "path": R.RETRIEVER_DIR, "first_candidate_accuracy": first}


def answers_first(row: dict[str, Any]) -> dict[str, Any]:
    """A row whose candidates list each category's answer labels first (those the list holds, in
    answer order), then the others in retrieval order. Labels the list lacks are not added."""
    ordered = []
    for labels, candidates in zip(row["category_labels"], row.get("candidates") or [], strict=False):
        found = [label for label in labels if label in candidates]
        ordered.append(found + [c for c in candidates if c not in found])
    return {**row, "candidates": ordered} if ordered else row


def sft_examples(
    rows, mode: str, limit: int | None = None, max_repeats: int = 5, trust_ranking: bool = False
):
    """The conversational prompt/completion rows the Trainer sees.

    ``raw``: the dataset's own per-request conversations. ``categories``: one conversation per
    category, from :func:`llama_mapper.prompt.category_examples`; a prompt recurs at most
    ``max_repeats`` times (a frequent vendor code is learnt from a few, not hundreds).
    ``trust_ranking``: candidates reordered by :func:`answers_first` (the recipe's ``answers_first``).
    """
    from collections import Counter

    from datasets import Dataset

    if mode == "raw":
        return select(rows.select_columns(["prompt", "completion"]), limit)
    seen: Counter = Counter()
    examples = []
    for row in rows:
        for example in category_examples(answers_first(row) if trust_ranking else row):
            key = json.dumps(example["prompt"])
            if seen[key] < max_repeats:
                seen[key] += 1
                examples.append(example)
        if limit is not None and len(examples) >= limit:
            break
    return Dataset.from_list(examples[:limit] if limit is not None else examples)


def select(dataset, n: int | None):
    return dataset if n is None or n >= len(dataset) else dataset.select(range(n))


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


def resolve_base(model_args: MapperModelConfig) -> BaseModel:
    revision = model_args.model_revision if model_args.model_revision != "main" else None
    return resolve_base_model(model_args.model_name_or_path, revision, model_args.offline_fallback)


def load_tokenizer(base: BaseModel):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base.path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise ValueError(f"{base.model_id} has no chat template: use an instruct/chat model")
    return tokenizer


def load_model(base: BaseModel, model_args: MapperModelConfig, precision: str):
    """The base model, full precision or 4-bit NF4 (bitsandbytes) as the recipe says."""
    import torch
    from transformers import AutoModelForCausalLM
    from trl import get_quantization_config

    quantization = get_quantization_config(model_args)
    dtype = (
        torch_dtype_for(precision) if model_args.dtype in ("auto", None) else getattr(torch, model_args.dtype)
    )
    kwargs: dict[str, Any] = {"dtype": dtype, "attn_implementation": model_args.attn_implementation}
    if quantization is not None:
        # Compute in the training precision: fp16 on a T4, bf16 on an A100, fp32 on a CPU without bf16.
        quantization.bnb_4bit_compute_dtype = torch_dtype_for(precision)
        kwargs.update(quantization_config=quantization, device_map=kbit_device_map())
    model = AutoModelForCausalLM.from_pretrained(base.path, **kwargs)
    model.config.use_cache = False
    return model


def kbit_device_map() -> dict[str, Any]:
    """Quantised weights load straight onto this process's device (each rank its own GPU; or the CPU)."""
    import torch
    from accelerate import PartialState

    return {"": PartialState().local_process_index if torch.cuda.is_available() else "cpu"}


def lora_config(model_args: MapperModelConfig, num_layers: int):
    """PEFT LoRA from the recipe (r, alpha, dropout, target modules), optionally on the last layers only."""
    from trl import get_peft_config

    config = get_peft_config(model_args)
    if config is None:
        raise ValueError("the mapper trains LoRA adapters: set use_peft: true in the recipe")
    if model_args.lora_layers:
        if model_args.lora_layers > num_layers:
            raise ValueError(f"lora_layers={model_args.lora_layers} but the model has {num_layers} layers")
        if isinstance(config.target_modules, str):  # "all-linear" cannot be combined with a layer subset
            config.target_modules = [
                "q_proj",
                "k_proj",
                "v_proj",
                "o_proj",
                "gate_proj",
                "up_proj",
                "down_proj",
            ]
        config.layers_to_transform = list(range(num_layers - model_args.lora_layers, num_layers))
    return config


# ---------------------------------------------------------------------------------------------
# Trainer
# ---------------------------------------------------------------------------------------------


class MapperSFTTrainer(SFTTrainer):
    """``SFTTrainer`` with the task metric at each evaluation and an answer-only LM head.

    - ``task_rows``: validation rows whose greedy answers are scored (``eval_exact_match``,
      ``eval_parseable``) at each evaluation, so checkpoints can be chosen on the task, not the loss.
    - ``answer_only_logits``: the loss needs logits only at the answer's positions; computing the
      49k-wide LM head (and TRL's entropy metrics) for the prompt too costs most of a CPU step.
    """

    def __init__(
        self,
        *args: Any,
        task_rows: list[dict[str, Any]] | None = None,
        prompt_mode: str = "categories",
        generation_kwargs: dict[str, Any] | None = None,
        answer_only_logits: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.task_rows = task_rows or []
        self.prompt_mode = prompt_mode
        self.generation_kwargs = generation_kwargs or {}
        self.answer_only_logits = answer_only_logits

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if not self.answer_only_logits or return_outputs or "labels" not in inputs:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        import torch
        import torch.nn.functional as F

        labels = inputs["labels"]
        targets = labels[:, 1:]  # position t predicts token t+1
        columns = (targets != -100).any(0).nonzero().flatten()
        if columns.numel() == 0:
            keep = torch.arange(1, device=labels.device)
        else:
            keep = torch.arange(int(columns[0]), int(columns[-1]) + 1, device=labels.device)
        forward = {k: v for k, v in inputs.items() if k != "labels"}
        outputs = model(**forward, use_cache=False, logits_to_keep=keep)
        logits = outputs.logits.float()
        gold = targets[:, keep]
        loss_sum = F.cross_entropy(logits.flatten(0, 1), gold.flatten(), ignore_index=-100, reduction="sum")
        valid = gold != -100
        num_tokens = valid.sum() if num_items_in_batch is None else num_items_in_batch
        loss = loss_sum / torch.as_tensor(num_tokens, device=loss_sum.device).clamp(min=1)
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes
        mode = "train" if model.training else "eval"
        with torch.no_grad():
            correct = ((logits.argmax(-1) == gold) & valid).sum()
            total = self.accelerator.gather_for_metrics(valid.sum()).sum()
            correct = self.accelerator.gather_for_metrics(correct).sum()
            self._metrics[mode]["mean_token_accuracy"].append((correct / total.clamp(min=1)).item())
            if mode == "train":  # the same token count TRL logs (`num_tokens`), padding excluded
                seen = self.accelerator.gather_for_metrics(inputs["attention_mask"].sum()).sum().item()
                self._total_train_tokens += seen // self._tp_size
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
        return loss

    def task_metrics(self) -> dict[str, float]:
        """Greedy exact-set accuracy and parse rate on ``task_rows``."""
        if not self.task_rows:
            return {}
        model = self.accelerator.unwrap_model(self.model)
        scores, _ = evaluate_model(
            model, self.processing_class, self.task_rows, self.prompt_mode, **self.generation_kwargs
        )
        return flat_metrics({"all": scores["all"]})

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"):
        metrics = super().evaluate(eval_dataset, ignore_keys, metric_key_prefix)
        if metric_key_prefix == "eval" and self.task_rows:
            # Every rank generates the same answers: sharded models (ZeRO-3, FSDP) need all ranks anyway.
            task = {f"eval_{k}": v for k, v in self.task_metrics().items()}
            self.log(task)
            metrics.update(task)
        return metrics


# ---------------------------------------------------------------------------------------------
# What is saved beside the adapter
# ---------------------------------------------------------------------------------------------


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shaped the adapter, and the Python/platform."""
    import importlib.metadata

    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    versions["python"] = platform.python_version()
    return versions


def resolved_recipe(script_args, training_args, model_args) -> dict[str, Any]:
    """The exact settings used, as one flat recipe that ``train.py --config`` accepts again."""
    import dataclasses
    import enum

    def plain(value: Any) -> Any:
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        try:
            json.dumps(value)
        except TypeError:
            return str(value)
        return value

    recipe: dict[str, Any] = {}
    for args in (model_args, script_args, training_args):
        values = args.to_dict() if hasattr(args, "to_dict") else vars(args)  # to_dict hides tokens
        for f in dataclasses.fields(args):
            if f.init and f.name in values and not f.name.startswith("_"):
                recipe[f.name] = plain(values[f.name])
    return recipe


def last_checkpoint(output_dir: str | Path) -> str | None:
    """The newest ``checkpoint-N`` in the output folder, so that an interrupted run continues by itself."""
    from transformers.trainer_utils import get_last_checkpoint

    return get_last_checkpoint(str(output_dir)) if Path(output_dir).is_dir() else None


def run_metadata(
    base: BaseModel,
    data_info: dict[str, Any],
    precision: str,
    metrics: dict[str, Any],
    script_args: ScriptArguments,
    model_args: MapperModelConfig,
    retriever: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Lineage and results of one run: what the card and every later audit read."""
    from datetime import datetime, timezone

    from llama_mapper import __version__
    from llama_mapper.frameworks import load_frameworks
    from llama_mapper.prompt import PROMPT_VERSION
    from llama_mapper.taxonomy import load_taxonomy

    generation = data_info.get("generation") or {}
    taxonomy = load_taxonomy()
    return {
        "llama_mapper_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "base_model": base.to_dict() | {"description": base.describe()},
        "dataset": data_info,
        "taxonomy": generation.get("taxonomy", taxonomy.id),
        "frameworks": load_frameworks().id,
        "prompt_version": generation.get("prompt_version", PROMPT_VERSION),
        "prompt_mode": script_args.prompt_mode,
        "adapter": {
            "method": "qlora" if model_args.load_in_4bit else "lora",
            "r": model_args.lora_r,
            "alpha": model_args.lora_alpha,
            "dropout": model_args.lora_dropout,
            "target_modules": model_args.lora_target_modules,
            "lora_layers": model_args.lora_layers,
        },
        "retriever": retriever,
        "precision": precision,
        "hardware": hardware(),
        "libraries": library_versions(),
        "metrics": metrics,
    }


def hardware() -> dict[str, Any]:
    import os

    import torch

    if torch.cuda.is_available():
        return {"device": torch.cuda.get_device_name(0), "gpus": torch.cuda.device_count()}
    return {"device": "cpu", "cpus": os.cpu_count(), "processor": platform.processor() or platform.machine()}


def write_predictions(output_dir: str | Path, rows: list[dict[str, Any]], answers: list[list[str]]) -> Path:
    """``test_predictions.jsonl``: each test row's categories, expected labels and the model's answers
    (the rows are synthetic: no user content), for error analysis."""
    path = Path(output_dir) / "test_predictions.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for row, answer in zip(rows, answers, strict=True):
            keep = (
                "id",
                "detector",
                "categories",
                "category_labels",
                "candidates",
                "labels",
                "detector_seen",
                "source",
            )
            fh.write(json.dumps({**{k: row.get(k) for k in keep}, "answers": answer}) + "\n")
    return path


def write_run_files(
    output_dir: str | Path,
    recipe: dict[str, Any],
    metadata: dict[str, Any],
) -> None:
    """Write ``recipe.yaml`` (the resolved recipe) and ``llama_mapper.json`` (lineage and metrics)."""
    import yaml

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / RECIPE_FILE).write_text(
        "# The exact recipe this adapter was trained with, after command-line overrides.\n"
        + yaml.safe_dump(recipe, sort_keys=False),
        encoding="utf-8",
    )
    (out / METADATA_FILE).write_text(json.dumps(metadata, indent=2, default=str) + "\n", encoding="utf-8")

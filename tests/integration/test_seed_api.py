"""The seed's three integration snippets, run as its users write them, on the suite's tiny adapter:

    from llama_mapper.training import CheckpointManager
    model, tokenizer, metadata = CheckpointManager("./downloaded_checkpoints").load_checkpoint("mapper-lora@v1.0.0")

    from llama_mapper.serving import ModelServer
    server = ModelServer(checkpoint_path=...).start()

    from llama_mapper.data import TrainingDataGenerator
    dataset = TrainingDataGenerator().generate_dataset(size=1000)

and the three ways to start the command line (the script, the console entry point, ``python -m``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

PROMPT = "detector: acme-guard\ncategory: hate speech\nanswer:"


def copy_adapter(adapter: Path, dest: Path) -> Path:
    """The adapter folder as a release holds it (no intermediate ``checkpoint-*`` folders)."""
    return Path(shutil.copytree(adapter, dest, ignore=shutil.ignore_patterns("checkpoint-*")))


def zip_and_unzip(adapter: Path, workdir: Path, name: str) -> Path:
    """A deployment's download: the adapter zipped as ``<name>.zip`` (one top folder ``<name>/``),
    then unzipped into ``./downloaded_checkpoints/``."""
    archive = workdir / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(adapter.rglob("*")):
            rel = path.relative_to(adapter)
            if path.is_file() and not rel.parts[0].startswith("checkpoint-"):
                zf.write(path, (Path(name) / rel).as_posix())
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(workdir / "downloaded_checkpoints")
    return workdir / "downloaded_checkpoints" / name


def logits_of(model, tokenizer):
    import torch

    ids = tokenizer(PROMPT, return_tensors="pt")
    with torch.no_grad():
        return ids["input_ids"].shape[1], model(**ids).logits


@pytest.fixture(scope="module")
def reference(trained):
    """The trained adapter's logits on PROMPT, loaded from where training wrote it, and its base's."""
    from llama_mapper.hub.checkpoints import CheckpointManager

    model, tokenizer, _ = CheckpointManager().load_checkpoint(str(trained[0]))
    _, adapted = logits_of(model, tokenizer)
    with model.disable_adapter():
        _, base = logits_of(model, tokenizer)
    assert not (adapted == base).all(), "the tiny adapter changes nothing: nothing below could fail"
    return adapted, base


@pytest.mark.slow
@pytest.mark.parametrize(("layout", "name"), [("folder", "mapper-lora@v1.0.0"), ("unzipped", "model_v1.2.3")])
def test_checkpoint_manager_loads_a_downloaded_checkpoint(
    trained, reference, tmp_path, monkeypatch, layout, name
):
    import torch
    from peft import PeftModel

    from llama_mapper.mapping.prompt import PROMPT_VERSION

    adapter, _ = trained
    if layout == "folder":
        folder = copy_adapter(adapter, tmp_path / "downloaded_checkpoints" / name)
    else:
        folder = zip_and_unzip(adapter, tmp_path, name)
    monkeypatch.chdir(tmp_path)

    # The seed's snippet, verbatim (but the name).
    from llama_mapper.training import CheckpointManager

    model, tokenizer, metadata = CheckpointManager("./downloaded_checkpoints").load_checkpoint(name)

    assert isinstance(model, PeftModel) and not model.training
    assert metadata["path"] == str(folder.resolve()) and metadata["name"] == name
    assert metadata["base_model"]["model_id"] == "tiny-random-llama"
    assert metadata["base_model_loaded"]["source"] == "tiny-random"
    assert str(metadata["prompt_version"]) == PROMPT_VERSION
    length, logits = logits_of(model, tokenizer)
    assert logits.shape == (1, length, len(tokenizer)) == (1, length, model.config.vocab_size)
    adapted, base = reference
    assert torch.allclose(logits, adapted, atol=1e-5)  # the trained adapter, applied
    assert not torch.allclose(logits, base, atol=1e-5)


@pytest.mark.slow
def test_model_server_answers_the_inference_client(trained, tmp_path, monkeypatch):
    import torch
    from huggingface_hub import InferenceClient

    from llama_mapper.hub.checkpoints import CheckpointManager

    copy_adapter(trained[0], tmp_path / "downloaded_checkpoints" / "mapper-lora@v1.0.0")
    monkeypatch.chdir(tmp_path)
    model, tokenizer, _ = CheckpointManager("./downloaded_checkpoints").load_checkpoint("mapper-lora@v1.0.0")
    ids = tokenizer(PROMPT, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=6, do_sample=False)
    expected = tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)

    # The seed's snippet, verbatim (but the path).
    from llama_mapper.serving import ModelServer

    server = ModelServer(checkpoint_path="./downloaded_checkpoints/mapper-lora@v1.0.0").start()
    try:
        client = InferenceClient(server.url)
        assert [a.id for a in server.engine.adapters.values()] == ["mapper-lora@v1.0.0"]
        text = client.text_generation(
            PROMPT, adapter_id="mapper-lora@v1.0.0", max_new_tokens=6, return_full_text=False
        )
        assert text == expected  # greedy: exactly what transformers generates with the adapter
        details = client.text_generation(
            PROMPT, adapter_id="mapper-lora@v1.0.0", max_new_tokens=6, return_full_text=False, details=True
        )
        assert details.generated_text == text and 1 <= details.details.generated_tokens <= 6
    finally:
        server.stop()
    assert not server.thread.is_alive()


@pytest.mark.slow
def test_training_data_generator_makes_the_three_splits():
    # The seed's snippet, verbatim.
    from llama_mapper.data import TrainingDataGenerator

    dataset = TrainingDataGenerator().generate_dataset(size=1000)

    from llama_mapper.data import HELD_OUT_DETECTORS, TEST_VENDORS

    assert set(dataset) == {"train", "validation", "test"}
    assert {split: len(rows) for split, rows in dataset.items()} == {
        "train": 1000,
        "validation": 200,
        "test": 200,
    }
    row = dataset["train"][0]
    assert row["messages"] == row["prompt"] + row["completion"]  # conversational prompt/completion
    assert row["completion"][0]["role"] == "assistant" and row["labels"]
    held_out = {*HELD_OUT_DETECTORS, *TEST_VENDORS}
    assert not held_out & set(dataset["train"]["detector"])  # the test split holds out whole detectors
    assert held_out & set(dataset["test"]["detector"])
    assert all(row["candidates"] for row in dataset["test"] if row["categories"])  # retrieval ran


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, str(ROOT / "src" / "llama_mapper" / "cli.py"), "--help"],
        [str(Path(sys.executable).parent / "llama-mapper"), "--help"],
        [sys.executable, "-m", "llama_mapper.serving.server", "--help"],
    ],
    ids=["cli.py", "llama-mapper", "python -m llama_mapper.serving.server"],
)
def test_the_command_line_starts_every_way(command, tmp_path):
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:"), done.stdout[:500]
    serve = "llama_mapper.serving.server" in command
    assert ("--adapter" if serve else "llama-mapper COMMAND") in done.stdout

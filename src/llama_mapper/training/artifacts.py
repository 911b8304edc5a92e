"""What a run saves beside the adapter: the resolved recipe, the lineage and metrics
(``llama_mapper.json``), the test predictions, and the checkpoint to resume from."""

from __future__ import annotations

import json
import math
import platform
from pathlib import Path
from typing import Any

from llama_mapper import __version__
from llama_mapper.hub.checkpoints import METADATA_FILE
from llama_mapper.mapping.prompt import PROMPT_VERSION
from llama_mapper.models.base_model import BaseModel
from llama_mapper.models.precision import describe_cpu
from llama_mapper.resources.frameworks import load_frameworks
from llama_mapper.resources.taxonomy import load_taxonomy
from llama_mapper.training.config import MapperModelConfig, ScriptArguments

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
    return {"device": "cpu", "cpus": os.cpu_count(), "processor": describe_cpu()}  # model, AMX, AVX-512


# What a finished run must leave: the adapter (PEFT) or the full weights.
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_model.bin")
MODEL_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def save_weights(trainer: Any, output_dir: str | Path, peft: bool) -> Path:
    """``trainer.save_model`` that really writes the weights under every launcher, and says so.

    FSDP with ``SHARDED_STATE_DICT`` (our fsdp.yaml: fast, resumable checkpoints) makes the final
    ``save_model`` write shards or nothing; the final save gathers a full state dict instead, as the
    transformers FSDP guide does. On the main process the adapter file (or the model's) must then
    exist, else the run fails here, naming the folder, rather than ending with a card and no weights.
    """
    if getattr(trainer, "is_fsdp_enabled", False):
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(str(output_dir))
    if trainer.accelerator.is_main_process:
        return require_weights(output_dir, peft)
    return Path(output_dir)


def require_weights(output_dir: str | Path, peft: bool) -> Path:
    """The weights file a finished run wrote into ``output_dir``; RuntimeError when there is none."""
    expected = ADAPTER_FILES if peft else MODEL_FILES
    folder = Path(output_dir)
    found = next((folder / name for name in expected if (folder / name).is_file()), None)
    if found is None:
        present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        raise RuntimeError(
            f"training finished but {folder} holds no {' or '.join(expected)} (found: {present[:12] or 'nothing'}). "
            "Under FSDP the final save needs a full state dict (fsdp_state_dict_type: FULL_STATE_DICT for "
            "the last save); under DeepSpeed ZeRO-3, zero3_save_16bit_model: true."
        )
    if (
        found.suffix == ".safetensors"
    ):  # it must load, and hold tensors (a sharded save can write an empty one)
        from safetensors import safe_open

        try:
            with safe_open(str(found), framework="pt") as weights:
                empty = not list(weights.keys())
        except Exception as err:  # noqa: BLE001 - any reason it does not load is the same failure
            raise RuntimeError(f"training finished but {found} does not load: {err}") from err
        if empty:
            raise RuntimeError(
                f"training finished but {found} holds no tensors (an un-gathered sharded save?)"
            )
    return found


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

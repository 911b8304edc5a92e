"""Load a trained mapping adapter with its base model, tokenizer and metadata.

``CheckpointManager("checkpoints").load_checkpoint("mapper-lora@v1.0.0")`` reads the local folder
``checkpoints/mapper-lora@v1.0.0`` (what ``hf download --revision v1.0.0 --local-dir`` produces) or
any adapter folder given by path. The base model named in the adapter's metadata is resolved the way
training resolved it (Hub, local folder, bundled GGUF or tiny random), so that loading works offline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llama_mapper.base_model import resolve_base_model
from llama_mapper.training import METADATA_FILE

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


class CheckpointError(ValueError):
    """A name that is not a usable adapter folder; the message says what is missing."""


class CheckpointManager:
    """Finds and loads adapter folders under one directory."""

    def __init__(self, directory: str | Path = "checkpoints") -> None:
        self.directory = Path(directory)

    def path_for(self, name: str | Path) -> Path:
        """The folder for ``name``: a path as given, else ``directory/name``."""
        candidate = Path(name)
        if candidate.is_dir():
            return candidate
        folder = self.directory / str(name)
        if folder.is_dir():
            return folder
        known = ", ".join(self.list()) or "none"
        raise CheckpointError(f"no checkpoint {str(name)!r} in {self.directory} (known: {known})")

    def list(self) -> list[str]:
        """Adapter folders under the directory."""
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.iterdir() if (p / ADAPTER_FILES[0]).is_file())

    def metadata(self, name: str | Path) -> dict[str, Any]:
        """The adapter's lineage and metrics (``llama_mapper.json``), checked for completeness."""
        folder = self.path_for(name)
        missing = [f for f in (*ADAPTER_FILES, METADATA_FILE) if not (folder / f).is_file()]
        if missing:
            raise CheckpointError(f"{folder} is not a Llama Mapper adapter: missing {', '.join(missing)}")
        metadata = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
        return {**metadata, "path": str(folder.resolve()), "name": folder.name}

    def load_checkpoint(self, name: str | Path, *, dtype: str = "float32", device: str | None = None):
        """``(model, tokenizer, metadata)``: the base model with the adapter applied, in eval mode."""
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        metadata = self.metadata(name)
        folder = Path(metadata["path"])
        base_info = metadata["base_model"]
        base = resolve_base_model(
            base_info["model_id"], base_info.get("revision") if base_info["source"] == "hub" else None
        )
        model = AutoModelForCausalLM.from_pretrained(base.path, dtype=getattr(torch, dtype))
        model = PeftModel.from_pretrained(model, str(folder)).eval()
        if device:
            model.to(device)
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        metadata["base_model_loaded"] = base.to_dict()
        return model, tokenizer, metadata

"""Load a trained mapping adapter with its base model, tokenizer and metadata.

``CheckpointManager("checkpoints").load_checkpoint(name)`` accepts:
- a local folder under the directory, ``mapper-lora@v1.0.0`` (what ``hf download --revision v1.0.0
  --local-dir checkpoints/mapper-lora@v1.0.0`` produces), or any adapter folder given by path;
- a Hub reference, ``org/name@v1.0.0`` (a tag, branch or full sha; no ``@``: the latest release),
  downloaded into the Hugging Face cache (read from it when ``HF_HUB_OFFLINE=1``).

The metadata then names the repo, revision and commit sha it came from (``metadata["hub"]``). The base model named in the adapter's metadata is resolved the way
training resolved it (Hub, local folder, bundled GGUF or tiny random), so that loading works offline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llama_mapper.hub.client import HubError, Resolved, is_hub_ref, pull
from llama_mapper.models.base_model import resolve_base_model

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
METADATA_FILE = "llama_mapper.json"  # lineage and metrics, written by training beside the adapter
# What serving needs from an adapter repo (not its intermediate checkpoints).
ADAPTER_PATTERNS = ("*.json", "*.safetensors", "*.jinja", "*.md", "*.yaml", "*.jsonl", "tokenizer*")


class CheckpointError(ValueError):
    """A name that is not a usable adapter folder; the message says what is missing."""


class CheckpointManager:
    """Finds and loads adapter folders under one directory."""

    def __init__(self, directory: str | Path = "checkpoints") -> None:
        self.directory = Path(directory)

    def path_for(self, name: str | Path) -> Path:
        """The folder for ``name``: a path as given, else ``directory/name``, else a Hub reference."""
        return Path(self.locate(name).path)  # type: ignore[arg-type]

    def locate(self, name: str | Path) -> Resolved:
        """Where ``name`` is: a local folder (with the commit ``hf download`` recorded, if any), or a
        Hub reference pulled into the cache."""
        for candidate in (Path(name), self.directory / str(name)):
            if candidate.is_dir():
                return pull(str(candidate))
        if isinstance(name, str) and is_hub_ref(name):
            try:
                return pull(name, allow_patterns=ADAPTER_PATTERNS)
            except HubError as err:
                raise CheckpointError(str(err)) from err
        known = ", ".join(self.list()) or "none"
        raise CheckpointError(
            f"no checkpoint {str(name)!r} in {self.directory} (known: {known}); a Hub adapter is named org/name@v1.2.0"
        )

    def list(self) -> list[str]:
        """Adapter folders under the directory."""
        if not self.directory.is_dir():
            return []
        return sorted(p.name for p in self.directory.iterdir() if (p / ADAPTER_FILES[0]).is_file())

    def metadata(self, name: str | Path) -> dict[str, Any]:
        """The adapter's lineage and metrics (``llama_mapper.json``), checked for completeness."""
        located = self.locate(name)
        folder = Path(located.path)  # type: ignore[arg-type]
        missing = [f for f in (*ADAPTER_FILES, METADATA_FILE) if not (folder / f).is_file()]
        if missing:
            raise CheckpointError(f"{folder} is not a Llama Mapper adapter: missing {', '.join(missing)}")
        metadata = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
        name = located.ref if located.repo_id else folder.name
        return {**metadata, "path": str(folder.resolve()), "name": name, "hub": located.to_dict()}

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

"""Releases: an adapter or a generated dataset pushed as an immutable ``vX.Y.Z`` tag, the adapter
with its card rendered for that tag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llama_mapper.data.io import CARD_FILE, DATA_FILES, available_splits
from llama_mapper.hub.cards import render_adapter_card
from llama_mapper.hub.checkpoints import CheckpointError, CheckpointManager
from llama_mapper.hub.client import HubError, Resolved, check_version, push_folder


def push_adapter(
    checkpoint: str | Path,
    repo_id: str,
    version: str,
    template: str | Path | None = None,
    private: bool = False,
    api: Any = None,
) -> Resolved:
    """Release a trained adapter folder as ``repo_id@version``, with the card rendered for that tag
    (``template``: a file, or by default the template shipped in the package)."""
    check_version(version)
    try:
        metadata = CheckpointManager().metadata(Path(checkpoint))
    except CheckpointError as err:
        raise HubError(f"cannot push {checkpoint}: {err}") from err
    card = render_adapter_card(
        Path(checkpoint).resolve().name, metadata, template, repo_id=repo_id, version=version
    )
    return push_folder(
        checkpoint, repo_id, version, "model", {"README.md": str(card).encode()}, private=private, api=api
    )


def push_dataset(
    folder: str | Path, repo_id: str, version: str, private: bool = False, api: Any = None
) -> Resolved:
    """Release a generated dataset folder (card + ``data/*.parquet``) as a dataset repo revision."""
    folder = Path(folder)
    if not (folder / CARD_FILE).is_file() or not available_splits(folder):
        raise HubError(
            f"cannot push {folder}: not a generated dataset ({CARD_FILE} and {DATA_FILES}); run `make data` first"
        )
    return push_folder(folder, repo_id, version, "dataset", private=private, api=api)

"""Docker command lines that serve released adapters with TGI or vLLM on a GPU host.

- TGI (``LORA_ADAPTERS``): one revision of a repo is passed as ``org/name@<sha>``, pinned to the
  release's commit (TGI downloads it; requests use ``adapter_id="org/name"``). Several revisions of
  one repo cannot be served that way, so each is downloaded (``snapshot_download``) into the mounted
  data folder and passed as ``org--name--v1.2.0=/data/...`` (requests use that name; TGI allows one
  ``@`` and one ``=`` an entry).
- vLLM (``--lora-modules name=path``): every adapter is downloaded into the mounted folder and
  named by its reference; requests pick it with ``model`` (OpenAI API).

Both need the adapters to share one base model, which comes from their metadata.
"""

from __future__ import annotations

import shlex
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llama_mapper.hub.checkpoints import CheckpointManager

TGI_IMAGE = "ghcr.io/huggingface/text-generation-inference:3.3.2"
VLLM_IMAGE = "vllm/vllm-openai:v0.11.2"


@dataclass
class Deployment:
    """A docker command and the adapter ids requests must use."""

    argv: list[str]
    adapter_ids: dict[str, str]  # reference as given -> id to send
    downloads: dict[str, str]  # reference -> local folder (mounted as /data/...)

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


def _adapters(refs: list[str], allow_base_mismatch: bool = False) -> tuple[list[dict[str, Any]], str, int]:
    metas = [CheckpointManager().metadata(ref) for ref in refs]
    bases = {m["base_model"]["model_id"] for m in metas}
    if len(bases) != 1:
        raise ValueError(f"the adapters must share one base model; got {sorted(bases)}")
    gguf = [ref for ref, m in zip(refs, metas, strict=True) if m["base_model"].get("source") == "gguf"]
    if gguf and not allow_base_mismatch:  # the container loads the Hub's full-precision weights
        raise ValueError(
            f"{', '.join(gguf)} was trained on weights de-quantised from a GGUF file; the container "
            f"would load {next(iter(bases))} from the Hub, so its answers would differ from the ones "
            "its metrics were measured with. Train it on the Hub weights, or pass --allow-base-mismatch"
        )
    rank = max(int((m.get("adapter") or {}).get("r") or 16) for m in metas)
    return metas, bases.pop(), rank


def served_name(meta: dict[str, Any]) -> str:
    """The name an adapter is served by (``org--name--v1.2.0``): vLLM's ``--lora-modules`` name, and
    TGI's for a downloaded revision."""
    hub = meta.get("hub") or {}
    if hub.get("repo_id"):
        # TGI allows one "@" and one "=" per LORA_ADAPTERS entry: none in the name or the path.
        return f"{hub['repo_id'].replace('/', '--')}--{hub.get('revision') or hub.get('sha')}"
    return Path(meta["path"]).name.replace("@", "--").replace("=", "-")


def _download(meta: dict[str, Any], data_dir: Path) -> Path:
    """The adapter's files under ``data_dir/adapters/<name>`` (copied from the cache or the folder)."""
    import shutil

    target = data_dir / "adapters" / served_name(meta)
    if not target.is_dir():
        shutil.copytree(meta["path"], target, ignore=shutil.ignore_patterns("checkpoint-*", ".cache"))
    return target


def tgi_command(
    refs: list[str],
    data_dir: str | Path = "tgi-data",
    port: int = 8080,
    image: str = TGI_IMAGE,
    allow_base_mismatch: bool = False,
) -> Deployment:
    """``docker run`` for TGI with the base model and every adapter in ``LORA_ADAPTERS``."""
    metas, base, _ = _adapters(refs, allow_base_mismatch)
    data_dir = Path(data_dir).resolve()
    per_repo = Counter((m.get("hub") or {}).get("repo_id") for m in metas)
    entries, ids, downloads = [], {}, {}
    for ref, meta in zip(refs, metas, strict=True):
        hub = meta.get("hub") or {}
        repo = hub.get("repo_id")
        if repo and per_repo[repo] == 1 and hub.get("sha"):
            entries.append(f"{repo}@{hub['sha']}")
            ids[ref] = repo
        else:
            folder = _download(meta, data_dir)
            name = served_name(meta)
            entries.append(f"{name}=/data/adapters/{name}")
            ids[ref] = name
            downloads[ref] = str(folder)
    base_revision = next(
        (m["base_model"].get("revision") for m in metas if m["base_model"]["source"] == "hub"), None
    )
    argv = [
        "docker", "run", "--gpus", "all", "--shm-size", "1g", "-p", f"{port}:80",
        "-v", f"{data_dir}:/data", "-e", "HF_TOKEN", "-e", f"LORA_ADAPTERS={','.join(entries)}",
        image, "--model-id", base,
    ]  # fmt: skip
    if base_revision:
        argv += ["--revision", base_revision]
    return Deployment(argv, ids, downloads)


def vllm_command(
    refs: list[str],
    data_dir: str | Path = "vllm-data",
    port: int = 8000,
    image: str = VLLM_IMAGE,
    allow_base_mismatch: bool = False,
) -> Deployment:
    """``docker run`` for vLLM's OpenAI server with ``--enable-lora --lora-modules name=path``."""
    metas, base, rank = _adapters(refs, allow_base_mismatch)
    data_dir = Path(data_dir).resolve()
    modules, ids, downloads = [], {}, {}
    for ref, meta in zip(refs, metas, strict=True):
        folder = _download(meta, data_dir)
        name = served_name(meta)
        modules.append(f"{name}=/data/adapters/{name}")
        ids[ref] = name
        downloads[ref] = str(folder)
    argv = [
        "docker", "run", "--gpus", "all", "--ipc=host", "-p", f"{port}:8000",
        "-v", f"{data_dir}:/data", "-e", "HF_TOKEN",
        image, "--model", base, "--enable-lora", "--max-lora-rank", str(max(rank, 8)),
        "--max-loras", str(len(modules)), "--lora-modules", *modules,
    ]  # fmt: skip
    return Deployment(argv, ids, downloads)

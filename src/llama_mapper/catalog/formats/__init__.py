"""Format readers of the catalog's guardrail services, guard models, scanners and DLP APIs, one
module per family; :data:`READERS` joins their tables.

May import: :mod:`llama_mapper.catalog.base` and :mod:`llama_mapper.catalog.vendors`.
"""

from __future__ import annotations

from llama_mapper.catalog.base import Reader
from llama_mapper.catalog.formats import (
    aws_azure,
    dlp_moderation,
    google_mistral_lakera,
    guard_models,
    llama_guard_nvidia,
    scanners,
)

_FAMILIES = (aws_azure, google_mistral_lakera, llama_guard_nvidia, guard_models, scanners, dlp_moderation)

READERS: dict[str, Reader] = {}
for _module in _FAMILIES:
    for _name, _reader in _module.READERS.items():
        if _name in READERS:
            raise ValueError(f"format {_name!r} is defined twice")
        READERS[_name] = _reader

# Formats whose reader reads the vendor's error body itself: Azure OpenAI refuses a request with a 400
# error that carries the content filter's findings, Mistral's guardrails with a 403 that names the
# violated category, LiteLLM's Lakera hook with Lakera's verdict. Those bodies are findings.
READS_ERROR_BODIES: frozenset[str] = frozenset().union(
    *(getattr(module, "READS_ERROR_BODIES", frozenset()) for module in _FAMILIES)
)

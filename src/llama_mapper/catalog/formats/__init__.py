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

READERS: dict[str, Reader] = {}
# formats whose reader reads the vendor's error body itself (Azure OpenAI refuses a request with a
# 400 error that carries the content filter's findings: those are the finding, not an error)
READS_ERROR_BODIES: frozenset[str] = frozenset(getattr(aws_azure, "READS_ERROR_BODIES", frozenset()))
for _module in (aws_azure, google_mistral_lakera, llama_guard_nvidia, guard_models, scanners, dlp_moderation):
    for _name, _reader in _module.READERS.items():
        if _name in READERS:
            raise ValueError(f"format {_name!r} is defined twice")
        READERS[_name] = _reader

"""Readers for catalog detectors: scanners formats (see docs/research/).

May import: :mod:`llama_mapper.catalog.base` and :mod:`llama_mapper.catalog.vendors`.
"""

from __future__ import annotations

from llama_mapper.catalog.base import Reader

READERS: dict[str, Reader] = {}

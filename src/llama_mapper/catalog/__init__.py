"""The detector catalog: one YAML file per detector (``detectors/``), declaring its format and
category map, and the format readers that turn a raw output into category findings.

May import: ``resources``.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from llama_mapper.catalog.base import Finding, ReaderConfig, Reading
from llama_mapper.catalog.readers import READERS, read
from llama_mapper.resources.taxonomy import Taxonomy, load_taxonomy

__all__ = ["Catalog", "Detector", "Finding", "Reading", "ReaderConfig", "load_catalog", "read"]

_NAME = re.compile(r"[^a-z0-9]+")
# A quantised or repackaged copy keeps the model's name: "Meta-Llama-Guard-2-8B-4bit" (mlx),
# "...-GGUF", "...-AWQ", "...-Q4_K_M" are Llama Guard 2.
_PACKAGING = re.compile(
    r"(?:[-_. ](?:\d+[-_]?bits?|gguf|awq|gptq|exl2|mlx|fp8|fp16|bf16|int[48]|w[48]a(?:8|16)|q\d(?:_[0k])?(?:_[msl])?))+$",
    re.I,
)


def _lookup_key(name: str) -> str:
    """The key a name is looked up by: packaging suffixes ("-4bit", "-GGUF") aside, then :func:`name_key`."""
    return name_key(_PACKAGING.sub("", str(name)) or name)


def name_key(name: str) -> str:
    """Lenient key for names: case, ``-``, ``_``, ``/`` and spaces do not matter."""
    return _NAME.sub("", str(name).lower())


@dataclass(frozen=True)
class Detector:
    """One catalog entry: a detector's output format and its category -> labels map."""

    name: str
    display_name: str
    vendor: str
    format: str
    categories: dict[str, tuple[str, ...]]
    aliases: tuple[str, ...] = ()
    threshold: float = 0.5
    min_score: float | None = None
    patterns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    choices: dict[str, str] = field(default_factory=dict)
    docs: str = ""
    notes: str = ""
    example: Any = None
    _by_key: dict[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {name_key(k): v for k, v in self.categories.items()})

    @property
    def reader_config(self) -> ReaderConfig:
        """The settings this detector's reader needs."""
        return ReaderConfig(threshold=self.threshold, min_score=self.min_score)

    def labels_for(self, category: str) -> tuple[str, ...] | None:
        """Labels for a vendor category: exact spelling, then lenient spelling, then patterns."""
        if category in self.categories:
            return self.categories[category]
        key = name_key(category)
        if key in self._by_key:
            return self._by_key[key]
        upper = category.upper()
        for pattern, labels in self.patterns.items():
            if fnmatch.fnmatchcase(upper, pattern.upper()):
                return labels
        return None

    def read(self, output: Any) -> Reading:
        """Read one raw output of this detector."""
        return read(output, self.format, self.reader_config)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], taxonomy: Taxonomy) -> Detector:
        """Build and check a detector from its YAML mapping."""
        name = raw.get("name")
        if not name:
            raise ValueError("catalog entry without a name")
        fmt = raw.get("format", "generic")
        if fmt not in READERS:
            raise ValueError(f"detector {name}: unknown format {fmt!r} (known: {', '.join(sorted(READERS))})")

        def labels(mapping: dict[str, Any] | None, what: str) -> dict[str, tuple[str, ...]]:
            out = {}
            for category, value in (mapping or {}).items():
                values = [value] if isinstance(value, str) else list(value or [])
                unknown = [v for v in values if v not in taxonomy]
                if unknown:
                    raise ValueError(
                        f"detector {name}: {what} {category!r} maps to unknown label(s) {unknown}"
                    )
                out[str(category)] = tuple(dict.fromkeys(values))
            return out

        return cls(
            name=name,
            display_name=raw.get("display_name", name),
            vendor=raw.get("vendor", ""),
            format=fmt,
            categories=labels(raw.get("categories"), "category"),
            aliases=tuple(raw.get("aliases") or ()),
            threshold=float(raw.get("threshold", 0.5)),
            min_score=raw.get("min_score"),
            patterns=labels(raw.get("patterns"), "pattern"),
            choices=dict(raw.get("choices") or {}),
            docs=raw.get("docs", ""),
            notes=raw.get("notes", ""),
            example=raw.get("example"),
        )


class Catalog:
    """All known detectors, found by lenient name."""

    def __init__(self, detectors: list[Detector]) -> None:
        self.detectors = {d.name: d for d in detectors}
        self._index: dict[str, Detector] = {}
        for d in detectors:
            for alias in (d.name, d.display_name, *d.aliases):
                self._index.setdefault(name_key(alias), d)
        # Longest keys first, for prefix matches such as "presidio-analyzer" -> presidio.
        self._prefixes = sorted(self._index, key=len, reverse=True)
        # Keys found anywhere in a longer name ("langchain OpenAIModerationChain", "cloudflare
        # workers-ai llama guard"): only those that carry the detector's brand, the first word of its
        # name, so that generic words ("text moderation", "content safety") never claim another
        # vendor's detector.
        self._inner = [
            k for k in self._prefixes if len(k) >= 8 and name_key(_NAME.split(self._index[k].name)[0]) in k
        ]
        self._cache: dict[str, Detector | None] = {}

    def __len__(self) -> int:
        return len(self.detectors)

    def __iter__(self):
        return iter(self.detectors.values())

    def is_exact(self, name: str) -> bool:
        """Is ``name`` one of an entry's names or aliases (packaging suffixes aside), rather than a
        name that only begins with or contains one ("granite-guardian-hap-38m")?"""
        return _lookup_key(name) in self._index

    def get(self, name: str) -> Detector | None:
        """The detector for a name as users write it ("OpenAI Moderation", "llamaguard3"), or None."""
        if name in self._cache:
            return self._cache[name]
        key = _lookup_key(name)
        found = self._index.get(key)
        if found is None and len(key) >= 5:
            found = next((self._index[p] for p in self._prefixes if len(p) >= 5 and key.startswith(p)), None)
        if found is None:
            # ... but not another version of it: "Meta-Llama-Guard-2-8B" numbers its codes differently
            found = next(
                (
                    self._index[k]
                    for k in self._inner
                    if (i := key.find(k)) >= 0 and not key[i + len(k) : i + len(k) + 1].isdigit()
                ),
                None,
            )
        if len(self._cache) < 10_000:
            self._cache[name] = found
        return found


def _detector_files():
    folder = resources.files("llama_mapper") / "catalog" / "detectors"
    return sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name)


@cache
def load_catalog(taxonomy_version: str | None = None) -> Catalog:
    """Load every bundled detector file (cached); labels are checked against the taxonomy."""
    taxonomy = load_taxonomy(taxonomy_version) if taxonomy_version else load_taxonomy()
    raws = {}
    for path in _detector_files():
        try:
            raws[path.name] = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ValueError(f"catalog file {path.name}: {err}") from err
    by_name = {raw.get("name"): raw for raw in raws.values() if isinstance(raw, dict)}
    detectors = []
    for filename, raw in raws.items():
        try:
            detectors.append(Detector.from_dict(with_includes(raw, by_name), taxonomy))
        except (ValueError, TypeError, AttributeError) as err:
            raise ValueError(f"catalog file {filename}: {err}") from err
    return Catalog(detectors)


def with_includes(raw: dict[str, Any], by_name: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """An entry with the categories and patterns of the entries it ``include:``s (one level; its own
    win): Model Armor's SDP filter reports Google DLP infoTypes, mapped once, in google-dlp.yaml."""
    included = raw.get("include") or []
    if not included:
        return raw
    categories: dict[str, Any] = {}
    patterns: dict[str, Any] = dict(raw.get("patterns") or {})
    for name in included:
        other = by_name.get(name)
        if other is None:
            raise ValueError(f"include: no catalog entry named {name!r}")
        if other.get("include"):
            raise ValueError(f"include: {name!r} includes others itself (one level only)")
        categories.update(other.get("categories") or {})
        patterns.update({k: v for k, v in (other.get("patterns") or {}).items() if k not in patterns})
    categories.update(raw.get("categories") or {})
    return {**raw, "categories": categories, "patterns": patterns}

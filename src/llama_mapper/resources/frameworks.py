"""Compliance frameworks: canonical label -> control references, loaded from package data."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import yaml

DEFAULT_FRAMEWORKS_VERSION = "v1.0"


@dataclass(frozen=True)
class Control:
    """One control of a compliance framework, e.g. ``SOC2:CC7.2``."""

    id: str
    framework: str
    title: str
    description: str


@dataclass(frozen=True)
class Frameworks:
    """A versioned mapping of labels to compliance controls."""

    version: str
    taxonomy_version: str
    controls: dict[str, Control]
    mappings: dict[str, tuple[str, ...]]
    _cache: dict[tuple[str, ...], list[str]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def id(self) -> str:
        """The version tag used in provenance, e.g. ``frameworks@v1.0``."""
        return f"frameworks@{self.version}"

    def controls_for(self, labels: Iterable[str]) -> list[str]:
        """The sorted, de-duplicated control ids that apply to any of ``labels``."""
        key = tuple(labels)
        found = self._cache.get(key)
        if found is None:
            found = sorted({control for label in key for control in self.mappings.get(label, ())})
            if len(self._cache) < 10_000:
                self._cache[key] = found
        return list(found)


@cache
def load_frameworks(version: str = DEFAULT_FRAMEWORKS_VERSION) -> Frameworks:
    """Load a bundled frameworks version (cached)."""
    path = resources.files("llama_mapper") / "resources" / f"frameworks-{version}.yaml"
    if not path.is_file():
        raise ValueError(
            f"unknown frameworks version {version!r}: no file {path.name} in llama_mapper/resources"
        )
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    controls = {
        cid: Control(
            id=cid, framework=c["framework"], title=c.get("title", ""), description=c.get("description", "")
        )
        for cid, c in raw["controls"].items()
    }
    mappings = {label: tuple(ids or ()) for label, ids in raw["mappings"].items()}
    return Frameworks(
        version=str(raw["version"]),
        taxonomy_version=str(raw["taxonomy"]),
        controls=controls,
        mappings=mappings,
    )

"""The canonical taxonomy: labels, descriptions and aliases, loaded from package data.

The taxonomy file is the single source of truth for label names; the JSON Schema enum, the prompts,
the grammars and the training data are all derived from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import yaml

DEFAULT_TAXONOMY_VERSION = "2025.09"

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalize_text(text: str) -> str:
    """Lower-case words separated by single spaces: ``"selfHarm/intent"`` -> ``"self harm intent"``."""
    return _NON_WORD.sub(" ", _CAMEL.sub(" ", str(text)).lower()).strip()


@dataclass(frozen=True)
class Label:
    """One canonical label with its description and aliases."""

    name: str
    description: str
    aliases: tuple[str, ...] = ()

    @property
    def family(self) -> str:
        """The top-level family, e.g. ``PII`` or ``HARM``."""
        return self.name.split(".", 1)[0]


@dataclass(frozen=True)
class Taxonomy:
    """A versioned set of canonical labels."""

    version: str
    labels: tuple[Label, ...]
    _by_name: dict[str, Label] = field(init=False, repr=False, compare=False)
    _alias_index: dict[str, str] = field(init=False, repr=False, compare=False)
    _match_cache: dict[str, tuple[str, float] | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name = {label.name: label for label in self.labels}
        index: dict[str, str] = {}
        for label in self.labels:
            # The label's own name, in words, is an alias too: "HARM.SPEECH.Insult" -> "harm speech insult".
            for alias in (*label.aliases, normalize_text(label.name)):
                index.setdefault(normalize_text(alias), label.name)
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_alias_index", index)
        object.__setattr__(self, "_match_cache", {})

    @property
    def id(self) -> str:
        """The version tag used in provenance, e.g. ``taxonomy@2025.09``."""
        return f"taxonomy@{self.version}"

    @property
    def names(self) -> list[str]:
        """All label names, in file order."""
        return [label.name for label in self.labels]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, name: str) -> Label:
        return self._by_name[name]

    def __len__(self) -> int:
        return len(self.labels)

    def match_alias(self, text: str) -> tuple[str, float] | None:
        """Map a free-form category string to one label through names and aliases.

        Returns ``(label, quality)``: quality 1.0 for an exact alias, lower when the longest alias
        found is only a phrase inside the text. ``None`` when nothing matches.
        """
        if text in self._match_cache:
            return self._match_cache[text]
        found = self._match(text)
        if len(self._match_cache) < 100_000:
            self._match_cache[text] = found
        return found

    def _match(self, text: str) -> tuple[str, float] | None:
        found = self.phrase_match(text)
        if found is None:
            return None
        label, alias_words, text_words = found
        if alias_words == text_words:
            return label, 1.0
        # Coverage: how much of the text the alias explains.
        return label, round(0.5 + 0.4 * alias_words / text_words, 3)

    def phrase_match(self, text: str) -> tuple[str, int, int] | None:
        """The label of the longest alias found in ``text``, as ``(label, alias words, text words)``."""
        norm = normalize_text(text)
        if not norm:
            return None
        words = norm.split()
        if norm in self._alias_index:
            return self._alias_index[norm], len(words), len(words)
        padded = f" {norm} "
        best: tuple[int, str] | None = None
        for alias, label in self._alias_index.items():
            if f" {alias} " in padded:
                length = len(alias.split())
                if best is None or length > best[0]:
                    best = (length, label)
        return None if best is None else (best[1], best[0], len(words))


@cache
def load_taxonomy(version: str = DEFAULT_TAXONOMY_VERSION) -> Taxonomy:
    """Load a bundled taxonomy version (cached)."""
    path = resources.files("llama_mapper") / "resources" / f"taxonomy-{version}.yaml"
    if not path.is_file():
        raise ValueError(
            f"unknown taxonomy version {version!r}: no file {path.name} in llama_mapper/resources"
        )
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    labels = tuple(
        Label(
            name=item["name"],
            description=item.get("description", ""),
            aliases=tuple(item.get("aliases") or ()),
        )
        for item in raw["labels"]
    )
    return Taxonomy(version=str(raw["version"]), labels=labels)

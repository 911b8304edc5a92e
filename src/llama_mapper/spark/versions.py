"""The versions every Spark-mapped event carries, how they compare, and the run's mapping time.

An event's own provenance names the taxonomy (``taxonomy@2025.09``), the frameworks
(``frameworks@v1.0``), the mapper release (``0.1.0``) and, when the model answered, the adapter
(``org/name@v1.2.0#sha``). The detector catalog has no version of its own: it ships inside the
mapper package, so the mapper release is its version. The job records it as
``catalog@<mapper release>+<digest of the catalog files>``, the digest telling two development
builds of one release apart.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from typing import Any

from llama_mapper import __version__
from llama_mapper.mapping.rules import RulesMapper

# The components a backfill can select on (``--only-older-than NAME@VERSION``).
COMPONENTS = ("taxonomy", "frameworks", "mapper", "catalog", "adapter")
ALIASES = {"model": "adapter"}


def catalog_digest() -> str:
    """The first 12 hex digits of the SHA-256 of the bundled detector files (names and bytes)."""
    folder = resources.files("llama_mapper") / "catalog" / "detectors"
    digest = hashlib.sha256()
    for entry in sorted((f for f in folder.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name):
        digest.update(entry.name.encode() + b"\0" + entry.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def current_versions(rules: RulesMapper, adapter_ref: str | None = None) -> dict[str, str | None]:
    """The versions this process maps with: the flat columns of every event it writes.
    ``adapter_ref``: the model routes' ``repo@tag#sha`` (None on the rules route)."""
    return {
        "taxonomy": rules.taxonomy.id,
        "frameworks": rules.frameworks.id,
        "mapper": __version__,
        "catalog": f"catalog@{__version__}+{catalog_digest()}",
        "adapter": adapter_ref,
    }


def version_key(value: str | None) -> tuple[int, ...] | None:
    """The orderable part of a version: its numeric components after the last ``@`` and before any
    ``+digest`` or ``#sha``, compared as numbers (``2025.09`` > ``2024.12``, ``v1.10`` > ``v1.9``).
    None when there is no number to compare (an adapter given as a local folder, no adapter)."""
    if not value:
        return None
    core = re.split(r"[+#]", value.rsplit("@", 1)[-1], maxsplit=1)[0]
    numbers = tuple(int(n) for n in re.findall(r"\d+", core))
    return numbers or None


@dataclass(frozen=True)
class OlderThan:
    """One ``NAME@VERSION`` of ``--only-older-than``: events whose NAME version is below VERSION."""

    component: str
    version: str

    @classmethod
    def parse(cls, text: str) -> OlderThan:
        name, sep, version = text.partition("@")
        name = ALIASES.get(name.strip().lower(), name.strip().lower())
        if not sep or name not in COMPONENTS or version_key(version) is None:
            raise ValueError(
                f"{text!r}: write NAME@VERSION with NAME one of {', '.join(COMPONENTS)} "
                "(e.g. taxonomy@2025.09, mapper@0.2.0, adapter@v1.3.0)"
            )
        return cls(name, version.strip())

    def selects(self, versions: dict[str, Any]) -> bool:
        """Is an event with these flat version columns older than this bound? An event without a
        comparable version of the component (no adapter on the rules route) is not."""
        have = version_key(versions.get(self.component))
        return have is not None and have < version_key(self.version)  # type: ignore[operator]

    def check_reachable(self, current: dict[str, Any]) -> None:
        """Re-mapping gives the current versions: a bound above them could never be met."""
        now = version_key(current.get(self.component))
        if now is None:
            raise ValueError(
                f"--only-older-than {self}: this run has no {self.component} version to map with"
            )
        if now < version_key(self.version):  # type: ignore[operator]
            raise ValueError(
                f"--only-older-than {self}: the current {self.component} is {current[self.component]}, "
                "so re-mapped events would still be older"
            )

    def __str__(self) -> str:
        return f"{self.component}@{self.version}"


def format_ts(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds, as ``provenance.ts`` is written (``2025-09-01T12:00:00.000Z``)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_mapped_at(text: str) -> str:
    """``--mapped-at``: an ISO 8601 time (a date alone is its midnight UTC; no offset is UTC),
    normalised to the event timestamp format. Raises ValueError."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--mapped-at {text!r}: write an ISO 8601 time, e.g. 2025-09-01T12:00:00Z") from None
    return format_ts(moment)

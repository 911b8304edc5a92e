"""Canonical events: the schema-valid answer of every route, with provenance and controls."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from llama_mapper import __version__
from llama_mapper.mapping.schema import validate_event
from llama_mapper.resources.frameworks import Frameworks
from llama_mapper.resources.taxonomy import Taxonomy

MAX_NOTES = 500


_last_ts: tuple[int, str] = (-1, "")


def utc_now() -> str:
    """Current time as an RFC 3339 UTC timestamp with milliseconds (formatted once per millisecond)."""
    global _last_ts
    ms = time.time_ns() // 1_000_000
    if ms != _last_ts[0]:
        stamp = datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds")
        _last_ts = (ms, stamp.replace("+00:00", "Z"))
    return _last_ts[1]


def _unit(value: float) -> float:
    """Clamp to [0, 1] and round to 4 places."""
    return round(min(max(float(value), 0.0), 1.0), 4)


def make_event(
    labels: list[str],
    scores: dict[str, float],
    confidence: float,
    *,
    taxonomy: Taxonomy,
    frameworks: Frameworks,
    detector: str,
    route: str,
    detector_version: str | None = None,
    vendor: str | None = None,
    model: str | None = None,
    tenant_id: str | None = None,
    notes: str = "",
    validate: bool = True,
) -> dict[str, Any]:
    """Build a canonical event and validate it against the schema.

    ``notes`` must carry metadata only: never raw detector output or user content.
    """
    event: dict[str, Any] = {
        "taxonomy": labels,
        "scores": {label: _unit(scores.get(label, confidence)) for label in labels},
        "confidence": _unit(confidence),
    }
    if notes:
        event["notes"] = notes[:MAX_NOTES]
    event["provenance"] = {
        "detector": detector,
        "detector_version": detector_version,
        "vendor": vendor,
        "route": route,
        "model": model,
        "tenant_id": tenant_id,
        "ts": utc_now(),
        "taxonomy": taxonomy.id,
        "frameworks": frameworks.id,
        "mapper": __version__,
    }
    event["controls"] = frameworks.controls_for(labels)
    return validate_event(event) if validate else event

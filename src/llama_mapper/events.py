"""Canonical events: the schema-valid answer of every route, with provenance and controls."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from llama_mapper import __version__
from llama_mapper.frameworks import Frameworks
from llama_mapper.schema import validate_event
from llama_mapper.taxonomy import Taxonomy

MAX_NOTES = 500


def utc_now() -> str:
    """Current time as an RFC 3339 UTC timestamp."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
        "scores": {
            label: round(min(max(float(scores.get(label, confidence)), 0.0), 1.0), 4) for label in labels
        },
        "confidence": round(min(max(float(confidence), 0.0), 1.0), 4),
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

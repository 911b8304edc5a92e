"""Human-readable renderings of mapped events (metadata only: labels, versions, controls)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def mapping_table(records: Iterable[dict[str, Any]], max_width: int = 100) -> str:
    """A plain-text table of mapped records: id, detector, route, labels, confidence, controls."""
    rows = [("id", "detector", "route", "labels", "conf", "controls")]
    for rec in records:
        if "error" in rec:
            rows.append(
                (str(rec.get("id", f"line {rec.get('line')}")), "-", "-", f"ERROR: {rec['error']}", "-", "-")
            )
            continue
        prov = rec.get("provenance", {})
        rows.append(
            (
                str(rec.get("id", "")),
                str(prov.get("detector", "")),
                str(prov.get("route", "")),
                ", ".join(rec["taxonomy"]),
                f"{rec['confidence']:.2f}",
                str(len(rec.get("controls", []))),
            )
        )
    widths = [min(max(len(r[i]) for r in rows), max_width) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(_cell(c, w).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)

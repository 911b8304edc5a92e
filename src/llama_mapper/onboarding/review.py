"""The review loop's first step: the mapped events a person should look at, in a review file.

:func:`export_for_review` reads the events of ``scripts/map.py`` (and, optionally, the requests they
came from) and writes the ones that need a person to JSONL and CSV: events flagged
``OTHER.NeedsReview`` or ``OTHER.Unknown``, events below the confidence threshold, and (with the
requests) events whose labels differ from what the rules alone say. The file carries metadata only
(id, detector, tenant, route, labels, confidence, why) unless the operator asks for the raw outputs
(``include_output``), which the training loop needs. A person fills ``reviewed_labels``; the file then
goes to ``make data REVIEWED=...`` (:func:`llama_mapper.data.io.load_reviewed`).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

from llama_mapper.mapping.routes import NEEDS_REVIEW
from llama_mapper.mapping.rules import UNKNOWN, RulesMapper

DEFAULT_THRESHOLD = 0.8  # the line at which an auditor trusts an event: below it, a person looks
COLUMNS = ("id", "detector", "tenant_id", "route", "labels", "confidence", "reasons", "reviewed_labels")


def _jsonl(path: str | Path, what: str) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what} file")
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as err:
            raise ValueError(f"{path.name} line {n}: not JSON ({err.msg})") from None
        if not isinstance(row, dict):
            raise ValueError(f"{path.name} line {n}: not a JSON object")
        rows.append(row)
    return rows


def review_reasons(
    event: dict[str, Any], threshold: float, rules_labels: list[str] | None = None
) -> list[str]:
    """Why a person should look at one event (empty: it needs no review)."""
    labels = event.get("taxonomy") or []
    reasons = []
    if NEEDS_REVIEW in labels:
        reasons.append("flagged OTHER.NeedsReview")
    if UNKNOWN in labels:
        reasons.append("OTHER.Unknown")
    if float(event.get("confidence", 0.0)) < threshold:
        reasons.append(f"confidence below {threshold:g}")
    if rules_labels is not None and sorted(rules_labels) != sorted(labels):
        reasons.append("differs from the rules")
    return reasons


def export_for_review(
    events_path: str | Path,
    out_prefix: str | Path,
    requests_path: str | Path | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    include_output: bool = False,
    rules: RulesMapper | None = None,
) -> dict[str, Any]:
    """Write ``<out_prefix>.jsonl`` and ``<out_prefix>.csv``; return what was selected and why."""
    events = _jsonl(events_path, "events")
    requests = {}
    if requests_path is not None:
        requests = {str(r.get("id")): r for r in _jsonl(requests_path, "requests") if r.get("id") is not None}
    if include_output and not requests:
        raise ValueError("--include-output needs the requests the events came from (--requests)")
    rules = rules or RulesMapper()
    selected, why = [], Counter()
    for event in events:
        request = requests.get(str(event.get("id")))
        rules_labels = None
        if request is not None and event.get("provenance", {}).get("route") != "rules":
            rules_labels = rules.map({"detector": request["detector"], "output": request.get("output")})[
                "taxonomy"
            ]
        reasons = review_reasons(event, threshold, rules_labels)
        if not reasons:
            continue
        why.update(reasons)
        provenance = event.get("provenance", {})
        row = {
            "id": event.get("id"),
            "detector": provenance.get("detector"),
            "tenant_id": provenance.get("tenant_id"),
            "route": provenance.get("route"),
            "labels": event.get("taxonomy", []),
            "confidence": event.get("confidence"),
            "reasons": reasons,
            "reviewed_labels": [],
        }
        if include_output and request is not None:
            row["output"] = request.get("output")
        selected.append(row)
    out = Path(out_prefix)
    out.parent.mkdir(parents=True, exist_ok=True)
    jsonl, table = out.with_suffix(".jsonl"), out.with_suffix(".csv")
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in selected), encoding="utf-8")
    columns = COLUMNS + (("output",) if include_output else ())
    with table.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        for row in selected:
            writer.writerow(
                {
                    **row,
                    "labels": "|".join(row["labels"]),
                    "reasons": "; ".join(row["reasons"]),
                    "reviewed_labels": "",
                    **(
                        {"output": json.dumps(row.get("output"), ensure_ascii=False)}
                        if include_output
                        else {}
                    ),
                }
            )
    return {
        "events": len(events),
        "selected": len(selected),
        "reasons": dict(why),
        "jsonl": jsonl,
        "csv": table,
    }

"""Compliance evidence from mapped events: counts, control coverage and the versions in force.

The report reads only metadata fields of canonical events (labels, controls, confidence and the
provenance's detector, tenant, time, route, model and version tags). Anything else a JSONL line
carries (ids, fields passed through from a request, notes) is ignored, so no raw detector content
or user text can reach a report.

Outputs (:func:`write_report`): ``compliance_report.json``, ``counts.csv`` (dimension, key, events),
``controls.csv`` (one row per framework control: evidence, detectors, labels, first and last seen)
and ``compliance_report.html``, a self-contained page with charts for auditors.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_mapper.resources.frameworks import Frameworks, load_frameworks

JSON_FILE = "compliance_report.json"
HTML_FILE = "compliance_report.html"


@dataclass
class Evidence:
    """Accumulates what the events say; :meth:`as_dict` is the report."""

    frameworks: Frameworks
    events: int = 0
    errors: int = 0
    unreadable: list[int] = field(default_factory=list)
    counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    controls: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    first: str | None = None
    last: str | None = None

    def add(self, event: dict[str, Any]) -> None:
        """Count one canonical event (metadata only)."""
        prov = event.get("provenance") or {}
        labels = [str(label) for label in event.get("taxonomy") or []]
        detector = str(prov.get("detector") or "unknown")
        ts = str(prov.get("ts") or "")
        day = ts[:10] or "unknown"
        self.events += 1
        self.counts["detector"][detector] += 1
        self.counts["tenant"][str(prov.get("tenant_id") or "-")] += 1
        self.counts["day"][day] += 1
        self.counts["route"][str(prov.get("route") or "-")] += 1
        for label in labels:
            self.counts["label"][label] += 1
            self.counts["family"][label.split(".")[0]] += 1
        for key in ("taxonomy", "frameworks", "mapper", "model"):
            if prov.get(key):
                self.versions[key][str(prov[key])] += 1
        if ts:
            self.first = min(self.first or ts, ts)
            self.last = max(self.last or ts, ts)
        for cid in event.get("controls") or []:
            entry = self.controls.setdefault(
                str(cid), {"events": 0, "detectors": Counter(), "labels": Counter(), "first": ts, "last": ts}
            )
            entry["events"] += 1
            entry["detectors"][detector] += 1
            entry["labels"].update(lab for lab in labels if cid in self.frameworks.controls_for([lab]))
            if ts:
                entry["first"] = min(entry["first"] or ts, ts)
                entry["last"] = max(entry["last"] or ts, ts)

    def coverage(self) -> list[dict[str, Any]]:
        """Every control of the frameworks version (and any unknown id the events cite), with evidence."""
        ids = list(self.frameworks.controls) + sorted(set(self.controls) - set(self.frameworks.controls))
        rows = []
        for cid in ids:
            control = self.frameworks.controls.get(cid)
            found = self.controls.get(cid)
            rows.append(
                {
                    "control": cid,
                    "framework": control.framework if control else "unknown to " + self.frameworks.id,
                    "title": control.title if control else "",
                    "covered": bool(found),
                    "events": found["events"] if found else 0,
                    "detectors": dict(found["detectors"].most_common()) if found else {},
                    "labels": dict(found["labels"].most_common()) if found else {},
                    "first_seen": found["first"] if found else None,
                    "last_seen": found["last"] if found else None,
                }
            )
        return rows

    def as_dict(self) -> dict[str, Any]:
        coverage = self.coverage()
        per_framework: dict[str, dict[str, int]] = defaultdict(lambda: {"controls": 0, "covered": 0})
        for row in coverage:
            per_framework[row["framework"]]["controls"] += 1
            per_framework[row["framework"]]["covered"] += row["covered"]
        return {
            "events": self.events,
            "error_records": self.errors,
            "unreadable_lines": self.unreadable,
            "period": {"first": self.first, "last": self.last},
            "counts": {
                dim: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for dim, c in self.counts.items()
            },
            "frameworks": dict(per_framework),
            "controls": coverage,
            "versions_in_force": {key: dict(c.most_common()) for key, c in self.versions.items()},
            "frameworks_version": self.frameworks.id,
        }


def collect(lines: Iterable[str], frameworks: Frameworks | None = None) -> Evidence:
    """Read mapped JSONL (``scripts/map.py`` output): events counted, error records and unreadable
    lines counted by line number (their content is never kept)."""
    evidence = Evidence(frameworks or load_frameworks())
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            evidence.unreadable.append(n)
            continue
        if not isinstance(record, dict):
            evidence.unreadable.append(n)
        elif "error" in record and "taxonomy" not in record:
            evidence.errors += 1
        elif isinstance(record.get("taxonomy"), list) and isinstance(record.get("provenance"), dict):
            evidence.add(record)
        else:
            evidence.unreadable.append(n)
    return evidence


def _chart(draw) -> str:
    """A matplotlib figure drawn by ``draw(ax)`` as an inline PNG data URI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    draw(ax)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def charts(report: dict[str, Any]) -> dict[str, str]:
    """Events per day, the most frequent labels, and control coverage per framework."""
    counts = report["counts"]
    out = {}
    days = sorted(counts.get("day", {}).items())
    if days:
        out["Events per day"] = _chart(
            lambda ax: (
                ax.bar([d for d, _ in days], [n for _, n in days]),
                ax.tick_params(axis="x", rotation=45),
            )
        )
    labels = list(counts.get("label", {}).items())[:15][::-1]
    if labels:
        out["Most frequent labels"] = _chart(
            lambda ax: ax.barh([k for k, _ in labels], [n for _, n in labels])
        )
    frameworks = sorted(report["frameworks"].items())
    if frameworks:

        def coverage(ax):
            names = [name for name, _ in frameworks]
            ax.barh(names, [f["controls"] for _, f in frameworks], color="#dddddd", label="controls")
            ax.barh(names, [f["covered"] for _, f in frameworks], color="#3b7dd8", label="with evidence")
            ax.legend(loc="lower right")

        out["Controls with evidence, per framework"] = _chart(coverage)
    return out


def render_html(report: dict[str, Any]) -> str:
    """A self-contained page: summary, charts, the control coverage table and the versions in force."""
    e = html.escape
    period = report["period"]
    rows = "".join(
        f"<tr class='{'yes' if c['covered'] else 'no'}'><td>{e(c['control'])}</td><td>{e(c['framework'])}</td>"
        f"<td>{e(c['title'])}</td><td>{c['events']}</td>"
        f"<td>{e(', '.join(f'{k} ({v})' for k, v in c['detectors'].items()))}</td>"
        f"<td>{e(', '.join(f'{k} ({v})' for k, v in c['labels'].items()))}</td></tr>"
        for c in report["controls"]
    )
    versions = "".join(
        f"<tr><td>{e(key)}</td><td>{e(', '.join(f'{k} ({v} events)' for k, v in values.items()))}</td></tr>"
        for key, values in report["versions_in_force"].items()
    )
    counts = "".join(
        f"<h3>Per {e(dim)}</h3><table><tr><th>{e(dim)}</th><th>events</th></tr>"
        + "".join(f"<tr><td>{e(k)}</td><td>{v}</td></tr>" for k, v in values.items())
        + "</table>"
        for dim, values in report["counts"].items()
        if dim in ("detector", "tenant", "label")
    )
    images = "".join(
        f"<figure><img alt='{e(t)}' src='{uri}'><figcaption>{e(t)}</figcaption></figure>"
        for t, uri in charts(report).items()
    )
    covered = sum(c["covered"] for c in report["controls"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Llama Mapper compliance evidence</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}}
table{{border-collapse:collapse;margin:0.5em 0 1.5em}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:0.9em}}
tr.no td{{color:#999}}figure{{display:inline-block;margin:0.5em}}figcaption{{text-align:center;font-size:0.85em}}
</style></head><body>
<h1>Compliance evidence</h1>
<p>{report["events"]} mapped events from {e(str(period["first"]))} to {e(str(period["last"]))};
{report["error_records"]} error records and {len(report["unreadable_lines"])} unreadable lines skipped.
{covered} of {len(report["controls"])} controls of {e(report["frameworks_version"])} have evidence.
A mapping is evidence that a control's monitoring saw activity, not a claim that the control is met.
This page holds metadata only: no detector output or user content.</p>
{images}
<h2>Control coverage</h2>
<table><tr><th>control</th><th>framework</th><th>title</th><th>events</th><th>detectors</th><th>labels</th></tr>{rows}</table>
<h2>Versions in force</h2><table>{versions}</table>
<h2>Counts</h2>{counts}
</body></html>
"""


def write_report(evidence: Evidence, out_dir: str | Path) -> dict[str, Path]:
    """JSON, CSV and HTML reports in ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = evidence.as_dict()
    paths = {
        "json": out / JSON_FILE,
        "counts": out / "counts.csv",
        "controls": out / "controls.csv",
        "html": out / HTML_FILE,
    }
    paths["json"].write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    with paths["counts"].open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["dimension", "key", "events"])
        for dim, values in report["counts"].items():
            writer.writerows([dim, key, n] for key, n in values.items())
    with paths["controls"].open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "control",
                "framework",
                "title",
                "covered",
                "events",
                "detectors",
                "labels",
                "first_seen",
                "last_seen",
            ]
        )
        for c in report["controls"]:
            writer.writerow(
                [c["control"], c["framework"], c["title"], c["covered"], c["events"],
                 ";".join(c["detectors"]), ";".join(c["labels"]), c["first_seen"] or "", c["last_seen"] or ""]
            )  # fmt: skip
    paths["html"].write_text(render_html(report), encoding="utf-8")
    return paths

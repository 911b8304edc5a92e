"""The compliance report: counts and coverage from known events; never any raw content."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

from conftest import GOLDEN, ROOT, load_jsonl

from llama_mapper.compliance.report import collect, write_report
from llama_mapper.resources.frameworks import load_frameworks


def event(labels, detector, tenant, ts, model=None):
    frameworks = load_frameworks()
    return {
        "taxonomy": labels,
        "confidence": 0.9,
        "controls": frameworks.controls_for(labels),
        "provenance": {
            "detector": detector, "tenant_id": tenant, "ts": ts, "route": "hybrid" if model else "rules",
            "taxonomy": "taxonomy@2025.09", "frameworks": frameworks.id, "model": model,
        },
    }  # fmt: skip


def test_counts_coverage_and_versions_from_known_events(tmp_path):
    frameworks = load_frameworks()
    events = [
        event(["PII.Contact.Email"], "presidio", "acme", "2026-11-01T10:00:00Z"),
        event(["PII.Contact.Email", "HARM.SPEECH.Toxicity"], "presidio", "acme", "2026-11-02T09:00:00Z"),
        event(
            ["HARM.SPEECH.Toxicity"],
            "detoxify",
            "globex",
            "2026-11-02T11:00:00Z",
            model="org/m@v1.0.0#abc123",
        ),
    ]
    lines = [json.dumps(e) for e in events] + [
        "{not json",
        json.dumps({"line": 5, "error": "bad request"}),
        "",
    ]
    report = collect(lines, frameworks).as_dict()
    assert report["events"] == 3 and report["error_records"] == 1 and report["unreadable_lines"] == [4]
    assert report["counts"]["label"] == {"HARM.SPEECH.Toxicity": 2, "PII.Contact.Email": 2}
    assert report["counts"]["detector"] == {"presidio": 2, "detoxify": 1}
    assert report["counts"]["tenant"] == {"acme": 2, "globex": 1}
    assert report["counts"]["day"] == {"2026-11-02": 2, "2026-11-01": 1}
    assert report["period"] == {"first": "2026-11-01T10:00:00Z", "last": "2026-11-02T11:00:00Z"}
    assert report["versions_in_force"]["model"] == {"org/m@v1.0.0#abc123": 1}
    assert report["versions_in_force"]["frameworks"] == {frameworks.id: 3}
    by_id = {c["control"]: c for c in report["controls"]}
    assert set(by_id) == set(frameworks.controls)
    email_only = set(frameworks.controls_for(["PII.Contact.Email"])) - set(
        frameworks.controls_for(["HARM.SPEECH.Toxicity"])
    )
    cid = sorted(email_only)[0]
    assert by_id[cid]["events"] == 2 and by_id[cid]["detectors"] == {"presidio": 2}
    assert by_id[cid]["labels"] == {"PII.Contact.Email": 2}
    assert by_id[cid]["first_seen"] == "2026-11-01T10:00:00Z"
    cited = set(frameworks.controls_for(["PII.Contact.Email", "HARM.SPEECH.Toxicity"]))
    assert {c for c, row in by_id.items() if row["covered"]} == cited
    assert sum(f["covered"] for f in report["frameworks"].values()) == len(cited)
    paths = write_report(collect(lines, frameworks), tmp_path)
    with paths["controls"].open() as fh:
        rows = {r["control"]: r for r in csv.DictReader(fh)}
    assert rows[cid]["events"] == "2" and rows[cid]["covered"] == "True"
    page = paths["html"].read_text()
    assert (
        page.count("data:image/png;base64,") == 3
        and "<table>" in page
        and "http" not in page.split("<body>")[1]
    )


def test_no_raw_content_reaches_any_report(tmp_path):
    secret = "SECRET-jane.doe@example.com-4111111111111111"
    requests = []
    for case in (
        load_jsonl(GOLDEN / "presidio.jsonl")[:5] + load_jsonl(GOLDEN / "openai-moderation.jsonl")[:5]
    ):
        output = case["output"]
        if isinstance(output, dict):
            output = {**output, "input_text": secret}
        elif isinstance(output, list):
            output = [*output, {"entity_type": "NOTE", "text": secret, "score": 0.1, "start": 0, "end": 1}]
        requests.append({"id": case["id"], "detector": case["detector"], "output": output, "comment": secret})
    src = tmp_path / "requests.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in requests) + "not json " + secret + "\n")
    mapped = tmp_path / "mapped.jsonl"
    run = subprocess.run(
        [sys.executable, "scripts/map.py", "-i", str(src), "-o", str(mapped), "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = tmp_path / "reports"
    done = subprocess.run(
        [sys.executable, "scripts/report.py", "-i", str(mapped), "-o", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "10 events, 1 error records" in done.stdout
    files = sorted(out.iterdir())
    assert {f.name for f in files} == {
        "compliance_report.json",
        "compliance_report.html",
        "counts.csv",
        "controls.csv",
    }
    for path in files:
        text = path.read_text()
        assert secret not in text and "jane.doe" not in text and "4111" not in text, path.name
    assert secret not in done.stdout + done.stderr


def test_missing_input_is_a_clear_error(tmp_path):
    done = subprocess.run(
        [sys.executable, "scripts/report.py", "-i", str(tmp_path / "nope.jsonl"), "-o", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and "cannot read" in done.stderr and "No such file" in done.stderr

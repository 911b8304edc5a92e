"""scripts/map.py end to end: streaming JSONL, pass-through fields, error records, summary."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

from llama_mapper.mapping.schema import is_valid_event

SCRIPT = ROOT / "scripts" / "map.py"
SAMPLE = ROOT / "src" / "llama_mapper" / "resources" / "samples" / "detector_outputs.jsonl"
SECRET = "my SSN is 078-05-1120 and I hate you"


def run(args, stdin=None):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args, "--no-progress"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_maps_a_file_with_pass_through_and_error_records(tmp_path: Path):
    lines = [
        json.dumps(
            {
                "id": "a",
                "detector": "presidio",
                "tenant_id": "t1",
                "trace": {"span": 7},
                "output": [{"entity_type": "US_SSN", "start": 10, "end": 21, "score": 0.85}],
                "text": SECRET,
            }
        ),
        "{not json",
        json.dumps({"id": "c", "output": {}}),
        "",
        json.dumps({"id": 4, "detector": "llama-guard", "output": "unsafe\nS10"}),
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dst = tmp_path / "out.jsonl"
    summary = tmp_path / "summary.json"
    proc = run(["--input", str(src), "--output", str(dst), "--summary-json", str(summary)])
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in dst.read_text().splitlines()]
    assert len(out) == 4  # blank lines are skipped, every other line answers once, in order
    assert out[0]["id"] == "a" and out[0]["trace"] == {"span": 7}
    assert out[0]["taxonomy"] == ["PII.Identifier.SSN"] and out[0]["provenance"]["tenant_id"] == "t1"
    assert is_valid_event({k: v for k, v in out[0].items() if k not in ("id", "trace", "text")})
    assert out[1] == {"line": 2, "error": "line is not valid JSON"}
    assert out[2]["id"] == "c" and "detector" in out[2]["error"]
    assert out[3]["id"] == 4 and out[3]["taxonomy"] == ["HARM.SPEECH.Hate.Other"]
    stats = json.loads(summary.read_text())
    assert stats["count"] == 4 and stats["errors"] == 2 and stats["routes"] == {"rules": 2}
    assert "mapped 2 of 4 lines (2 errors)" in proc.stderr
    # The raw detector output and the user text never reach the output file or the logs.
    assert "078-05-1120" not in dst.read_text().replace(SECRET, "")
    assert "078-05-1120" not in proc.stderr


def test_raw_output_is_never_written_out(tmp_path: Path):
    src = tmp_path / "in.jsonl"
    src.write_text(
        json.dumps({"detector": "x-guard", "output": {"flagged": True, "matched_text": SECRET}}) + "\n"
    )
    proc = run(["--input", str(src), "--output", "-"])
    assert proc.returncode == 0
    assert "078-05-1120" not in proc.stdout and "078-05-1120" not in proc.stderr


def test_stdin_to_stdout_on_the_bundled_sample():
    proc = run(["--input", "-", "--output", "-"], stdin=SAMPLE.read_text(encoding="utf-8"))
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == len([ln for ln in SAMPLE.read_text().splitlines() if ln.strip()])
    assert all("error" not in rec for rec in out)
    assert all(
        is_valid_event(
            {
                k: v
                for k, v in rec.items()
                if k in ("taxonomy", "scores", "confidence", "notes", "provenance", "controls")
            }
        )
        for rec in out
    )


def test_missing_input_file_is_a_clear_error(tmp_path: Path):
    proc = run(["--input", str(tmp_path / "nope.jsonl"), "--output", "-"])
    assert proc.returncode != 0
    assert "nope.jsonl" in proc.stderr

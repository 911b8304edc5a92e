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


def without_timestamps(path: Path) -> list[dict]:
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        record.get("provenance", {}).pop("ts", None)
    return records


def test_a_killed_run_leaves_no_output_and_resume_gives_the_uninterrupted_result(tmp_path: Path):
    import os
    import signal
    import time

    cases = [
        line
        for f in sorted((ROOT / "tests" / "fixtures" / "golden").glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]
    lines = [json.loads(c) for c in cases if c.strip()]
    with (tmp_path / "in.jsonl").open("w") as fh:
        for i in range(40_000):
            case = lines[i % len(lines)]
            fh.write(
                json.dumps({"id": f"r{i}", "detector": case["detector"], "output": case["output"]}) + "\n"
            )
            if i % 997 == 0:
                fh.write("not json\n\n")  # error records and blank lines keep their places too
    out = tmp_path / "events.jsonl"
    partial = tmp_path / "events.jsonl.partial"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(SCRIPT),
            "--input",
            str(tmp_path / "in.jsonl"),
            "--output",
            str(out),
            "--no-progress",
        ],
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while (not partial.exists() or partial.stat().st_size < 200_000) and time.monotonic() < deadline:
        assert proc.poll() is None, "the run finished before it could be interrupted"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists() and partial.exists()
    kept = len(partial.read_bytes().split(b"\n")) - 1
    assert 0 < kept < 40_000
    resumed = run(["--input", str(tmp_path / "in.jsonl"), "--output", str(out), "--resume"])
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed after" in resumed.stderr and not partial.exists()
    whole = run(["--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "whole.jsonl")])
    assert whole.returncode == 0, whole.stderr
    assert without_timestamps(out) == without_timestamps(tmp_path / "whole.jsonl")


def test_resume_refuses_a_partial_output_of_another_input(tmp_path: Path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"id": "a", "detector": "presidio", "output": []}) + "\n")
    (tmp_path / "b.jsonl").write_text(json.dumps({"id": "b", "detector": "presidio", "output": []}) + "\n")
    out = tmp_path / "out.jsonl"
    (tmp_path / "out.jsonl.partial").write_text(json.dumps({"id": "a", "taxonomy": ["OTHER.Safe"]}) + "\n")
    refused = run(["--input", str(tmp_path / "b.jsonl"), "--output", str(out), "--resume"])
    assert refused.returncode == 1 and "does not match the input" in refused.stderr
    assert (tmp_path / "out.jsonl.partial").exists() and not out.exists()


def _without_time(text: str) -> list[dict]:
    records = [json.loads(line) for line in text.splitlines()]
    for record in records:
        record.get("provenance", {}).pop("ts", None)
    return records


def test_worker_processes_give_one_process_output_in_order(tmp_path: Path, monkeypatch):
    """The rules route in two processes: the same records, in input order, bad lines included, across
    many chunks (a small chunk size makes a short file span them)."""
    import io

    from llama_mapper.mapping import batch
    from llama_mapper.mapping.rules import RulesMapper

    sample = [line for line in SAMPLE.read_text().splitlines() if line.strip()]
    lines = [
        *(sample * 40),
        "{not json",
        json.dumps({"id": "no-detector", "output": {}}),
        *(json.dumps({**json.loads(line), "id": f"x{i}"}) for i, line in enumerate(sample * 10)),
    ]
    text = "\n".join(lines) + "\n"
    mapper = RulesMapper()
    one, two = io.StringIO(), io.StringIO()
    monkeypatch.setattr(batch, "CHUNK_LINES", 7)
    first = batch.map_file(io.StringIO(text), one, mapper, progress=False)
    second = batch.map_file(io.StringIO(text), two, mapper, progress=False, processes=2)
    assert _without_time(two.getvalue()) == _without_time(one.getvalue())
    assert (second.count, second.errors, second.routes, second.label_sets) == (
        first.count,
        first.errors,
        first.routes,
        first.label_sets,
    )
    assert second.count == len(lines) and second.errors == 2
    resumed = io.StringIO()  # an interrupted run's remainder, in processes too
    batch.map_file(io.StringIO(text), resumed, mapper, progress=False, processes=2, skip=100)
    assert _without_time(resumed.getvalue()) == _without_time(one.getvalue())[100:]


def test_the_workers_option_maps_a_file_and_is_refused_on_a_model_route(tmp_path: Path):
    out = tmp_path / "events.jsonl"
    done = run(["--input", str(SAMPLE), "--output", str(out), "--workers", "2"])
    assert done.returncode == 0, done.stderr
    single = run(["--input", str(SAMPLE)])
    assert _without_time(out.read_text()) == _without_time(single.stdout)
    refused = run(["--input", str(SAMPLE), "--route", "hybrid", "--adapter", "x", "--workers", "2"])
    assert refused.returncode != 0 and "--workers N (N >= 1) is for the rules route" in refused.stderr


def test_a_line_with_a_lone_surrogate_is_an_error_record_and_the_run_goes_on():
    """orjson refuses lone surrogates (which no UTF-8 writer accepts), so the batch path never has to
    look for them in what it parsed (MapRequest.from_dict(valid_utf8=True))."""
    import io

    from llama_mapper.mapping.batch import map_file
    from llama_mapper.mapping.rules import RulesMapper

    lines = [
        '{"id": "s", "detector": "acme", "output": {"labels": ["\\ud800"]}}',
        '{"id": "k", "detector": "acme", "output": {"labels": ["toxicity"]}, "note\\u00e9": "caf\\u00e9"}',
    ]
    out = io.StringIO()
    summary = map_file(io.StringIO("\n".join(lines) + "\n"), out, RulesMapper(), progress=False)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first == {"line": 1, "error": "line is not valid JSON"}
    assert (
        second["id"] == "k" and second["taxonomy"] == ["HARM.SPEECH.Toxicity"] and second["noteé"] == "café"
    )
    assert summary.errors == 1

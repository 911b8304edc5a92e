"""The end-to-end demo with the tiny recipe: every step, the printed table, and a second run that reuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import GOLDEN, ROOT, table_rows

pytestmark = pytest.mark.slow  # the whole pipeline: data, training, release, serving (minutes)

SAMPLE = ROOT / "src" / "llama_mapper" / "resources" / "samples" / "detector_outputs.jsonl"


def demo(tmp_path, *extra: str, env: dict | None = None):
    return subprocess.run(
        [sys.executable, "scripts/demo.py", *extra, "--recipe", "recipes/tiny-random/sft/config_test.yaml",
         "--data-dir", str(tmp_path / "data"), "--data-size", "64", "--data-eval-size", "32",
         "--output-dir", str(tmp_path / "out"), "--hub-root", str(tmp_path / "hub"), "--per-detector", "1",
         "--train-args", f"--output_dir {tmp_path / 'adapter'} --max_steps 2 --test_eval_samples 4"],
        cwd=ROOT, capture_output=True, text=True, timeout=900, env=env,
    )  # fmt: skip


def test_demo_runs_every_step_prints_its_results_reuses_them_and_releases_on_a_given_hub(tmp_path, local_hub):
    """Local Hub first; then a second run with ``--repo`` and a token, reusing the data and the adapter
    (re-releasing an existing tag is refused in tests/test_release.py)."""
    from llama_mapper.hub.client import release_tags

    first = demo(tmp_path)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    out = first.stdout
    assert all(f"[{i}/10]" in out for i in range(1, 11))
    assert "demo/llama-mapper-data@v0.1.0: released" in out and "demo/llama-mapper@v0.1.0: released" in out
    assert "serving demo/llama-mapper@v0.1.0#" in out  # pulled back by tag, served with its commit
    # every sample line through every route, schema-valid events with provenance
    ids = [json.loads(line)["id"] for line in SAMPLE.read_text().splitlines() if line.strip()]
    for route in ("rules", "model", "hybrid"):
        events = [
            json.loads(line) for line in (tmp_path / "out" / f"mapped-{route}.jsonl").read_text().splitlines()
        ]
        assert [e["id"] for e in events] == ids
        assert all(e["provenance"]["route"] in (route, "rules") for e in events)
    # the printed table is the one in eval_results.json
    results = json.loads((tmp_path / "out" / "eval" / "eval_results.json").read_text())
    printed = table_rows(out)
    assert set(printed) == {("golden", r) for r in ("rules", "model", "hybrid")}
    for (set_name, route), cells in printed.items():
        m = results["sets"][set_name][route]
        assert int(cells[0]) == m["n"] == len(list(GOLDEN.glob("*.jsonl")))  # one case of each detector
        assert float(cells[2]) == round(m["exact_match"], 3) and float(cells[4]) == round(m["macro_f1"], 3)
    for plot in results["plots"].values():
        assert str(tmp_path / "out" / "eval" / plot) in out
    assert (tmp_path / "out" / "report" / "compliance_report.html").is_file()
    timing = json.loads((tmp_path / "out" / "demo_timing.json").read_text())
    assert len(timing["steps"]) == 10 and timing["total_s"] > 0
    assert timing["cpu"]["model"] and timing["cpu"]["model"] in out  # every timing names its CPU

    # REPO= with HF_TOKEN: no local Hub of its own; the release goes to HF_ENDPOINT (here the suite's
    # stand-in for the real Hub) under that repo, reusing the data and the adapter.
    third = demo(tmp_path, "--repo", "acme/llama-mapper", env={**os.environ})
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-3000:]
    assert f"Hub: the Hugging Face Hub ({local_hub.url}) as acme/llama-mapper" in third.stdout
    for reused in ("reusing the existing dataset", "reusing the trained adapter"):  # a second run reuses
        assert reused in third.stdout
    # the same adapter, the same figures (the latency columns aside: this run evaluates again)
    assert {k: v[:-2] for k, v in table_rows(third.stdout).items()} == {k: v[:-2] for k, v in printed.items()}
    assert [t for t, _ in release_tags("acme/llama-mapper")] == ["v0.1.0"]
    assert [t for t, _ in release_tags("acme/llama-mapper-data", "dataset")] == ["v0.1.0"]
    no_token = demo(
        tmp_path, "--repo", "acme/other", env={k: v for k, v in os.environ.items() if k != "HF_TOKEN"}
    )
    assert no_token.returncode != 0 and "set HF_TOKEN" in no_token.stderr

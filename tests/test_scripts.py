"""The thin scripts: the demo's table and the data script's output."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT

SAMPLE = ROOT / "src" / "llama_mapper" / "data" / "samples" / "detector_outputs.jsonl"


def test_demo_prints_a_table_of_every_sample_line():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "demo.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    ids = [json.loads(line)["id"] for line in SAMPLE.read_text().splitlines() if line.strip()]
    rows = [line for line in proc.stdout.splitlines() if line.split(" ", 1)[0] in ids]
    assert len(rows) == len(ids)
    assert f"mapped {len(ids)} of {len(ids)} lines (0 errors)" in proc.stdout
    assert "taxonomy@2025.09, frameworks@v1.0, 11 catalog detectors" in proc.stdout
    # every catalog detector and some unknown ones are in the sample
    detectors = {json.loads(line)["detector"] for line in SAMPLE.read_text().splitlines() if line.strip()}
    assert len(detectors) >= 13


def test_prepare_data_writes_parquet_splits_and_a_card(tmp_path):
    out = tmp_path / "ds"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "prepare_data.py"),
            "--output_dir",
            str(out),
            "--size",
            "300",
            "--eval_size",
            "50",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (out / "data").iterdir()) == [
        "test-00000-of-00001.parquet",
        "train-00000-of-00001.parquet",
        "validation-00000-of-00001.parquet",
    ]
    assert (out / "README.md").read_text().startswith("---\n")
    assert json.loads((out / "generation.json").read_text())["size"] == 300

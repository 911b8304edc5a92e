"""The thin scripts: the data script's output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT

SAMPLE = ROOT / "src" / "llama_mapper" / "resources" / "samples" / "detector_outputs.jsonl"

pytestmark = pytest.mark.slow  # the data script retrieves every row's candidate labels (minutes)


def test_prepare_data_writes_parquet_splits_and_a_card(tmp_path):
    out = tmp_path / "ds"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "prepare_data.py"),
            "--output-dir",
            str(out),
            "--size",
            "60",
            "--eval-size",
            "20",
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
    assert json.loads((out / "generation.json").read_text())["size"] == 60

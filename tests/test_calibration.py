"""Confidence calibration: the ECE against hand-computed cases, Platt scaling, and the script on the
tiny adapter (its calibration then reaches the mapper)."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
from conftest import ROOT

from llama_mapper.evaluation.calibration import apply_platt, calibrate, expected_calibration_error, fit_platt


def test_ece_matches_hand_computed_values():
    # Two bins used: [0.9, 1.0] holds 0.95, 0.95 (1 right of 2: |0.5 - 0.95| = 0.45), [0.2, 0.3) holds
    # 0.25, 0.25 (1 right of 2: |0.5 - 0.25| = 0.25). Weighted: 0.5 * 0.45 + 0.5 * 0.25 = 0.35.
    assert expected_calibration_error([0.95, 0.95, 0.25, 0.25], [True, False, True, False]) == pytest.approx(
        0.35
    )
    assert expected_calibration_error([1.0, 1.0], [True, True]) == pytest.approx(0.0)
    assert expected_calibration_error([], []) == 0.0


def test_platt_scaling_fixes_an_overconfident_model(tmp_path):
    rng = random.Random(0)
    pairs = []
    for _ in range(2000):  # says 0.9-1.0 but is right 60% of the time
        p = rng.uniform(0.9, 1.0)
        pairs.append((p, rng.random() < 0.6))
    result = calibrate(pairs, tmp_path)
    assert result["ece_before"] > 0.3 and result["ece_after"] < 0.05
    assert apply_platt(0.95, result["a"], result["b"]) == pytest.approx(0.6, abs=0.05)
    assert json.loads((tmp_path / "calibration.json").read_text())["n"] == 2000
    assert (tmp_path / "reliability.png").read_bytes()[:4] == b"\x89PNG"
    assert fit_platt([0.9, 0.8], [True, True]) == (1.0, 0.0)  # nothing to learn from one class


@pytest.mark.slow
def test_calibrate_script_writes_what_the_mapper_applies(trained, tiny_dataset, tmp_path):
    import shutil

    from llama_mapper.mapping.confidence import Calibration

    adapter, _ = trained
    copy = tmp_path / "adapter"
    shutil.copytree(adapter, copy)
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "calibrate.py"), "--adapter", str(copy), "--dataset", str(tiny_dataset), "--limit", "24"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((copy / "calibration.json").read_text())
    assert result["n"] == 24 and 0 <= result["ece_after"] <= 1 and "ECE" in done.stderr
    loaded = Calibration.load(str(copy))
    assert (loaded.a, loaded.b) == (result["a"], result["b"])
    assert Calibration.load(str(tmp_path)) == Calibration()  # no file: the identity

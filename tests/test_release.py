"""Release gates: a failing checkpoint leaves the Hub untouched, a passing one is tagged."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GOLDEN, ROOT

from llama_mapper.evaluation.gates import Gates, check_gates


def evaluation(schema_valid=1.0, macro_f1=0.95, p95=10.0, per_detector=None, route="hybrid"):
    per_detector = per_detector or {"presidio": {"n": 10, "exact_match": 1.0, "macro_f1": 1.0}}
    return {
        "sets": {
            "golden": {
                route: {
                    "schema_valid": schema_valid,
                    "macro_f1": macro_f1,
                    "latency_ms": {"p50": 1.0, "p95": p95},
                    "per_detector": per_detector,
                }
            }
        }
    }


def test_each_gate_fails_alone_and_says_by_how_much():
    gates = Gates()
    assert check_gates(evaluation(), gates).passed
    bad = check_gates(evaluation(schema_valid=0.99), gates)
    assert [g.name for g in bad.failed] == ["schema_valid"] and "0.50% short" in bad.render()
    bad = check_gates(evaluation(macro_f1=0.85), gates)
    assert [g.name for g in bad.failed] == ["macro_f1"] and "0.050 short" in bad.render()
    bad = check_gates(evaluation(p95=300.0), gates)
    assert [g.name for g in bad.failed] == ["latency_p95"] and "50.0 ms over" in bad.render()
    before = evaluation(per_detector={"presidio": {"exact_match": 1.0}, "detoxify": {"exact_match": 0.9}})
    before["version"] = "v1.0.0"
    now = {"presidio": {"exact_match": 0.99}, "detoxify": {"exact_match": 0.85}}
    bad = check_gates(evaluation(per_detector=now), gates, before)
    assert [g.name for g in bad.failed] == ["no_regression"]
    assert "vs v1.0.0: detoxify -5.0 points" in bad.render() and "presidio" not in bad.failed[0].detail
    assert check_gates(evaluation(per_detector=now), Gates(max_detector_drop=0.06), before).passed
    with pytest.raises(ValueError, match="no 'model' route"):
        check_gates(evaluation(), Gates(route="model"))


def release(*args: str, capsys=None) -> subprocess.CompletedProcess:
    """scripts/release.py in its own process, or, given ``capsys``, its ``main`` in this one (the
    script is one call to it; the imports are not paid again)."""
    argv = ["--per-detector", "1", "--no-progress", *args]
    if capsys is None:
        return subprocess.run(
            [sys.executable, "scripts/release.py", *argv],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
    from llama_mapper.commands.release import main

    capsys.readouterr()
    code = main(argv)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, out.out, out.err)


@pytest.mark.slow
def test_release_refuses_a_failing_checkpoint_and_tags_a_passing_one(trained, tmp_path, capsys):
    from huggingface_hub import HfApi, hf_hub_download

    from llama_mapper.hub.client import release_tags

    api = HfApi()
    checkpoint = tmp_path / "adapter"
    shutil.copytree(trained[0], checkpoint)
    repo = "gates/mapper"
    # The tiny random adapter maps golden outputs badly on its own: the model route fails the F1 gate.
    failed = release(
        "--checkpoint",
        str(checkpoint),
        "--repo",
        repo,
        "--version",
        "v0.1.0",
        "--route",
        "model",
        capsys=capsys,
    )
    assert failed.returncode == 1, failed.stderr[-2000:]
    assert "FAIL  macro_f1" in failed.stdout and "short" in failed.stdout
    assert "nothing was written to the Hub" in failed.stdout
    assert not api.repo_exists(repo)
    # The hybrid route (catalog hits by rules) passes: released and tagged, its evaluation inside.
    passed = release("--checkpoint", str(checkpoint), "--repo", repo, "--version", "v0.1.0")
    assert passed.returncode == 0, passed.stdout[-2000:] + passed.stderr[-2000:]
    assert json.loads(passed.stdout.strip().splitlines()[-1])["released"] == f"{repo}@v0.1.0"
    assert [t for t, _ in release_tags(repo)] == ["v0.1.0"]
    pushed = json.loads(Path(hf_hub_download(repo, "eval_results.json", revision="v0.1.0")).read_text())
    assert pushed["sets"]["golden"]["hybrid"]["macro_f1"] >= 0.9
    commits = len(api.list_repo_commits(repo))
    # A later checkpoint that got worse on one detector (here: its golden set now disagrees) is refused.
    golden = tmp_path / "golden"
    shutil.copytree(GOLDEN, golden)
    lines = (golden / "detoxify.jsonl").read_text().splitlines()
    lines[0] = json.dumps({**json.loads(lines[0]), "expected": ["PII.Contact.Email"]})
    (golden / "detoxify.jsonl").write_text("\n".join(lines) + "\n")
    worse = release(
        "--checkpoint",
        str(checkpoint),
        "--repo",
        repo,
        "--version",
        "v0.2.0",
        "--golden",
        str(golden),
        capsys=capsys,
    )
    assert worse.returncode == 1
    assert "FAIL  no_regression" in worse.stdout and "vs v0.1.0: detoxify -100.0 points" in worse.stdout
    assert [t for t, _ in release_tags(repo)] == ["v0.1.0"] and len(api.list_repo_commits(repo)) == commits
    # An existing tag is refused before any evaluation runs.
    again = release("--checkpoint", str(checkpoint), "--repo", repo, "--version", "v0.1.0", capsys=capsys)
    assert again.returncode == 1 and "already exists" in again.stderr and "| golden" not in again.stdout

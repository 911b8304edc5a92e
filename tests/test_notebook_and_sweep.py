"""The Colab notebook runs top to bottom with the tiny recipe; a sweep runs and names its best run."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT
from nbclient import NotebookClient

NOTEBOOK = ROOT / "notebooks" / "llama_mapper_colab.ipynb"


def test_notebook_is_valid_and_keeps_its_parameters_in_one_cell():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    params = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# Parameters")]
    assert len(params) == 1
    for name in ("RECIPE", "DATASET", "REPO", "VERSION"):
        assert f"\n{name} = " in "\n" + params[0].source
    assert "recipes/llama-3.1-8b-instruct/sft/config_qlora.yaml" in params[0].source


@pytest.mark.slow
def test_notebook_executes_top_to_bottom_with_the_tiny_recipe(tiny_dataset, tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# Parameters"))
    out = tmp_path / "adapter"
    cell.source = (
        cell.source.replace(
            "recipes/llama-3.1-8b-instruct/sft/config_qlora.yaml", "recipes/tiny-random/sft/config_test.yaml"
        )
        .replace('DATASET = "data/mapper-dataset"', f'DATASET = "{tiny_dataset}"')
        .replace('OUTPUT_DIR = "outputs/colab-adapter"', f'OUTPUT_DIR = "{out}"')
        .replace('REPO = ""', 'REPO = "demo/colab-adapter"')
        .replace("PUSH = False", "PUSH = True")  # to the suite's local Hub (HF_ENDPOINT)
    )
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    outputs = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert (
        "exact-set" in outputs
        and "labels:" in outputs
        and '"released": "demo/colab-adapter@v0.1.0"' in outputs
    )
    assert (
        json.loads((out / "llama_mapper.json").read_text())["base_model"]["model_id"] == "tiny-random-llama"
    )
    from llama_mapper.hub.client import resolve

    assert resolve("demo/colab-adapter").revision == "v0.1.0"


@pytest.mark.slow
def test_sweep_runs_the_grid_and_names_the_best_setting(tiny_dataset, tmp_path):
    out = tmp_path / "sweep"
    done = subprocess.run(
        [
            sys.executable,
            "scripts/sweep.py",
            "--recipe",
            "recipes/tiny-random/sft/config_test.yaml",
            "--sweep",
            "recipes/sweeps/tiny.yaml",
            "--output-dir",
            str(out),
            "--dataset_name",
            str(tiny_dataset),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [float(r["learning_rate"]) for r in rows] == [1e-3, 1e-2]
    assert all(r["status"] == "ok" for r in rows)
    best = min(rows, key=lambda r: float(r["eval_loss"]))
    assert f"learning_rate={best['learning_rate']}" in (out / "results.md").read_text().split("\n")[2]
    assert (out / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_sweep_files_are_refused(tmp_path):
    from llama_mapper.training.sweep import Sweep

    bad = tmp_path / "bad.yaml"
    bad.write_text("grid: {learning_rate: []}\n")
    with pytest.raises(ValueError, match="non-empty lists"):
        Sweep.from_yaml(bad)
    bad.write_text("grid: {learning_rate: [1]}\nmetrc: x\n")
    with pytest.raises(ValueError, match="unknown sweep keys"):
        Sweep.from_yaml(bad)
    bad.write_text("grid: {learning_rate: [1]}\nmetric: test_exact_match\n")
    with pytest.raises(ValueError, match="selects on the validation split"):
        Sweep.from_yaml(bad)
    for sweep in sorted(Path("recipes/sweeps").glob("*.yaml")):
        assert Sweep.from_yaml(sweep).metric.startswith("eval_"), sweep

"""Hyperparameter sweeps: a grid of recipe overrides, each run scored by the task metric.

A sweep file (``recipes/sweeps/*.yaml``)::

    metric: eval_exact_match        # a validation metric of the run (llama_mapper.json): eval_*
    fixed: {max_train_samples: 1000}  # overrides for every run
    grid:                           # every combination is one run
      learning_rate: [5.0e-4, 1.0e-3]
      lora_r: [8, 16]

Each run is ``scripts/train.py --config RECIPE --key value ...`` in its own process (its memory is
returned when it ends) with its own output folder; the results go to ``results.csv``, ``results.md``
and ``results.png``, naming the best setting.
"""

from __future__ import annotations

import csv
import itertools
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llama_mapper.hub.checkpoints import METADATA_FILE


@dataclass
class Sweep:
    """A parsed sweep file."""

    grid: dict[str, list[Any]]
    fixed: dict[str, Any] = field(default_factory=dict)
    metric: str = "eval_exact_match"
    greater_is_better: bool = True

    def __post_init__(self) -> None:
        if not self.metric.startswith("eval_"):
            raise ValueError(
                f"sweep metric {self.metric!r}: a sweep selects on the validation split, so the metric"
                " must be an eval_* key (e.g. eval_exact_match, eval_loss); test_* figures are reported,"
                " never selected on"
            )

    @classmethod
    def from_yaml(cls, path: str | Path) -> Sweep:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        unknown = set(raw) - {"grid", "fixed", "metric", "greater_is_better"}
        if unknown:
            raise ValueError(f"{path}: unknown sweep keys {sorted(unknown)}")
        grid = raw.get("grid") or {}
        if not grid or not all(isinstance(v, list) and v for v in grid.values()):
            raise ValueError(f"{path}: `grid` must map recipe keys to non-empty lists of values")
        return cls(
            grid, raw.get("fixed") or {}, raw.get("metric", cls.metric), raw.get("greater_is_better", True)
        )

    def runs(self) -> list[dict[str, Any]]:
        """Every combination of the grid, each merged over the fixed overrides."""
        keys = list(self.grid)
        return [
            self.fixed | dict(zip(keys, values, strict=True))
            for values in itertools.product(*self.grid.values())
        ]

    def run_name(self, overrides: dict[str, Any]) -> str:
        """A folder name from the grid values, e.g. ``learning_rate=0.001,lora_r=16``."""
        return ",".join(f"{k}={overrides[k]}" for k in self.grid)


def train_command(python: str, recipe: str, overrides: dict[str, Any], output_dir: Path) -> list[str]:
    """The command line of one run."""
    cmd = [python, "scripts/train.py", "--config", recipe, "--output_dir", str(output_dir)]
    for key, value in overrides.items():
        cmd += [f"--{key}", json.dumps(value) if isinstance(value, (list, dict)) else str(value)]
    return cmd


def read_run(output_dir: Path) -> dict[str, Any] | None:
    """A finished run's metrics, or None when it did not finish."""
    path = output_dir / METADATA_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("metrics", {})


def _say(line: str) -> None:
    print(line, flush=True)


def run_sweep(
    recipe: str,
    sweep_file: str | Path,
    output_dir: str | Path | None = None,
    extra: Sequence[str] = (),
    dry_run: bool = False,
    python: str = sys.executable,
    log: Callable[[str], None] = _say,
) -> tuple[list[dict[str, Any]], dict[str, Path] | None]:
    """Train every run of the sweep in its own process (``extra`` flags passed to each) into
    ``output_dir/<run name>`` (default ``outputs/sweeps/<sweep file stem>``), reusing finished runs,
    and write the results (:func:`write_results`). ``log`` gets one line per run and its metric.

    Returns the results and the files written (None with ``dry_run``, which only logs each command).
    Raises FileNotFoundError when the recipe does not exist.
    """
    if not Path(recipe).is_file():
        raise FileNotFoundError(f"recipe {recipe} not found")
    sweep = Sweep.from_yaml(sweep_file)
    out = Path(output_dir or Path("outputs/sweeps") / Path(sweep_file).stem)
    runs = sweep.runs()
    results = []
    for i, overrides in enumerate(runs, 1):
        name = sweep.run_name(overrides)
        run_dir = out / name
        cmd = train_command(python, recipe, overrides, run_dir) + list(extra)
        log(f"[{i}/{len(runs)}] {name}")
        if dry_run:
            log("  " + " ".join(cmd))
            continue
        metrics = read_run(run_dir)
        if metrics is None:
            code = subprocess.call(cmd)
            metrics = read_run(run_dir) if code == 0 else None
        status = "ok" if metrics is not None else "failed"
        results.append({**overrides, **(metrics or {}), "status": status})
        log(f"  {sweep.metric} = {(metrics or {}).get(sweep.metric, 'n/a')} ({status})")
    if dry_run:
        return results, None
    return results, write_results(results, sweep, out)


def best_run(results: list[dict[str, Any]], sweep: Sweep) -> dict[str, Any] | None:
    """The run with the best metric (failed runs never win)."""
    scored = [r for r in results if isinstance(r.get(sweep.metric), (int, float))]
    if not scored:
        return None
    return (max if sweep.greater_is_better else min)(scored, key=lambda r: r[sweep.metric])


def write_results(results: list[dict[str, Any]], sweep: Sweep, out: Path) -> dict[str, Path]:
    """``results.csv``, ``results.md`` and ``results.png`` (one bar per run, the best highlighted)."""
    out.mkdir(parents=True, exist_ok=True)
    columns = [*sweep.grid, sweep.metric, "test_unseen_exact_match", "train_runtime", "status"]
    with (out / "results.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(results)
    best = best_run(results, sweep)

    def cell(value: Any) -> str:
        return f"{value:.4g}" if isinstance(value, float) else str(value if value is not None else "")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in results]
    summary = (
        f"Best: {sweep.run_name(best)} with {sweep.metric} = {best[sweep.metric]:.4f}"
        if best
        else "No run finished."
    )
    (out / "results.md").write_text("\n".join([f"# Sweep results\n\n{summary}\n", *lines]) + "\n")
    plot_results(results, sweep, out / "results.png", best)
    return {"csv": out / "results.csv", "markdown": out / "results.md", "plot": out / "results.png"}


def plot_results(
    results: list[dict[str, Any]], sweep: Sweep, path: Path, best: dict[str, Any] | None
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [sweep.run_name(r) for r in results]
    values = [r.get(sweep.metric) if isinstance(r.get(sweep.metric), (int, float)) else 0.0 for r in results]
    colors = ["tab:green" if r is best else "tab:blue" for r in results]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(results) + 2), 4.5))
    bars = ax.bar(range(len(results)), values, color=colors)
    ax.bar_label(bars, labels=[f"{v:.3f}" for v in values], fontsize=8)
    ax.set_xticks(range(len(results)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(sweep.metric)
    title = f"best: {sweep.run_name(best)}" if best else "no run finished"
    ax.set_title(f"Sweep over {', '.join(sweep.grid)} ({title})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

#!/usr/bin/env python
"""Run a grid of recipe overrides and compare the runs by the task metric.

Usage:
    make sweep RECIPE=recipes/smollm2-135m/sft/config_lora_cpu.yaml SWEEP=recipes/sweeps/lr_rank.yaml
    python scripts/sweep.py --recipe RECIPE --sweep SWEEP [--output_dir outputs/sweeps/NAME] [--any_recipe_key V]

Flags it does not know (e.g. --dataset_name DIR) are passed to every run.

Each run trains in its own process into OUTPUT_DIR/<key=value,...>; a finished run is reused, so an
interrupted sweep continues. Writes results.csv, results.md and results.png (the best run highlighted).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", required=True, help="the base recipe YAML")
    parser.add_argument("--sweep", required=True, help="the sweep YAML (grid, fixed, metric)")
    parser.add_argument("--output_dir", default=None, help="default outputs/sweeps/<sweep name>")
    parser.add_argument("--dry_run", action="store_true", help="print the commands, train nothing")
    args, extra = parser.parse_known_args(argv)
    args.extra = extra
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from llama_mapper.sweep import Sweep, read_run, train_command, write_results

    if not Path(args.recipe).is_file():
        raise SystemExit(f"recipe {args.recipe} not found")
    sweep = Sweep.from_yaml(args.sweep)
    out = Path(args.output_dir or Path("outputs/sweeps") / Path(args.sweep).stem)
    runs = sweep.runs()
    results = []
    for i, overrides in enumerate(runs, 1):
        name = sweep.run_name(overrides)
        run_dir = out / name
        cmd = train_command(sys.executable, args.recipe, overrides, run_dir) + args.extra
        print(f"[{i}/{len(runs)}] {name}", flush=True)
        if args.dry_run:
            print("  " + " ".join(cmd))
            continue
        metrics = read_run(run_dir)
        if metrics is None:
            code = subprocess.call(cmd)
            metrics = read_run(run_dir) if code == 0 else None
        status = "ok" if metrics is not None else "failed"
        results.append({**overrides, **(metrics or {}), "status": status})
        print(f"  {sweep.metric} = {(metrics or {}).get(sweep.metric, 'n/a')} ({status})", flush=True)
    if args.dry_run:
        return 0
    paths = write_results(results, sweep, out)
    print(paths["markdown"].read_text())
    print(f"plot: {paths['plot']}")
    return 0 if any(r["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Run a grid of recipe overrides and compare the runs by the task metric.

Usage:
    make sweep RECIPE=recipes/smollm2-135m/sft/config_lora_cpu.yaml SWEEP=recipes/sweeps/lr_rank.yaml
    python scripts/sweep.py --recipe RECIPE --sweep SWEEP [--output-dir outputs/sweeps/NAME] [--any_recipe_key V]

Flags it does not know (e.g. --dataset_name DIR) are passed to every run.

Each run trains in its own process into OUTPUT_DIR/<key=value,...>; a finished run is reused, so an
interrupted sweep continues. Writes results.csv, results.md and results.png (the best run highlighted).
"""

from __future__ import annotations

import argparse
import sys

from llama_mapper.training.sweep import run_sweep


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", required=True, help="the base recipe YAML")
    parser.add_argument("--sweep", required=True, help="the sweep YAML (grid, fixed, metric)")
    parser.add_argument("--output-dir", default=None, help="default outputs/sweeps/<sweep name>")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, train nothing")
    args, extra = parser.parse_known_args(argv)
    if any(a == "--output_dir" or a.startswith("--output_dir=") for a in extra):
        # passed on, it would send every run into one folder
        parser.error("the sweep's folder is --output-dir (each run trains into its own folder below it)")
    args.extra = extra
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        results, paths = run_sweep(args.recipe, args.sweep, args.output_dir, args.extra, args.dry_run)
    except FileNotFoundError as err:
        raise SystemExit(str(err)) from err
    if paths is None:  # --dry-run
        return 0
    print(paths["markdown"].read_text())
    print(f"plot: {paths['plot']}")
    return 0 if any(r["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

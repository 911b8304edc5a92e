#!/usr/bin/env python
"""The main job, end to end and offline: base model, data, training, release, serving, mapping,
evaluation and the compliance report.

Usage:
    make demo                                    # about 13 minutes on 2 CPU cores; a second run reuses
    make demo REPO=org/llama-mapper              # with HF_TOKEN set: release on the real Hub
    python scripts/demo.py --recipe recipes/tiny-random/sft/config_test.yaml --data-size 64 ...

See llama_mapper.demo for the steps. Everything it starts (a local Hub, a model server) is stopped
when it ends, also on errors.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from llama_mapper.demo import DemoConfig
from llama_mapper.demo import main as run_demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = DemoConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default=d.recipe, help="the training recipe")
    parser.add_argument("--data-dir", default=d.data_dir, help="the dataset folder (generated when absent)")
    parser.add_argument("--data-size", type=int, default=d.data_size, help="training rows to generate")
    parser.add_argument("--data-eval-size", type=int, default=None, help="validation/test rows to generate")
    parser.add_argument(
        "--output-dir", default=d.output_dir, help="mapped events, evaluation, report, timings"
    )
    parser.add_argument("--hub-root", default=d.hub_root, help="where the local Hub keeps its repos")
    parser.add_argument("--repo", default=None, help="release on the real Hub as org/name (needs HF_TOKEN)")
    parser.add_argument("--version", default=d.version, help="the release tag")
    parser.add_argument(
        "--sample", default=d.sample, help="JSONL detector outputs to map through every route"
    )
    parser.add_argument("--golden", default=d.golden, help="golden sets folder")
    parser.add_argument(
        "--per-detector", type=int, default=d.per_detector, help="golden cases per detector (0: all)"
    )
    parser.add_argument("--train-args", default="", help="extra training arguments, e.g. '--max_steps 2'")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = DemoConfig(
        recipe=args.recipe,
        data_dir=args.data_dir,
        data_size=args.data_size,
        data_eval_size=args.data_eval_size,
        output_dir=args.output_dir,
        hub_root=args.hub_root,
        repo=args.repo,
        version=args.version,
        sample=args.sample,
        golden=args.golden,
        per_detector=args.per_detector or None,
        train_args=shlex.split(args.train_args),
    )
    if args.repo and not config.real_hub:
        raise SystemExit("--repo releases on the real Hub: set HF_TOKEN (a write token) first")
    return run_demo(config)


if __name__ == "__main__":
    sys.exit(main())

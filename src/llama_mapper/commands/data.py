#!/usr/bin/env python
"""Generate the SFT dataset from the taxonomy and the detector catalog.

Usage:
    python scripts/prepare_data.py --output-dir data/mapper-dataset --size 6000 --seed 42
    make data SIZE=6000 SEED=42

Writes parquet splits (train/validation/test) and a dataset card (README.md with YAML metadata).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from llama_mapper.data import make_dataset
from llama_mapper.data.io import GENERATION_FILE


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default="data/mapper-dataset", help="where the dataset is written")
    parser.add_argument("--size", type=int, default=6000, help="training rows")
    parser.add_argument(
        "--eval-size",
        type=int,
        default=None,
        help="validation and test rows each (default size/10, at least 200)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--no-candidates",
        action="store_true",
        help="skip the candidate labels (embedding retrieval) of each category",
    )
    parser.add_argument(
        "--reviewed",
        default=None,
        help="a review file (scripts/review.py export --include-output) whose reviewed rows join train",
    )
    parser.add_argument(
        "--reviewed-repeat",
        type=int,
        default=1,
        help="each reviewed row joins train this many times (default 1)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.size < 1:
        raise SystemExit("--size must be at least 1")
    start = time.perf_counter()
    try:
        out, dataset = make_dataset(
            args.output_dir,
            args.size,
            args.eval_size,
            args.seed,
            with_candidates=not args.no_candidates,
            reviewed=args.reviewed,
            reviewed_repeat=args.reviewed_repeat,
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    sizes = ", ".join(f"{split} {len(ds)}" for split, ds in dataset.items())
    print(f"wrote {out} ({sizes}) in {time.perf_counter() - start:.1f} s")
    if args.reviewed:
        meta = json.loads((out / GENERATION_FILE).read_text(encoding="utf-8"))["reviewed"]
        print(
            f"reviewed: {meta['used']} rows joined train from {meta['file']} "
            f"({meta['left_out']} left out, {meta['not_yet_reviewed']} not yet reviewed)"
            + (f", each {meta['repeat']} times" if meta["repeat"] > 1 else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

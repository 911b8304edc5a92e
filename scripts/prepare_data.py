#!/usr/bin/env python
"""Generate the SFT dataset from the taxonomy and the detector catalog.

Usage:
    python scripts/prepare_data.py --output_dir data/mapper-dataset --size 6000 --seed 42
    make data SIZE=6000 SEED=42

Writes parquet splits (train/validation/test) and a dataset card (README.md with YAML metadata).
"""

from __future__ import annotations

import argparse
import sys
import time


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output_dir", default="data/mapper-dataset", help="where the dataset is written")
    parser.add_argument("--size", type=int, default=6000, help="training rows")
    parser.add_argument(
        "--eval_size",
        type=int,
        default=None,
        help="validation and test rows each (default size/10, at least 200)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--no_candidates",
        action="store_true",
        help="skip the candidate labels (embedding retrieval) of each category",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.size < 1:
        raise SystemExit("--size must be at least 1")
    from llama_mapper.data import TrainingDataGenerator, save_dataset

    start = time.perf_counter()
    generator = TrainingDataGenerator(seed=args.seed, with_candidates=not args.no_candidates)
    eval_size = args.eval_size if args.eval_size is not None else max(200, args.size // 10)
    dataset = generator.generate_dataset(size=args.size, eval_size=eval_size, progress=True)
    out = save_dataset(dataset, args.output_dir, generator.metadata(args.size, eval_size))
    sizes = ", ".join(f"{split} {len(ds)}" for split, ds in dataset.items())
    print(f"wrote {out} ({sizes}) in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Calibrate an adapter's confidence on the dataset's validation split (Platt scaling), report the
expected calibration error before and after, and save calibration.json + reliability.png beside it.

Usage:
    python scripts/calibrate.py --adapter outputs/smollm2-135m-lora-cpu [--dataset data/mapper-dataset]
    make calibrate CHECKPOINT=outputs/smollm2-135m-lora-cpu

The answers come through the model route's own path: the local TGI-protocol server, InferenceClient,
and the label grammar. Run it before `make push`, so that the release carries its calibration.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import sys
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--adapter", required=True, help="a local adapter folder (calibration.json is written into it)"
    )
    parser.add_argument("--dataset", default="data/mapper-dataset", help="a dataset folder made by make data")
    parser.add_argument("--split", default="validation")
    parser.add_argument("--limit", type=int, default=None, help="at most this many category prompts")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not Path(args.adapter).is_dir():
        print(f"error: {args.adapter} is not a local adapter folder", file=sys.stderr)
        return 1
    from datasets import load_dataset
    from tqdm import tqdm

    from llama_mapper.calibration import calibrate
    from llama_mapper.mapper import ModelBackend
    from llama_mapper.prompt import build_prompt, prompt_detector
    from llama_mapper.serving.server import ModelServer
    from llama_mapper.taxonomy import load_taxonomy

    files = str(Path(args.dataset) / "data" / f"{args.split}-*.parquet")
    rows = load_dataset("parquet", data_files={args.split: files})[args.split]
    items = [
        (build_prompt(prompt_detector(row), category=c, candidates=k), set(gold))
        for row in rows
        for c, gold, k in zip(
            row["categories"],
            row["category_labels"],
            row["candidates"] or [[]] * len(row["categories"]),
            strict=True,
        )
    ][: args.limit]
    if not items:
        print(f"error: the {args.split} split has no category to map", file=sys.stderr)
        return 1
    labels = [label.name for label in load_taxonomy().labels]
    with ModelServer(adapters=[args.adapter]) as server:
        backend = ModelBackend(server.url, args.adapter, labels, cache_size=0)
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(
                tqdm(
                    pool.map(lambda item: backend.answer(item[0]), items),
                    total=len(items),
                    desc="calibrating",
                )
            )
    pairs = [
        (answer.confidence, set(answer.labels) == gold)
        for answer, (_, gold) in zip(answers, items, strict=True)
    ]
    result = calibrate(pairs, args.adapter)
    print(json.dumps(result, indent=2))
    print(
        f"ECE {result['ece_before']:.3f} -> {result['ece_after']:.3f} on {result['n']} {args.split} prompts; "
        f"wrote {Path(args.adapter) / 'calibration.json'} and reliability.png",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
import json
import sys
from pathlib import Path

from llama_mapper.evaluation.calibration import calibrate_adapter


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
    try:
        result = calibrate_adapter(args.adapter, args.dataset, args.split, args.limit)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    print(
        f"ECE {result['ece_before']:.3f} -> {result['ece_after']:.3f} on {result['n']} {args.split} prompts; "
        f"wrote {Path(args.adapter) / 'calibration.json'} and reliability.png",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

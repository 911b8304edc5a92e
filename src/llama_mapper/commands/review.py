#!/usr/bin/env python
"""The review loop: export the mapped events a person should look at.

Usage:
    python scripts/review.py export --events events.jsonl [--requests requests.jsonl] --out review/batch-1
    python scripts/review.py export --events events.jsonl --requests requests.jsonl --include-output --out review/batch-1

Writes <out>.jsonl and <out>.csv: events flagged OTHER.NeedsReview or OTHER.Unknown, below the
confidence threshold, or (with --requests) whose labels differ from the rules'. Metadata only; the raw
outputs only with --include-output (needed by `make data REVIEWED=<out>.jsonl` once a person has filled
the reviewed_labels column).
"""

from __future__ import annotations

import argparse
import sys

from llama_mapper.onboarding.review import DEFAULT_THRESHOLD, export_for_review


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="write the events that need a person to a review file")
    export.add_argument("--events", required=True, help="JSONL events (scripts/map.py --output)")
    export.add_argument("--requests", default=None, help="the JSONL requests the events came from")
    export.add_argument("--out", required=True, help="output prefix: <out>.jsonl and <out>.csv")
    export.add_argument(
        "--threshold", type=float, default=DEFAULT_THRESHOLD, help="review below this confidence"
    )
    export.add_argument(
        "--include-output",
        action="store_true",
        help="also write the raw outputs (for training); never logged",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        done = export_for_review(args.events, args.out, args.requests, args.threshold, args.include_output)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(done["reasons"].items())) or "none"
    print(f"{done['selected']} of {done['events']} events need a person ({reasons})")
    print(f"review file: {done['jsonl']} and {done['csv']}")
    return 0

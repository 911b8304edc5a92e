#!/usr/bin/env python
"""Map a JSONL file of raw detector outputs to canonical events.

Usage:
    python scripts/map.py --input requests.jsonl --output events.jsonl [--route rules]
    cat requests.jsonl | python scripts/map.py --input - --output - > events.jsonl

Each input line: {"detector": str, "output": <raw output>, "detector_version"?, "tenant_id"?, "id"?}.
Each output line: the canonical event, with `id` and unknown extra fields passed through (never the
raw output). A malformed line gives an error record ({"line", "error", "id"?}) and the run goes on.
The summary goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from contextlib import ExitStack


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", "-i", default="-", help="JSONL requests, or - for stdin")
    parser.add_argument("--output", "-o", default="-", help="JSONL events, or - for stdout")
    parser.add_argument("--route", choices=["rules"], default="rules", help="which mapper answers")
    parser.add_argument("--summary-json", default=None, help="also write the run summary as JSON here")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from llama_mapper.batch import map_file
    from llama_mapper.rules import RulesMapper

    mapper = RulesMapper()
    with ExitStack() as stack:
        src = sys.stdin if args.input == "-" else stack.enter_context(open(args.input, encoding="utf-8"))
        dst = (
            sys.stdout
            if args.output == "-"
            else stack.enter_context(open(args.output, "w", encoding="utf-8"))
        )
        summary = map_file(src, dst, mapper, progress=not args.no_progress)
    print(summary.render(), file=sys.stderr)
    if args.summary_json:
        with open(args.summary_json, "w", encoding="utf-8") as fh:
            json.dump(summary.as_dict(), fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

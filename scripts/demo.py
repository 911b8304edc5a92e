#!/usr/bin/env python
"""The main job, end to end on a bundled sample of real-format detector outputs.

Usage:
    make demo
    python scripts/demo.py [--input FILE.jsonl]

Maps every sample line through the rules route and prints a table: detector, the canonical labels,
confidence and the compliance controls they give evidence for.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = resources.files("llama_mapper") / "data" / "samples" / "detector_outputs.jsonl"
    parser.add_argument("--input", default=str(default), help="JSONL requests to map")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import io
    import json

    from llama_mapper.batch import map_file
    from llama_mapper.report import mapping_table
    from llama_mapper.rules import RulesMapper

    mapper = RulesMapper()
    out = io.StringIO()
    with open(args.input, encoding="utf-8") as src:
        summary = map_file(src, out, mapper, progress=False)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    print(mapping_table(records))
    print()
    print(summary.render())
    print(f"\n{mapper.taxonomy.id}, {mapper.frameworks.id}, {len(mapper.catalog)} catalog detectors")
    return 0


if __name__ == "__main__":
    sys.exit(main())

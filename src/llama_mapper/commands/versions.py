#!/usr/bin/env python
"""List the released versions of an adapter (or dataset) repo: tag, commit, date, headline metrics.

Usage:
    python scripts/versions.py --repo org/mapper
    make versions REPO=org/mapper
"""

from __future__ import annotations

import argparse
import json
import sys

from llama_mapper.evaluation.tables import text_table
from llama_mapper.hub.checkpoints import METADATA_FILE
from llama_mapper.hub.client import HubError, versions

HEADLINE = ("test_exact_match", "test_unseen_exact_match", "test_parseable")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", required=True, help="the Hub repo, org/name")
    parser.add_argument("--repo-type", default="model", choices=["model", "dataset"])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        rows = versions(
            args.repo, args.repo_type, metadata_file=METADATA_FILE if args.repo_type == "model" else None
        )
    except HubError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"{args.repo} has no release tag yet")
        return 0
    metrics = [m for m in HEADLINE if any(m in r.get("metrics", {}) for r in rows)]
    header = ["version", "commit", "date", *metrics]
    lines = [
        header,
        *[
            [
                r["version"],
                r["sha"][:12],
                r["date"],
                *(f"{r['metrics'].get(m, float('nan')):.3f}" for m in metrics),
            ]
            for r in rows
        ],
    ]
    print(text_table(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())

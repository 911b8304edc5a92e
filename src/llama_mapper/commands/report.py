#!/usr/bin/env python
"""Compliance evidence from mapped events: JSON and CSV for machines, an HTML page for auditors.

Usage:
    make report INPUT=mapped.jsonl [REPORT_DIR=reports]
    python scripts/map.py --input requests.jsonl --output mapped.jsonl && python scripts/report.py --input mapped.jsonl

Counts per canonical label, detector, tenant and day; coverage of every framework control (how much
evidence, from which detectors and labels); the version tags in force (taxonomy, frameworks, adapter
sha). Only event metadata is read: no raw detector content reaches any report.
"""

from __future__ import annotations

import argparse
import contextlib
import sys

from llama_mapper.compliance.report import collect, write_report
from llama_mapper.resources.frameworks import load_frameworks


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--input", "-i", required=True, help="mapped events (JSONL from scripts/map.py), or -"
    )
    parser.add_argument("--output-dir", "-o", default="reports", help="where the reports go")
    parser.add_argument("--frameworks", default=None, help="frameworks version (default: the bundled one)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    frameworks = load_frameworks(args.frameworks) if args.frameworks else load_frameworks()
    try:
        with (
            contextlib.nullcontext(sys.stdin)
            if args.input == "-"
            else open(args.input, encoding="utf-8") as src
        ):
            evidence = collect(src, frameworks)
    except OSError as err:
        print(f"error: cannot read {args.input}: {err.strerror}", file=sys.stderr)
        return 1
    paths = write_report(evidence, args.output_dir)
    report = evidence.as_dict()
    covered = sum(c["covered"] for c in report["controls"])
    print(
        f"{report['events']} events, {report['error_records']} error records, "
        f"{len(report['unreadable_lines'])} unreadable lines"
        + (
            f" (lines {', '.join(map(str, report['unreadable_lines'][:10]))})"
            if report["unreadable_lines"]
            else ""
        )
    )
    print(f"{covered} of {len(report['controls'])} controls of {frameworks.id} have evidence")
    for name, f in sorted(report["frameworks"].items()):
        print(f"  {name}: {f['covered']}/{f['controls']}")
    print("reports: " + ", ".join(str(p) for p in paths.values()))
    return 0 if report["events"] else 1


if __name__ == "__main__":
    sys.exit(main())

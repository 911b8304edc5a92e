#!/usr/bin/env python
"""Draft a catalog entry for a detector outside the catalog from its sample outputs; check a draft.

Usage:
    make onboard DETECTOR=walled-protect SAMPLES=src/llama_mapper/resources/samples/onboarding/walled-protect.jsonl
    python scripts/onboard.py --detector acme-guard --samples acme.jsonl --adapter outputs/smollm2-135m-lora-cpu
    python scripts/onboard.py --check drafts/acme-guard/acme-guard.yaml

Writes <out>/<name>.yaml (the draft entry, with choices: and review:), <out>/<name>.golden.jsonl (the
samples with the proposed labels, marked unreviewed) and <out>/REVIEW.md. The draft never enters the
catalog by itself: after review, a person moves it into src/llama_mapper/catalog/detectors/.
"""

from __future__ import annotations

import argparse
import sys

from llama_mapper.onboarding import check_draft, onboard


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", help="the new detector's name (lowercase, dashes)")
    parser.add_argument("--samples", help="JSONL: one raw output of the detector a line")
    parser.add_argument("--adapter", default=None, help="also ask this adapter (org/name@v1.2.0 or a folder)")
    parser.add_argument("--out", default=None, help="where the draft goes (default: drafts/<detector>)")
    parser.add_argument(
        "--check", metavar="DRAFT", default=None, help="validate an edited draft YAML instead"
    )
    parser.add_argument(
        "--golden", default=None, help="with --check: the golden file (default: beside the draft)"
    )
    args = parser.parse_args(argv)
    if not args.check and not (args.detector and args.samples):
        parser.error("give --detector and --samples (or --check DRAFT)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.check:
            result = check_draft(args.check, args.golden)
            print(
                f"{result.samples} samples: {result.changed} map differently with the draft; "
                f"OTHER.Unknown {result.unknown_without} without it, {result.unknown_with} with it"
                + (
                    f"; {result.agree_with_golden} reviewed samples agree with the draft"
                    if result.agree_with_golden is not None
                    else ""
                )
            )
            for problem in result.problems:
                print(f"FAIL  {problem}")
            print("draft OK: a person may move it into the catalog" if result.ok else "draft not ready")
            return 0 if result.ok else 1
        draft, paths = onboard(
            args.detector, args.samples, args.out or f"drafts/{args.detector}", args.adapter
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    flagged = sum(bool(p.review) for p in draft.proposals)
    print(
        f"{args.detector}: {len(draft.samples)} samples, reader {draft.format}, "
        f"{len(draft.proposals)} categories, {flagged} flagged for review"
    )
    for what, path in paths.items():
        print(f"{what}: {path}")
    return 0

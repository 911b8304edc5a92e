#!/usr/bin/env python
"""Evaluate an adapter and release it on the Hub only when every gate holds.

Usage:
    make release CHECKPOINT=outputs/smollm2-135m-lora-cpu REPO=org/mapper VERSION=v1.3.0
    python scripts/release.py --checkpoint DIR --repo org/mapper --version v1.3.0 [--min-macro-f1 0.9]

Gates (golden sets, the --route the release serves): schema-valid >= 99.5%, macro F1 >= 0.90, no
detector more than 1 point below the previous release tag, p95 latency <= --max-p95-ms. The
evaluation (eval_results.json, plots, the model card's model-index) is written into the checkpoint
and released with it. A failed gate prints which one and by how much, exits 1 and writes nothing to
the Hub.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from llama_mapper.evaluation.gates import Gates, release_adapter
from llama_mapper.evaluation.routes import markdown_table
from llama_mapper.hub.checkpoints import CheckpointError
from llama_mapper.hub.client import HubError
from llama_mapper.mapping.routes import BackendError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = Gates()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="an adapter folder written by scripts/train.py")
    parser.add_argument("--repo", required=True, help="the Hub repo, org/name")
    parser.add_argument("--version", required=True, help="the release tag, vMAJOR.MINOR.PATCH")
    parser.add_argument(
        "--route", default=d.route, choices=["model", "hybrid"], help="the route the gates judge"
    )
    parser.add_argument("--min-schema-valid", type=float, default=d.min_schema_valid)
    parser.add_argument("--min-macro-f1", type=float, default=d.min_macro_f1)
    parser.add_argument("--max-detector-drop", type=float, default=d.max_detector_drop, help="0.01 = 1 point")
    parser.add_argument("--max-p95-ms", type=float, default=d.max_p95_ms)
    parser.add_argument(
        "--golden", default="tests/fixtures/golden", help="folder of <detector>.jsonl golden sets"
    )
    parser.add_argument("--per-detector", type=int, default=None, help="the first N cases of each golden set")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="requests in flight (1: latency per request)"
    )
    parser.add_argument(
        "--template", default=None, help="a model card template (default: the one shipped in the package)"
    )
    parser.add_argument("--private", action="store_true", help="create the repo private")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    gates = Gates(
        args.route, args.min_schema_valid, args.min_macro_f1, args.max_detector_drop, args.max_p95_ms
    )
    try:
        release = release_adapter(
            args.checkpoint,
            args.repo,
            args.version,
            gates,
            args.golden,
            args.per_detector,
            args.concurrency,
            args.template,
            args.private,
            progress=not args.no_progress,
        )
    except (BackendError, CheckpointError, HubError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    verdict = release.verdict
    print(markdown_table(release.results))
    print()
    print(verdict.render())
    if not verdict.passed:
        names = ", ".join(g.name for g in verdict.failed)
        print(
            f"\nnot released: {len(verdict.failed)} gate(s) failed ({names}); nothing was written to the Hub"
        )
        return 1
    if release.push_error is not None:
        print(f"error: {release.push_error}", file=sys.stderr)
        return 1
    released = release.released
    print(json.dumps({"released": released.ref, "sha": released.sha, "gates": "passed"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

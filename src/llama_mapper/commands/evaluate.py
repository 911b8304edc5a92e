#!/usr/bin/env python
"""Evaluate the mapping routes on the golden sets (and a dataset's test split); write the report.

Usage:
    make eval ADAPTER=outputs/smollm2-135m-lora-cpu            # rules, model and hybrid
    make eval ADAPTER=org/mapper@v1.2.0 ROUTE=hybrid
    python scripts/evaluate.py --routes rules                  # no adapter needed
    python scripts/evaluate.py --adapter org/mapper@v1.2.0 --endpoint http://tgi:8080

Writes eval_results.json, eval_results.md and PNG plots (per-detector accuracy, confusions,
reliability) beside a local checkpoint (else into --output-dir), records the golden-set headline in
the checkpoint's llama_mapper.json and re-renders its model card. Prints the table it wrote.
"""

from __future__ import annotations

import argparse
import logging
import sys

from llama_mapper.evaluation.routes import markdown_table, off_catalog_table, run_evaluation
from llama_mapper.hub.checkpoints import CheckpointError
from llama_mapper.hub.client import HubError
from llama_mapper.mapping.routes import BackendError, add_threshold_argument


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adapter", default=None, help="org/name@v1.2.0 or a local adapter folder")
    parser.add_argument(
        "--routes",
        default=None,
        help="comma-separated: rules,model,hybrid (default: all with --adapter, else rules)",
    )
    parser.add_argument(
        "--golden", default="tests/fixtures/golden", help="folder of <detector>.jsonl golden sets"
    )
    parser.add_argument("--per-detector", type=int, default=None, help="the first N cases of each golden set")
    parser.add_argument(
        "--dataset",
        default="data/mapper-dataset",
        help="also score its test split ('' to skip; skipped if absent)",
    )
    parser.add_argument("--test-rows", type=int, default=None, help="the first N rows of the test split")
    parser.add_argument(
        "--endpoint", default=None, help="a TGI-protocol URL serving the adapter (default: in process)"
    )
    parser.add_argument(
        "--api-key", default=None, help="the endpoint's bearer token (also LLAMA_MAPPER_API_KEY)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight on the model routes")
    parser.add_argument(
        "--output-dir", default=None, help="where the report goes (default: the adapter folder)"
    )
    parser.add_argument(
        "--card-template",
        default=None,
        help="a model card template (default: the one shipped in the package)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    add_threshold_argument(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        done = run_evaluation(
            args.routes.split(",") if args.routes else None,
            args.adapter,
            args.golden,
            args.per_detector,
            args.dataset,
            args.test_rows,
            args.endpoint,
            args.api_key,
            dict(args.threshold),
            args.concurrency,
            args.output_dir,
            args.card_template,
            progress=not args.no_progress,
        )
    except (BackendError, CheckpointError, HubError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    paths = done.paths
    print(markdown_table(done.results))
    print(off_catalog_table(done.results))
    print()
    print(f"report: {paths['results']} and {paths['table']}")
    print("plots: " + ", ".join(str(p) for k, p in paths.items() if k not in ("results", "table")))
    if done.card:
        print(f"model card updated: {done.card}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Map a JSONL file of raw detector outputs to canonical events.

Usage:
    python scripts/map.py --input requests.jsonl --output events.jsonl [--route rules]
    python scripts/map.py --route hybrid --adapter org/mapper@v1.2.0 --input requests.jsonl
    python scripts/map.py --route model --adapter org/mapper@v1.2.0 --endpoint http://tgi:8080 -i requests.jsonl
    python scripts/map.py --route hybrid --adapter org/mapper@v1.2.0 --endpoint http://gpu1:8000 --endpoint http://gpu2:8000 -i requests.jsonl
    cat requests.jsonl | python scripts/map.py --input - --output - > events.jsonl
    python scripts/map.py --workers 2 -i backfill.jsonl -o events.jsonl   # rules, one process per core

The model routes talk to a TGI-protocol endpoint with huggingface_hub's InferenceClient: --endpoint
(our server, a TGI container), or, without it, a server started in this process for --adapter.

Each input line: {"detector": str, "output": <raw output>, "detector_version"?, "tenant_id"?, "id"?}.
Each output line: the canonical event, with `id` and unknown extra fields passed through (never the
raw output). A malformed line gives an error record ({"line", "error", "id"?}) and the run goes on.
The summary goes to stderr. An output file is written as OUTPUT.partial and renamed when complete;
--resume continues an interrupted run from that file's last complete line.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from contextlib import ExitStack

from llama_mapper.mapping.batch import ResumeError, map_file, map_to_file
from llama_mapper.mapping.routes import BackendError, add_threshold_argument
from llama_mapper.serving.server import open_routes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", "-i", default="-", help="JSONL requests, or - for stdin")
    parser.add_argument("--output", "-o", default="-", help="JSONL events, or - for stdout")
    parser.add_argument(
        "--route", choices=["rules", "model", "hybrid"], default="rules", help="which mapper answers"
    )
    parser.add_argument(
        "--adapter", default=None, help="the adapter for model/hybrid: org/name@v1.2.0 or a folder"
    )
    parser.add_argument(
        "--endpoint",
        action="append",
        default=None,
        help="a TGI or vLLM URL serving the adapter (default: in process); repeat it for several: "
        "questions spread over the healthy ones and fail over",
    )
    parser.add_argument(
        "--api-key", default=None, help="the endpoint's bearer token (also LLAMA_MAPPER_API_KEY)"
    )
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight on the model routes")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes for the rules route (one per core; output order kept)",
    )
    add_threshold_argument(parser)
    parser.add_argument("--summary-json", default=None, help="also write the run summary as JSON here")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run from OUTPUT.partial (an output file and an input file only)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.workers < 1 or (args.workers > 1 and args.route != "rules"):
        raise SystemExit("--workers N (N >= 1) is for the rules route; the model routes use --concurrency")
    with ExitStack() as stack:
        if args.route != "rules" and not args.adapter:
            raise SystemExit(f"--route {args.route} needs --adapter (org/name@v1.2.0 or a local folder)")
        try:
            routes = stack.enter_context(
                open_routes([args.route], args.adapter, args.endpoint, args.api_key, dict(args.threshold))
            )
        except (BackendError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        mapper, backend = routes.mappers[args.route], routes.backend
        workers = args.concurrency if args.route != "rules" else 1
        if args.output != "-":  # written as OUTPUT.partial, renamed when complete
            try:
                summary = map_to_file(
                    args.input,
                    args.output,
                    mapper,
                    args.resume,
                    progress=not args.no_progress,
                    workers=workers,
                    processes=args.workers,
                )
            except (ResumeError, OSError) as err:
                print(f"error: {err}", file=sys.stderr)
                return 1
        elif args.resume:
            print("error: --resume needs --output FILE", file=sys.stderr)
            return 2
        else:
            src = sys.stdin if args.input == "-" else stack.enter_context(open(args.input, encoding="utf-8"))
            summary = map_file(
                src,
                sys.stdout,
                mapper,
                progress=not args.no_progress,
                workers=workers,
                processes=args.workers,
            )
    print(summary.render(), file=sys.stderr)
    if backend is not None:
        print(
            f"model: {backend.model_ref}, {backend.stats['model_calls']} calls, {backend.stats['cache_hits']} answered from cache",
            file=sys.stderr,
        )
    if args.summary_json:
        with open(args.summary_json, "w", encoding="utf-8") as fh:
            json.dump(summary.as_dict(), fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Serve mapping adapters over Text Generation Inference's HTTP protocol (CPU or GPU).

Usage:
    python scripts/serve.py --adapter org/mapper@v1.2.0 [--adapter org/mapper@v1.3.0] [--port 8080]
    python scripts/serve.py --adapter outputs/smollm2-135m-lora-cpu --adapter next=outputs/other-run
    make serve ADAPTER=org/mapper@v1.2.0[,org/mapper@v1.3.0] PORT=8080

Adapters are Hub references (a tag, branch or sha; pulled into the cache and reported with their
commit) or local folders; `name=ref` sets the id requests use in `adapter_id`. The base model is
loaded once. Then, with huggingface_hub:

    InferenceClient("http://127.0.0.1:8080").text_generation(prompt, adapter_id="org/mapper@v1.2.0",
        grammar={"type": "json", "value": schema}, details=True)
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import threading

from llama_mapper.hub.checkpoints import CheckpointError
from llama_mapper.mapping.routes import add_threshold_argument
from llama_mapper.serving.limits import Limits
from llama_mapper.serving.server import ModelServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--adapter", action="append", default=[], help="an adapter to serve (repeatable, or comma-separated)"
    )
    parser.add_argument(
        "--base-model",
        default=None,
        help="serve this base model (default: the weights the adapters were trained on)",
    )
    parser.add_argument(
        "--allow-base-mismatch",
        action="store_true",
        help="serve even when the adapters' training weights cannot be had here (a warning instead of an error)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--api-key", default=None, help="require this bearer token (also LLAMA_MAPPER_API_KEY)"
    )
    parser.add_argument("--max-concurrent-requests", type=int, default=64, help="queue bound: more get a 429")
    parser.add_argument("--max-batch-size", type=int, default=16)
    parser.add_argument("--max-input-tokens", type=int, default=1024)
    parser.add_argument("--max-total-tokens", type=int, default=1536)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--map",
        nargs="?",
        const="hybrid",
        default=None,
        choices=["rules", "model", "hybrid"],
        help="also serve POST /map and /map/batch with this route (default hybrid)",
    )
    add_threshold_argument(parser)
    limits = parser.add_argument_group("limits (the README's table says what a client sees past each)")
    for f in dataclasses.fields(Limits):
        limits.add_argument(
            f"--{f.name.replace('_', '-')}",
            type=type(f.default),
            default=f.default,
            help=f"{f.metadata['what']} (default {f.default})",
        )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import os

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    adapters = [a for spec in args.adapter for a in spec.split(",") if a.strip()]
    try:
        limits = Limits(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Limits)})
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        server = ModelServer(
            adapters=adapters,
            base_model=args.base_model,
            host=args.host,
            port=args.port,
            api_key=args.api_key or os.environ.get("LLAMA_MAPPER_API_KEY"),
            map_route=args.map,
            thresholds=dict(args.threshold),
            limits=limits,
            max_concurrent_requests=args.max_concurrent_requests,
            max_batch_size=args.max_batch_size,
            max_input_tokens=args.max_input_tokens,
            max_total_tokens=args.max_total_tokens,
            threads=args.threads,
            allow_base_mismatch=args.allow_base_mismatch,
        ).start()
    except (CheckpointError, ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    served = ", ".join(
        f"{a.id} ({a.sha[:12] if a.sha else 'local'})" for a in server.engine.adapters.values()
    )
    extra = f"; /map with the {args.map} route" if args.map else ""
    print(
        f"serving {server.engine.model_id} with {served or 'no adapter'} at {server.url}{extra}", flush=True
    )
    # SIGTERM (and Ctrl-C): stop accepting, let the requests in flight finish, then exit
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        while server.thread is not None and server.thread.is_alive() and not stopping.is_set():
            stopping.wait(1)
    except KeyboardInterrupt:
        pass
    finally:
        print(f"stopping: {server.app().state.traffic.in_flight} requests in flight", flush=True)
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Print (or run) the docker command that serves released adapters with TGI or vLLM on a GPU host.

Usage:
    python scripts/deploy.py tgi --adapter org/mapper@v1.2.0 [--adapter org/mapper@v1.3.0] [--run]
    python scripts/deploy.py vllm --adapter org/mapper@v1.2.0
    make tgi ADAPTER=org/mapper@v1.2.0,org/mapper@v1.3.0 [RUN=1]
    make vllm ADAPTER=org/mapper@v1.2.0 [RUN=1]

Adapters are pulled by tag first (their commit is pinned); several revisions of one repo are
downloaded into the mounted data folder and served as name=path entries.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

from llama_mapper.hub.checkpoints import CheckpointError
from llama_mapper.serving.deploy import tgi_command, vllm_command


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("backend", choices=["tgi", "vllm"])
    parser.add_argument(
        "--adapter",
        action="append",
        required=True,
        help="org/name@v1.2.0 or a folder (repeatable, or comma-separated)",
    )
    parser.add_argument(
        "--data-dir", default=None, help="the folder mounted as /data (default tgi-data / vllm-data)"
    )
    parser.add_argument(
        "--port", type=int, default=None, help="host port (default 8080 for TGI, 8000 for vLLM)"
    )
    parser.add_argument("--run", action="store_true", help="run the command instead of only printing it")
    parser.add_argument(
        "--allow-base-mismatch",
        action="store_true",
        help="serve an adapter trained on GGUF-de-quantised weights on the Hub's full ones anyway",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    refs = [a for spec in args.adapter for a in spec.split(",") if a.strip()]
    build = tgi_command if args.backend == "tgi" else vllm_command
    options = {k: v for k, v in {"data_dir": args.data_dir, "port": args.port}.items() if v is not None}
    try:
        deployment = build(refs, allow_base_mismatch=args.allow_base_mismatch, **options)
    except (CheckpointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(deployment.command)
    for ref, ident in deployment.adapter_ids.items():
        field = "adapter_id" if args.backend == "tgi" else "model"
        print(f"# {ref}: send {field}={ident!r}", file=sys.stderr)
    if args.run:
        if shutil.which("docker") is None:
            print("error: docker is not installed here; run the command above on a GPU host", file=sys.stderr)
            return 1
        return subprocess.run(deployment.argv).returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())

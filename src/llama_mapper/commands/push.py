#!/usr/bin/env python
"""Release an adapter (or a dataset) on the Hub as an immutable version tag.

Usage:
    python scripts/push.py --checkpoint outputs/smollm2-135m-lora-cpu --repo org/mapper --version v1.2.0
    python scripts/push.py --dataset data/mapper-dataset --repo org/mapper-data --version v1.0.0
    make push CHECKPOINT=outputs/smollm2-135m-lora-cpu REPO=org/mapper VERSION=v1.2.0

One commit on main holds the folder (the card rendered for this version), tagged VERSION. An existing
version is never moved or reused. Needs HF_TOKEN (or `hf auth login`); HF_ENDPOINT picks the Hub.
"""

from __future__ import annotations

import argparse
import json
import sys

from llama_mapper.hub.client import HubError
from llama_mapper.hub.release import push_adapter, push_dataset


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--checkpoint", help="an adapter folder written by scripts/train.py")
    what.add_argument("--dataset", help="a dataset folder written by scripts/prepare_data.py")
    parser.add_argument("--repo", required=True, help="the Hub repo, org/name")
    parser.add_argument("--version", required=True, help="the release tag, vMAJOR.MINOR.PATCH")
    parser.add_argument("--private", action="store_true", help="create the repo private")
    parser.add_argument(
        "--template", default=None, help="a model card template (default: the one shipped in the package)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.checkpoint:
            released = push_adapter(args.checkpoint, args.repo, args.version, args.template, args.private)
        else:
            released = push_dataset(args.dataset, args.repo, args.version, args.private)
    except HubError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps({"released": released.ref, "sha": released.sha, "repo_type": released.repo_type}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Serve a local, Hub-compatible API on 127.0.0.1 (tests and offline use).

Usage:
    python scripts/local_hub.py --port 8900 --root .hub
    make hub HUB_PORT=8900 HUB_ROOT=.hub
    export HF_ENDPOINT=http://127.0.0.1:8900 HF_TOKEN=local  # then any HF client, CLI included

Repos persist under --root. With --token (repeatable) only those tokens may write.
"""

from __future__ import annotations

import argparse
import signal
import sys

from llama_mapper.hub.local_server import LocalHubServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8900, help="TCP port (0: any free port)")
    parser.add_argument("--root", default=".hub", help="where repos are stored")
    parser.add_argument("--token", action="append", default=[], help="a token allowed to write (repeatable)")
    parser.add_argument("--verbose", action="store_true", help="log every request (method, path, status)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        server = LocalHubServer(args.root, args.port, tokens=args.token, verbose=args.verbose)
    except OSError as err:
        raise SystemExit(f"cannot listen on 127.0.0.1:{args.port}: {err.strerror}") from err
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    print(f"local Hub at {server.url} (repos in {args.root}); export HF_ENDPOINT={server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Serve a local, Hub-compatible API on 127.0.0.1 (tests and offline use).

The command lives in ``llama_mapper.commands.hub`` (also ``llama-mapper hub --help``).
"""

import sys

from llama_mapper.commands.hub import main

if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Evaluate an adapter and release it on the Hub only when every gate holds.

The command lives in ``llama_mapper.commands.release`` (also ``llama-mapper release --help``).
"""

import sys

from llama_mapper.commands.release import main

if __name__ == "__main__":
    sys.exit(main())

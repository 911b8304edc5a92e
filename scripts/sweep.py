#!/usr/bin/env python
"""Run a grid of recipe overrides and compare the runs by the task metric.

The command lives in ``llama_mapper.commands.sweep`` (also ``llama-mapper sweep --help``).
"""

import sys

from llama_mapper.commands.sweep import main

if __name__ == "__main__":
    sys.exit(main())

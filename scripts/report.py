#!/usr/bin/env python
"""Compliance evidence from mapped events: JSON and CSV for machines, an HTML page for auditors.

The command lives in ``llama_mapper.commands.report`` (also ``llama-mapper report --help``).
"""

import sys

from llama_mapper.commands.report import main

if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Evaluate the mapping routes on the golden sets (and a dataset's test split); write the report.

The command lives in ``llama_mapper.commands.evaluate`` (also ``llama-mapper eval --help``).
"""

import sys

from llama_mapper.commands.evaluate import main

if __name__ == "__main__":
    sys.exit(main())

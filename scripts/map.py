#!/usr/bin/env python
"""Map a JSONL file of raw detector outputs to canonical events.

The command lives in ``llama_mapper.commands.map`` (also ``llama-mapper map --help``).
"""

import sys

from llama_mapper.commands.map import main

if __name__ == "__main__":
    sys.exit(main())

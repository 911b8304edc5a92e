#!/usr/bin/env python
"""Serve mapping adapters over Text Generation Inference's HTTP protocol (CPU or GPU).

The command lives in ``llama_mapper.commands.serve`` (also ``llama-mapper serve --help``).
"""

import sys

from llama_mapper.commands.serve import main

if __name__ == "__main__":
    sys.exit(main())

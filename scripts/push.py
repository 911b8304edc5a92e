#!/usr/bin/env python
"""Release an adapter (or a dataset) on the Hub as an immutable version tag.

The command lives in ``llama_mapper.commands.push`` (also ``llama-mapper push --help``).
"""

import sys

from llama_mapper.commands.push import main

if __name__ == "__main__":
    sys.exit(main())

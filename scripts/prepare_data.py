#!/usr/bin/env python
"""Generate the SFT dataset from the taxonomy and the detector catalog.

The command lives in ``llama_mapper.commands.data`` (also ``llama-mapper data --help``).
"""

import sys

from llama_mapper.commands.data import main

if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Draft a catalog entry for a detector outside the catalog from its sample outputs; check a draft.

The command lives in ``llama_mapper.commands.onboard``.
"""

import sys

from llama_mapper.commands.onboard import main

if __name__ == "__main__":
    sys.exit(main())

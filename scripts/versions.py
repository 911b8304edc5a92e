#!/usr/bin/env python
"""List the released versions of an adapter (or dataset) repo: tag, commit, date, headline metrics.

The command lives in ``llama_mapper.commands.versions`` (also ``llama-mapper versions --help``).
"""

import sys

from llama_mapper.commands.versions import main

if __name__ == "__main__":
    sys.exit(main())

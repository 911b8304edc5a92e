#!/usr/bin/env python
"""The review loop: export the mapped events a person should look at.

The command lives in ``llama_mapper.commands.review``.
"""

import sys

from llama_mapper.commands.review import main

if __name__ == "__main__":
    sys.exit(main())

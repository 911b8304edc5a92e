#!/usr/bin/env python
"""Print (or run) the docker command that serves released adapters with TGI or vLLM on a GPU host.

The command lives in ``llama_mapper.commands.deploy`` (also ``llama-mapper deploy --help``).
"""

import sys

from llama_mapper.commands.deploy import main

if __name__ == "__main__":
    sys.exit(main())

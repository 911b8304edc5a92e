#!/usr/bin/env python
"""The main job, end to end and offline: base model, data, training, release, serving, mapping,

The command lives in ``llama_mapper.commands.demo`` (also ``llama-mapper demo --help``).
"""

import sys

from llama_mapper.commands.demo import main

if __name__ == "__main__":
    sys.exit(main())

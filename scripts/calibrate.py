#!/usr/bin/env python
"""Calibrate an adapter's confidence on the dataset's validation split (Platt scaling), report the

The command lives in ``llama_mapper.commands.calibrate`` (also ``llama-mapper calibrate --help``).
"""

import sys

from llama_mapper.commands.calibrate import main

if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Train a mapping adapter (LoRA or QLoRA) with TRL's SFTTrainer from a YAML recipe.

The command lives in ``llama_mapper.commands.train`` (also ``llama-mapper train --help``).
"""

import sys

from llama_mapper.commands.train import main

if __name__ == "__main__":
    sys.exit(main())

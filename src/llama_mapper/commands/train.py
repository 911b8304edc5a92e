#!/usr/bin/env python
"""Train a mapping adapter (LoRA or QLoRA) with TRL's SFTTrainer from a YAML recipe.

Usage:
    make train RECIPE=recipes/smollm2-135m/sft/config_lora_cpu.yaml
    python scripts/train.py --config recipes/smollm2-135m/sft/config_lora_cpu.yaml --learning_rate 5e-4
    accelerate launch --config_file recipes/accelerate_configs/ddp.yaml --num_processes 2 \
        scripts/train.py --config recipes/tiny-random/sft/config_test.yaml

The recipe's keys fill three dataclasses (ScriptArguments, MapperSFTConfig and
MapperModelConfig in llama_mapper.training.config); command-line flags override them and unknown keys fail.
Beside the adapter it saves the tokenizer, the resolved recipe (recipe.yaml), the lineage and metrics
(llama_mapper.json) and, last, the model card (README.md).
"""

from __future__ import annotations

import logging
import sys

from llama_mapper.training.run import parse, train


def main(argv: list[str] | None = None) -> int:
    """Parse the recipe and the command line, then train."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    train(*parse(sys.argv[1:] if argv is None else list(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``llama-mapper``: one entry point for every pipeline step, dispatching to the same ``main()`` as
``scripts/*.py`` (each in :mod:`llama_mapper.commands`).

    llama-mapper --help
    llama-mapper map --input requests.jsonl --output events.jsonl
    python src/llama_mapper/cli.py train --config recipes/smollm2-135m/sft/config_lora_cpu.yaml

A command's module is imported only when it runs, so ``--help`` is instant and the rules route never
imports torch.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

# subcommand -> (module under llama_mapper.commands, what it does)
COMMANDS: dict[str, tuple[str, str]] = {
    "map": ("map", "map a JSONL file of detector outputs to canonical events"),
    "map-spark": ("map_spark", "map request files with Spark to Parquet events (local mode or a cluster)"),
    "data": ("data", "generate the SFT dataset"),
    "train": ("train", "train an adapter from a YAML recipe"),
    "calibrate": ("calibrate", "calibrate an adapter's confidence on the validation split"),
    "sweep": ("sweep", "train a grid of recipe overrides and rank them"),
    "eval": ("evaluate", "evaluate the routes on the golden sets and the test split"),
    "push": ("push", "release an adapter or a dataset as an immutable version"),
    "release": ("release", "evaluate, then push and tag only if every gate holds"),
    "versions": ("versions", "list the released versions of a repo"),
    "hub": ("hub", "serve a local Hub-compatible API"),
    "serve": ("serve", "serve adapters over TGI's protocol (and /map)"),
    "deploy": ("deploy", "print or run the TGI / vLLM command for released adapters"),
    "report": ("report", "compliance evidence from mapped events"),
    "onboard": ("onboard", "draft a catalog entry for a new detector from its sample outputs"),
    "review": ("review", "export the mapped events a person should look at"),
    "demo": ("demo", "the whole pipeline, offline"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    return (
        "usage: llama-mapper COMMAND [ARGS...]\n\ncommands:\n"
        + "\n".join(lines)
        + ("\n\n`llama-mapper COMMAND --help` describes a command's arguments.")
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if args[0] not in COMMANDS:
        print(f"llama-mapper: unknown command {args[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"llama_mapper.commands.{COMMANDS[args[0]][0]}")
    sys.argv = [f"llama-mapper {args[0]}", *args[1:]]  # argparse and TrlParser name the command
    return module.main(args[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())

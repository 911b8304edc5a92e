"""Commands: one module per ``scripts/*.py`` and ``llama-mapper`` subcommand; each ``main(argv)``
parses arguments and calls one library function.

May import every package.
"""

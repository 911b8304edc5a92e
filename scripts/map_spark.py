#!/usr/bin/env python
"""Map request files to canonical events with Spark, as Parquet tables (local mode or a cluster).

The command lives in ``llama_mapper.commands.map_spark`` (also ``llama-mapper map-spark --help``).
"""

import sys

from llama_mapper.commands.map_spark import main

if __name__ == "__main__":
    sys.exit(main())

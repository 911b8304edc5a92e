#!/usr/bin/env python
"""Map request files to canonical events with Spark, as Parquet tables (events, errors).

Usage:
    python scripts/map_spark.py --input requests.jsonl --output events-out/          # local[*]
    python scripts/map_spark.py -i 'data/requests/*.jsonl' -i more.parquet -o out/ --master local[2]
    python scripts/map_spark.py --route hybrid --adapter org/mapper@v1.2.0 \\
        --endpoint http://gpu1:8080 --endpoint http://gpu2:8080 -i s3a://bucket/requests/ -o s3a://bucket/events/
    python scripts/map_spark.py --only-older-than taxonomy@2025.09 -o out/                 # backfill
    spark-submit --master yarn scripts/map_spark.py -i hdfs:///requests/ -o hdfs:///events/

Each input line (or Parquet row) is a request, as for scripts/map.py: {"detector": str, "output":
<raw output>, "detector_version"?, "tenant_id"?, "id"?, ...}. Every event is the line scripts/map.py
writes for it, but for provenance.ts: one mapping time for the run (--mapped-at, or the output's).
OUTPUT gets events/ (partitioned by day and detector), errors/, and a manifest: run the same command
again after a failure to finish the job (committed batches are kept). See docs/SPARK.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings

from llama_mapper.mapping.routes import add_threshold_argument
from llama_mapper.spark import JobError, OlderThan, Options, parse_mapped_at, run, spark_session
from llama_mapper.spark.job import DEFAULT_BATCH_BYTES


def _conf(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: write KEY=VALUE, e.g. spark.executor.memory=4g")
    return key.strip(), value


def _older(text: str) -> OlderThan:
    try:
        return OlderThan.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _mapped_at(text: str) -> str:
    try:
        return parse_mapped_at(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        help="requests: a JSONL or Parquet file, folder or glob, any URI Spark reads (repeatable)",
    )
    parser.add_argument("--output", "-o", required=True, help="the output folder (any URI Spark writes)")
    parser.add_argument("--format", choices=["auto", "jsonl", "parquet"], default="auto", help="input format")
    parser.add_argument(
        "--route",
        choices=["rules", "model", "hybrid"],
        default=None,
        help="which mapper answers (default: the output's, else rules)",
    )
    parser.add_argument("--adapter", default=None, help="the adapter for model/hybrid: org/name@v1.2.0")
    parser.add_argument(
        "--endpoint",
        action="append",
        default=[],
        help="a TGI or vLLM URL serving the adapter, reachable from the executors (repeatable)",
    )
    parser.add_argument(
        "--api-key", default=None, help="the endpoints' bearer token (also LLAMA_MAPPER_API_KEY)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=8, help="model routes: questions in flight per partition"
    )
    add_threshold_argument(parser)
    parser.add_argument(
        "--mapped-at",
        type=_mapped_at,
        default=None,
        help="the mapping time of every event (ISO 8601; default: the output's, else now)",
    )
    parser.add_argument(
        "--batch-bytes",
        type=int,
        default=DEFAULT_BATCH_BYTES,
        help="input bytes per batch, the unit of commit and resume (whole files)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="map again from scratch into an existing output"
    )
    parser.add_argument(
        "--only-older-than",
        action="append",
        type=_older,
        default=[],
        metavar="NAME@VERSION",
        help="backfill: re-map the output's events older than this (taxonomy|frameworks|mapper|catalog|adapter@V)",
    )
    parser.add_argument(
        "--master", default=None, help="Spark master (default: spark-submit's, else local[*])"
    )
    parser.add_argument(
        "--conf", action="append", type=_conf, default=[], metavar="KEY=VALUE", help="a Spark setting"
    )
    parser.add_argument("--summary-json", default=None, help="also write the run summary as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("llama_mapper.spark").setLevel(logging.INFO)  # a line per batch: counts only
    # pyspark's notice that it is not tested with pandas 3: the job does not use pandas (mapInArrow)
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    if not args.input and not args.only_older_than:
        print(
            "error: --input is required (a backfill, --only-older-than, re-reads the output's)",
            file=sys.stderr,
        )
        return 2
    if args.concurrency < 1 or args.batch_bytes < 1:
        print("error: --concurrency and --batch-bytes must be at least 1", file=sys.stderr)
        return 2
    options = Options(
        output=args.output,
        inputs=args.input,
        input_format=args.format,
        route=args.route,
        adapter=args.adapter,
        endpoints=args.endpoint,
        api_key=args.api_key,
        thresholds=dict(args.threshold),
        concurrency=args.concurrency,
        mapped_at=args.mapped_at,
        batch_bytes=args.batch_bytes,
        overwrite=args.overwrite,
        only_older_than=args.only_older_than,
    )
    from pyspark.sql import SparkSession

    shared = SparkSession.getActiveSession()  # a notebook's or Databricks': not ours to stop
    spark = spark_session(args.master, dict(args.conf))
    try:
        summary = run(spark, options)
    except JobError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        if shared is None:
            spark.stop()
    print(summary.render(), file=sys.stderr)
    if args.summary_json:
        with open(args.summary_json, "w", encoding="utf-8") as fh:
            json.dump(summary.as_dict(), fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Spark job throughput: events/s of `scripts/map_spark.py` in local mode against `scripts/map.py`
(one process, and `--workers N`) on the same input, with a check that the events are the same.

Usage:
    python bench/spark_throughput.py [--events 200000] [--master local[2]] [--workers 2]

The input is bench/rules_throughput.py's (its generator, imported): realistic outputs, 80% catalog
detectors, every line distinct (scores jittered, ids unique), in one JSONL file. Figures:
- scripts/map.py, a subprocess: its own mapping time (--summary-json: reading, mapping and writing
  JSONL) and the wall time with start-up;
- the Spark job, in this process: the session's start-up and a small warm-up job (the executors'
  Python workers start and build their mapper) apart, then the job from listing the input to
  `_SUCCESS` (the split line count, mapping, Parquet writing and the commit).
Every Spark event is then compared with scripts/map.py's line for the same input line (`provenance.ts`
set to the run's mapping time).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import orjson
import pyarrow.dataset as ds
from rules_throughput import build_input

from llama_mapper.mapping.batch import dump_line
from llama_mapper.models.precision import describe_cpu

ROOT = Path(__file__).resolve().parents[1]
MAPPED_AT = "2025-09-01T00:00:00.000Z"


def map_py(src: Path, dst: Path, workers: int) -> dict:
    """scripts/map.py on ``src``: its summary, with the wall time of the whole process."""
    summary = dst.with_suffix(".summary.json")
    started = time.perf_counter()
    cmd = [sys.executable, str(ROOT / "scripts" / "map.py"), "-i", str(src), "-o", str(dst), "--no-progress"]
    subprocess.run(
        [*cmd, "--workers", str(workers), "--summary-json", str(summary)], check=True, capture_output=True
    )
    wall = time.perf_counter() - started
    return {**json.loads(summary.read_text()), "wall_seconds": wall}


def check_same(events_dir: Path, reference: Path) -> int:
    """Every Spark event is scripts/map.py's line for its input line; returns how many were compared."""
    table = ds.dataset(events_dir, format="parquet", partitioning="hive", ignore_prefixes=[".", "_"])
    rows = table.to_table(columns=["line", "event"]).to_pydict()
    spark = dict(zip(rows["line"], rows["event"], strict=True))
    compared = 0
    with reference.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):  # the input has no blank line: line n is record n
            record = orjson.loads(line)
            if "error" in record:
                continue
            record["provenance"]["ts"] = MAPPED_AT
            if spark.get(n) != dump_line(record)[:-1]:
                raise SystemExit(f"line {n}: the Spark event differs from scripts/map.py's")
            compared += 1
    if compared != len(spark):
        raise SystemExit(f"{len(spark)} Spark events, {compared} from scripts/map.py")
    return compared


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--master", default="local[2]", help="the Spark master (local mode)")
    parser.add_argument(
        "--workers", type=int, default=2, help="scripts/map.py --workers for the second figure"
    )
    parser.add_argument("--json", default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")

    from llama_mapper.spark import Options, run, spark_session

    with tempfile.TemporaryDirectory(prefix="spark-bench-") as tmp:
        folder = Path(tmp)
        src = folder / "requests.jsonl"
        src.write_text(build_input(args.events), encoding="utf-8")
        size_mb = src.stat().st_size / 1e6

        one = map_py(src, folder / "one.jsonl", 1)
        many = map_py(src, folder / "many.jsonl", args.workers)

        started = time.perf_counter()
        spark = spark_session(args.master)
        warm = folder / "warm-up"  # two small files: a task per core starts its Python worker and mapper
        warm.mkdir()
        for i in range(2):
            (warm / f"part-{i}.jsonl").write_text(build_input(500, seed=i + 1), encoding="utf-8")
        run(spark, Options(output=str(folder / "warm-up-out"), inputs=[str(warm)], mapped_at=MAPPED_AT))
        startup = time.perf_counter() - started
        summary = run(spark, Options(output=str(folder / "spark"), inputs=[str(src)], mapped_at=MAPPED_AT))
        spark.stop()
        mapped = summary.events + summary.errors
        compared = check_same(folder / "spark" / "events", folder / "one.jsonl")

    spark_eps = summary.events / summary.seconds
    print(f"on {describe_cpu()}")
    print(f"input: {args.events:,} distinct requests, one JSONL file of {size_mb:.0f} MB")
    for label, figures in (
        ("scripts/map.py, one process", one),
        (f"scripts/map.py --workers {args.workers}", many),
    ):
        print(
            f"{label}: {figures['events_per_second']:,.0f} events/s ({figures['mapped']:,} events in "
            f"{figures['seconds']:.1f} s; {figures['wall_seconds']:.1f} s with start-up)"
        )
    print(
        f"Spark job, {args.master}: {spark_eps:,.0f} events/s ({summary.events:,} events and {summary.errors} errors "
        f"in {summary.seconds:.1f} s, Parquet written and committed; session start-up and a warm-up job {startup:.1f} s more) "
        f"= {spark_eps / one['events_per_second']:.2f}x one process, "
        f"{spark_eps / many['events_per_second']:.2f}x {args.workers} workers"
    )
    print(f"identical events: {compared:,} of {mapped:,} lines compared with scripts/map.py's (ts aside)")
    if args.json:
        figures = {
            "events": args.events,
            "cpu": describe_cpu(),
            "map_py_events_per_s": one["events_per_second"],
            "map_py_workers": args.workers,
            "map_py_workers_events_per_s": many["events_per_second"],
            "spark_master": args.master,
            "spark_events_per_s": spark_eps,
            "spark_seconds": summary.seconds,
            "spark_startup_seconds": startup,
            "identical_events": compared,
        }
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The driver side of the Spark job: plan the input into batches, map each batch on the executors
(:mod:`llama_mapper.spark.rows`), commit it (:mod:`llama_mapper.spark.store`), and backfill.

See :mod:`llama_mapper.spark` for the design; ``scripts/map_spark.py`` is the command.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from llama_mapper.mapping.events import utc_now
from llama_mapper.mapping.routes import BackendError
from llama_mapper.serving.client import ModelBackend
from llama_mapper.spark.rows import (
    DDL_TYPES,
    NUMBERED_SCHEMA,
    ROW_FIELDS,
    ROW_SCHEMA,
    VERSION_FIELDS,
    Task,
    map_partition,
    number_partition,
    process_rules,
    spark_ddl,
)
from llama_mapper.spark.store import (
    MANIFEST,
    STAGING,
    SUCCESS,
    TABLES,
    Store,
    clear,
    commit,
    committed,
    finish_pending,
    stage_dir,
)
from llama_mapper.spark.versions import OlderThan, current_versions

logger = logging.getLogger(__name__)

DEFAULT_BATCH_BYTES = 256 * 1024 * 1024  # input bytes per batch: the unit of commit and of resume
MANIFEST_FORMAT = 1
# The events table: the event's JSON (the line scripts/map.py writes, without its newline), then
# flat columns to filter on; partitioned by day and detector (the last two).
EVENT_COLUMNS = (
    "event",
    "id",
    "source_file",
    "line",
    "batch",
    "route",
    "tenant_id",
    "labels",
    *VERSION_FIELDS,
    "model",
    "mapped_at",
    "day",
    "detector",
)
ERROR_COLUMNS = ("record", "error", "id", "source_file", "line", "batch", *VERSION_FIELDS, "mapped_at")
# Spark type of every column of the two tables
COLUMN_TYPES = {name: DDL_TYPES[kind] for name, kind in ROW_FIELDS} | {"event": "string", "record": "string"}
ROW_DDL = spark_ddl(ROW_SCHEMA)
NUMBERED_DDL = spark_ddl(NUMBERED_SCHEMA)


class JobError(RuntimeError):
    """The job cannot run as asked (the message says why and what to do)."""


@dataclass
class Options:
    """What ``scripts/map_spark.py`` is asked to do."""

    output: str
    inputs: Sequence[str] = ()
    input_format: str = "auto"  # auto (by extension), jsonl or parquet
    route: str | None = None  # default: the output's route, else rules
    adapter: str | None = None
    endpoints: Sequence[str] = ()
    api_key: str | None = None
    thresholds: dict[str, float] = field(default_factory=dict)
    concurrency: int = 8
    mapped_at: str | None = None  # normalised (versions.parse_mapped_at); default: the output's, else now
    batch_bytes: int = DEFAULT_BATCH_BYTES
    overwrite: bool = False
    only_older_than: Sequence[OlderThan] = ()


@dataclass
class JobSummary:
    """What one run did; metadata only."""

    output: str
    batches: int = 0
    skipped: int = 0  # committed by an earlier run
    mapped: int = 0  # batches this run mapped (or re-wrote, in a backfill)
    events: int = 0  # rows this run wrote
    errors: int = 0
    remapped: int = 0  # backfill: events re-mapped
    finished_commits: int = 0  # commits an interrupted run had left half done
    seconds: float = 0.0

    @property
    def lines_per_second(self) -> float:
        return (self.events + self.errors) / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "batches": self.batches,
            "skipped": self.skipped,
            "mapped": self.mapped,
            "events": self.events,
            "errors": self.errors,
            "remapped": self.remapped,
            "finished_commits": self.finished_commits,
            "seconds": round(self.seconds, 3),
            "lines_per_second": round(self.lines_per_second, 1),
        }

    def render(self) -> str:
        backfill = f"; {self.remapped} older events re-mapped" if self.remapped else ""
        return (
            f"{self.output}: {self.batches} batches, {self.skipped} already committed, {self.mapped} written "
            f"({self.events} events, {self.errors} errors{backfill}) in {self.seconds:.1f} s, "
            f"{self.lines_per_second:,.0f} lines/s"
        )


# -- the session -------------------------------------------------------------------------------------


def spark_session(master: str | None = None, conf: dict[str, str] | None = None) -> Any:
    """The Spark session to run in. Without ``master``: the active one (a notebook, Databricks), or
    the one spark-submit configured, else ``local[*]``. In local mode the executors run this Python
    (``PYSPARK_PYTHON``)."""
    from pyspark.sql import SparkSession

    if master is None:
        active = SparkSession.getActiveSession()
        if active is not None:
            for key, value in (conf or {}).items():
                active.conf.set(key, value)
            return active
        if "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit
            master = "local[*]"
    builder = SparkSession.builder.appName("llama-mapper map-spark")
    if master:
        builder = builder.master(master)
        if master.startswith("local"):
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            builder = builder.config("spark.ui.enabled", "false")
    settings = {"spark.ui.showConsoleProgress": "false", "spark.sql.session.timeZone": "UTC", **(conf or {})}
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark


# -- input ----------------------------------------------------------------------------------------------


def list_inputs(spark: Any, inputs: Sequence[str]) -> list[dict[str, Any]]:
    """The input files (paths, folders or globs; any URI Spark reads), sorted: ``{path, size,
    mtime}``. Inside a folder, names starting with ``_`` or ``.`` are left out (``_SUCCESS``, ``.crc``)."""
    jvm = spark._jvm
    conf = spark._jsc.hadoopConfiguration()
    found: dict[str, dict[str, Any]] = {}

    def add(status: Any) -> None:
        path = status.getPath().toString()
        found[path] = {"path": path, "size": int(status.getLen()), "mtime": int(status.getModificationTime())}

    for text in inputs:
        root = jvm.org.apache.hadoop.fs.Path(text)
        fs = root.getFileSystem(conf)
        statuses = fs.globStatus(root)
        if not statuses:
            raise JobError(f"no input at {text}")
        for status in statuses:
            if not status.isDirectory():
                add(status)
                continue
            base = status.getPath().toString().rstrip("/")
            listing = fs.listFiles(status.getPath(), True)
            while listing.hasNext():
                entry = listing.next()
                rel = entry.getPath().toString()[len(base) + 1 :]
                if not any(part.startswith(("_", ".")) for part in rel.split("/")):
                    add(entry)
    if not found:
        raise JobError(f"no input file in {', '.join(inputs)}")
    return [found[path] for path in sorted(found)]


def input_format(files: Sequence[dict[str, Any]], asked: str = "auto") -> str:
    """``jsonl`` or ``parquet``: as asked, or by the files' extension (``.parquet``; all else is JSONL)."""
    if asked != "auto":
        return asked
    kinds = {"parquet" if f["path"].lower().endswith(".parquet") else "jsonl" for f in files}
    if len(kinds) > 1:
        raise JobError("the input mixes Parquet and JSONL files: give one kind (or --format)")
    return kinds.pop()


def plan_batches(files: Sequence[dict[str, Any]], batch_bytes: int) -> list[list[int]]:
    """Consecutive files grouped up to ``batch_bytes`` per batch (a larger file is a batch alone)."""
    batches: list[list[int]] = []
    size = 0
    for i, entry in enumerate(files):
        if batches and size + entry["size"] <= batch_bytes:
            batches[-1].append(i)
            size += entry["size"]
        else:
            batches.append([i])
            size = entry["size"]
    return batches


def read_requests(spark: Any, paths: Sequence[str], fmt: str) -> tuple[Any, str, tuple[str, ...]]:
    """The requests of some files as ``(DataFrame, source, request columns)``: each row with its
    file (``__file``) and split start (``__block``), and the request line (``__text``) or, for
    Parquet without a ``request`` text column, the request's fields as columns."""
    from pyspark.sql import functions as F

    meta = [
        F.col("_metadata.file_path").alias("__file"),
        F.col("_metadata.file_block_start").alias("__block"),
    ]
    if fmt == "jsonl":
        return spark.read.text(list(paths)).select(F.col("value").alias("__text"), *meta), "jsonl", ()
    df = spark.read.option("mergeSchema", "true").parquet(*paths)
    kinds = dict(df.dtypes)
    if kinds.get("request") == "string":
        return df.select(F.col("request").alias("__text"), *meta), "parquet-request", ()
    columns = tuple(df.columns)
    if "detector" not in columns:
        raise JobError(
            "Parquet input needs a `request` text column (one JSONL line a row) or a `detector` column"
        )
    return df.select(*[F.col(f"`{c}`") for c in columns], *meta), "parquet-columns", columns


def _single_split_bytes(spark: Any) -> int:
    """Files up to this size are never split by Spark's file sources (so need no line count)."""
    try:
        conf = spark._jsparkSession.sessionState().conf()
        return int(min(conf.filesMaxPartitionBytes(), conf.filesOpenCostInBytes()))
    except Exception:  # another Spark build: count every file
        return 0


def split_bases(spark: Any, df: Any, sizes: Sequence[int]) -> dict[tuple[str, int], int]:
    """For each split ``(file, start byte)`` of a file Spark splits: the number of rows (lines) of
    that file in the splits before it. One aggregation in the JVM; none when no file is split."""
    if all(size <= _single_split_bytes(spark) for size in sizes):
        return {}
    counts: dict[str, list[tuple[int, int]]] = {}
    for row in df.groupBy("__file", "__block").count().collect():
        counts.setdefault(row["__file"], []).append((row["__block"], row["count"]))
    bases = {}
    for file, blocks in counts.items():
        before = 0
        for block, n in sorted(blocks):
            bases[(file, block)] = before
            before += n
    return bases


# -- versions -------------------------------------------------------------------------------------------


def run_versions(route: str, adapter: str | None, endpoints: Sequence[str], api_key: str | None) -> dict:
    """The versions this run maps with; on the model routes, the adapter the endpoint serves."""
    rules = process_rules()
    adapter_ref = None
    if route != "rules":
        if not adapter or not endpoints:
            raise JobError(f"--route {route} needs --adapter and at least one --endpoint serving it")
        try:
            backend = ModelBackend(
                endpoints[0],
                adapter,
                rules.taxonomy.names,
                api_key=api_key or os.environ.get("LLAMA_MAPPER_API_KEY"),
            )
        except (BackendError, ValueError, OSError) as err:
            raise JobError(str(err)) from err
        adapter_ref = backend.model_ref
    return current_versions(rules, adapter_ref)


# -- writing one batch ------------------------------------------------------------------------------------


def _as_rows(df: Any, kind: str) -> Any:
    """A table's rows (events or errors, as stored) back in the row schema of :mod:`rows`."""
    from pyspark.sql import functions as F

    have = set(df.columns)
    columns = []
    for name, _ in ROW_FIELDS:
        if name == "kind":
            columns.append(F.lit(kind).alias("kind"))
        elif name == "json":
            columns.append(F.col("event" if kind == "event" else "record").alias("json"))
        elif name in have:
            columns.append(F.col(name))
        else:
            columns.append(F.lit(None).cast(COLUMN_TYPES[name]).alias(name))
    return df.select(*columns)


def in_arrow(df: Any, function: Any, ddl: str) -> Any:
    """``df.mapInArrow(function, ddl)``, without pyspark's notice that it has not been tested with
    pandas 3 (mapInArrow does not use pandas)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
        return df.mapInArrow(function, ddl)


def write_batch(spark: Any, store: Store, batch: int, rows: Any, errors_seen: Any = None) -> dict[str, int]:
    """Write a batch's rows under its staging folder: the events partitioned by day and detector,
    and the errors, if any; returns ``{"events": n, "errors": m}`` (from the written files).

    ``errors_seen``: an accumulator the mapping adds its error count to. Given (the rules route:
    cheap and deterministic), the rows are mapped once for the events, and once more for the errors
    only when there are some. Otherwise (model answers, a backfill) they are cached and written twice.
    """
    from pyspark.sql import functions as F

    store.delete(stage_dir(batch))
    staged = {table: store.uri(f"{stage_dir(batch)}/{table}") for table in TABLES}
    cached = errors_seen is None
    if cached:
        rows = rows.persist()
    try:
        if cached:  # mapped here, once
            has_errors = bool(rows.where(F.col("kind") == "error").limit(1).count())
        events = rows.where(F.col("kind") == "event").withColumnRenamed("json", "event")
        events.select(*EVENT_COLUMNS).write.mode("overwrite").partitionBy("day", "detector").parquet(
            staged["events"]
        )
        if not cached:  # mapped by the write, which counted its error records
            has_errors = errors_seen.value > 0
        if has_errors:
            errors = rows.where(F.col("kind") == "error").withColumnRenamed("json", "record")
            errors.select(*ERROR_COLUMNS).write.mode("overwrite").parquet(staged["errors"])
    finally:
        if cached:
            rows.unpersist()
    counts = {}
    for table, columns in (("events", EVENT_COLUMNS), ("errors", ERROR_COLUMNS)):
        ddl = ", ".join(f"`{c}` {COLUMN_TYPES[c]}" for c in columns)
        written = store.files(f"{stage_dir(batch)}/{table}")
        counts[table] = spark.read.schema(ddl).parquet(staged[table]).count() if written else 0
    return counts


def _task(manifest: dict[str, Any], options: Options, batch: int, mapped_at: str, **kw: Any) -> Task:
    return Task(
        batch=batch,
        mapped_at=mapped_at,
        versions=manifest["versions"],
        route=manifest["route"],
        adapter=manifest["adapter"],
        endpoints=tuple(options.endpoints),
        api_key=options.api_key or os.environ.get("LLAMA_MAPPER_API_KEY"),
        thresholds=tuple(sorted(manifest["thresholds"].items())),
        concurrency=options.concurrency,
        **kw,
    )


def map_batch(
    spark: Any, store: Store, manifest: dict[str, Any], options: Options, batch: int
) -> dict[str, int]:
    """Map every line of one batch's files and commit the batch."""
    files = [manifest["files"][i] for i in manifest["batches"][batch]]
    df, source, columns = read_requests(spark, [f["path"] for f in files], manifest["format"])
    bases = split_bases(spark, df, [f["size"] for f in files])
    errors_seen = spark.sparkContext.accumulator(0) if manifest["route"] == "rules" else None
    task = _task(
        manifest,
        options,
        batch,
        manifest["mapped_at"],
        source=source,
        columns=columns,
        bases=bases,
        errors_seen=errors_seen,
    )
    rows = in_arrow(df, functools.partial(map_partition, task=task), ROW_DDL)
    counts = write_batch(spark, store, batch, rows, errors_seen)
    commit(
        store,
        batch,
        {
            "batch": batch,
            "files": [f["path"] for f in files],
            **counts,
            "versions": manifest["versions"],
            "mapped_at": manifest["mapped_at"],
        },
    )
    logger.info("batch %d: %d events, %d errors", batch, counts["events"], counts["errors"])
    return counts


# -- the run -------------------------------------------------------------------------------------------------


def _differences(manifest: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    """What differs between an output's manifest and this run."""
    out = []
    for key, value in expected.items():
        if manifest.get(key) == value:
            continue
        if key == "files":
            out.append("the input files (paths, sizes or modification times)")
        else:
            out.append(f"{key}: {manifest.get(key)!r} there, {value!r} now")
    return out


def run(spark: Any, options: Options) -> JobSummary:
    """Map ``options.inputs`` into ``options.output``, or go on with an interrupted run of the same
    input and versions (the committed batches are kept, the others mapped); a backfill with
    ``options.only_older_than``."""
    if options.only_older_than:
        return backfill(spark, options)
    started = time.perf_counter()
    store = Store(spark, options.output)
    summary = JobSummary(output=store.root)
    if not options.inputs:
        raise JobError("--input is required (a path, folder or glob; repeatable)")
    files = list_inputs(spark, options.inputs)
    fmt = input_format(files, options.input_format)
    if options.overwrite:
        clear(store)
    manifest = store.read_json(MANIFEST)
    route = options.route or (manifest or {}).get("route") or "rules"
    adapter = (options.adapter or (manifest or {}).get("adapter")) if route != "rules" else None
    thresholds = dict(sorted(options.thresholds.items())) or (manifest or {}).get("thresholds") or {}
    versions = run_versions(route, adapter, options.endpoints, options.api_key)
    expected = {
        "format": fmt,
        "route": route,
        "adapter": adapter,
        "thresholds": thresholds,
        "versions": versions,
        "files": files,
    }
    if manifest is None:
        others = [name for name in store.entries() if not name.startswith(".")]
        if others:
            raise JobError(
                f"{store.root} holds files this job did not write ({', '.join(others[:5])}): "
                "give a new or empty folder"
            )
        manifest = {
            "manifest": MANIFEST_FORMAT,
            **expected,
            "mapped_at": options.mapped_at or utc_now(),
            "batch_bytes": options.batch_bytes,
            "batches": plan_batches(files, options.batch_bytes),
            "backfills": [],
        }
        store.write_json(MANIFEST, manifest)
    else:
        problems = _differences(manifest, expected)
        if options.mapped_at and options.mapped_at != manifest["mapped_at"]:
            problems.append(f"mapped_at: {manifest['mapped_at']} there, {options.mapped_at} asked")
        if problems:
            raise JobError(
                f"{store.root} was written from another input or with other versions ("
                + "; ".join(problems)
                + "): --overwrite maps it again from scratch, --only-older-than re-maps the older events"
            )
    summary.finished_commits = len(finish_pending(store))
    done = committed(store)
    summary.batches = len(manifest["batches"])
    for batch in range(summary.batches):
        if batch in done:
            summary.skipped += 1
            continue
        counts = map_batch(spark, store, manifest, options, batch)
        summary.mapped += 1
        summary.events += counts["events"]
        summary.errors += counts["errors"]
    store.delete(STAGING)
    _write_success(store)
    summary.seconds = time.perf_counter() - started
    return summary


def _write_success(store: Store) -> None:
    markers = committed(store).values()
    store.write_json(
        SUCCESS,
        {
            "batches": len(markers),
            "events": sum(m["events"] for m in markers),
            "errors": sum(m["errors"] for m in markers),
        },
    )


# -- reading the output ----------------------------------------------------------------------------------


def read_table(spark: Any, output: str, table: str = "events") -> Any:
    """The events (or ``"errors"``) table of an output, with its partition columns (``day``,
    ``detector``) read as text, as written."""
    store = Store(spark, output)
    columns = EVENT_COLUMNS if table == "events" else ERROR_COLUMNS
    ddl = ", ".join(f"`{c}` {COLUMN_TYPES[c]}" for c in columns)
    if not store.files(table):
        return spark.createDataFrame([], ddl)
    return spark.read.schema(ddl).option("basePath", store.uri(table)).parquet(store.uri(table))


# -- backfill ---------------------------------------------------------------------------------------------------


def backfill(spark: Any, options: Options) -> JobSummary:
    """Re-map the events of an existing output whose versions are older than ``only_older_than``,
    from the original input lines (the output keeps each event's file and line); every other event
    keeps its row, byte for byte, and a batch without older events keeps its files."""
    from pyspark.sql import functions as F

    started = time.perf_counter()
    store = Store(spark, options.output)
    summary = JobSummary(output=store.root)
    manifest = store.read_json(MANIFEST)
    if manifest is None:
        raise JobError(f"{store.root} holds no output of this job to backfill")
    summary.finished_commits = len(finish_pending(store))
    route = options.route or manifest["route"]
    adapter = (options.adapter or manifest["adapter"]) if route != "rules" else None
    versions = run_versions(route, adapter, options.endpoints, options.api_key)
    for bound in options.only_older_than:
        try:
            bound.check_reachable(versions)
        except ValueError as err:
            raise JobError(str(err)) from None
    if options.inputs and list_inputs(spark, options.inputs) != manifest["files"]:
        raise JobError("--input is not the input this output was mapped from")
    if list_inputs(spark, [f["path"] for f in manifest["files"]]) != manifest["files"]:
        raise JobError("the original input files changed since they were mapped: a backfill re-reads them")
    combos = [
        row.asDict() for row in read_table(spark, options.output).select(*VERSION_FIELDS).distinct().collect()
    ]
    older = [c for c in combos if any(bound.selects(c) for bound in options.only_older_than)]
    summary.batches = len(manifest["batches"])
    if older:
        stale_cond = functools.reduce(
            lambda a, b: a | b,
            [
                functools.reduce(lambda a, b: a & b, [F.col(k).eqNullSafe(F.lit(v)) for k, v in c.items()])
                for c in older
            ],
        )
        stale = read_table(spark, options.output).where(stale_cond)
        batches = sorted(row["batch"] for row in stale.select("batch").distinct().collect())
        mapped_at = options.mapped_at or utc_now()
        settings = {
            **manifest,
            "route": route,
            "adapter": adapter,
            "versions": versions,
            "thresholds": dict(sorted(options.thresholds.items())) or manifest["thresholds"],
        }
        for batch in batches:
            summary.remapped += _backfill_batch(
                spark, store, manifest, settings, options, batch, stale_cond, mapped_at
            )
            summary.mapped += 1
        summary.skipped = summary.batches - summary.mapped
        manifest["versions"] = versions
        manifest["backfills"] = [
            *manifest.get("backfills", []),
            {
                "at": mapped_at,
                "only_older_than": [str(b) for b in options.only_older_than],
                "batches": batches,
                "remapped": summary.remapped,
            },
        ]
        store.write_json(MANIFEST, manifest)
        _write_success(store)
    summary.seconds = time.perf_counter() - started
    return summary


def _backfill_batch(
    spark: Any,
    store: Store,
    manifest: dict[str, Any],
    settings: dict[str, Any],
    options: Options,
    batch: int,
    stale_cond: Any,
    mapped_at: str,
) -> int:
    """Re-write one batch: its older events re-mapped from their input lines, the rest as they are;
    returns how many events were re-mapped."""
    from pyspark.sql import functions as F

    mine = F.col("batch") == batch
    events = read_table(spark, options.output).where(mine)  # read again: earlier batches moved
    stale = events.where(stale_cond)
    n_stale = stale.count()
    files = [manifest["files"][i] for i in manifest["batches"][batch]]
    df, source, columns = read_requests(spark, [f["path"] for f in files], manifest["format"])
    bases = split_bases(spark, df, [f["size"] for f in files])
    number = _task(settings, options, batch, mapped_at, source=source, columns=columns, bases=bases)
    numbered = in_arrow(df, functools.partial(number_partition, task=number), NUMBERED_DDL)
    keys = stale.select(F.col("source_file").alias("__file"), F.col("line").alias("__line"))
    picked = numbered.join(keys, ["__file", "__line"], "left_semi")
    task = _task(settings, options, batch, mapped_at, source="numbered", bases=None)
    remapped = in_arrow(picked, functools.partial(map_partition, task=task), ROW_DDL)
    kept = _as_rows(events.where(~stale_cond), "event")
    old_errors = _as_rows(read_table(spark, options.output, "errors").where(mine), "error")
    before = committed(store).get(batch, {})
    counts = write_batch(spark, store, batch, remapped.unionByName(kept).unionByName(old_errors))
    lines_before = before.get("events", 0) + before.get("errors", 0)
    if counts["events"] + counts["errors"] != lines_before:
        store.delete(stage_dir(batch))
        raise JobError(
            f"batch {batch}: {counts['events'] + counts['errors']} lines after re-mapping, {lines_before} "
            "before: the input no longer holds every line; nothing was replaced"
        )
    commit(
        store,
        batch,
        {
            **before,
            **counts,
            "versions": settings["versions"],
            "backfilled_at": mapped_at,
            "remapped": n_stale,
        },
    )
    logger.info("batch %d: %d older events re-mapped", batch, n_stale)
    return n_stale

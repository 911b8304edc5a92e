"""The executor side of the Spark job: Arrow batches of request lines in, Arrow batches of output rows
(one per event or error record) out, through :func:`llama_mapper.mapping.batch.map_line`, the
function ``scripts/map.py`` maps each line with.

The functions here run in Spark's Python workers (``mapInArrow``). Each worker process builds one
:class:`~llama_mapper.mapping.rules.RulesMapper` the first time it needs one and keeps it for every
later task (module-level cache); the model routes open their HTTP client once per partition with
:func:`llama_mapper.serving.server.open_routes` (the candidate index of an adapter is built once per
process). Nothing here logs a request's content: only line numbers and counts.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
import pyarrow as pa

from llama_mapper.mapping.batch import Mapper, dump_line, map_line
from llama_mapper.mapping.rules import RulesMapper
from llama_mapper.serving.server import open_routes

logger = logging.getLogger(__name__)

# A request's own time, when it has one, decides its event's day: the first of these top-level
# fields that reads as a time (ISO 8601 text, or epoch seconds / milliseconds since 2001), else the
# run's mapping day. ``time`` is left out on purpose: detectors use it for durations.
TIME_FIELDS = ("ts", "timestamp", "event_time", "created_at")
MIN_EPOCH_S = 1_000_000_000  # 2001-09-09: smaller numbers are not times of a request
MAX_DETECTOR_PARTITION_BYTES = 64  # escaped by Spark, a partition folder name stays within 255 bytes

# One output row per mapped line; the events table and the error table are projections of it.
ROW_FIELDS: tuple[tuple[str, pa.DataType], ...] = (
    ("kind", pa.string()),  # "event" or "error"
    ("json", pa.string()),  # the line scripts/map.py writes, without its newline
    ("source_file", pa.string()),
    ("line", pa.int64()),
    ("batch", pa.int32()),
    ("id", pa.string()),
    ("error", pa.string()),
    ("day", pa.string()),
    ("detector", pa.string()),
    ("route", pa.string()),
    ("tenant_id", pa.string()),
    ("labels", pa.list_(pa.string())),
    ("taxonomy", pa.string()),
    ("frameworks", pa.string()),
    ("mapper", pa.string()),
    ("catalog", pa.string()),
    ("adapter", pa.string()),
    ("model", pa.string()),
    ("mapped_at", pa.string()),
)
ROW_SCHEMA = pa.schema(list(ROW_FIELDS))
NUMBERED_SCHEMA = pa.schema([("__file", pa.string()), ("__line", pa.int64()), ("__text", pa.string())])
VERSION_FIELDS = ("taxonomy", "frameworks", "mapper", "catalog", "adapter")


DDL_TYPES = {
    pa.string(): "string",
    pa.int64(): "bigint",
    pa.int32(): "int",
    pa.list_(pa.string()): "array<string>",
}


def spark_ddl(schema: pa.Schema) -> str:
    """The Spark DDL of an Arrow schema made of strings, integers and lists of strings."""
    return ", ".join(f"`{f.name}` {DDL_TYPES[f.type]}" for f in schema)


@dataclass(frozen=True)
class Task:
    """What every partition of one batch needs (pickled to the executors with the function)."""

    batch: int
    mapped_at: str
    versions: dict[str, str | None]
    source: str = "jsonl"  # "jsonl", "parquet-request" (a `request` text column) or "parquet-columns"
    columns: tuple[str, ...] = ()  # parquet-columns: the request's fields
    bases: dict[tuple[str, int], int] | None = None  # (file, split start) -> lines before the split
    route: str = "rules"
    adapter: str | None = None
    endpoints: tuple[str, ...] = ()
    api_key: str | None = None
    thresholds: tuple[tuple[str, float], ...] = ()
    concurrency: int = 8
    errors_seen: Any = None  # an accumulator of the error records mapped (the rules route)


# -- one mapper per executor process ------------------------------------------------------------------

_RULES: RulesMapper | None = None
_INDEXES: dict[str, Any] = {}  # adapter -> its candidate index (embeds the taxonomy: built once)


def process_rules() -> RulesMapper:
    """This process's RulesMapper, built on first use."""
    global _RULES
    if _RULES is None:
        _RULES = RulesMapper()
    return _RULES


# -- lines in ------------------------------------------------------------------------------------------


def request_texts(task: Task, batch: pa.RecordBatch) -> list[str | None]:
    """The request line of each row: the JSONL line, the Parquet ``request`` text, or the Parquet
    row's request fields as one JSON object (null fields left out: a column absent from a row)."""
    if task.source != "parquet-columns":
        return batch.column("__text").to_pylist()
    columns = {name: batch.column(name).to_pylist() for name in task.columns}
    texts: list[str | None] = []
    for i in range(batch.num_rows):
        row = {name: values[i] for name, values in columns.items() if values[i] is not None}
        texts.append(orjson.dumps(row, default=str).decode())
    return texts


def numbered(
    task: Task, batch: pa.RecordBatch, seen: dict[tuple[str, int], int]
) -> list[tuple[str, int, str]]:
    """``(file, line number, text)`` of a batch's rows, blank JSONL lines left out as scripts/map.py
    leaves them. Rows come in file order within each split (``seen`` counts the rows of each split
    so far); a split's first line number is ``task.bases`` (counted by the driver) + 1."""
    files = batch.column("__file").to_pylist()
    texts = request_texts(task, batch)
    if task.bases is None:  # numbered upstream (backfill)
        return list(zip(files, batch.column("__line").to_pylist(), texts, strict=True))
    out = []
    for file, block, text in zip(files, batch.column("__block").to_pylist(), texts, strict=True):
        key = (file, block)
        index = seen.get(key, 0)
        seen[key] = index + 1
        base = task.bases.get(key)
        if base is None:
            if block != 0:
                raise RuntimeError(f"split at byte {block} of {file} was not counted: the input changed")
            base = 0
        if text is None:
            text = "null"  # a null Parquet request: an error record, never a silent drop
        elif task.source == "jsonl" and not text.strip():
            continue
        out.append((file, base + index + 1, text))
    return out


def number_partition(batches: Iterable[pa.RecordBatch], task: Task) -> Iterator[pa.RecordBatch]:
    """``mapInArrow``: the rows' ``(__file, __line, __text)``, for a backfill to pick its lines."""
    seen: dict[tuple[str, int], int] = {}
    for batch in batches:
        rows = numbered(task, batch, seen)
        yield pa.RecordBatch.from_arrays(
            [pa.array([r[i] for r in rows], type=t.type) for i, t in enumerate(NUMBERED_SCHEMA)],
            schema=NUMBERED_SCHEMA,
        )


# -- rows out ------------------------------------------------------------------------------------------


def request_day(record: dict[str, Any]) -> str | None:
    """The UTC day of the request's own time (see :data:`TIME_FIELDS`), or None."""
    for name in TIME_FIELDS:
        value = record.get(name)
        moment = None
        if isinstance(value, str) and 8 <= len(value) <= 40:
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                moment = None
            if moment is not None and moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value >= MIN_EPOCH_S:
            seconds = value / 1000 if value >= MIN_EPOCH_S * 100 else value
            try:
                moment = datetime.fromtimestamp(seconds, timezone.utc)
            except (OverflowError, OSError, ValueError):
                moment = None
        if moment is not None:
            return moment.astimezone(timezone.utc).date().isoformat()
    return None


def detector_partition(name: str) -> str:
    """The detector's partition value: its name, or, for a name too long for a folder, its first 40
    characters and a digest of the whole (the event keeps the full name)."""
    if len(name.encode("utf-8")) <= MAX_DETECTOR_PARTITION_BYTES:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    short = name[:40]
    while len(short.encode("utf-8")) > 40:
        short = short[:-1]
    return f"{short}~{digest}"


def _text_id(value: Any) -> str | None:
    return None if value is None else str(value)


class RowBuilder:
    """Collects output rows as columns (one Arrow batch per input batch)."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.columns: dict[str, list[Any]] = {name: [] for name, _ in ROW_FIELDS}
        self.mapping_day = task.mapped_at[:10]

    def add(self, file: str, line: int, record: dict[str, Any], route: str | None) -> None:
        task, col = self.task, self.columns
        if route is not None:
            record["provenance"]["ts"] = task.mapped_at  # one mapping time for the whole run
        text = dump_line(record)
        col["json"].append(text[:-1])
        col["source_file"].append(file)
        col["line"].append(line)
        col["batch"].append(task.batch)
        col["id"].append(_text_id(record.get("id")))
        col["mapped_at"].append(task.mapped_at)
        for name in VERSION_FIELDS:
            col[name].append(task.versions.get(name))
        if route is None:
            col["kind"].append("error")
            col["error"].append(record.get("error"))
            for name in ("day", "detector", "route", "tenant_id", "labels", "model"):
                col[name].append(None)
            return
        prov = record["provenance"]
        col["kind"].append("event")
        col["error"].append(None)
        col["day"].append(request_day(record) or self.mapping_day)
        col["detector"].append(detector_partition(prov["detector"]))
        col["route"].append(prov.get("route"))
        col["tenant_id"].append(prov.get("tenant_id"))
        col["labels"].append(list(record["taxonomy"]))
        col["model"].append(prov.get("model"))

    def batch(self) -> pa.RecordBatch:
        arrays = [pa.array(self.columns[name], type=kind) for name, kind in ROW_FIELDS]
        self.columns = {name: [] for name, _ in ROW_FIELDS}
        return pa.RecordBatch.from_arrays(arrays, schema=ROW_SCHEMA)


def _map_rows(
    rows: list[tuple[str, int, str]], mapper: Mapper, pool: concurrent.futures.Executor | None
) -> Iterable[tuple[dict[str, Any], str | None]]:
    if pool is None:
        return (map_line(line, text, mapper) for _, line, text in rows)
    return pool.map(lambda row: map_line(row[1], row[2], mapper), rows)


def map_partition(batches: Iterable[pa.RecordBatch], task: Task) -> Iterator[pa.RecordBatch]:
    """``mapInArrow``: map every request line of a partition; one output row per line, in order."""
    options = {"index": _INDEXES[task.adapter]} if task.adapter in _INDEXES else None
    with (
        open_routes(
            [task.route],
            task.adapter,
            list(task.endpoints) or None,
            task.api_key,
            dict(task.thresholds),
            rules=process_rules(),
            mapper_options=options,
        ) as routes,
        concurrent.futures.ThreadPoolExecutor(task.concurrency)
        if task.route != "rules"
        else contextlib.nullcontext() as pool,
    ):
        mapper = routes.mappers[task.route]
        if routes.backend is not None:
            if routes.backend.model_ref != task.versions.get("adapter"):
                raise RuntimeError(
                    f"the endpoint serves {routes.backend.model_ref}, the run records {task.versions.get('adapter')}"
                )
            if task.adapter and getattr(mapper, "index", None) is not None:
                _INDEXES[task.adapter] = mapper.index
        seen: dict[tuple[str, int], int] = {}
        builder = RowBuilder(task)
        errors = 0
        for batch in batches:
            rows = numbered(task, batch, seen)
            for (file, line, _), (record, route) in zip(rows, _map_rows(rows, mapper, pool), strict=True):
                builder.add(file, line, record, route)
                errors += route is None
            yield builder.batch()
        if errors:
            logger.warning("batch %d: %d lines of this partition are error records", task.batch, errors)
            if task.errors_seen is not None:
                task.errors_seen.add(errors)

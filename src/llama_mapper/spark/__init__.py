"""Map request files with Spark (``scripts/map_spark.py``, ``make map-spark``): the same events as
``scripts/map.py``, written as Parquet, on one machine (local mode) or a cluster.

Design
------
**Mapping.** The input (JSONL, or Parquet: a ``request`` text column holding a JSONL line, or the
request's fields as columns) is read by Spark's file sources, so any URI Spark reads works. Each
partition goes through ``mapInArrow`` to :func:`llama_mapper.spark.rows.map_partition`, which maps
every line with :func:`llama_mapper.mapping.batch.map_line`, the function scripts/map.py uses, and
stores :func:`~llama_mapper.mapping.batch.dump_line`'s text: an event is the line scripts/map.py
writes for the same input line, byte for byte, but for ``provenance.ts``, which is the run's one
mapping time (below). Each executor process builds one ``RulesMapper`` (module-level cache); the
model and hybrid routes ask HTTP endpoints (``--endpoint``, repeatable: our server, TGI or vLLM)
through :func:`~llama_mapper.serving.server.open_routes`, one client per partition.

**Line numbers.** Every row keeps its input file and line number (the row number in a Parquet
file), counted as scripts/map.py counts them: blank lines count but map to nothing. Spark reads a
large file in splits; the driver counts the lines of each split in one JVM aggregation (skipped when
no file is large enough to be split) and each split numbers its rows from there.

**Output.** ``OUTPUT/events``: one row per event, its JSON text (``event``) and flat columns:
``id``, ``source_file``, ``line``, ``batch``, ``route``, ``tenant_id``, ``labels``, the versions
(``taxonomy``, ``frameworks``, ``mapper``, ``catalog``, ``adapter``; ``model``: the adapter that
answered this event, as in its provenance) and ``mapped_at``; partitioned by ``day`` and
``detector``. ``OUTPUT/errors``: one row per line that could not be mapped (bad JSON, a bad request),
with the error record scripts/map.py writes for it (``record``), its file and line: nothing is
dropped. The raw detector output is never stored: a backfill reads it again from the input.
:func:`read_table` reads either table with the right column types.

**Day.** An event's ``day`` is its request's own time, when the request has one: the first of
the top-level fields ``ts``, ``timestamp``, ``event_time``, ``created_at`` that reads as an ISO 8601
time or as epoch seconds or milliseconds (UTC). Otherwise it is the day of the run's mapping time.

**Mapping time.** ``provenance.ts`` is the time of mapping; one run uses one: ``--mapped-at``, or
the time the output was first started, kept in its manifest, so a re-run or a resumed run writes the
same bytes. Give the same ``--mapped-at`` to two outputs to get byte-identical events in both.

**Idempotent and resumable.** The input files are listed and sorted, then grouped into batches
(consecutive files up to ``--batch-bytes``; a larger file is a batch alone). The manifest
(``_manifest.json``) records the files (size, modification time), the batches, the route, the
versions and the mapping time. Each batch is one Spark write into ``_staging/bNNNNN`` (Spark's own
commit protocol), then moved into the tables under file names that start with the batch
(``bNNNNN-``) and marked committed (``_batches/bNNNNN.json``), see
:mod:`llama_mapper.spark.store`. A killed run, run again with the same arguments, keeps the
committed batches, finishes a commit it finds half done, removes anything of an uncommitted batch
and maps the rest: no duplicate, no gap. A run on a finished output does nothing; one with other
input or other versions is refused (``--overwrite`` starts again; ``--only-older-than`` backfills).
Resuming is per batch: a single input file is one batch, so split a very large input into files.
Readers should wait for ``_SUCCESS`` (a killed run may have moved part of a batch that its re-run
replaces).

**Versions.** Events carry the taxonomy, frameworks and mapper versions in their provenance, and
the adapter's ``repo@tag#sha`` when the model answered. The catalog has no version of its own: it
ships in the mapper package, so the mapper release is its version; the ``catalog`` column is
``catalog@<mapper>+<digest of the catalog files>``. ``adapter`` is the run's adapter (model routes).

**Backfill.** ``--only-older-than taxonomy@2025.09`` (also ``frameworks@``, ``mapper@``,
``catalog@`` (the mapper release part), ``adapter@``; repeatable, any of them selects) re-maps the
events whose version is older, comparing numeric parts as numbers (``2025.09`` > ``2024.12``). It
reads each such event's line again from the original input (the manifest's files, which must be
unchanged), maps it with the current versions and a new mapping time, and rewrites only the batches
that hold older events, through the same commit; the other events of those batches keep their
rows byte for byte, and the other batches keep their files.
"""

from llama_mapper.spark.job import JobError, JobSummary, Options, read_table, run, spark_session
from llama_mapper.spark.versions import OlderThan, parse_mapped_at

__all__ = [
    "JobError",
    "JobSummary",
    "OlderThan",
    "Options",
    "parse_mapped_at",
    "read_table",
    "run",
    "spark_session",
]

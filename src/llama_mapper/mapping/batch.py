"""Streaming JSONL mapping: one request per line in, one event (or error record) per line out."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

import orjson
from tqdm.auto import tqdm

from llama_mapper.mapping.rules import MapRequest, RequestError, name_text

logger = logging.getLogger(__name__)

MAX_LINE_BYTES = 4 * 1024 * 1024  # one request line; longer lines get an error record


class Mapper(Protocol):
    """Anything that maps a request to a canonical event (rules, model, hybrid)."""

    route: str

    def map(self, request: MapRequest) -> dict[str, Any]: ...


@dataclass
class Summary:
    """Counts of one batch run; metadata only."""

    count: int = 0
    errors: int = 0
    routes: Counter = field(default_factory=Counter)
    label_sets: Counter = field(default_factory=Counter)  # label tuple -> events
    seconds: float = 0.0
    resumed: int = 0  # records kept from an interrupted run (--resume); not counted above

    @property
    def labels(self) -> Counter:
        """Events per label."""
        out: Counter = Counter()
        for labels, n in self.label_sets.items():
            for label in labels:
                out[label] += n
        return out

    @property
    def families(self) -> Counter:
        """Label occurrences per family (PII, HARM, ...)."""
        out: Counter = Counter()
        for label, n in self.labels.items():
            out[label.split(".", 1)[0]] += n
        return out

    @property
    def events_per_second(self) -> float:
        return (self.count - self.errors) / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mapped": self.count - self.errors,
            "errors": self.errors,
            "routes": dict(self.routes),
            "families": dict(self.families),
            "seconds": round(self.seconds, 3),
            "events_per_second": round(self.events_per_second, 1),
            "resumed": self.resumed,
        }

    def render(self) -> str:
        """A short human-readable summary."""
        fams = ", ".join(f"{k} {v}" for k, v in self.families.most_common())
        routes = ", ".join(f"{k} {v}" for k, v in self.routes.most_common())
        resumed = f"resumed after {self.resumed} lines; " if self.resumed else ""
        return (
            f"{resumed}mapped {self.count - self.errors} of {self.count} lines ({self.errors} errors) "
            f"in {self.seconds:.2f} s, {self.events_per_second:,.0f} events/s\n"
            f"  routes: {routes or '-'}\n  label families: {fams or '-'}"
        )


def error_record(line_no: int, message: str, rid: Any = None) -> dict[str, Any]:
    """The output line for an input line that could not be mapped."""
    record: dict[str, Any] = {"line": line_no, "error": message}
    if rid is not None:
        record["id"] = rid
    return record


def map_line(line_no: int, line: str, mapper: Mapper) -> tuple[dict[str, Any], str | None]:
    """One JSONL line -> (its output record, the route that answered or None for an error record)."""
    rid = None
    try:
        if len(line) > MAX_LINE_BYTES:
            raise RequestError(f"line is longer than {MAX_LINE_BYTES} bytes")
        try:
            raw = orjson.loads(line)
        except (orjson.JSONDecodeError, RecursionError):
            raise RequestError("line is not valid JSON") from None
        if isinstance(raw, dict):
            rid = raw.get("id") if isinstance(raw.get("id"), (str, int)) else None
            rid = name_text(rid) if isinstance(rid, str) else rid
        request = MapRequest.from_dict(raw, valid_utf8=True)  # orjson refuses lone surrogates
        event = mapper.map(request)
    except RequestError as err:
        logger.warning("line %d: %s", line_no, err)
        return error_record(line_no, str(err), rid), None
    except Exception as err:  # a mapper bug or a model endpoint failure must not lose the rest of the file
        # The exception's message may quote the output: log its type only (metadata).
        logger.error("line %d: mapping failed (%s)", line_no, type(err).__name__)
        return error_record(line_no, f"internal error while mapping ({type(err).__name__})", rid), None
    # id and unknown extra fields pass through; the raw output never does.
    record = dict(request.extra)
    if request.id is not None:
        record["id"] = request.id
    record.update(event)
    return record, event["provenance"]["route"]


def map_lines(
    lines: Iterable[str], mapper: Mapper, summary: Summary, workers: int = 1, skip: int = 0
) -> Iterator[dict[str, Any]]:
    """Map JSONL lines to output records; every non-blank input line yields exactly one record, in
    order (the first ``skip`` of them are passed over: they were mapped by an interrupted run).

    With ``workers`` > 1 the lines are mapped concurrently (the model routes wait on an endpoint that
    batches), in windows so that memory stays bounded on any file size.
    """
    import itertools

    numbered = _numbered(lines, skip)
    if workers <= 1:
        results: Iterable[tuple[dict[str, Any], str | None]] = (
            map_line(n, line, mapper) for n, line in numbered
        )
        yield from _counted(results, summary)
        return
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        while window := list(itertools.islice(numbered, workers * 16)):
            yield from _counted(pool.map(lambda item: map_line(*item, mapper), window), summary)


def _numbered(lines: Iterable[str], skip: int) -> Iterator[tuple[int, str]]:
    import itertools

    return itertools.islice(((n, line) for n, line in enumerate(lines, start=1) if line.strip()), skip, None)


def _counted(
    results: Iterable[tuple[dict[str, Any], str | None]], summary: Summary
) -> Iterator[dict[str, Any]]:
    for record, route in results:
        _count(summary, route, record.get("taxonomy"))
        yield record


def _count(summary: Summary, route: str | None, labels: Any) -> None:
    summary.count += 1
    if route is None:
        summary.errors += 1
    else:
        summary.routes[route] += 1
        summary.label_sets[tuple(labels)] += 1


# -- process workers (the rules route: CPU-bound, so threads would share one core) ------------------

CHUNK_LINES = 512  # lines a worker process maps per task: large enough that pickling stays cheap
_WORKER_MAPPER: Any = None  # the mapper inside a worker process (inherited through fork)


def process_workers_available() -> bool:
    """Process workers inherit the mapper through ``fork`` (Linux); elsewhere mapping stays in one
    process."""
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def _map_chunk(chunk: list[tuple[int, str]]) -> list[tuple[str, str | None, tuple[str, ...] | None]]:
    """In a worker process: each line's output line, route and labels (for the run's summary)."""
    out = []
    for n, line in chunk:
        record, route = map_line(n, line, _WORKER_MAPPER)
        out.append((dump_line(record), route, tuple(record["taxonomy"]) if route is not None else None))
    return out


def _set_worker_mapper(mapper: Any) -> None:
    global _WORKER_MAPPER
    _WORKER_MAPPER = mapper


def map_lines_in_processes(
    lines: Iterable[str], mapper: Mapper, summary: Summary, processes: int, skip: int = 0
) -> Iterator[str]:
    """Like :func:`map_lines` with ``processes`` worker processes, each with a copy of ``mapper``
    made by ``fork``; yields the output lines, in input order. Chunks of :data:`CHUNK_LINES` lines
    go out, at most ``4 x processes`` at a time, so memory stays bounded on any file size. A bad line
    is an error record, as in one process; a worker that dies stops the run (what was written stays,
    and ``--resume`` continues it)."""
    import collections
    import concurrent.futures
    import itertools
    import multiprocessing

    numbered = _numbered(lines, skip)
    context = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(
        processes, mp_context=context, initializer=_set_worker_mapper, initargs=(mapper,)
    ) as pool:
        pending: collections.deque = collections.deque()
        while True:
            while len(pending) < 4 * processes and (chunk := list(itertools.islice(numbered, CHUNK_LINES))):
                pending.append(pool.submit(_map_chunk, chunk))
            if not pending:
                return
            for text, route, labels in pending.popleft().result():
                _count(summary, route, labels)
                yield text


def dump_line(record: dict[str, Any]) -> str:
    """One JSONL line; values orjson cannot encode (huge ints, odd keys) fall back to the json module."""
    try:
        return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE).decode()
    except TypeError:
        import json

        return json.dumps(record, ensure_ascii=False, default=str) + "\n"


def map_file(
    src: TextIO,
    dst: TextIO,
    mapper: Mapper,
    progress: bool = True,
    total: int | None = None,
    workers: int = 1,
    skip: int = 0,
    processes: int = 1,
) -> Summary:
    """Map a JSONL stream to a JSONL stream, with a progress bar; returns the run's summary.
    ``workers``: threads (the model routes, which wait on an endpoint); ``processes``: worker
    processes (the rules route, which is CPU-bound), see :func:`map_lines_in_processes`."""
    summary = Summary(resumed=skip)
    start = time.perf_counter()
    bar = tqdm(
        total=total, unit=" lines", disable=not progress, mininterval=0.5, desc=f"mapping ({mapper.route})"
    )
    pending = 0
    if processes > 1 and process_workers_available():
        texts: Iterable[str] = map_lines_in_processes(src, mapper, summary, processes, skip)
    else:
        texts = (dump_line(record) for record in map_lines(src, mapper, summary, workers, skip))
    for text in texts:
        dst.write(text)
        pending += 1
        if pending == 256:
            bar.update(pending)
            pending = 0
    bar.update(pending)
    bar.close()
    dst.flush()
    summary.seconds = time.perf_counter() - start
    return summary


def partial_path(output: str | Path) -> Path:
    """Where a run writes ``output`` until it has finished (then it is renamed to ``output``)."""
    output = Path(output)
    return output.with_name(output.name + ".partial")


class ResumeError(ValueError):
    """An interrupted run's partial output does not belong to this input."""


def complete_records(partial: Path) -> list[int]:
    """The byte offsets after each complete record of a partial output (a cut-off last line, or one
    that is not JSON, ends the list)."""
    ends, offset = [], 0
    with partial.open("rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            try:
                orjson.loads(raw)
            except orjson.JSONDecodeError:
                break
            offset += len(raw)
            ends.append(offset)
    return ends


def check_resume(partial: Path, input_path: Path, kept: int) -> None:
    """The ``kept``-th record must be the ``kept``-th non-blank input line's (same ``line`` for an
    error record, same ``id`` when the input has one)."""
    if not kept:
        return
    with partial.open("rb") as fh:
        last = orjson.loads(fh.readlines()[kept - 1])
    seen, found, text = 0, None, ""
    with input_path.open(encoding="utf-8") as src:
        for number, line in enumerate(src, start=1):
            seen += bool(line.strip())
            if line.strip() and seen == kept:
                found, text = number, line
                break
    if found is None:
        raise ResumeError(f"{partial} holds {kept} records but the input has {seen} lines to map")
    if "error" in last and last.get("line") != found:
        raise ResumeError(
            f"{partial} does not match the input: record {kept} is for line {last.get('line')}, not {found}"
        )
    try:
        rid = orjson.loads(text).get("id")
    except (orjson.JSONDecodeError, AttributeError):
        rid = None
    if rid is not None and last.get("id") != rid:
        raise ResumeError(
            f"{partial} does not match the input: record {kept} has another id than line {found}"
        )


def map_to_file(
    input_path: str | Path,
    output: str | Path,
    mapper: Mapper,
    resume: bool = False,
    progress: bool = True,
    workers: int = 1,
    processes: int = 1,
) -> Summary:
    """Map a JSONL file (``"-"``: stdin) to ``output`` without ever leaving a half-written
    ``output``: the records go to ``output.partial``, renamed to ``output`` once all are written.
    ``resume`` continues an interrupted run from its partial file's last complete record, so that
    the result is the same as an uninterrupted run's. Raises :class:`ResumeError` when the partial
    output is not this input's, or the input is stdin."""
    stdin, partial = str(input_path) == "-", partial_path(output)
    kept = 0
    if resume and stdin:
        raise ResumeError("--resume needs an input file: standard input cannot be read again")
    if resume and partial.is_file():
        ends = complete_records(partial)
        kept = len(ends)
        check_resume(partial, Path(input_path), kept)
        with partial.open("r+b") as fh:  # drop a cut-off last line
            fh.truncate(ends[-1] if ends else 0)
    elif partial.is_file():
        logger.warning("%s is left from an interrupted run: starting again (--resume continues it)", partial)
    with contextlib.ExitStack() as stack:
        src = sys.stdin if stdin else stack.enter_context(Path(input_path).open(encoding="utf-8"))
        dst = stack.enter_context(partial.open("a" if kept else "w", encoding="utf-8"))
        summary = map_file(
            src, dst, mapper, progress=progress, workers=workers, skip=kept, processes=processes
        )
        os.fsync(dst.fileno())
    os.replace(partial, output)
    return summary

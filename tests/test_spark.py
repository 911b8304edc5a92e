"""The Spark job (scripts/map_spark.py) in local mode: every event is the line scripts/map.py writes
for the same input line (but for the run's one mapping time), errors keep their line numbers, a
killed run resumes without duplicates or gaps, and a backfill re-maps only the older events.

One SparkSession (local[2]) serves the module. Skipped only where no Java runtime is installed
(CI installs one: .ci/run)."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from conftest import GOLDEN, ROOT

from llama_mapper.commands.map import main as map_main
from llama_mapper.mapping.batch import dump_line

if shutil.which("java") is None:
    pytest.skip(
        "no Java runtime (`java` is not on PATH): Spark needs one; .ci/run installs openjdk-17-jre-headless",
        allow_module_level=True,
    )

from llama_mapper.spark import JobError, OlderThan, Options, read_table, run, spark_session  # noqa: E402
from llama_mapper.spark.job import read_requests, split_bases  # noqa: E402
from llama_mapper.spark.rows import detector_partition, request_day  # noqa: E402
from llama_mapper.spark.store import Store  # noqa: E402
from llama_mapper.spark.versions import parse_mapped_at, version_key  # noqa: E402

# pyspark warns that it is not tested with pandas 3; the job does not use pandas (mapInArrow)
pytestmark = pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
SAMPLE = ROOT / "src" / "llama_mapper" / "resources" / "samples" / "detector_outputs.jsonl"
MAPPED_AT = "2025-09-01T12:00:00.000Z"
LATER = "2025-10-02T08:30:00.000Z"


@pytest.fixture(scope="module")
def spark():
    session = spark_session("local[2]", {"spark.sql.shuffle.partitions": "4"})
    yield session
    session.stop()


# -- what scripts/map.py writes ------------------------------------------------------------------------


def map_py(path: Path, out: Path, *extra: str) -> list[dict]:
    """scripts/map.py's records for a file (its main(), in this process)."""
    assert map_main(["--input", str(path), "--output", str(out), "--no-progress", *extra]) == 0
    return [orjson.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def expected(path: Path, tmp: Path, mapped_at: str = MAPPED_AT, *extra: str) -> tuple[dict, dict]:
    """``({line: event text}, {line: error record text})`` as scripts/map.py writes them for ``path``,
    with the run's mapping time as ``provenance.ts``."""
    with path.open(encoding="utf-8") as fh:
        numbers = [n for n, line in enumerate(fh, start=1) if line.strip()]
    records = map_py(path, tmp / f"{path.stem}.map.jsonl", *extra)
    assert len(records) == len(numbers)
    events, errors = {}, {}
    for n, record in zip(numbers, records, strict=True):
        if "error" in record:
            errors[n] = dump_line(record)[:-1]
        else:
            record["provenance"]["ts"] = mapped_at
            events[n] = dump_line(record)[:-1]
    return events, errors


def table(output: Path, name: str = "events") -> list[dict]:
    """The rows of an output table, read with pyarrow (not Spark): any Parquet reader can."""
    folder = output / name
    if not folder.exists():
        return []
    return (
        ds.dataset(folder, format="parquet", partitioning="hive", ignore_prefixes=[".", "_"])
        .to_table()
        .to_pylist()
    )


def written(output: Path, name: str = "events") -> dict[tuple[str, int], str]:
    """``{(file name, line): JSON text}`` of an output table; no (file, line) twice."""
    column = "event" if name == "events" else "record"
    rows = table(output, name)
    out = {(row["source_file"].rsplit("/", 1)[1], row["line"]): row[column] for row in rows}
    assert len(out) == len(rows), "a line was written twice"
    return out


def by_file(mapping: dict[tuple[str, int], str], name: str) -> dict[int, str]:
    return {line: text for (file, line), text in mapping.items() if file == name}


def file_digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.parquet"))
    }


# -- fast checks of the pieces ------------------------------------------------------------------------------


def test_versions_compare_by_their_numbers():
    assert version_key("taxonomy@2025.09") > version_key("taxonomy@2024.12")
    assert version_key("v1.10.0") > version_key("v1.9.3")
    assert version_key("demo/map@v1.2.0#0123abc") == (1, 2, 0)
    assert version_key("catalog@0.1.0+14bf39bfb92c") == (0, 1, 0)
    assert version_key(None) is None and version_key("local-folder") is None
    bound = OlderThan.parse("taxonomy@2025.09")
    assert bound.selects({"taxonomy": "taxonomy@2024.12"})
    assert not bound.selects({"taxonomy": "taxonomy@2025.09"})
    assert not OlderThan.parse("model@v1.2.0").selects({"adapter": None})
    assert OlderThan.parse("model@v1.2.0").selects({"adapter": "org/m@v1.1.9#abc"})
    with pytest.raises(ValueError, match="NAME@VERSION"):
        OlderThan.parse("colour@2025")
    assert parse_mapped_at("2025-09-01") == "2025-09-01T00:00:00.000Z"
    assert parse_mapped_at("2025-09-01T14:00:00+02:00") == MAPPED_AT


def test_a_request_s_own_time_decides_its_day():
    assert request_day({"ts": "2024-02-29T23:30:00-02:00"}) == "2024-03-01"
    assert request_day({"timestamp": 1_700_000_000}) == "2023-11-14"
    assert request_day({"created_at": 1_700_000_000_000}) == "2023-11-14"
    assert request_day({"ts": "yesterday", "event_time": "2025-01-02"}) == "2025-01-02"
    assert request_day({"time": 1_700_000_000, "ts": 0.25}) is None  # durations are not times
    assert request_day({"ts": True}) is None
    long_name = "an in-house scanner " * 10
    assert detector_partition("presidio") == "presidio"
    assert len(detector_partition(long_name).encode()) <= 64 and detector_partition(long_name) != long_name


def test_the_command_is_in_the_cli(capsys, monkeypatch):
    from llama_mapper.cli import COMMANDS, main

    monkeypatch.setattr(sys, "argv", list(sys.argv))  # the dispatcher names the command in sys.argv
    assert COMMANDS["map-spark"][0] == "map_spark"
    with pytest.raises(SystemExit) as done:
        main(["map-spark", "--help"])
    assert done.value.code == 0 and "--only-older-than" in capsys.readouterr().out


# -- mapping -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def golden_run(spark, tmp_path_factory):
    """The bundled sample and every golden set, mapped in one run (one batch)."""
    out = tmp_path_factory.mktemp("spark") / "golden"
    summary = run(
        spark, Options(output=str(out), inputs=[str(SAMPLE), f"{GOLDEN}/*.jsonl"], mapped_at=MAPPED_AT)
    )
    return out, summary


def test_every_event_is_map_py_s_for_the_sample_and_the_golden_sets(spark, golden_run, tmp_path):
    out, summary = golden_run
    files = [SAMPLE, *sorted(GOLDEN.glob("*.jsonl"))]
    events = written(out)
    assert written(out, "errors") == {}
    total = 0
    for path in files:
        want, errors = expected(path, tmp_path)
        assert not errors
        assert by_file(events, path.name) == want, path.name
        total += len(want)
    assert len(events) == total == summary.events and summary.errors == 0 and total > 2800
    # the flat columns agree with the event they describe
    for row in read_table(spark, str(out)).where("line <= 3").collect():
        event = orjson.loads(row["event"])
        prov = event["provenance"]
        assert row["detector"] == prov["detector"] and row["day"] == "2025-09-01"
        assert row["taxonomy"] == prov["taxonomy"] == "taxonomy@2025.09"
        assert (row["frameworks"], row["mapper"]) == (prov["frameworks"], prov["mapper"])
        assert row["catalog"].startswith(f"catalog@{prov['mapper']}+")
        assert row["labels"] == event["taxonomy"] and row["id"] == str(event["id"])
        assert row["route"] == "rules" and row["adapter"] is None and row["mapped_at"] == MAPPED_AT
    assert "output" not in read_table(spark, str(out)).columns  # the raw output is never stored


def test_bad_lines_go_to_the_error_table_with_their_line_numbers_across_splits(spark, tmp_path):
    sample = SAMPLE.read_text(encoding="utf-8").splitlines()
    lines = []
    for i, line in enumerate(sample * 2):
        lines.append(line)
        if i % 9 == 0:
            lines += ["not json", "", "[1, 2]", "   ", '{"output": {}}', '{"detector": "presidio"}']
    lines += [
        '{"detector": "presidio", "output": [], "ts": "2024-02-29T23:30:00-02:00"}',
        '{"detector": "presidio", "output": [], "timestamp": 1700000000000, "id": 7}',
        '{"detector": "presidio", "output": [], "ts": "not a time"}',
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(("\r\n".join(lines[:40]) + "\n" + "\n".join(lines[40:]) + "\n").encode())
    want_events, want_errors = expected(path, tmp_path)
    assert len(want_errors) >= 20
    out = tmp_path / "out"
    spark.conf.set("spark.sql.files.maxPartitionBytes", "8192")  # a few splits of one file
    try:
        df, _, _ = read_requests(spark, [path.as_uri()], "jsonl")
        assert len(split_bases(spark, df, [path.stat().st_size])) >= 4
        summary = run(spark, Options(output=str(out), inputs=[str(path)], mapped_at=MAPPED_AT))
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert by_file(written(out), path.name) == want_events
    assert by_file(written(out, "errors"), path.name) == want_errors
    assert (summary.events, summary.errors) == (len(want_events), len(want_errors))
    errors = read_table(spark, str(out), "errors").collect()
    assert {r["error"] for r in errors} >= {"line is not valid JSON"}
    days = {r["line"]: r["day"] for r in table(out) if r["detector"] == "presidio"}
    last = max(days)
    assert [days[last - 2], days[last - 1], days[last]] == ["2024-03-01", "2023-11-14", "2025-09-01"]


def _requests(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_parquet_input_a_request_column_or_the_request_s_fields(spark, tmp_path):
    # a `request` text column: one JSONL line a row (a null and a bad row are error records)
    texts = [*_requests(SAMPLE)[:20], "not json", None]
    pq.write_table(pa.table({"request": pa.array(texts, pa.string())}), tmp_path / "requests.parquet")
    same = tmp_path / "requests.jsonl"
    same.write_text("\n".join("null" if t is None else t for t in texts) + "\n", encoding="utf-8")
    want_events, want_errors = expected(same, tmp_path)
    out = tmp_path / "out-request"
    run(spark, Options(output=str(out), inputs=[str(tmp_path / "requests.parquet")], mapped_at=MAPPED_AT))
    assert by_file(written(out), "requests.parquet") == want_events
    assert by_file(written(out, "errors"), "requests.parquet") == want_errors and len(want_errors) == 2
    # the request's fields as columns (Llama Guard's raw output is text)
    lines = [orjson.loads(line) for line in _requests(GOLDEN / "llama-guard.jsonl")]
    table = pa.Table.from_pylist([r for r in lines if isinstance(r["output"], str)])
    (tmp_path / "cols").mkdir()
    pq.write_table(table, tmp_path / "cols" / "llama-guard.parquet")
    rows = [{k: v for k, v in r.items() if v is not None} for r in table.to_pylist()]
    same = tmp_path / "llama-guard-cols.jsonl"
    same.write_text("".join(orjson.dumps(r).decode() + "\n" for r in rows), encoding="utf-8")
    want_events, _ = expected(same, tmp_path)
    out = tmp_path / "out-cols"
    run(spark, Options(output=str(out), inputs=[str(tmp_path / "cols")], mapped_at=MAPPED_AT))
    assert by_file(written(out), "llama-guard.parquet") == want_events and len(want_events) == len(rows)


# -- idempotent and resumable ------------------------------------------------------------------------------


def test_a_second_run_changes_nothing_and_another_input_or_version_is_refused(spark, golden_run, tmp_path):
    out, summary = golden_run
    before = file_digests(out)
    again = run(spark, Options(output=str(out), inputs=[str(SAMPLE), f"{GOLDEN}/*.jsonl"]))
    assert (again.skipped, again.mapped, again.events) == (summary.batches, 0, 0)
    assert file_digests(out) == before
    with pytest.raises(JobError, match="another input"):
        run(spark, Options(output=str(out), inputs=[str(SAMPLE)]))
    with pytest.raises(JobError, match="mapped_at"):
        run(spark, Options(output=str(out), inputs=[str(SAMPLE), f"{GOLDEN}/*.jsonl"], mapped_at=LATER))
    store = Store(spark, str(out))
    manifest = store.read_json("_manifest.json")
    older = {**manifest, "versions": {**manifest["versions"], "taxonomy": "taxonomy@2024.12"}}
    store.write_json("_manifest.json", older)
    try:
        with pytest.raises(JobError, match="--only-older-than"):
            run(spark, Options(output=str(out), inputs=[str(SAMPLE), f"{GOLDEN}/*.jsonl"]))
    finally:
        store.write_json("_manifest.json", manifest)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not ours")
    with pytest.raises(JobError, match="did not write"):
        run(spark, Options(output=str(foreign), inputs=[str(SAMPLE)]))


@pytest.mark.slow
def test_a_killed_run_run_again_has_no_duplicate_and_no_gap(spark, golden_run, tmp_path):
    out = tmp_path / "killed"
    args = ["-i", f"{GOLDEN}/*.jsonl", "-o", str(out), "--mapped-at", MAPPED_AT, "--batch-bytes", "400000"]
    log = (tmp_path / "killed.log").open("wb")
    job = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "map_spark.py"), *args, "--master", "local[2]"],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the JVM and its Python workers die with it
    )
    deadline = time.monotonic() + 300
    try:
        while not list((out / "_batches").glob("b*[0-9].json")):
            assert job.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no batch committed in time"
            time.sleep(0.05)
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
        log.close()
    assert not (out / "_SUCCESS").exists()
    batches = len(orjson.loads((out / "_manifest.json").read_bytes())["batches"])
    done = len(list((out / "_batches").glob("b*[0-9].json")))
    assert batches >= 4 and 1 <= done < batches

    again = run(spark, Options(output=str(out), inputs=[f"{GOLDEN}/*.jsonl"], batch_bytes=400000))
    assert again.skipped >= done and again.mapped >= 1 and again.skipped + again.mapped == batches
    assert (out / "_SUCCESS").exists()
    uninterrupted = {k: v for k, v in written(golden_run[0]).items() if k[0] != SAMPLE.name}
    assert written(out) == uninterrupted  # byte-identical events, each line once, none missing
    assert len(table(out)) == len(uninterrupted)


@pytest.fixture(scope="module")
def sample_in_three(tmp_path_factory) -> Path:
    """The bundled sample cut into three files: three batches of a small --batch-bytes."""
    folder = tmp_path_factory.mktemp("three")
    lines = _requests(SAMPLE)
    for i, part in enumerate((lines[:12], lines[12:25], lines[25:])):
        (folder / f"part-{i}.jsonl").write_text("\n".join(part) + "\n", encoding="utf-8")
    return folder


def three_expected(folder: Path, tmp: Path, mapped_at: str = MAPPED_AT) -> dict[tuple[str, int], str]:
    out = {}
    for path in sorted(folder.glob("*.jsonl")):
        events, _ = expected(path, tmp, mapped_at)
        out.update({(path.name, n): text for n, text in events.items()})
    return out


def test_a_commit_cut_short_is_finished_by_the_next_run(spark, sample_in_three, tmp_path, monkeypatch):
    out = tmp_path / "cut"
    options = Options(output=str(out), inputs=[str(sample_in_three)], mapped_at=MAPPED_AT, batch_bytes=4000)
    move, moved = Store.move, []

    def dies_on_the_third_data_file(self, src, dst):
        if dst.startswith("events/"):
            moved.append(dst)
            if len(moved) == 3:
                raise OSError("killed while moving the batch into place")
        return move(self, src, dst)

    monkeypatch.setattr(Store, "move", dies_on_the_third_data_file)
    with pytest.raises(OSError, match="killed"):
        run(spark, options)
    monkeypatch.undo()
    assert (out / "_batches" / "b00000.pending.json").exists()
    assert len(list((out / "events").rglob("b00000-*.parquet"))) == 2  # half a batch in place
    summary = run(spark, options)
    assert summary.finished_commits == 1 and (summary.skipped, summary.mapped, summary.batches) == (1, 2, 3)
    assert written(out) == three_expected(sample_in_three, tmp_path)


# -- backfill ------------------------------------------------------------------------------------------------


def _age_some_events(folder: Path, batch: int) -> set[tuple[str, int]]:
    """Make the events of even lines in one batch look mapped with taxonomy 2024.12 (as an older
    mapper would have written them); returns their (file, line)."""
    aged = set()
    for path in folder.rglob(f"b{batch:05d}-*.parquet"):
        data = pq.read_table(path)
        rows = data.to_pylist()
        for row in rows:
            if row["line"] % 2 == 0:
                row["taxonomy"] = "taxonomy@2024.12"
                row["event"] = row["event"].replace(
                    '"taxonomy":"taxonomy@2025.09"', '"taxonomy":"taxonomy@2024.12"'
                )
                aged.add((row["source_file"].rsplit("/", 1)[1], row["line"]))
        pq.write_table(pa.Table.from_pylist(rows, schema=data.schema), path)
        crc = path.with_name(f".{path.name}.crc")
        crc.unlink(missing_ok=True)  # Hadoop's local checksum of the old bytes
    return aged


def test_a_backfill_re_maps_only_the_older_events(spark, sample_in_three, tmp_path):
    out = tmp_path / "backfill"
    run(spark, Options(output=str(out), inputs=[str(sample_in_three)], mapped_at=MAPPED_AT, batch_bytes=4000))
    original = written(out)
    aged = _age_some_events(out / "events", 1)
    assert len(aged) >= 4
    others = {k: v for k, v in file_digests(out).items() if "/b00001-" not in k}
    aged_rows = written(out)
    with pytest.raises(JobError, match="still be older"):
        run(spark, Options(output=str(out), only_older_than=[OlderThan.parse("taxonomy@2026.01")]))

    bound = [OlderThan.parse("taxonomy@2025.09")]
    summary = run(spark, Options(output=str(out), only_older_than=bound, mapped_at=LATER))
    assert (summary.remapped, summary.mapped, summary.skipped) == (len(aged), 1, 2)
    now = written(out)
    later = three_expected(sample_in_three, tmp_path, LATER)
    assert set(now) == set(original)  # the same lines, each once
    for key, text in now.items():
        if key in aged:
            assert text == later[key]  # re-mapped: scripts/map.py's event, at the backfill's time
        else:
            assert text == aged_rows[key] == original[key]  # untouched, byte for byte
    assert {k: v for k, v in file_digests(out).items() if "/b00001-" not in k} == others
    rows = [r for r in table(out) if r["batch"] == 1]
    assert {(r["source_file"].rsplit("/", 1)[1], r["line"]) for r in rows if r["mapped_at"] == LATER} == aged
    assert {r["taxonomy"] for r in rows} == {"taxonomy@2025.09"}
    again = run(spark, Options(output=str(out), only_older_than=bound, mapped_at=LATER))
    assert (again.remapped, again.mapped) == (0, 0)


# -- the hybrid route through an endpoint ------------------------------------------------------------------


@pytest.mark.slow
def test_the_hybrid_route_through_an_endpoint_gives_map_py_s_events(spark, trained, tmp_path):
    from llama_mapper.hub.release import push_adapter
    from llama_mapper.serving.server import ModelServer

    adapter, _ = trained
    push_adapter(adapter, "demo/spark-map", "v1.0.0")
    requests = [
        {
            "detector": "openai-moderation",
            "output": {"results": [{"flagged": True, "categories": {"hate": True}}]},
        },
        {
            "detector": "acme-guard",
            "output": {"flagged": True, "labels": ["customer e-mail address"]},
            "id": 2,
        },
        {
            "detector": "acme-guard",
            "output": {"flagged": True, "labels": ["RestrictToTopic"]},
            "tenant_id": "t1",
        },
        {"detector": "acme-guard", "output": {"flagged": True, "labels": ["zorblax quux"]}},
        {"detector": "broken"},
    ]
    path = tmp_path / "hybrid.jsonl"
    path.write_text("".join(orjson.dumps(r).decode() + "\n" for r in requests), encoding="utf-8")
    with ModelServer(adapters=["demo/spark-map@v1.0.0"]) as server:
        route = ["--route", "hybrid", "--adapter", "demo/spark-map@v1.0.0", "--endpoint", server.url]
        want_events, want_errors = expected(path, tmp_path, MAPPED_AT, *route)
        out = tmp_path / "out"
        options = Options(
            output=str(out),
            inputs=[str(path)],
            route="hybrid",
            adapter="demo/spark-map@v1.0.0",
            endpoints=[server.url],
            mapped_at=MAPPED_AT,
        )
        run(spark, options)
    assert by_file(written(out), path.name) == want_events
    assert by_file(written(out, "errors"), path.name) == want_errors
    rows = table(out)
    assert any(r["model"] and r["model"].startswith("demo/spark-map@v1.0.0#") for r in rows)
    assert all(r["adapter"].startswith("demo/spark-map@v1.0.0#") for r in rows)

"""The job's output folder, through Hadoop's ``FileSystem`` (so any URI Spark writes: a local path,
``hdfs://``, ``s3a://``, ``abfss://``, ``gs://``), and the commit protocol of one batch.

Layout of an output folder::

    _manifest.json            the run: input files (size, modification time), batches, versions, mapped_at
    _batches/b00003.json      batch 3 is committed (its counts and versions)
    _batches/b00003.pending.json   batch 3 is being moved into place (its staged file list)
    _staging/b00003/          batch 3 as Spark wrote it (its own commit protocol), before the move
    events/day=D/detector=X/b00003-part-....parquet
    errors/b00003-part-....parquet
    _SUCCESS                  every batch is committed

Committing batch k: Spark writes it under ``_staging/bk`` (a killed write leaves only staging);
the staged file list goes to ``_batches/bk.pending.json``; then every final file named ``bk-*`` that
is not in that list is deleted (an older attempt's or a replaced version's), the staged files are
moved to their final names, ``_batches/bk.json`` is written and the pending file removed. Every step
can be repeated: a run that finds a pending file finishes that commit before anything else, so a
batch is either entirely in place or entirely re-done, never half of it twice.
"""

from __future__ import annotations

import json
from typing import Any

MANIFEST = "_manifest.json"
SUCCESS = "_SUCCESS"
BATCHES = "_batches"
STAGING = "_staging"
TABLES = ("events", "errors")


def batch_name(batch: int) -> str:
    return f"b{batch:05d}"


def final_name(batch: int, staged: str) -> str:
    """``events/day=D/detector=X/part-0.parquet`` -> ``events/day=D/detector=X/b00003-part-0.parquet``."""
    folder, _, name = staged.rpartition("/")
    return f"{folder}/{batch_name(batch)}-{name}"


class Store:
    """An output folder (``root``) through the Hadoop FileSystem of the Spark session."""

    def __init__(self, spark: Any, root: str) -> None:
        self._jvm = spark._jvm
        conf = spark._jsc.hadoopConfiguration()
        root_path = self._jvm.org.apache.hadoop.fs.Path(root.rstrip("/") or "/")
        self.fs = root_path.getFileSystem(conf)
        self.root = self.fs.makeQualified(root_path).toString().rstrip("/")

    def path(self, rel: str = "") -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(f"{self.root}/{rel}" if rel else self.root)

    def uri(self, rel: str = "") -> str:
        """A path under the root as Spark's readers and writers take it."""
        return f"{self.root}/{rel}" if rel else self.root

    def _rel(self, status_path: Any) -> str:
        text = self.fs.makeQualified(status_path).toString()
        if not text.startswith(self.root + "/"):
            raise ValueError(f"{text} is not under {self.root}")
        return text[len(self.root) + 1 :]

    def exists(self, rel: str = "") -> bool:
        return bool(self.fs.exists(self.path(rel)))

    def delete(self, rel: str) -> None:
        self.fs.delete(self.path(rel), True)

    def glob(self, pattern: str) -> list[str]:
        """Relative paths matching a glob under the root, sorted."""
        found = self.fs.globStatus(self.path(pattern))
        return sorted(self._rel(s.getPath()) for s in (found or []))

    def files(self, rel: str) -> list[str]:
        """Every data file under ``rel`` (relative to ``rel``), hidden and ``_`` files left out."""
        if not self.exists(rel):
            return []
        out, listing = [], self.fs.listFiles(self.path(rel), True)
        base = self._rel(self.path(rel))
        while listing.hasNext():
            name = self._rel(listing.next().getPath())[len(base) + 1 :]
            if not any(part.startswith(("_", ".")) for part in name.split("/")):
                out.append(name)
        return sorted(out)

    def entries(self) -> list[str]:
        """The names directly under the root."""
        if not self.exists():
            return []
        return sorted(s.getPath().getName() for s in self.fs.listStatus(self.path()))

    def move(self, src: str, dst: str) -> None:
        target = self.path(dst)
        self.fs.mkdirs(target.getParent())
        if self.fs.exists(target):
            self.fs.delete(target, False)
        if not self.fs.rename(self.path(src), target):
            raise OSError(f"could not move {self.uri(src)} to {self.uri(dst)}")

    def read_json(self, rel: str) -> Any:
        """The JSON document at ``rel``, or None when there is none."""
        if not self.exists(rel):
            return None
        stream = self.fs.open(self.path(rel))
        try:
            data = bytes(self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
        finally:
            stream.close()
        return json.loads(data.decode("utf-8"))

    def write_json(self, rel: str, document: Any) -> None:
        """Write ``document`` to a temporary name, then rename it over ``rel``."""
        folder, _, name = rel.rpartition("/")
        tmp = f"{folder}/.{name}.tmp" if folder else f".{name}.tmp"
        stream = self.fs.create(self.path(tmp), True)
        try:
            stream.write(bytearray(json.dumps(document, indent=2, sort_keys=True).encode("utf-8") + b"\n"))
        finally:
            stream.close()
        self.move(tmp, rel)


def stage_dir(batch: int) -> str:
    return f"{STAGING}/{batch_name(batch)}"


def marker(batch: int) -> str:
    return f"{BATCHES}/{batch_name(batch)}.json"


def pending(batch: int) -> str:
    return f"{BATCHES}/{batch_name(batch)}.pending.json"


def committed(store: Store) -> dict[int, dict[str, Any]]:
    """The markers of the committed batches, by batch number."""
    out = {}
    for rel in store.glob(f"{BATCHES}/b*.json"):
        name = rel.rpartition("/")[2]
        if name.count(".") == 1:  # b00003.json, not b00003.pending.json
            out[int(name[1:6])] = store.read_json(rel)
    return out


def commit(store: Store, batch: int, record: dict[str, Any]) -> None:
    """Move a batch written under :func:`stage_dir` into place and mark it committed."""
    store.write_json(pending(batch), {"files": store.files(stage_dir(batch)), "marker": record})
    finish(store, batch)


def finish(store: Store, batch: int) -> None:
    """Complete the commit of ``batch`` from its pending file (safe to repeat at any step)."""
    todo = store.read_json(pending(batch))
    if todo is None:
        return
    keep = {final_name(batch, rel) for rel in todo["files"]}
    name = batch_name(batch)
    for rel in store.glob(f"events/*/*/{name}-*") + store.glob(f"errors/{name}-*"):
        if rel not in keep:
            store.delete(rel)
    for rel in todo["files"]:
        if store.exists(f"{stage_dir(batch)}/{rel}"):
            store.move(f"{stage_dir(batch)}/{rel}", final_name(batch, rel))
    store.write_json(marker(batch), todo["marker"])
    store.delete(pending(batch))
    store.delete(stage_dir(batch))


def finish_pending(store: Store) -> list[int]:
    """Finish every commit an earlier run left half done; returns their batch numbers."""
    done = []
    for rel in store.glob(f"{BATCHES}/b*.pending.json"):
        batch = int(rel.rpartition("/")[2][1:6])
        finish(store, batch)
        done.append(batch)
    return done


def clear(store: Store) -> None:
    """Remove what a run writes (``--overwrite``), and nothing else."""
    for rel in (*TABLES, BATCHES, STAGING, MANIFEST, SUCCESS):
        if store.exists(rel):
            store.delete(rel)

"""On-disk storage of the local Hub (:mod:`llama_mapper.hub.local_server`): repos, commits, branches
and tags, file objects, and the Hub's tree listings of a commit.

Storage, under ``root``: one folder per repo (``models/ns/name``, ``datasets/ns/name``) holding
``refs.json`` (branches and tags -> commit sha) and ``commits/<sha>.json`` (parents, message, date
and the whole file tree: path -> blob oid and size); file contents live once in ``objects/`` by
their git blob sha1. Every write goes to a temporary file first and is renamed into place, so a
killed server never leaves a half-written commit.

Errors are :class:`HubHTTPError` with the status and ``X-Error-Code`` the Hub would answer, so that
the HTTP handler can pass them on as they are.

May import: nothing from ``llama_mapper`` (:mod:`llama_mapper.hub.local_server` imports this one).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
SHA = re.compile(r"^[0-9a-f]{40}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
GITATTRIBUTES = (
    b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.parquet filter=lfs diff=lfs merge=lfs -text\n"
)


class HubHTTPError(Exception):
    """An answer other than 2xx, with the Hub's ``X-Error-Code`` when it has one."""

    def __init__(self, status: int, message: str, code: str | None = None, commit: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.commit = status, message, code, commit


def git_blob_sha1(data: bytes) -> str:
    """The oid of a regular file, as git and the Hub compute it."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class Repo:
    """One repository on disk."""

    store: HubStore
    kind: str  # "models" | "datasets" | "spaces"
    repo_id: str

    @property
    def folder(self) -> Path:
        return self.store.root / self.kind / self.repo_id

    @property
    def prefix(self) -> str:
        """The URL prefix of its files: ``""`` for models, ``datasets/`` for datasets."""
        return "" if self.kind == "models" else f"{self.kind}/"

    def exists(self) -> bool:
        return (self.folder / "refs.json").is_file()

    def settings(self) -> dict[str, Any]:
        return json.loads((self.folder / "settings.json").read_text())

    def refs(self) -> dict[str, dict[str, str]]:
        return json.loads((self.folder / "refs.json").read_text())

    def save_refs(self, refs: dict[str, dict[str, str]]) -> None:
        write_atomic(self.folder / "refs.json", json.dumps(refs, indent=1).encode())

    def commit(self, sha: str) -> dict[str, Any]:
        return json.loads((self.folder / "commits" / f"{sha}.json").read_text())

    def resolve(self, revision: str | None) -> str:
        """A branch, a tag or a full commit sha -> the commit sha (404 RevisionNotFound otherwise)."""
        revision = revision or "main"
        refs = self.refs()
        for kind in ("branches", "tags"):
            if revision in refs[kind]:
                return refs[kind][revision]
        if SHA.match(revision) and (self.folder / "commits" / f"{revision}.json").is_file():
            return revision
        raise HubHTTPError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def new_commit(
        self, parent: str | None, files: dict[str, dict[str, Any]], title: str, message: str, user: str
    ) -> str:
        """Write a commit object and return its sha (unique: it hashes the parent, tree and time)."""
        seed = json.dumps(
            [parent, files, title, message, time.time_ns(), os.urandom(8).hex()], sort_keys=True
        )
        sha = hashlib.sha1(seed.encode()).hexdigest()
        record = {
            "id": sha,
            "parents": [parent] if parent else [],
            "title": title,
            "message": message,
            "date": now_iso(),
            "authors": [{"user": user}],
            "files": files,
        }
        write_atomic(self.folder / "commits" / f"{sha}.json", json.dumps(record).encode())
        return sha


class HubStore:
    """All repos under ``root``; one lock serialises writes."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()

    def repo(self, kind: str, repo_id: str) -> Repo:
        """A repository by type and ``namespace/name`` (400 for an id that is not one: ``..``...)."""
        parts = repo_id.split("/")
        if len(parts) != 2 or not all(NAME.match(p) and ".." not in p for p in parts):
            raise HubHTTPError(400, f"invalid repo id {repo_id!r}: write namespace/name")
        return Repo(self, kind, repo_id)

    def existing(self, kind: str, repo_id: str) -> Repo:
        repo = self.repo(kind, repo_id)
        if not repo.exists():
            raise HubHTTPError(404, f"Repository Not Found for url: {kind}/{repo_id}.", "RepoNotFound")
        return repo

    def put_object(self, data: bytes) -> str:
        oid = git_blob_sha1(data)
        path = self.object_path(oid)
        if not path.is_file():
            write_atomic(path, data)
        return oid

    def object_path(self, oid: str) -> Path:
        return self.root / "objects" / oid[:2] / oid

    def create_repo(self, kind: str, repo_id: str, private: bool, user: str) -> Repo:
        with self.lock:
            repo = self.repo(kind, repo_id)
            if repo.exists():
                raise HubHTTPError(409, f"You already created this {REPO_TYPES[kind]} repo", "RepoExists")
            oid = self.put_object(GITATTRIBUTES)
            files = {".gitattributes": {"oid": oid, "size": len(GITATTRIBUTES)}}
            write_atomic(
                repo.folder / "settings.json", json.dumps({"private": private, "created": now_iso()}).encode()
            )
            sha = repo.new_commit(None, files, "initial commit", "", user)
            repo.save_refs({"branches": {"main": sha}, "tags": {}})
            return repo


def tree_entries(files: dict[str, dict[str, Any]], folder: str, recursive: bool) -> list[dict[str, Any]]:
    """The Hub's tree listing of ``folder`` ("" for the root) in a commit's file map."""
    prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
    entries: dict[str, dict[str, Any]] = {}
    for path, info in sorted(files.items()):
        if not path.startswith(prefix):
            continue
        rest = path[len(prefix) :].split("/")
        for depth in range(1, len(rest)):
            sub = prefix + "/".join(rest[:depth])
            if (recursive or depth == 1) and sub not in entries:
                oid = hashlib.sha1(sub.encode()).hexdigest()
                entries[sub] = {"type": "directory", "path": sub, "oid": oid, "size": 0}
            if not recursive:
                break
        if recursive or len(rest) == 1:
            entries[path] = {"type": "file", "path": path, "oid": info["oid"], "size": info["size"]}
    return list(entries.values())


def path_entry(files: dict[str, dict[str, Any]], path: str) -> dict[str, Any] | None:
    """The tree entry of one path (file or folder), or None."""
    path = path.strip("/")
    if path in files:
        return {"type": "file", "path": path, "oid": files[path]["oid"], "size": files[path]["size"]}
    if any(p.startswith(path + "/") for p in files):
        return {"type": "directory", "path": path, "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0}
    return None

"""A local, Hub-compatible HTTP server: the offline stand-in for the Hugging Face Hub.

It serves, on 127.0.0.1, the subset of the Hub's API that ``huggingface_hub`` (and through it
``datasets``, ``transformers``, ``peft`` and the ``hf`` CLI) uses to create repos, commit files,
branch, tag, list refs and commits, read revision info and trees, and download files, with the Hub's
typed errors (``X-Error-Code``: RepoNotFound, RevisionNotFound, EntryNotFound; 401 for a bad
token). ``ROUTES`` at the end lists the endpoints. Point the clients at it with
``HF_ENDPOINT=http://127.0.0.1:PORT`` (and ``HF_HUB_DISABLE_XET=1``, which nothing here needs).

Storage (repos, commits, refs, objects) lives in :mod:`llama_mapper.hub.local_store`; this module
holds the HTTP handler, its routes and the server classes (:class:`LocalHubServer`, :class:`LocalHub`).

Every file is uploaded as a "regular" file (base64 in the commit body): no LFS, no Xet. That is
enough for adapters and parquet files of the sizes this project makes.

Auth: with ``tokens`` given, writes (and reads of private repos) need one of them as a bearer token
(401 otherwise, as the Hub answers); without, any non-empty token may write. Reads are open.

May import: :mod:`llama_mapper.hub.local_store`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterable
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from llama_mapper.hub.local_store import (
    NAME,
    REPO_TYPES,
    SHA,
    HubHTTPError,
    HubStore,
    Repo,
    path_entry,
    tree_entries,
)


class Handler(BaseHTTPRequestHandler):
    """Routes the Hub's endpoints to :class:`HubStore` operations."""

    protocol_version = "HTTP/1.1"
    server: LocalHubServer

    # --- plumbing -------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        if self.server.verbose:
            super().log_message(format, *args)

    _body: bytes | None = None

    def body(self) -> bytes:
        """The request body, read once (at most ``server.max_body_bytes``: 413 past it)."""
        if self._body is not None:
            return self._body
        limit = self.server.max_body_bytes
        self._body = b""  # whatever happens below, the body is never read a second time
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                try:
                    size = int(self.rfile.readline(64).split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    self.close_connection = True
                    raise HubHTTPError(400, "malformed chunked body") from None
                if size == 0:
                    self.rfile.readline(64)
                    self._body = b"".join(chunks)
                    return self._body
                total += size
                if total > limit:
                    self.close_connection = True
                    raise HubHTTPError(413, f"request body over {limit} bytes")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(64)
        length = self.content_length()
        if length > limit:
            self.close_connection = True
            raise HubHTTPError(413, f"request body over {limit} bytes")
        self._body = self.rfile.read(length)
        return self._body

    def content_length(self) -> int:
        value = self.headers.get("Content-Length") or "0"
        if not value.isdigit():
            self.close_connection = True
            raise HubHTTPError(400, "invalid Content-Length")
        return int(value)

    def discard_body(self) -> None:
        """Before an error answer: drain a small unread body so the connection stays usable (and
        the client reads the answer, not a reset); otherwise close the connection after answering."""
        if self._body is not None:
            return
        self._body = b""
        chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
        length = self.headers.get("Content-Length", "0")
        if not chunked and length.isdigit() and int(length) <= DRAIN_BYTES:
            self.rfile.read(int(length))
        else:
            self.close_connection = True

    def json_body(self) -> dict[str, Any]:
        raw = self.body()
        try:
            return json.loads(raw or b"{}")
        except ValueError as err:
            raise HubHTTPError(400, f"invalid JSON body: {err}") from err

    def send(
        self,
        status: int,
        payload: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> None:
        data = raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if raw is None else "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def fail(self, err: HubHTTPError) -> None:
        headers = {"X-Error-Message": err.message}
        if err.code:
            headers["X-Error-Code"] = err.code
        if err.commit:
            headers["X-Repo-Commit"] = err.commit
        self.send(err.status, {"error": err.message}, headers)

    def token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth[7:].strip() or None if auth.lower().startswith("bearer ") else None

    def user(self, required: bool = True) -> str | None:
        """The caller's user name; 401 when a write has no valid token."""
        token = self.token()
        tokens = self.server.tokens
        if token is None:
            if required:
                raise HubHTTPError(
                    401, "Invalid credentials in Authorization header: a token is required to write"
                )
            return None
        if tokens and not known_token(token, tokens):
            raise HubHTTPError(401, "Invalid credentials in Authorization header")
        return self.server.user

    def readable(self, repo: Repo) -> Repo:
        if repo.settings().get("private") and self.user(required=False) is None:
            raise HubHTTPError(
                401, f"Repository Not Found for url: {repo.kind}/{repo.repo_id}.", "RepoNotFound"
            )
        return repo

    def dispatch(self) -> None:
        self._body = None  # one handler serves every request of a keep-alive connection
        url = urlsplit(self.path)
        segments = [unquote(s) for s in url.path.strip("/").split("/")] if url.path.strip("/") else []
        query = parse_qs(url.query)
        try:
            for method, pattern, handler in ROUTES:
                if method == self.command or (method == "GET" and self.command == "HEAD"):
                    match = pattern(segments)
                    if match is not None:
                        getattr(self, handler)(query=query, **match)
                        return
            raise HubHTTPError(404, f"not found: {self.command} {url.path}")
        except HubHTTPError as err:
            self.discard_body()
            self.fail(err)
        except (ValueError, KeyError, TypeError, AttributeError) as err:  # a malformed payload
            self.discard_body()
            self.fail(HubHTTPError(400, f"malformed request: {type(err).__name__}"))

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = dispatch

    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    # --- account and repos ----------------------------------------------------------------------
    def whoami(self, query: dict) -> None:
        if self.token() is None:
            raise HubHTTPError(401, "Invalid credentials in Authorization header")
        name = self.user()
        self.send(
            200,
            {
                "type": "user",
                "name": name,
                "fullname": name,
                "orgs": [],
                "auth": {"accessToken": {"role": "write"}},
            },
        )

    def create_repo(self, query: dict) -> None:
        body = self.json_body()
        user = self.user()
        kind = f"{body.get('type') or 'model'}s"
        name, namespace = body.get("name", ""), body.get("organization") or user
        repo_id = f"{namespace}/{name}"
        if kind not in REPO_TYPES or not NAME.match(name or "") or not NAME.match(namespace or ""):
            raise HubHTTPError(400, f"invalid repo: type={kind!r} id={repo_id!r}")
        prefix = "" if kind == "models" else f"{kind}/"
        url = f"{self.endpoint()}/{prefix}{repo_id}"
        try:
            self.server.store.create_repo(kind, repo_id, bool(body.get("private")), user or "")
        except HubHTTPError as err:
            if err.status == 409:
                self.send(409, {"error": err.message, "url": url}, {"X-Error-Message": err.message})
                return
            raise
        self.send(200, {"url": url, "name": repo_id})

    def delete_repo(self, query: dict) -> None:
        body = self.json_body()
        user = self.user()
        repo = self.server.store.existing(
            f"{body.get('type') or 'model'}s", f"{body.get('organization') or user}/{body.get('name')}"
        )
        with self.server.store.lock:
            import shutil

            shutil.rmtree(repo.folder)
        self.send(200, {})

    def validate_yaml(self, query: dict) -> None:
        self.json_body()
        self.send(200, {"errors": [], "warnings": []})

    # --- reading ----------------------------------------------------------------------------------
    def repo_info(self, query: dict, kind: str, repo_id: str, rev: str | None = None) -> None:
        repo = self.readable(self.server.store.existing(kind, repo_id))
        sha = repo.resolve(rev)
        commit = repo.commit(sha)
        blobs = query.get("blobs", ["false"])[0].lower() == "true"
        siblings = [
            {"rfilename": p, **({"size": f["size"]} if blobs else {})}
            for p, f in sorted(commit["files"].items())
        ]
        settings = repo.settings()
        self.send(
            200,
            {
                "_id": hashlib.sha1(repo_id.encode()).hexdigest()[:24],
                "id": repo_id,
                "author": repo_id.split("/")[0],
                "sha": sha,
                "lastModified": commit["date"],
                "createdAt": settings["created"],
                "private": bool(settings.get("private")),
                "disabled": False,
                "gated": False,
                "downloads": 0,
                "likes": 0,
                "tags": [],
                "siblings": siblings,
            },
        )

    def tree(self, query: dict, kind: str, repo_id: str, rev: str, path: str = "") -> None:
        repo = self.readable(self.server.store.existing(kind, repo_id))
        files = repo.commit(repo.resolve(rev))["files"]
        if path and path_entry(files, path) is None:
            raise HubHTTPError(404, f"Entry not found: {path}", "EntryNotFound")
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        self.send(200, tree_entries(files, path, recursive))

    def paths_info(self, query: dict, kind: str, repo_id: str, rev: str) -> None:
        raw = self.body().decode()
        repo = self.readable(self.server.store.existing(kind, repo_id))
        files = repo.commit(repo.resolve(rev))["files"]
        form = parse_qs(raw) if not raw.startswith("{") else {"paths": json.loads(raw).get("paths", [])}
        entries = [path_entry(files, p) for p in form.get("paths", [])]
        self.send(200, [e for e in entries if e is not None])

    def list_refs(self, query: dict, kind: str, repo_id: str) -> None:
        repo = self.readable(self.server.store.existing(kind, repo_id))
        refs = repo.refs()

        def listing(group: str, ref: str) -> list[dict[str, str]]:
            return [
                {"name": n, "ref": f"refs/{ref}/{n}", "targetCommit": s}
                for n, s in sorted(refs[group].items())
            ]

        self.send(
            200,
            {
                "branches": listing("branches", "heads"),
                "tags": listing("tags", "tags"),
                "converts": [],
                "pullRequests": [],
            },
        )

    def list_commits(self, query: dict, kind: str, repo_id: str, rev: str) -> None:
        repo = self.readable(self.server.store.existing(kind, repo_id))
        sha: str | None = repo.resolve(rev)
        history = []
        while sha:
            commit = repo.commit(sha)
            history.append({k: commit[k] for k in ("id", "title", "message", "date", "authors")})
            sha = commit["parents"][0] if commit["parents"] else None
        self.send(200, history)

    def resolve_file(self, query: dict, kind: str, repo_id: str, rev: str, path: str) -> None:
        repo = self.readable(self.server.store.existing(kind, repo_id))
        sha = repo.resolve(rev)
        info = repo.commit(sha)["files"].get(path)
        if info is None:
            raise HubHTTPError(404, f"Entry not found: {path}", "EntryNotFound", commit=sha)
        data = self.server.store.object_path(info["oid"]).read_bytes()
        headers = {
            "X-Repo-Commit": sha,
            "ETag": f'"{info["oid"]}"',
            "Accept-Ranges": "bytes",
            "Last-Modified": formatdate(usegmt=True),
        }
        wanted = re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range", ""))
        if wanted and int(wanted.group(1)) < len(data):
            start = int(wanted.group(1))
            end = min(int(wanted.group(2) or len(data) - 1), len(data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            self.send(206, headers=headers, raw=data[start : end + 1])
            return
        self.send(200, headers=headers, raw=data)

    # --- writing ----------------------------------------------------------------------------------
    def preupload(self, query: dict, kind: str, repo_id: str, rev: str) -> None:
        body = self.json_body()
        self.user()
        repo = self.server.store.existing(kind, repo_id)
        try:
            files = repo.commit(repo.resolve(rev))["files"]
        except HubHTTPError:
            files = {}  # a branch about to be created
        answer = [
            {
                "path": f["path"],
                "uploadMode": "regular",
                "shouldIgnore": False,
                "oid": files.get(f["path"], {}).get("oid"),
            }
            for f in body.get("files", [])
        ]
        self.send(200, {"files": answer, "commitOid": None})

    def commit(self, query: dict, kind: str, repo_id: str, rev: str) -> None:
        raw = self.body()
        user = self.user()
        store = self.server.store
        repo = store.existing(kind, repo_id)
        lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
        header = next((line["value"] for line in lines if line.get("key") == "header"), None)
        if header is None:
            raise HubHTTPError(400, "commit payload without a header line")
        if self.server.faults.pop("commit", None):
            self.close_connection = True  # an upload cut off before the Hub recorded it
            self.connection.shutdown(2)
            return
        with store.lock:
            refs = repo.refs()
            if rev not in refs["branches"]:
                raise HubHTTPError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
            head = refs["branches"][rev]
            parent = header.get("parentCommit")
            if parent and parent != head:
                raise HubHTTPError(412, f"A commit has happened since {parent}: the branch is at {head}")
            files = dict(repo.commit(head)["files"])
            for line in lines:
                key, value = line.get("key"), line.get("value", {})
                if key in ("file", "deletedFile", "deletedFolder"):
                    check_path(value["path"].rstrip("/") if key == "deletedFolder" else value["path"])
                if key == "file":
                    data = (
                        base64.b64decode(value["content"])
                        if value.get("encoding", "base64") == "base64"
                        else value["content"].encode()
                    )
                    files[value["path"]] = {"oid": store.put_object(data), "size": len(data)}
                elif key == "deletedFile":
                    if value["path"] not in files:
                        raise HubHTTPError(
                            404, f"cannot delete {value['path']}: not in {rev}", "EntryNotFound"
                        )
                    del files[value["path"]]
                elif key == "deletedFolder":
                    folder = value["path"].strip("/") + "/"
                    files = {p: f for p, f in files.items() if not p.startswith(folder)}
                elif key in ("lfsFile", "copyFile"):
                    raise HubHTTPError(
                        422, f"{key} is not supported by the local Hub: upload files as regular"
                    )
            sha = head
            if files != repo.commit(head)["files"]:
                sha = repo.new_commit(
                    head, files, header.get("summary", ""), header.get("description", ""), user or ""
                )
                refs["branches"][rev] = sha
                repo.save_refs(refs)
        self.send(
            200,
            {
                "commitOid": sha,
                "commitUrl": f"{self.endpoint()}/{repo.prefix}{repo_id}/commit/{sha}",
                "pullRequestUrl": None,
            },
        )

    def create_branch(self, query: dict, kind: str, repo_id: str, name: str) -> None:
        body = self.json_body()
        self.user()
        repo = self.server.store.existing(kind, repo_id)
        with self.server.store.lock:
            refs = repo.refs()
            if name in refs["branches"]:
                raise HubHTTPError(409, f"Branch {name} already exists")
            refs["branches"][name] = repo.resolve(body.get("startingPoint"))
            repo.save_refs(refs)
        self.send(200, {})

    def delete_branch(self, query: dict, kind: str, repo_id: str, name: str) -> None:
        self.user()
        repo = self.server.store.existing(kind, repo_id)
        with self.server.store.lock:
            refs = repo.refs()
            if name not in refs["branches"] or name == "main":
                raise HubHTTPError(
                    404 if name != "main" else 403, f"cannot delete branch {name}", "RevisionNotFound"
                )
            del refs["branches"][name]
            repo.save_refs(refs)
        self.send(200, {})

    def create_tag(self, query: dict, kind: str, repo_id: str, rev: str) -> None:
        body = self.json_body()
        self.user()
        repo = self.server.store.existing(kind, repo_id)
        if self.server.faults.pop("tag", None):
            self.close_connection = True
            self.connection.shutdown(2)
            return
        with self.server.store.lock:
            refs = repo.refs()
            tag = str(body.get("tag", ""))
            if not tag or SHA.match(tag):
                raise HubHTTPError(400, f"invalid tag name {tag!r}")
            if tag in refs["tags"]:
                raise HubHTTPError(409, f"Tag {tag} already exists")
            refs["tags"][tag] = repo.resolve(rev)
            repo.save_refs(refs)
        self.send(200, {})

    def delete_tag(self, query: dict, kind: str, repo_id: str, name: str) -> None:
        self.user()
        repo = self.server.store.existing(kind, repo_id)
        with self.server.store.lock:
            refs = repo.refs()
            if name not in refs["tags"]:
                raise HubHTTPError(404, f"Tag {name} not found", "RevisionNotFound")
            if RELEASE_TAG.match(name):
                raise HubHTTPError(403, f"Tag {name} is a release: release tags are immutable")
            del refs["tags"][name]
            repo.save_refs(refs)
        self.send(200, {})


def route(*parts: str):
    """A matcher for URL segments: literals, ``{name}`` (one segment), ``{name*}`` (the rest, maybe
    empty) and ``{kind}``/``{repo}`` (a repo type and ``ns/name``)."""

    def match(segments: list[str]) -> dict[str, Any] | None:
        found: dict[str, Any] = {}
        i = 0
        for j, part in enumerate(parts):
            if part.endswith("*}"):
                found[part[1:-2]] = "/".join(segments[i:])
                return found if j == len(parts) - 1 else None
            if i >= len(segments):
                return None
            if part == "{kind}":
                if segments[i] not in REPO_TYPES:
                    return None
                found["kind"] = segments[i]
            elif part == "{repo}":
                if i + 1 >= len(segments):
                    return None
                found["repo_id"] = f"{segments[i]}/{segments[i + 1]}"
                i += 1
            elif part.startswith("{"):
                found[part[1:-1]] = segments[i]
            elif part != segments[i]:
                return None
            i += 1
        return found if i == len(segments) else None

    return match


def file_route(prefix_kind: str | None):
    """``/{ns}/{name}/resolve/{rev}/{path}`` for models, ``/datasets/...`` for the other types."""
    inner = route("{repo}", "resolve", "{rev}", "{path*}")

    def match(segments: list[str]) -> dict[str, Any] | None:
        if prefix_kind is None:
            found = inner(segments)
            return (
                None
                if found is None or segments[0] in REPO_TYPES or segments[0] == "api"
                else {"kind": "models", **found}
            )
        if not segments or segments[0] != prefix_kind:
            return None
        found = inner(segments[1:])
        return None if found is None else {"kind": prefix_kind, **found}

    return match


ROUTES: list[tuple[str, Any, str]] = [
    ("GET", route("api", "whoami-v2"), "whoami"),
    ("POST", route("api", "repos", "create"), "create_repo"),
    ("DELETE", route("api", "repos", "delete"), "delete_repo"),
    ("POST", route("api", "validate-yaml"), "validate_yaml"),
    ("GET", route("api", "{kind}", "{repo}"), "repo_info"),
    ("GET", route("api", "{kind}", "{repo}", "revision", "{rev}"), "repo_info"),
    ("GET", route("api", "{kind}", "{repo}", "tree", "{rev}", "{path*}"), "tree"),
    ("POST", route("api", "{kind}", "{repo}", "paths-info", "{rev}"), "paths_info"),
    ("GET", route("api", "{kind}", "{repo}", "refs"), "list_refs"),
    ("GET", route("api", "{kind}", "{repo}", "commits", "{rev}"), "list_commits"),
    ("POST", route("api", "{kind}", "{repo}", "preupload", "{rev}"), "preupload"),
    ("POST", route("api", "{kind}", "{repo}", "commit", "{rev}"), "commit"),
    ("POST", route("api", "{kind}", "{repo}", "branch", "{name}"), "create_branch"),
    ("DELETE", route("api", "{kind}", "{repo}", "branch", "{name}"), "delete_branch"),
    ("POST", route("api", "{kind}", "{repo}", "tag", "{rev}"), "create_tag"),
    ("DELETE", route("api", "{kind}", "{repo}", "tag", "{name}"), "delete_tag"),
    ("GET", file_route(None), "resolve_file"),
    ("GET", file_route("datasets"), "resolve_file"),
    ("GET", file_route("spaces"), "resolve_file"),
]


def check_path(path: str) -> str:
    """A file path inside a repository: relative, ``/``-separated, without ``.`` or ``..`` segments."""
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or "\x00" in path
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise HubHTTPError(400, f"invalid path in repo {path!r}: a relative path without '..'")
    return path


def known_token(token: str, tokens: Iterable[str]) -> bool:
    """Is ``token`` one of ``tokens``? Compared in constant time, against every one."""
    given = token.encode("utf-8", "surrogateescape")
    found = False
    for t in tokens:
        found |= hmac.compare_digest(given, t.encode("utf-8", "surrogateescape"))
    return found


RELEASE_TAG = re.compile(r"^v\d+\.\d+\.\d+")
DRAIN_BYTES = 1_000_000  # an unread body up to this size is drained before an error answer
BUSY = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"


class LocalHubServer(ThreadingHTTPServer):
    """The threaded HTTP server (``snapshot_download`` opens 8 keep-alive connections), with at most
    ``max_connections`` open (503 past it) and bodies of at most ``max_body_bytes`` (413)."""

    daemon_threads = True

    def __init__(
        self,
        root: str | Path,
        port: int = 0,
        host: str = "127.0.0.1",
        tokens: Iterable[str] = (),
        user: str = "local-user",
        verbose: bool = False,
        max_body_bytes: int = 2**30,
        max_connections: int = 64,
    ) -> None:
        super().__init__((host, port), Handler)
        self.max_body_bytes = max_body_bytes
        self.slots = threading.BoundedSemaphore(max_connections)
        self.store = HubStore(root)
        self.tokens = set(tokens)
        self.user = user
        self.verbose = verbose
        self.faults: dict[str, bool] = {}  # tests: {"commit": True} drops the next commit's connection

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):  # too many connections: refuse this one at once
            try:
                request.sendall(BUSY)
            finally:
                self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class LocalHub:
    """``with LocalHub(root) as hub: ...`` runs the server in a background thread at ``hub.url``."""

    def __init__(
        self,
        root: str | Path,
        port: int = 0,
        tokens: Iterable[str] = (),
        verbose: bool = False,
        **limits: int,
    ) -> None:
        """``limits``: ``max_body_bytes``, ``max_connections`` (see :class:`LocalHubServer`)."""
        self.server = LocalHubServer(root, port, tokens=tokens, verbose=verbose, **limits)
        self.thread = threading.Thread(target=self.server.serve_forever, name="local-hub", daemon=True)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> LocalHub:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> LocalHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

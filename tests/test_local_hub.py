"""The local Hub refuses bad writes at once (no hang, nothing changed) and bounds what it accepts."""

from __future__ import annotations

import base64
import http.client
import json
import socket

import pytest
from huggingface_hub import HfApi

from llama_mapper.hub.local_server import LocalHub

TOKEN = "hf_local_test_token"


@pytest.fixture
def hub(tmp_path):
    with LocalHub(tmp_path / "hub", tokens=[TOKEN], max_body_bytes=100_000, max_connections=8) as running:
        api = HfApi(endpoint=running.url, token=TOKEN)
        api.create_repo("demo/repo")
        api.upload_file(path_or_fileobj=b"weights", path_in_repo="adapter.bin", repo_id="demo/repo")
        api.create_tag("demo/repo", tag="v1.0.0")
        yield running, api


def request(hub, method: str, path: str, body: bytes | None = None, token: str | None = None, conn=None):
    """One raw request; a hang fails the test (5 s socket timeout). Returns (status, body, conn)."""
    running, _ = hub
    host, port = running.server.server_address[:2]
    conn = conn or http.client.HTTPConnection(host, port, timeout=5)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=body, headers=headers)
    answer = conn.getresponse()
    return answer.status, answer.read(), conn


def commit_body(path: str) -> bytes:
    lines = [
        {"key": "header", "value": {"summary": "x"}},
        {
            "key": "file",
            "value": {"path": path, "content": base64.b64encode(b"x").decode(), "encoding": "base64"},
        },
    ]
    return "\n".join(json.dumps(line) for line in lines).encode()


CREATE = json.dumps({"name": "other", "organization": "demo"}).encode()


@pytest.mark.parametrize(
    ("method", "path", "body", "token", "status"),
    [
        ("POST", "/api/repos/create", CREATE, None, 401),
        ("POST", "/api/repos/create", CREATE, "wrong", 401),
        ("POST", "/api/models/demo/repo/commit/main", commit_body("x.bin"), None, 401),
        ("POST", "/api/models/demo/repo/commit/main", commit_body("x.bin"), "wrong", 401),
        ("POST", "/api/models/demo/repo/commit/main", commit_body("../../escape.bin"), TOKEN, 400),
        ("POST", "/api/models/demo/repo/commit/main", commit_body("/etc/passwd"), TOKEN, 400),
        ("POST", "/api/models/demo/repo/tag/main", json.dumps({"tag": "v1.0.0"}).encode(), TOKEN, 409),
        ("DELETE", "/api/models/demo/repo/tag/v1.0.0", None, TOKEN, 403),
        ("DELETE", "/api/models/demo/repo/tag/v1.0.0", None, None, 401),
        ("POST", "/api/models/demo/%2e%2e/commit/main", commit_body("x.bin"), TOKEN, 400),
        (
            "POST",
            "/api/repos/create",
            json.dumps({"name": "..", "organization": "demo"}).encode(),
            TOKEN,
            400,
        ),
        (
            "DELETE",
            "/api/repos/delete",
            json.dumps({"name": "..", "organization": ".."}).encode(),
            TOKEN,
            400,
        ),
    ],
)
def test_each_refused_write_answers_at_once_changes_nothing_and_keeps_the_connection(
    hub, method, path, body, token, status
):
    running, api = hub
    before = sorted((running.server.store.root).rglob("*"))
    got, _, conn = request(hub, method, path, body, token)
    assert got == status
    assert sorted((running.server.store.root).rglob("*")) == before
    assert [t.name for t in api.list_repo_refs("demo/repo").tags] == ["v1.0.0"]
    again, answer, _ = request(hub, "GET", "/api/models/demo/repo", conn=conn)  # same connection
    assert again == 200 and json.loads(answer)["id"] == "demo/repo"


def test_bodies_past_the_limit_get_413_chunked_or_not(hub):
    big = commit_body("big.bin") + b" " * 200_000
    assert request(hub, "POST", "/api/models/demo/repo/commit/main", big, TOKEN)[0] == 413
    running, _ = hub
    host, port = running.server.server_address[:2]
    with socket.create_connection((host, port), timeout=5) as sock:
        head = f"POST /api/models/demo/repo/commit/main HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nTransfer-Encoding: chunked\r\n\r\n"
        sock.sendall(head.encode())
        chunk = b"x" * 60_000
        sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) * 2)
        assert sock.recv(200).startswith(b"HTTP/1.1 413")


def test_connections_past_the_bound_are_refused_with_503(tmp_path):
    with LocalHub(tmp_path / "hub", max_connections=4) as running:
        running.server.store.create_repo("models", "demo/repo", False, "local-user")
        host, port = running.server.server_address[:2]
        held = [socket.create_connection((host, port), timeout=5) for _ in range(4)]
        try:
            for sock in held:  # each holds a handler thread
                sock.sendall(b"GET /api/models/demo/repo HTTP/1.1\r\nHost: x\r\n\r\n")
                assert sock.recv(100).startswith(b"HTTP/1.1 200")
            with socket.create_connection((host, port), timeout=5) as extra:
                assert extra.recv(100).startswith(b"HTTP/1.1 503")
        finally:
            for sock in held:
                sock.close()

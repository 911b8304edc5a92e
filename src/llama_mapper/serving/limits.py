"""The server's bounds: each limit, its default and what a client sees past it (the README's
"Limits and failure behaviour" table is checked against :class:`Limits` by a test), and the ASGI
guard that holds the body limit for every body, with or without ``Content-Length``.

A limit never drops work silently: past it a client gets TGI's error body (``{"error",
"error_type"}``) with a status that says whose problem it is (413 and 422: the request; 429 and 503:
the server, with ``Retry-After``), or, for the per-request model bounds, an event whose categories
past the bound are the rules' best effort flagged ``OTHER.NeedsReview``.
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass, field, fields
from typing import Any

from starlette.exceptions import HTTPException

from llama_mapper.mapping.routes import DEADLINE_S, MAX_QUESTIONS


def limit(default: Any, what: str, past: str) -> Any:
    """A field of :class:`Limits`: what it bounds and what a client sees past it."""
    return field(default=default, metadata={"what": what, "past": past})


@dataclass(frozen=True)
class Limits:
    """Every bound of the HTTP API; ``serve.py`` has a flag for each (``--max-body-bytes``...)."""

    max_body_bytes: int = limit(
        1_000_000,
        "bytes of a request body, counted as it streams in (chunked or not)",
        "413 `validation`; at most the limit is held in memory",
    )
    max_batch_requests: int = limit(1000, "items in one `/map/batch`", "413 `validation`")
    max_questions: int = limit(
        MAX_QUESTIONS,
        "model questions (unmapped categories) per `/map` request",
        "200: the categories past it are the rules' best effort plus `OTHER.NeedsReview`, confidence <= 0.5, and a note",
    )
    deadline_s: float = limit(
        DEADLINE_S,
        "seconds a `/map` request waits for its model answers",
        "200: the unanswered categories are the rules' best effort plus `OTHER.NeedsReview`, and a note",
    )
    max_tenant_requests: int = limit(
        16,
        "`/map` and `/map/batch` requests in flight per `tenant_id` (no id: one shared tenant)",
        "429 `overloaded` with `Retry-After`",
    )
    shutdown_grace_s: float = limit(
        30.0,
        "seconds the requests in flight may take to finish after SIGTERM",
        "new requests get 503 `unavailable` with `Retry-After` at once; past the grace the server exits",
    )
    retry_after_s: int = limit(2, "the `Retry-After` of a 429 or 503", "")

    @classmethod
    def table(cls) -> str:
        """The README's table of these limits (a test keeps the two the same)."""
        rows = [
            f"| `--{f.name.replace('_', '-')}` | {f.default:,} | {f.metadata['what']} | {f.metadata['past']} |"
            for f in fields(cls)
            if f.metadata["past"]
        ]
        return "\n".join(
            ["| limit | default | bounds | past it, a client sees |", "|---|---|---|---|", *rows]
        )

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) <= 0:
                raise ValueError(f"limit {f.name} must be positive, not {getattr(self, f.name)}")

    def mapper_options(self) -> dict[str, Any]:
        """What the model routes' :class:`~llama_mapper.mapping.routes.Mapper` bounds per request."""
        return {"max_questions": self.max_questions, "deadline": self.deadline_s}


@dataclass
class Traffic:
    """The requests in flight, and whether the server is shutting down (then it refuses new ones
    with 503, except its own ``/map`` route's model questions, which carry ``INTERNAL_HEADER``)."""

    in_flight: int = 0
    stopping: bool = False
    token: str = field(default_factory=lambda: secrets.token_hex(16))

    def internal_headers(self) -> dict[str, str]:
        return {INTERNAL_HEADER: self.token}


INTERNAL_HEADER = "x-llama-mapper-internal"


class BodyTooLarge(HTTPException):
    """A body past the limit (raised while it streams in; the app answers 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes")


OPEN_PATHS = frozenset(("/health", "/ready", "/docs", "/openapi.json"))
DRAIN_BYTES = 16_000_000  # read and discarded past the limit, so the client gets its 413 cleanly


class Guard:
    """ASGI middleware: the bearer token (compared in constant time), shutdown (503 with
    ``Retry-After`` for new requests, counting those in flight) and the body limit.

    ``Content-Length`` over the limit is refused before reading; any other body (chunked too) is
    counted as it arrives and refused the moment it crosses the limit, having kept at most the
    limit in memory. The rest of it is read and discarded (up to ``DRAIN_BYTES``), so that the
    client, still sending, reads the 413 instead of a reset connection."""

    def __init__(
        self, app: Any, api_key: str | None, max_body_bytes: int, traffic: Traffic, retry_after: int
    ) -> None:
        self.app = app
        self.expected = f"Bearer {api_key}".encode() if api_key else None
        self.limit = max_body_bytes
        self.traffic = traffic
        self.retry_after = retry_after

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        authorized = self.expected is None or scope["path"] in OPEN_PATHS
        if not authorized and not hmac.compare_digest(headers.get(b"authorization", b""), self.expected):
            return await reply(
                send, 401, "Unauthorized: send the API key as a bearer token", "authentication"
            )
        internal = hmac.compare_digest(
            headers.get(INTERNAL_HEADER.encode(), b""), self.traffic.token.encode()
        )
        if self.traffic.stopping and not internal:
            return await reply(
                send,
                503,
                "the server is shutting down",
                "unavailable",
                (b"retry-after", str(self.retry_after).encode()),
            )
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            return await reply(send, 413, f"request body over {self.limit} bytes", "validation")
        received = 0

        async def counted() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    drained = 0
                    while message.get("more_body") and drained < DRAIN_BYTES:
                        message = await receive()
                        drained += len(message.get("body", b""))
                    raise BodyTooLarge(self.limit)
            return message

        counts = not internal
        self.traffic.in_flight += counts
        try:
            await self.app(scope, counted, send)
        finally:
            self.traffic.in_flight -= counts


async def reply(send: Any, status: int, message: str, kind: str, *extra: tuple[bytes, bytes]) -> None:
    """TGI's error body, sent before the app sees the request."""
    body = json.dumps({"error": message, "error_type": kind}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

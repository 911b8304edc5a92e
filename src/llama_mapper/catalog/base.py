"""What every format reader shares: the data types (:class:`Finding`, :class:`Reading`,
:class:`ReaderConfig`, the :data:`Reader` signature), the work limits (``MAX_*``, :class:`Budget`) and
the helpers that decode an output and pick values out of it (:func:`parse_output`,
:func:`error_reason`, :func:`number`, :func:`unit_score`, :func:`find_text`...).

May import: nothing from ``llama_mapper`` (the other reader modules import this one).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

MAX_NODES = 20_000  # JSON nodes a reader may visit
MAX_DEPTH = 24  # nesting depth a reader descends to
MAX_TEXT = 100_000  # characters of a text output that are parsed
MALFORMED = "malformed or truncated JSON"


@dataclass(slots=True)  # not frozen: frozen dataclasses are ~3x slower to build, and readers make many
class Finding:
    """One vendor category found in an output (treat as immutable)."""

    category: str  # the vendor's category name, as emitted
    counted: bool  # does it count (flag set, score over threshold, entity present...)
    score: float | None = None  # in [0, 1] when the output has one
    path: str = ""  # where it was found, e.g. "results[0].categories"
    certainty: float = 1.0  # how sure the reader is that it read this right (generic reader < 1)
    thresholded: bool = False  # decided by comparing a score with the threshold (not by a flag)
    hint: bool = False  # a category guessed from prose: dropped, not "unresolved", when no rule maps it


@dataclass(slots=True)
class Reading:
    """What a reader made of one output."""

    findings: list[Finding] = field(default_factory=list)
    status: str = "ok"  # "ok" | "error" | "unreadable"
    verdict: bool | None = None  # an overall unsafe/flagged verdict, when the format has one
    reason: str = ""  # metadata only (never raw content): why error/unreadable


class Budget:
    """Counts visited nodes so that no reader walks a hostile output for long."""

    __slots__ = ("left",)

    def __init__(self, nodes: int = MAX_NODES) -> None:
        self.left = nodes

    def take(self) -> bool:
        self.left -= 1
        return self.left >= 0


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------

ERROR_KEYS = ("error", "errors", "Error", "Errors", "error_message", "errorMessage", "exception", "fault")
TEXT_KEYS = (
    "generated_text",
    "output",
    "text",
    "response",
    "content",
    "result",
    "completion",
    "verdict",
    "message",
)
# A web page where the detector's answer should be: a proxy's or gateway's error page ("502 Bad Gateway")
_HTML_PAGE = re.compile(r"<(?:!doctype\s+html|html|head|body|title|center|h1)\b", re.I)
# How JSON text begins: an object's first key or its end, an array's first value or its end. Text
# that only starts with a bracket ("[RESULT]: unsafe", "[REASONING]: ...", "{SCORE: PASS}") is text.
_JSON_START = re.compile(r'\{\s*(?:"|\}|$)|\[\s*(?:["{\[\]\-\d]|true\b|false\b|null\b|$)')
_SPECIAL_TOKENS = re.compile(r"<\|[a-z_]{2,20}\|>|</?s>")


def number(value: Any) -> float | None:
    """A finite float from a number (not a bool) or a numeric string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        f = float(value)
    elif isinstance(value, str) and len(value) < 32:
        try:
            f = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return f if math.isfinite(f) else None


def unit_score(value: Any) -> float | None:
    """A score in [0, 1], else None: a number above 1 is not a probability (callers read severities)."""
    f = number(value)
    return f if f is not None and 0 <= f <= 1 else None


def parse_output(output: Any) -> tuple[Any, str | None]:
    """Decode JSON carried in a string; return ``(value, error_reason)``.

    Text that is not JSON is returned as stripped text. ``None``, empty strings and empty objects
    are errors: the detector produced nothing.
    """
    if output is None:
        return None, "empty output"
    if isinstance(output, (bytes, bytearray)):
        output = output.decode("utf-8", errors="replace")
    if isinstance(output, str):
        text = output.strip()
        if not text:
            return None, "empty output"
        if len(text) > MAX_TEXT:
            text = text[:MAX_TEXT]
        if text[0] in "{[":
            try:
                return json.loads(text), None
            except (ValueError, RecursionError):
                if _JSON_START.match(text):
                    return None, MALFORMED
        if text in ("null", "None"):
            return None, "empty output"
        if text[0] == "<" and _HTML_PAGE.match(text):
            return None, "an HTML page (a proxy or server error page), not the detector's output"
        return text, None
    if isinstance(output, dict) and not output:
        return None, "empty output"
    return output, None


def error_reason(value: Any) -> str | None:
    """A metadata-only reason if ``value`` is an error object (API error body), else None."""
    if not isinstance(value, dict):
        return None
    for key in ERROR_KEYS:
        if key in value:
            err = value[key]
            if err in (None, False, "", [], {}):
                continue
            return f"detector returned an error object ({key})"
    meta = value.get("ResponseMetadata")  # boto3: {"ResponseMetadata": {"HTTPStatusCode": 400}}
    if (
        isinstance(meta, dict)
        and isinstance(meta.get("HTTPStatusCode"), int)
        and meta["HTTPStatusCode"] >= 400
    ):
        return "detector returned an error status"
    # AWS-style {"__type": "...Exception", "message": ...} or {"code": 400, "message": ...}
    kind = value.get("__type") or value.get("Type") or value.get("type")
    if isinstance(kind, str) and ("Exception" in kind or kind.lower() == "error"):
        return "detector returned an error object"
    if (
        "message" in value
        and ("code" in value or "status" in value or "statusCode" in value)
        and len(value) <= 5
    ):
        status = value.get("status") or value.get("code") or value.get("statusCode")
        if not (isinstance(status, int) and 200 <= status < 300):
            return "detector returned an error object"
    return None


def find_text(value: Any, depth: int = 0) -> str | None:
    """The text payload of a text-emitting detector, unwrapping common wrappers."""
    if isinstance(value, str):
        return value
    if depth > 4:
        return None
    if isinstance(value, list) and len(value) == 1:
        return find_text(value[0], depth + 1)
    if isinstance(value, dict):
        if isinstance(value.get("message"), dict):  # Ollama / chat APIs: {"message": {"content": ...}}
            return find_text(value["message"].get("content"), depth + 1)
        for key in TEXT_KEYS:
            if key in value:
                found = find_text(value[key], depth + 1)
                if found is not None:
                    return found
        if "choices" in value and isinstance(value["choices"], list) and value["choices"]:
            choice = value["choices"][0]
            if isinstance(choice, dict):
                return find_text(choice.get("message") or choice.get("text"), depth + 1)
    return None


def unwrap_list(value: Any, keys: tuple[str, ...]) -> list | None:
    """Find the list of items: the value itself, or under one of ``keys`` (one level of wrapping)."""
    if isinstance(value, list):
        # transformers pipelines return [[{...}]] for a batch of one
        if len(value) >= 1 and all(isinstance(v, list) for v in value):
            return [item for inner in value for item in inner]
        return value
    if isinstance(value, dict):
        for key in keys:
            if key in value:
                inner = value[key]
                if isinstance(inner, list):
                    return unwrap_list(inner, keys)
                if isinstance(inner, dict):
                    found = unwrap_list(inner, keys)
                    if found is not None:
                        return found
    return None


def first_key(item: dict, keys: tuple[str, ...]) -> Any:
    """The value of the first of ``keys`` present in ``item``."""
    for key in keys:
        if key in item:
            return item[key]
    return None


def category_name(value: Any) -> str | None:
    """A category name from a string or a ``{"name": ...}`` object (Google DLP's infoType)."""
    if isinstance(value, str):
        name = value.strip()
        return name[:200] if name else None
    if isinstance(value, dict):
        return category_name(value.get("name"))
    return None


# ---------------------------------------------------------------------------------------------
# Reader signature and settings
# ---------------------------------------------------------------------------------------------

Reader = Callable[[Any, "ReaderConfig"], Reading]


@dataclass(frozen=True)
class ReaderConfig:
    """The per-detector settings a reader needs."""

    threshold: float = 0.5
    min_score: float | None = None


# ---------------------------------------------------------------------------------------------
# Batches and streams (shared by the family readers in ``catalog/formats``)
# ---------------------------------------------------------------------------------------------

MAX_FINDINGS = 1000  # findings kept of one batch


def batch_items(value: list, limit: int) -> list:
    """A batch's records: one level of nested lists (per-request lists) flattened, at most ``limit``;
    lists nested deeper are no record of any format (and would cost recursion)."""
    out: list = []
    for item in value[:limit]:
        if isinstance(item, list):
            out.extend(i for i in item[: limit - len(out)] if not isinstance(i, list))
        else:
            out.append(item)
        if len(out) >= limit:
            break
    return out


def union_readings(readings: Iterable[Reading]) -> Reading:
    """One reading for a batch: the findings of every readable record (at most ``MAX_FINDINGS``);
    a verdict if any record has one. A failed record makes the batch an error unless another record
    found something (a failure says nothing about the content)."""
    readings = list(readings)
    if not readings:
        return Reading(status="error", reason="empty batch")
    ok = [r for r in readings if r.status == "ok"]
    failed = [r for r in readings if r.status == "error"]
    if not ok:
        return failed[0] if failed else Reading(status="unreadable", reason="no record of the format")
    found = any(r.verdict or any(f.counted for f in r.findings) for r in ok)
    if failed and not found:
        return Reading(status="error", reason=f"{len(failed)} of {len(readings)} records failed")
    out = Reading()
    for r in ok:
        out.findings.extend(r.findings[: MAX_FINDINGS - len(out.findings)])
    verdicts = [r.verdict for r in ok if r.verdict is not None]
    out.verdict = any(verdicts) if verdicts else None
    return out


def sse_chunks(text: str, max_lines: int = 5000) -> list[dict]:
    """The JSON chunks of a server-sent event stream (``data: {...}`` lines)."""
    chunks = []
    for line in text[:MAX_TEXT].splitlines()[:max_lines]:
        line = line.strip()
        if line.startswith("data:") and line[5:].lstrip().startswith("{"):
            try:
                chunk = json.loads(line[5:])
            except (ValueError, RecursionError):
                continue
            if isinstance(chunk, dict):
                chunks.append(chunk)
    return chunks

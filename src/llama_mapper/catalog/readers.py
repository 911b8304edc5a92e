"""Format readers: turn one raw detector output into category findings.

A reader knows a vendor's output *structure* (which field is the flag, the score, the severity);
the catalog YAML knows what each vendor *category* means. Readers never raise on bad input: they
return a :class:`Reading` whose status says ``error`` (an error object, empty, malformed or
truncated output) or ``unreadable`` (a shape the reader does not recognise).

Every reader bounds its work (nodes visited, nesting depth, string length), so hostile input
(huge, deeply nested, wrong types) costs little and never raises.

This module holds only the format table (:data:`READERS`) and :func:`read`; the pieces live in
:mod:`~llama_mapper.catalog.base` (types, limits, shared helpers), :mod:`~llama_mapper.catalog.vendors`
(vendor readers), :mod:`~llama_mapper.catalog.vocabulary` and :mod:`~llama_mapper.catalog.generic`
(the generic reader).

May import: the other ``llama_mapper.catalog`` reader modules.
"""

from __future__ import annotations

import re
from typing import Any

from llama_mapper.catalog.base import (
    ERROR_KEYS,
    MALFORMED,
    Finding,
    Reader,
    ReaderConfig,
    Reading,
    error_reason,
    parse_output,
)
from llama_mapper.catalog.formats import READERS as FAMILY_READERS
from llama_mapper.catalog.formats import READS_ERROR_BODIES
from llama_mapper.catalog.generic import read_generic
from llama_mapper.catalog.vendors import (
    azure_filtered_error,
    read_aws_comprehend_pii,
    read_azure_content_safety,
    read_entities,
    read_google_dlp,
    read_label_scores,
    read_llama_guard,
    read_openai_moderation,
    read_perspective,
    read_score_dict,
)
from llama_mapper.catalog.vocabulary import LIST_CATEGORY_KEYS

READERS: dict[str, Reader] = {
    "openai_moderation": read_openai_moderation,
    "llama_guard": read_llama_guard,
    "presidio": read_entities,
    "regex_pii": read_entities,
    "aws_comprehend_pii": read_aws_comprehend_pii,
    "score_dict": read_score_dict,
    "label_scores": read_label_scores,
    "perspective": read_perspective,
    "azure_content_safety": read_azure_content_safety,
    "google_dlp": read_google_dlp,
    "generic": read_generic,
}
for _name, _reader in FAMILY_READERS.items():
    if _name in READERS:
        raise ValueError(f"format {_name!r} is defined twice")
    READERS[_name] = _reader


def read(output: Any, format: str = "generic", cfg: ReaderConfig | None = None) -> Reading:
    """Read one raw output with the named reader; never raises.

    Error objects and empty or malformed outputs give status ``error``; a known reader that does not
    recognise the shape falls back to the generic reader (its findings carry lower certainty).
    """
    cfg = cfg or ReaderConfig()
    value, problem = parse_output(output)
    if problem == MALFORMED and format in READERS and format != "generic" and isinstance(output, str):
        # A text-emitting model may write near-JSON ({"SCORE": PASS}): its own reader may still read it
        try:
            reading = READERS[format](output.strip(), cfg)
        except (RecursionError, TypeError, ValueError, AttributeError, KeyError):
            reading = Reading(status="unreadable")
        if reading.status == "ok":
            return reading
    if problem:
        return Reading(status="error", reason=problem)
    if (reason := error_reason(value)) is not None and format in READS_ERROR_BODIES:
        reading = READERS[format](value, cfg)
        return reading if reading.status == "ok" else Reading(status="error", reason=reason)
    if reason is not None and _beside_results(value):
        # A partial failure (one scanner of several failed, a warning): what the others found counts;
        # with nothing found, the failure says the content was not checked (as for a batch).
        reading = read({k: v for k, v in value.items() if k not in ERROR_KEYS}, format, cfg)
        if reading.status == "ok" and (reading.verdict or any(f.counted for f in reading.findings)):
            return reading
        return Reading(status="error", reason=reason)
    if reason is not None:
        filtered = azure_filtered_error(value) if format == "azure_content_safety" else None
        if filtered is None:
            return Reading(status="error", reason=reason)
        value = filtered  # Azure OpenAI refused with a content filter verdict: that is the finding
    reader = READERS.get(format, read_generic)
    try:
        reading = reader(value, cfg)
    except (RecursionError, TypeError, ValueError, AttributeError, KeyError):
        reading = Reading(status="unreadable", reason=f"{format} reader failed")
    if reading.status == "unreadable" and reader is not read_generic:
        generic = read_generic(value, cfg)
        if generic.status == "ok":
            return generic
    if (
        reading.status == "ok"
        and reading.verdict
        and reader is not read_generic
        and not any(f.counted for f in reading.findings)
    ):
        # The format's reader found a positive verdict and no category: a list of category names in
        # a shape it does not know may still say which ({"flagged": true, "categories":
        # ["pii/email"]}). Those names are added, never as sure as a known field.
        reading.findings.extend(
            Finding(f.category, True, None, f.path, min(f.certainty, 0.8))
            for f in read_generic(value, cfg).findings
            if f.counted and f.score is None and _NAME_LIST_ITEM.search(f.path)
        )
    return reading


_RESULT_KEYS = (
    "results",
    "result",
    "findings",
    "detections",
    "matches",
    "entities",
    "scanners",
    "categories",
)


def _beside_results(value: dict) -> bool:
    """Does an output that carries an error also carry non-empty results (a partial failure)?"""
    return any(isinstance(v, (dict, list)) and v for k, v in value.items() if k.lower() in _RESULT_KEYS)


_NAME_LIST_ITEM = re.compile(
    r"(?:^|\.)(?:" + "|".join(re.escape(k) for k in sorted(LIST_CATEGORY_KEYS)) + r")\[\d+\]$", re.I
)

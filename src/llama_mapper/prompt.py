"""The one prompt format, shared by data generation, training and serving.

Two modes:
- ``categories`` (default, for small models): the deterministic reader extracts the counted category
  strings; the model only maps ``detector + categories`` to labels. ~20-40 tokens a prompt.
- ``raw`` (for large models that can read JSON): the detector name and the compacted raw output.

The model answers a JSON array of taxonomy labels, e.g. ``["HARM.SPEECH.Threat"]``; code builds the
canonical event around it (scores, confidence, provenance, controls).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from llama_mapper.taxonomy import Taxonomy

PROMPT_VERSION = "1"
SYSTEM_PROMPT = (
    "Map a safety detector's flagged categories to canonical taxonomy labels. Answer a JSON array of labels."
)
SYSTEM_PROMPT_RAW = (
    "Map a safety detector's raw output to canonical taxonomy labels. Answer a JSON array of labels."
)
MAX_CATEGORIES = 8
MAX_CATEGORY_CHARS = 64
MAX_RAW_CHARS = 700
MODES = ("categories", "raw")


def clean_category(category: str) -> str:
    """One line, bounded length: category strings may come from hostile outputs."""
    text = " ".join(str(category).split())
    return text[:MAX_CATEGORY_CHARS]


def categories_user_turn(detector: str, categories: Iterable[str]) -> str:
    """The user turn in ``categories`` mode."""
    cats = list(dict.fromkeys(clean_category(c) for c in categories if str(c).strip()))[:MAX_CATEGORIES]
    return f"detector: {clean_category(detector)}\ncategories: {'; '.join(cats) if cats else '(none)'}"


def compact_output(output: Any, max_chars: int = MAX_RAW_CHARS) -> str:
    """Minified JSON of a raw output, long strings shortened, capped at ``max_chars``."""

    def shrink(value: Any, depth: int = 0) -> Any:
        if depth > 12:
            return "..."
        if isinstance(value, str):
            return value if len(value) <= 48 else value[:45] + "..."
        if isinstance(value, float):
            return round(value, 3)
        if isinstance(value, list):
            return [shrink(v, depth + 1) for v in value[:20]]
        if isinstance(value, dict):
            return {str(k)[:48]: shrink(v, depth + 1) for k, v in list(value.items())[:40]}
        return value

    text = (
        output
        if isinstance(output, str)
        else json.dumps(shrink(output), separators=(",", ":"), ensure_ascii=False)
    )
    return text[:max_chars]


def raw_user_turn(detector: str, output: Any, max_chars: int = MAX_RAW_CHARS) -> str:
    """The user turn in ``raw`` mode."""
    return f"detector: {clean_category(detector)}\noutput: {compact_output(output, max_chars)}"


def build_prompt(
    detector: str, *, categories: Iterable[str] = (), output: Any = None, mode: str = "categories"
) -> list[dict[str, str]]:
    """System and user messages for one request, in the given mode."""
    if mode == "categories":
        return [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": categories_user_turn(detector, categories)},
        ]
    if mode == "raw":
        return [
            {"role": "system", "content": SYSTEM_PROMPT_RAW},
            {"role": "user", "content": raw_user_turn(detector, output)},
        ]
    raise ValueError(f"unknown prompt mode {mode!r}; choose one of {MODES}")


def format_answer(labels: Iterable[str]) -> str:
    """The assistant turn: a compact JSON array of labels."""
    return json.dumps(list(dict.fromkeys(labels)), separators=(",", ":"))


def parse_answer(text: str, taxonomy: Taxonomy) -> list[str] | None:
    """Labels from a model answer: de-duplicated, in taxonomy; None when it is not a label array."""
    text = text.strip()
    start, end = text.find("["), text.rfind("]")
    if start < 0 or end < start:
        return None
    try:
        value = json.loads(text[start : end + 1])
    except ValueError:
        return None
    if isinstance(value, dict):
        value = value.get("taxonomy")
    if not isinstance(value, list):
        return None
    labels = [v for v in dict.fromkeys(value) if isinstance(v, str) and v in taxonomy]
    return labels or None

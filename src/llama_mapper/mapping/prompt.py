"""The one prompt format, shared by data generation, training and serving.

Two modes:
- ``categories`` (default, for small models): the deterministic reader extracts the counted category
  strings; the model maps one category at a time (with the detector's name and a few candidate labels
  retrieved by embedding similarity) and code joins the answers. ~60 tokens a prompt. A request with
  no counted category needs no model: :func:`fixed_answer` decides it (safe, flagged or error).
- ``raw`` (for large models that can read JSON): the detector name and the compacted raw output,
  one prompt per request.

The model answers a JSON array of taxonomy labels, e.g. ``["HARM.SPEECH.Threat"]``; code builds the
canonical event around it (scores, confidence, provenance, controls).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from llama_mapper.resources.taxonomy import Taxonomy

PROMPT_VERSION = "4"  # 4: category words lower-cased and split (casing taught the model nothing true)
SYSTEM_PROMPT = "Map the safety detector's category to taxonomy labels, as a JSON array."
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


_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[_\-/.:|]+")


def category_words(category: str) -> str:
    """How the model sees a category: ``"SELF_HARM/intent"`` and ``"selfHarm.Intent"`` are both
    ``"self harm intent"``. Vendors' casing and separators carry no meaning, and a small model learnt
    spurious ones from them (upper-case quality words read as hallucination)."""
    text = clean_category(category)
    words = " ".join(_SEPARATORS.sub(" ", _CAMEL_BOUNDARY.sub(" ", text)).lower().split())
    return words or text


def category_user_turn(detector: str, category: str, candidates: Iterable[str] = ()) -> str:
    """The user turn in ``categories`` mode: one category (see :func:`category_words`), with
    candidate labels when known."""
    text = f"detector: {clean_category(detector)}\ncategory: {category_words(category)}"
    candidates = list(candidates)
    return text + (f"\ncandidates: {'; '.join(candidates)}" if candidates else "")


def fixed_answer(
    categories: Iterable[str], status: str = "ok", verdict: bool | None = None
) -> list[str] | None:
    """The answer for a request without counted categories (error, unreadable, flagged or safe).

    None when there are categories: then the model (or the rules) must map them.
    """
    if status == "error":
        return ["OTHER.ModelError"]
    if status != "ok":
        return ["OTHER.Unknown"]
    if any(str(c).strip() for c in categories):
        return None
    return ["OTHER.PolicyViolation"] if verdict else ["OTHER.Safe"]


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


def row_fixed_answer(row: dict[str, Any]) -> list[str] | None:
    """:func:`fixed_answer` for a dataset or request row (``categories``, ``status``, ``verdict``)."""
    return fixed_answer(row.get("categories", ()), row.get("status", "ok"), row.get("verdict"))


def extracted_categories(reading: Any) -> list[str]:
    """The distinct counted category strings of a reader's reading, at most ``MAX_CATEGORIES``."""
    return list(dict.fromkeys(f.category for f in reading.findings if f.counted))[:MAX_CATEGORIES]


def build_prompt(
    detector: str,
    *,
    category: str | None = None,
    candidates: Iterable[str] = (),
    output: Any = None,
    mode: str = "categories",
) -> list[dict[str, str]]:
    """System and user messages: one category (``categories`` mode) or one whole output (``raw``)."""
    if mode == "categories":
        if category is None:
            raise ValueError("categories mode maps one category: pass category=")
        return [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": category_user_turn(detector, category, candidates)},
        ]
    if mode == "raw":
        return [
            {"role": "system", "content": SYSTEM_PROMPT_RAW},
            {"role": "user", "content": raw_user_turn(detector, output)},
        ]
    raise ValueError(f"unknown prompt mode {mode!r}; choose one of {MODES}")


def category_prompts(
    detector: str, categories: Sequence[str], candidates: Sequence[Sequence[str]] | None = None
) -> list[list[dict[str, str]]]:
    """One ``categories``-mode prompt per category of a request."""
    cands = candidates or [[] for _ in categories]
    return [build_prompt(detector, category=c, candidates=k) for c, k in zip(categories, cands, strict=True)]


def prompt_detector(row: dict[str, Any]) -> str:
    """The detector name a prompt shows: the catalog's name when the catalog knows the detector
    (``"Llama Guard 4"`` and ``"meta-llama/Llama-Guard-3-8B"`` are both ``llama-guard``), else as sent."""
    return row.get("catalog_name") or row["detector"]


def category_examples(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Conversational prompt/completion pairs, one per counted category of a dataset row."""
    prompts = category_prompts(prompt_detector(row), row["categories"], row.get("candidates"))
    return [
        {"prompt": prompt, "completion": [{"role": "assistant", "content": format_answer(labels)}]}
        for prompt, labels in zip(prompts, row["category_labels"], strict=True)
    ]


def format_answer(labels: Iterable[str]) -> str:
    """The assistant turn: a compact JSON array of labels."""
    return json.dumps(list(dict.fromkeys(labels)), separators=(",", ":"))


def candidate_answers(candidates: Iterable[str]) -> list[str]:
    """The answers a ``categories``-mode prompt is likely to get: each candidate label alone, as
    :func:`format_answer` writes it. An endpoint that verifies them answers in one pass when the
    model's greedy answer is one of them (see ``Engine._verify``); the answer never depends on them."""
    return [format_answer([label]) for label in dict.fromkeys(candidates)]


def join_labels(answers: Iterable[Iterable[str]], taxonomy: Taxonomy) -> list[str]:
    """One request's labels from its categories' answers: the union, ``OTHER.Safe`` only when alone."""
    labels = {label for answer in answers for label in answer}
    if len(labels) > 1:
        labels.discard("OTHER.Safe")
    return sorted(labels, key=taxonomy.names.index)


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

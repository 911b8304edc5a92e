"""Readers for Meta Llama Guard 1-4 (and NVIDIA Aegis 1.0, which answers in Llama Guard 1's format)
and NVIDIA NemoGuard content safety, topic control and jailbreak detect (see
docs/research/guard_models.md §1-2).

Llama Guard: the generated text is the verdict ("safe", or "unsafe" and a line of codes); every version
shares this reader and the catalog entry of the version (chosen by the detector name) holds the code
table. Beside the raw text (read by :func:`~llama_mapper.catalog.vendors.read_llama_guard`) this module
reads the wrappers that carry it: Llama Stack ``run_shield`` (``violation.metadata.violation_type``),
the older Llama Stack SDK (``responses[].is_violation``), moderation objects (Llama Stack ``create``,
Meta Llama API: ``results[].flagged`` with the codes in ``metadata.violation_type`` or
``flagged_categories``; their OpenAI-style category booleans are a lossy re-mapping and are ignored),
Cloudflare Workers AI JSON mode (``{"safe": false, "categories": [...]}``), vllm-detector-adapter
detection lists and wrappers that split the text into lines.

NemoGuard content safety: JSON text ``{"User Safety": ..., "Response Safety": ..., "Safety Categories":
...}`` (bare, or in a chat completion), the plain-line spelling of the same fields, and NeMo Guardrails'
parsed results. Topic control: ``on-topic`` / ``off-topic``. Jailbreak detect: ``{"jailbreak": bool,
"score": float}`` (a signed score: negative is benign).

May import: :mod:`llama_mapper.catalog.base` and :mod:`llama_mapper.catalog.vendors`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from llama_mapper.catalog.base import (
    _SPECIAL_TOKENS,
    MAX_FINDINGS,
    Finding,
    Reader,
    ReaderConfig,
    Reading,
    batch_items,
    find_text,
    number,
    union_readings,
)
from llama_mapper.catalog.vendors import read_llama_guard

MAX_ITEMS = 100  # records read from one batch or list
MAX_CATEGORIES = 100  # categories read from one verdict
MAX_NAME = 100  # characters kept of a category name
MAX_LG_TEXT = 500  # characters of a Llama Guard verdict read (all 14 hazard names fit in 250)
MAX_VERDICT_TEXT = 20_000  # characters of a verdict text that are parsed
_ERROR_KEYS = ("detail", "title", "error_code", "errorCode")  # FastAPI / problem+json error bodies


def _name(value: Any) -> str | None:
    """A short category name from a string (quotes, brackets and a trailing period removed)."""
    if not isinstance(value, str):
        return None
    name = value.strip().strip(" \t\r\n.:;'\"`*[]").strip()
    return name[:MAX_NAME] or None


def _names(value: Any, split: str = r"[,;\n]+") -> list[str]:
    """Category names from a comma-separated string or a list of strings (bounded)."""
    if isinstance(value, str):
        parts: Iterable[Any] = re.split(split, value[:MAX_VERDICT_TEXT])[:MAX_CATEGORIES]
    elif isinstance(value, list):
        parts = value[:MAX_CATEGORIES]
    else:
        return []
    return [n for n in (_name(p) for p in parts) if n and n.lower() not in ("none", "n/a", "null")]


def _bounded(readings: Iterable[Reading]) -> list[Reading]:
    """Readings of a batch, taken until they hold MAX_FINDINGS findings."""
    out, found = [], 0
    for reading in readings:
        out.append(reading)
        found += len(reading.findings)
        if found >= MAX_FINDINGS:
            break
    return out


def _flag(value: Any) -> bool | None:
    """A boolean, also from the strings "true"/"false"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _error_body(value: dict) -> bool:
    """A FastAPI / problem+json error body ({"detail": ...}, {"title", "status": 503})."""
    if any(value.get(k) not in (None, "", [], {}) for k in _ERROR_KEYS):
        return True
    status = number(value.get("status"))
    return status is not None and status >= 400


# ---------------------------------------------------------------------------------------------
# Llama Guard 1-4 and Aegis 1.0
# ---------------------------------------------------------------------------------------------

# "S1: Violent Crimes" as one part of a code list: the code decides (the entry's table names it).
_LG_CODE_NAME = re.compile(r"^([SO]\d{1,2})\s*[:.)\-]\s*\S", re.I)
_LG_CODE = re.compile(r"^[SO]\d{1,2}$", re.I)
_LG_WRAPPERS = ("result", "response", "output")
_LG_VERDICT = re.compile(r"\s*(?:un)?safe\b", re.I)


def _lg_category(name: str) -> str:
    """A code in upper case ("s10" -> "S10", "S1: Violent Crimes" -> "S1"), else the name."""
    if _LG_CODE.match(name):
        return name.upper()
    match = _LG_CODE_NAME.match(name)
    return match[1].upper() if match else name


def _lg_findings(codes: Any, path: str) -> list[Finding]:
    return [Finding(_lg_category(n), True, None, path) for n in _names(codes)]


def _lg_unsafe(codes: Any, path: str) -> Reading:
    return Reading(findings=_lg_findings(codes, path), verdict=True)


def _lg_text(text: str, cfg: ReaderConfig) -> Reading:
    reading = read_llama_guard(text[:MAX_LG_TEXT], cfg)
    del reading.findings[MAX_CATEGORIES:]
    for finding in reading.findings:
        finding.category = _lg_category(finding.category)
    return reading


def _lg_llama_stack(value: dict) -> Reading | None:
    """Llama Stack run_shield: {"violation": null} or {"violation": {..., "metadata": {"violation_type"}}}."""
    violation = value["violation"]
    if violation is None:
        return Reading(verdict=False)
    if not isinstance(violation, dict):
        return None
    meta = violation.get("metadata")
    codes = meta.get("violation_type") if isinstance(meta, dict) else None
    return _lg_unsafe(codes, "violation.metadata.violation_type")


def _lg_responses(items: list) -> Reading | None:
    """The older Llama Stack SDK: {"responses": [{"is_violation": true, "violation_type": "S9"}]}."""
    readings = []
    for item in items[:MAX_ITEMS]:
        if not isinstance(item, dict) or _flag(item.get("is_violation")) is None:
            continue
        if _flag(item["is_violation"]):
            readings.append(_lg_unsafe(item.get("violation_type"), "responses.violation_type"))
        else:
            readings.append(Reading(verdict=False))
    return union_readings(readings) if readings else None


def _lg_moderation(items: list) -> Reading | None:
    """Moderation objects (Llama Stack create, Meta Llama API): the flag and the Llama Guard codes."""
    readings = []
    for item in items[:MAX_ITEMS]:
        if not isinstance(item, dict) or _flag(item.get("flagged")) is None:
            continue
        if not _flag(item["flagged"]):
            readings.append(Reading(verdict=False))
            continue
        meta = item.get("metadata")
        codes = meta.get("violation_type") if isinstance(meta, dict) else None
        if codes is None:
            codes = item.get("flagged_categories")
        readings.append(_lg_unsafe(codes, "results.violation_type"))
    return union_readings(readings) if readings else None


def _lg_json_mode(value: dict) -> dict | None:
    """Cloudflare Workers AI JSON mode: {"safe": bool, "categories": [...]}, maybe under result/response."""
    for _ in range(3):
        if isinstance(value.get("safe"), bool):
            return value
        inner = next((value[k] for k in _LG_WRAPPERS if isinstance(value.get(k), dict)), None)
        if inner is None:
            return None
        value = inner
    return None


def _lg_detection(item: dict, cfg: ReaderConfig) -> Reading:
    """One vllm-detector-adapter detection: "detection" is the verdict text ("unsafe", or the whole
    "unsafe\\nS1" in older versions); newer versions move the category names to metadata.categories."""
    text = item.get("detection")
    if not isinstance(text, str):
        return Reading(status="unreadable", reason="detection without a verdict text")
    reading = _lg_text(text, cfg)
    meta = item.get("metadata")
    if reading.verdict and isinstance(meta, dict):
        reading.findings.extend(_lg_findings(meta.get("categories"), "metadata.categories"))
        del reading.findings[MAX_CATEGORIES:]
    return reading


def read_llama_guard_family(value: Any, cfg: ReaderConfig) -> Reading:
    """Llama Guard 1-4 / Aegis 1.0 verdicts, raw or in the wrappers listed in the module docstring."""
    if isinstance(value, str):
        return _lg_text(value, cfg)
    if isinstance(value, list):
        if 2 <= len(value) <= MAX_ITEMS and all(isinstance(v, str) for v in value):
            if sum(1 for v in value if _LG_VERDICT.match(v)) > 1:  # a batch of verdicts
                return union_readings(_bounded(_lg_text(v, cfg) for v in value[:MAX_ITEMS]))
            return _lg_text("\n".join(value), cfg)  # ['unsafe ', 'S1, S2']: the lines, split by a wrapper
        items = batch_items(value, MAX_ITEMS)
        if items and all(isinstance(i, dict) and "detection" in i for i in items):
            return union_readings(_bounded(_lg_detection(i, cfg) for i in items))
    if isinstance(value, dict):
        if "violation" in value:
            found = _lg_llama_stack(value)
            if found is not None:
                return found
        if isinstance(value.get("responses"), list):
            found = _lg_responses(value["responses"])
            if found is not None:
                return found
        if isinstance(value.get("results"), list):
            found = _lg_moderation(value["results"])
            if found is not None:
                return found
        if "detection" in value:
            return _lg_detection(value, cfg)
        json_mode = _lg_json_mode(value)
        if json_mode is not None:
            if json_mode["safe"]:
                return Reading(verdict=False)
            return _lg_unsafe(json_mode.get("categories"), "response.categories")
        if _error_body(value) and find_text(value) is None:
            return Reading(status="error", reason="detector returned an error body")
    return read_llama_guard(value, cfg)


# ---------------------------------------------------------------------------------------------
# NemoGuard content safety (Llama-3.1-NemoGuard-8B-ContentSafety, Aegis 2.0, Nemotron Safety Guard)
# ---------------------------------------------------------------------------------------------

_CS_VERDICTS = ("user safety", "response safety")
_CS_CATEGORIES = ("safety categories", "violated categories", "categories")
_CS_THINK = re.compile(r"<think>.*?</think>", re.S | re.I)
_CS_FENCE = re.compile(r"^```[a-z]*\s*|\s*```$", re.I)
_CS_LINE = re.compile(
    r"^[ \t]*(user safety|response safety|safety categories)[ \t]*:[ \t]*(.*)$", re.I | re.M
)
# "S1: Violence" -> "Violence": the name decides (the numbering differs between the family's models).
_CS_CODE_NAME = re.compile(r"^S\d{1,2}\s*[:.)\-]\s*(\S.*)$", re.I)


def _cs_key(key: Any) -> str:
    return re.sub(r"[\s_]+", " ", key.strip().lower()) if isinstance(key, str) else ""


def _cs_category(name: str) -> str:
    match = _CS_CODE_NAME.match(name)
    if match:
        return _name(match[1]) or name
    return name.upper() if _LG_CODE.match(name) else name


def _cs_verdict(fields: dict[str, Any]) -> Reading:
    """The verdict of the parsed fields: unsafe if the user or the response turn is unsafe."""
    verdicts = []
    for key in _CS_VERDICTS:
        raw = fields.get(key)
        if raw is None:
            continue
        word = raw.strip().strip(".\"'").lower() if isinstance(raw, str) and len(raw) <= 40 else ""
        if word not in ("safe", "unsafe"):
            return Reading(status="error", reason=f"{key} is neither safe nor unsafe")
        verdicts.append(word == "unsafe")
    if not verdicts:
        return Reading(status="error", reason="no User Safety or Response Safety verdict")
    if not any(verdicts):
        return Reading(verdict=False)  # categories beside two safe verdicts do not count
    raw = next((fields[k] for k in _CS_CATEGORIES if k in fields), None)
    names = [_cs_category(n) for n in _names(raw, r"[,;\n]+")]
    return Reading([Finding(n, True, None, "Safety Categories") for n in names], verdict=True)


def _cs_fields(value: dict) -> dict[str, Any]:
    return {_cs_key(k): v for k, v in list(value.items())[:50] if _cs_key(k)}


def _cs_text(text: str) -> Reading:
    """The model's text: JSON (maybe fenced, maybe followed by stray text) or "Field: value" lines."""
    text = _SPECIAL_TOKENS.sub("", text[:MAX_VERDICT_TEXT])
    text = _CS_THINK.sub("", text).strip()
    if "<think>" in text.lower():
        return Reading(status="error", reason="unterminated reasoning trace")
    text = _CS_FENCE.sub("", text).strip()
    if not text:
        return Reading(status="error", reason="empty verdict text")
    start = text.find("{")
    if start >= 0:
        try:
            parsed, _ = json.JSONDecoder().raw_decode(text, start)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, dict):
            return _cs_verdict(_cs_fields(parsed))
        if start == 0:
            return Reading(status="error", reason="malformed or truncated JSON verdict")
    lines = _CS_LINE.findall(text)
    fields: dict[str, Any] = {}
    for key, val in lines:
        key = _cs_key(key)
        if key in fields:  # a verdict stated twice cannot be trusted (NeMo rejects it too)
            return Reading(status="error", reason=f"{key} stated more than once")
        fields[key] = val.strip()
    if not fields:
        return Reading(status="error", reason="no User Safety or Response Safety verdict")
    return _cs_verdict(fields)


def read_nemoguard_content_safety(value: Any, cfg: ReaderConfig) -> Reading:
    """NemoGuard content safety: the JSON verdict (bare, decoded, or in a chat completion), its
    plain-line spelling, NeMo Guardrails' action result {"allowed", "policy_violations"} and its
    parser's list [is_safe, *categories]; a list of these (a batch) counts if any does."""
    if isinstance(value, list) and len(value) > 1 and not isinstance(value[0], bool):
        return union_readings(_bounded(_cs_record(v) for v in batch_items(value, MAX_ITEMS)))
    return _cs_record(value)


def _cs_record(value: Any) -> Reading:
    if isinstance(value, str):
        return _cs_text(value)
    if isinstance(value, list) and value and isinstance(value[0], bool):
        if len(value) > MAX_CATEGORIES or not all(isinstance(v, str) for v in value[1:]):
            return Reading(status="unreadable", reason="not a NeMo [is_safe, *categories] list")
        if value[0]:
            return Reading(verdict=False)
        names = [_cs_category(n) for n in _names(value[1:])]
        return Reading([Finding(n, True, None, "policy_violations") for n in names], verdict=True)
    if isinstance(value, dict):
        fields = _cs_fields(value)
        if any(k in fields for k in _CS_VERDICTS):
            return _cs_verdict(fields)
        allowed = _flag(value.get("allowed"))
        if allowed is not None:
            if allowed:
                return Reading(verdict=False)
            names = [_cs_category(n) for n in _names(value.get("policy_violations"))]
            return Reading([Finding(n, True, None, "policy_violations") for n in names], verdict=True)
    text = find_text(value)
    if text is not None:
        return _cs_text(text)
    if isinstance(value, dict) and _error_body(value):
        return Reading(status="error", reason="detector returned an error body")
    return Reading(status="unreadable", reason="no NemoGuard content safety verdict")


# ---------------------------------------------------------------------------------------------
# NemoGuard topic control (Llama-3.1-NemoGuard-8B-TopicControl)
# ---------------------------------------------------------------------------------------------

OFF_TOPIC = "off-topic"  # catalog category of an off-topic verdict
_TOPIC = re.compile(r"(on|off)[\s_-]?topic", re.I)


def read_nemoguard_topic_control(value: Any, cfg: ReaderConfig) -> Reading:
    """Topic control: the text "on-topic" or "off-topic" (anything else is an unusable answer), or NeMo
    Guardrails' action result {"on_topic": bool}."""
    if isinstance(value, dict) and _flag(value.get("on_topic")) is not None:
        on_topic = _flag(value["on_topic"])
        return (
            Reading([Finding(OFF_TOPIC, True, None, "on_topic")], verdict=True)
            if not on_topic
            else Reading(verdict=False)
        )
    text = value if isinstance(value, str) else find_text(value)
    if text is None:
        if isinstance(value, dict) and _error_body(value):
            return Reading(status="error", reason="detector returned an error body")
        return Reading(status="unreadable", reason="no topic control verdict text")
    text = _SPECIAL_TOKENS.sub("", text[:200]).strip()
    text = text.split("\n", 1)[0].strip(" \t\r.!'\"`*").strip()  # the first line is the verdict
    match = _TOPIC.fullmatch(text)
    if match is None:
        return Reading(status="error", reason="verdict is neither on-topic nor off-topic")
    if match[1].lower() == "off":
        return Reading([Finding(OFF_TOPIC, True, None, "verdict")], verdict=True)
    return Reading(verdict=False)


# ---------------------------------------------------------------------------------------------
# NemoGuard JailbreakDetect (NIM /v1/classify, NeMo Guardrails' jailbreak detection server)
# ---------------------------------------------------------------------------------------------

JAILBREAK = "jailbreak"  # catalog category of a jailbreak verdict


def _jailbreak_record(value: Any) -> Reading:
    if not isinstance(value, dict):
        return Reading(status="unreadable", reason="not a JailbreakDetect object")
    flag = _flag(value.get("jailbreak"))
    raw_score = number(value.get("score"))
    score = raw_score if raw_score is not None and -1 <= raw_score <= 1 else None
    if flag is None:
        if "jailbreak" in value and value["jailbreak"] is not None:
            return Reading(status="error", reason="jailbreak is not a boolean")
        if score is None:
            if "jailbreak" in value or raw_score is not None or _error_body(value):
                return Reading(status="error", reason="no usable jailbreak verdict")
            return Reading(status="unreadable", reason="no jailbreak verdict")
        flag = score > 0  # the sign of the score is the classification
    kept = score if flag and score is not None and score >= 0 else None
    return Reading([Finding(JAILBREAK, flag, kept, "jailbreak")], verdict=flag)


def read_nemoguard_jailbreak_detect(value: Any, cfg: ReaderConfig) -> Reading:
    """JailbreakDetect: ``jailbreak`` decides; ``score`` (from -1 to 1, negative = benign) only when
    the flag is missing. A list of results (one per input) counts if any does."""
    if isinstance(value, dict) and "jailbreak" not in value and "score" not in value:
        for key in ("result", "results", "output", "data"):  # one level of wrapping
            inner = value.get(key)
            if isinstance(inner, (dict, list)) and inner:
                value = inner
                break
    if isinstance(value, list):
        return union_readings([_jailbreak_record(v) for v in batch_items(value, MAX_ITEMS)])
    return _jailbreak_record(value)


READERS: dict[str, Reader] = {
    "llama_guard_family": read_llama_guard_family,
    "nemoguard_content_safety": read_nemoguard_content_safety,
    "nemoguard_topic_control": read_nemoguard_topic_control,
    "nemoguard_jailbreak_detect": read_nemoguard_jailbreak_detect,
}

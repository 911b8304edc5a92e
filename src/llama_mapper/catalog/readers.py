"""Format readers: turn one raw detector output into category findings.

A reader knows a vendor's output *structure* (which field is the flag, the score, the severity);
the catalog YAML knows what each vendor *category* means. Readers never raise on bad input: they
return a :class:`Reading` whose status says ``error`` (an error object, empty, malformed or
truncated output) or ``unreadable`` (a shape the reader does not recognise).

Every reader bounds its work (nodes visited, nesting depth, string length), so hostile input
(huge, deeply nested, wrong types) costs little and never raises.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

MAX_NODES = 20_000  # JSON nodes a reader may visit
MAX_DEPTH = 24  # nesting depth a reader descends to
MAX_TEXT = 100_000  # characters of a text output that are parsed


@dataclass(slots=True)  # not frozen: frozen dataclasses are ~3x slower to build, and readers make many
class Finding:
    """One vendor category found in an output (treat as immutable)."""

    category: str  # the vendor's category name, as emitted
    counted: bool  # does it count (flag set, score over threshold, entity present...)
    score: float | None = None  # in [0, 1] when the output has one
    path: str = ""  # where it was found, e.g. "results[0].categories"
    certainty: float = 1.0  # how sure the reader is that it read this right (generic reader < 1)
    thresholded: bool = False  # decided by comparing a score with the threshold (not by a flag)


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
                return None, "malformed or truncated JSON"
        if text in ("null", "None"):
            return None, "empty output"
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
    if "message" in value and ("code" in value or "status" in value) and len(value) <= 5:
        status = value.get("status") or value.get("code")
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
# Vendor readers
# ---------------------------------------------------------------------------------------------

Reader = Callable[[Any, "ReaderConfig"], Reading]


@dataclass(frozen=True)
class ReaderConfig:
    """The per-detector settings a reader needs."""

    threshold: float = 0.5
    min_score: float | None = None


def read_openai_moderation(value: Any, cfg: ReaderConfig) -> Reading:
    """OpenAI moderation: ``results[].categories`` (booleans decide) and ``category_scores``."""
    results = value.get("results") if isinstance(value, dict) else value
    if isinstance(results, dict):
        results = [results]
    if isinstance(value, dict) and "categories" in value:
        results = [value]
    if isinstance(results, list) and not results:
        return Reading(status="error", reason="empty results list")
    if not isinstance(results, list):
        return Reading(status="unreadable", reason="no results[] with categories")
    reading = Reading()
    seen = False
    for i, result in enumerate(results[:100]):
        if not isinstance(result, dict):
            continue
        flags = result.get("categories")
        scores = result.get("category_scores")
        flags = flags if isinstance(flags, dict) else {}
        scores = scores if isinstance(scores, dict) else {}
        if not flags and not scores:
            continue
        seen = True
        if isinstance(result.get("flagged"), bool):
            reading.verdict = bool(reading.verdict) or result["flagged"]
        for name in list(dict.fromkeys([*flags, *scores]))[:200]:
            score = unit_score(scores.get(name))
            flag = flags.get(name)
            # With a categories object the booleans decide (null = not flagged); scores alone
            # decide only when the result carries no categories at all.
            by_flag = bool(flags)
            counted = flag is True if by_flag else (score is not None and score >= cfg.threshold)
            reading.findings.append(
                Finding(str(name), counted, score, f"results[{i}].categories", 1.0, not by_flag)
            )
    if not seen:
        return Reading(status="unreadable", reason="no categories in results")
    return reading


_LG_SPLIT = re.compile(r"[,;\n]+")
_LG_CODE = re.compile(r"^[SO]\d{1,2}$", re.I)


def read_llama_guard(value: Any, cfg: ReaderConfig) -> Reading:
    """Llama Guard: ``safe`` or ``unsafe`` followed by category codes (``S1,S10``) or names."""
    if isinstance(value, dict) and isinstance(value.get("categories"), list):
        verdict_text = find_text(value) or ""
        cats = [c for c in value["categories"] if isinstance(c, str)]
        text = (verdict_text + "\n" + ",".join(cats)).strip()
    else:
        text = find_text(value)
    if text is None:
        return Reading(status="unreadable", reason="no Llama Guard verdict text")
    text = _SPECIAL_TOKENS.sub("", text).strip()[:2000]
    if not text:
        return Reading(status="error", reason="empty verdict text")
    head, _, rest = text.partition("\n")
    words = head.strip().split(None, 1)
    verdict = words[0].strip(" .:'\"").lower() if words else ""
    if len(words) > 1:  # "unsafe S1,S2" on one line
        rest = words[1] + "\n" + rest
    if verdict == "safe":
        return Reading(verdict=False)
    if verdict != "unsafe":
        # A guard model that answers neither (a refusal, a truncated "uns") produced malformed output.
        return Reading(status="error", reason="verdict is neither safe nor unsafe")
    reading = Reading(verdict=True)
    for part in _LG_SPLIT.split(rest):
        name = part.strip(" .:'\"[]")
        if not name:
            continue
        reading.findings.append(
            Finding(name.upper() if _LG_CODE.match(name) else name, True, None, "categories")
        )
    return reading


ENTITY_LIST_KEYS = (
    "entities",
    "Entities",
    "results",
    "analyzer_results",
    "findings",
    "matches",
    "detections",
    "spans",
    "items",
)
ENTITY_TYPE_KEYS = (
    "entity_type",
    "entityType",
    "type",
    "Type",
    "label",
    "entity",
    "category",
    "name",
    "pattern",
)
SCORE_KEYS = ("score", "Score", "confidence", "probability", "prob")


_RESULT_REPR = re.compile(r"\s*type: ([A-Za-z0-9_]+), start: \d+, end: \d+, score: ([0-9.]+)")


def read_entities(value: Any, cfg: ReaderConfig) -> Reading:
    """Entity lists (Presidio, regex scanners): every entity counts, above an optional minimum."""
    if isinstance(value, dict) and not any(k in value for k in ENTITY_LIST_KEYS):
        # {"EMAIL": ["a@b.c"], "PHONE": []}: a dict of type -> matches
        typed = {
            k: v for k, v in value.items() if isinstance(v, list) and all(isinstance(x, str) for x in v[:50])
        }
        if typed:
            return Reading(
                findings=[
                    Finding(str(k)[:200], bool(v), None, "matches") for k, v in list(typed.items())[:500]
                ]
            )
        if any(isinstance(v, bool) for v in value.values()):
            return Reading(findings=[], verdict=any(v is True for v in value.values()))
    items = unwrap_list(value, ENTITY_LIST_KEYS)
    if items is None:
        return Reading(status="unreadable", reason="no entity list")
    reading = Reading()
    for item in items[:5000]:
        if isinstance(item, str) and (match := _RESULT_REPR.match(item)):
            item = {"entity_type": match[1], "score": match[2]}  # str(RecognizerResult), as logged
        if not isinstance(item, dict):
            continue
        name = category_name(first_key(item, ENTITY_TYPE_KEYS))
        if not name:
            continue
        score = unit_score(first_key(item, SCORE_KEYS))
        counted = cfg.min_score is None or score is None or score >= cfg.min_score
        reading.findings.append(Finding(name, counted, score, "entities"))
    if items and not reading.findings:
        return Reading(status="unreadable", reason="entity items without a type")
    return reading


def read_aws_comprehend_pii(value: Any, cfg: ReaderConfig) -> Reading:
    """Amazon Comprehend DetectPiiEntities (``Entities``) or ContainsPiiEntities (``Labels``)."""
    if isinstance(value, dict) and isinstance(value.get("Labels"), list) and "Entities" not in value:
        value = {
            "Entities": [
                {"Type": lab.get("Name"), "Score": lab.get("Score")}
                for lab in value["Labels"][:5000]
                if isinstance(lab, dict)
            ]
        }
    return read_entities(value, cfg)


def index_scores(value: Any) -> list | None:
    """The values of a row-indexed dict of numbers (pandas ``to_dict()``: ``{"0": 0.1, "1": 0.9}``)."""
    if (
        isinstance(value, dict)
        and value
        and len(value) <= 1000
        and all(isinstance(k, str) and k.isdigit() for k in value)
        and all(number(v) is not None for v in value.values())
    ):
        return list(value.values())
    return None


def read_score_dict(value: Any, cfg: ReaderConfig) -> Reading:
    """A dict of category -> score (Detoxify); batch lists of scores count if any item does."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        value = value[0]
    if not isinstance(value, dict):
        return Reading(status="unreadable", reason="not a dict of scores")
    for key in ("scores", "results", "predictions", "result"):
        if isinstance(value.get(key), dict):
            value = value[key]
            break
    reading = Reading()
    if value and all(isinstance(v, list) and not v for v in value.values()):
        return Reading(status="error", reason="empty score lists")
    for name, raw in list(value.items())[:500]:
        raw = index_scores(raw) or raw
        values = raw if isinstance(raw, list) else [raw]
        scores = [s for s in (unit_score(v) for v in values[:1000]) if s is not None]
        if not scores:
            continue
        score = max(scores)
        reading.findings.append(Finding(str(name)[:200], score >= cfg.threshold, score, "scores", 1.0, True))
    if not reading.findings:
        return Reading(status="unreadable", reason="no numeric scores")
    return reading


LABEL_KEYS = ("label", "Label", "class", "category", "name")


def read_label_scores(value: Any, cfg: ReaderConfig) -> Reading:
    """transformers text-classification output: ``[{"label", "score"}]`` (top-1 or all labels)."""
    if (
        isinstance(value, dict)
        and isinstance(value.get("labels"), list)
        and isinstance(value.get("scores"), list)
    ):
        value = [{"label": lab, "score": s} for lab, s in zip(value["labels"], value["scores"], strict=False)]
    if isinstance(value, dict) and any(k in value for k in LABEL_KEYS):
        value = [value]
    items = unwrap_list(value, ("predictions", "results", "labels", "output", "outputs", "classifications"))
    if items is None:
        return Reading(status="unreadable", reason="no label/score list")
    if not items:
        return Reading(status="error", reason="empty prediction list")  # a pipeline always returns a label
    reading = Reading()
    best: dict[str, float] = {}
    for item in items[:5000]:
        if not isinstance(item, dict):
            continue
        name = category_name(first_key(item, LABEL_KEYS))
        score = unit_score(first_key(item, SCORE_KEYS))
        if not name or score is None:
            continue
        best[name] = max(score, best.get(name, 0.0))
    for name, score in best.items():
        reading.findings.append(Finding(name, score >= cfg.threshold, score, "labels", 1.0, True))
    if not reading.findings:
        return Reading(status="unreadable", reason="no label with a score")
    return reading


def read_perspective(value: Any, cfg: ReaderConfig) -> Reading:
    """Perspective API: ``attributeScores.<ATTR>.summaryScore.value`` against the threshold."""
    attrs = value.get("attributeScores") if isinstance(value, dict) else None
    if not isinstance(attrs, dict):
        return Reading(status="unreadable", reason="no attributeScores")
    reading = Reading()
    for name, attr in list(attrs.items())[:200]:
        if not isinstance(attr, dict):
            continue
        summary = attr.get("summaryScore")
        score = unit_score(summary.get("value")) if isinstance(summary, dict) else None
        if score is None:  # fall back to the highest span score
            spans = [
                unit_score(s.get("score", {}).get("value"))
                for s in attr.get("spanScores", [])[:500]
                if isinstance(s, dict) and isinstance(s.get("score"), dict)
            ]
            spans = [s for s in spans if s is not None]
            score = max(spans) if spans else None
        if score is None:
            continue
        reading.findings.append(
            Finding(str(name)[:200], score >= cfg.threshold, score, "attributeScores", 1.0, True)
        )
    return reading


AZURE_SEVERITY_WORDS = {"safe": 0, "low": 2, "medium": 4, "high": 6}
AZURE_BLOCKLIST_KEYS = ("custom_blocklists", "customBlocklists")
AZURE_LEGACY = {
    "hateResult": "Hate",
    "selfHarmResult": "SelfHarm",
    "sexualResult": "Sexual",
    "violenceResult": "Violence",
}


def azure_severity(value: Any) -> int | None:
    """Azure severity: 0..7 as a number, or safe/low/medium/high as a word (low = 2..3)."""
    if isinstance(value, str):
        return AZURE_SEVERITY_WORDS.get(value.strip().lower())
    f = number(value)
    return int(f) if f is not None and 0 <= f <= 7 else None


def read_azure_content_safety(value: Any, cfg: ReaderConfig) -> Reading:
    """Azure AI Content Safety: severities (>= 2 counts), Prompt Shields, blocklists, protected material."""
    if not isinstance(value, dict):
        return Reading(status="unreadable", reason="not an object")
    reading = Reading()
    seen = False
    analyses = value.get("categoriesAnalysis")
    if isinstance(analyses, list):
        seen = True
        for item in analyses[:100]:
            if isinstance(item, dict) and isinstance(item.get("category"), str):
                sev = azure_severity(item.get("severity"))
                if sev is not None:
                    reading.findings.append(
                        Finding(item["category"], sev >= 2, min(sev / 7, 1.0), "categoriesAnalysis")
                    )
    for key, category in AZURE_LEGACY.items():
        item = value.get(key)
        if isinstance(item, dict):
            seen = True
            sev = azure_severity(item.get("severity"))
            if sev is not None:
                reading.findings.append(
                    Finding(item.get("category") or category, sev >= 2, min(sev / 7, 1.0), key)
                )
    blocklists = value.get("blocklistsMatch", value.get("blocklistsMatchResults"))
    if isinstance(blocklists, list):
        seen = True
        if blocklists:
            reading.findings.append(Finding("blocklistsMatch", True, None, "blocklistsMatch"))
    user = value.get("userPromptAnalysis")
    if isinstance(user, dict) and isinstance(user.get("attackDetected"), bool):
        seen = True
        reading.findings.append(
            Finding("userPromptAnalysis", user["attackDetected"], None, "userPromptAnalysis")
        )
    docs = value.get("documentsAnalysis")
    if isinstance(docs, list):
        seen = True
        hit = any(isinstance(d, dict) and d.get("attackDetected") is True for d in docs[:1000])
        reading.findings.append(Finding("documentsAnalysis", hit, None, "documentsAnalysis"))
    protected = value.get("protectedMaterialAnalysis")
    if isinstance(protected, dict) and isinstance(protected.get("detected"), bool):
        seen = True
        reading.findings.append(
            Finding("protectedMaterialAnalysis", protected["detected"], None, "protectedMaterialAnalysis")
        )
    # Azure OpenAI content filter results: {"hate": {"filtered": false, "severity": "safe"},
    # "jailbreak": {"detected": true}, "custom_blocklists": {"filtered": true, "details": [...]}}, at the
    # top level, or in a chat completion's prompt_filter_results[] and choices[].
    for filters in _azure_filter_blocks(value):
        for name, item in list(filters.items())[:100]:
            if isinstance(item, list) and name in AZURE_BLOCKLIST_KEYS:
                item = {"filtered": any(isinstance(d, dict) and d.get("filtered") for d in item[:100])}
            if not isinstance(item, dict):
                continue
            if "severity" in item and (sev := azure_severity(item["severity"])) is not None:
                seen = True
                reading.findings.append(
                    Finding(str(name), sev >= 2, min(sev / 7, 1.0), "content_filter_results")
                )
            elif isinstance(item.get("detected"), bool):
                seen = True
                reading.findings.append(Finding(str(name), item["detected"], None, "content_filter_results"))
            elif name in AZURE_BLOCKLIST_KEYS and isinstance(item.get("filtered"), bool):
                seen = True  # a custom blocklist hit is the only case where "filtered" carries the finding
                reading.findings.append(
                    Finding("blocklistsMatch", item["filtered"], None, "content_filter_results")
                )
    if not seen:
        return Reading(status="unreadable", reason="no Azure analysis fields")
    return reading


def _azure_filter_blocks(value: dict) -> Iterator[dict]:
    for key in ("content_filter_results", "contentFilterResults", "content_filter_result"):
        if isinstance(value.get(key), dict):
            yield value[key]
    for key in ("prompt_filter_results", "promptFilterResults", "choices"):
        items = value.get(key)
        if isinstance(items, list):
            for item in items[:100]:
                if isinstance(item, dict):
                    yield from _azure_filter_blocks(item)
    if not any(
        k in value
        for k in ("content_filter_results", "prompt_filter_results", "choices", "categoriesAnalysis")
    ):
        yield value  # the filter results object itself


def azure_filtered_error(value: Any) -> dict | None:
    """The content filter verdict inside an Azure OpenAI "content_filter" error, if that is what it is."""
    err = value.get("error") if isinstance(value, dict) else None
    if not isinstance(err, dict) or err.get("code") not in ("content_filter", "ResponsibleAIPolicyViolation"):
        return None
    inner = err.get("innererror") or err.get("inner_error") or {}
    found = (
        inner.get("content_filter_result") or inner.get("content_filter_results")
        if isinstance(inner, dict)
        else None
    )
    return {"content_filter_results": found} if isinstance(found, dict) else None


DLP_LIKELIHOOD = {
    "VERY_UNLIKELY": 1,
    "UNLIKELY": 2,
    "POSSIBLE": 3,
    "LIKELY": 4,
    "VERY_LIKELY": 5,
    "LIKELIHOOD_UNSPECIFIED": 0,
}


def dlp_likelihood(value: Any) -> int | None:
    """Google DLP likelihood as 0..5 from its enum name or number."""
    if isinstance(value, str):
        return DLP_LIKELIHOOD.get(value.strip().upper())
    f = number(value)
    return int(f) if f is not None and 0 <= f <= 5 else None


def read_google_dlp(value: Any, cfg: ReaderConfig) -> Reading:
    """Google Cloud DLP inspect: ``result.findings[]`` with ``infoType.name`` and ``likelihood``."""
    if not isinstance(value, dict):
        if isinstance(value, list):
            value = {"findings": value}
        else:
            return Reading(status="unreadable", reason="not an object")
    if isinstance(value.get("overview"), dict) and "item" in value:
        return _dlp_deidentify(value["overview"])
    result = value.get("result", value)
    if not isinstance(result, dict):
        return Reading(status="unreadable", reason="no result object")
    findings = result.get("findings")
    if findings is None:
        if "result" in value or "findingsTruncated" in result:
            return Reading()  # {"result": {}}: nothing found
        return Reading(status="unreadable", reason="no findings")
    if not isinstance(findings, list):
        return Reading(status="unreadable", reason="findings is not a list")
    reading = Reading()
    for item in findings[:5000]:
        if not isinstance(item, dict):
            continue
        name = category_name(item.get("infoType") or item.get("info_type"))
        if not name:
            continue
        level = dlp_likelihood(item.get("likelihood"))
        if level is None:
            continue
        reading.findings.append(Finding(name, level >= 4, level / 5, "result.findings"))
    return reading


def _dlp_deidentify(overview: dict) -> Reading:
    """``content:deidentify``: the infoTypes it transformed (each was found at or above the request's
    ``minLikelihood``) in ``overview.transformationSummaries[]``."""
    summaries = overview.get("transformationSummaries") or []
    if not isinstance(summaries, list):
        return Reading(status="unreadable", reason="transformationSummaries is not a list")
    reading = Reading()
    for item in summaries[:1000]:
        if not isinstance(item, dict):
            continue
        name = category_name(item.get("infoType"))
        results = [r for r in item.get("results") or [] if isinstance(r, dict)]
        done = sum(
            int(number(r.get("count")) or 0)
            for r in results
            if str(r.get("code", "SUCCESS")).upper() == "SUCCESS"
        )
        if name:
            reading.findings.append(Finding(name, done > 0, None, "overview.transformationSummaries"))
    return reading


# ---------------------------------------------------------------------------------------------
# The generic reader: best effort for shapes the catalog has never seen
# ---------------------------------------------------------------------------------------------

# Keys that describe the call, not a category.
META_KEYS = frozenset(
    (
        "id",
        "model",
        "model_version",
        "version",
        "created",
        "timestamp",
        "ts",
        "time",
        "latency",
        "latency_ms",
        "duration",
        "duration_ms",
        "request_id",
        "requestid",
        "trace_id",
        "object",
        "language",
        "languages",
        "detected_languages",
        "lang",
        "start",
        "end",
        "begin_offset",
        "end_offset",
        "offset",
        "length",
        "span",
        "spans",
        "location",
        "text",
        "input",
        "prompt",
        "value",
        "match",
        "matched",
        "content",
        "message",
        "usage",
        "tokens",
        "index",
        "count",
        "threshold",
        "thresholds",
        "provider",
        "detector",
        "vendor",
        "name_space",
        "namespace",
        "metadata",
        "explanation",
        "analysis_explanation",
        "recognition_metadata",
        "blocked",
        "filtered",
        "intervened",
        "action",
        "actions",
        "redacted",
        "masked",
        "sanitized",
        "sanitized_prompt",
        "elapsed",
        "success",
        "done",
        "done_reason",
        "created_at",
        "total_duration",
        "eval_count",
        # what the detector ran with, not what it found (detect-secrets' plugins_used, Granite's guardian_config)
        "plugins_used",
        "filters_used",
        "config",
        "configuration",
        "settings",
        "guardian_config",
    )
)
VERDICT_KEYS = frozenset(
    (
        "flagged",
        "unsafe",
        "is_unsafe",
        "harmful",
        "is_harmful",
        "toxic",
        "is_toxic",
        "detected",
        "attack_detected",
        "attackdetected",
        "violation",
        "violated",
        "verdict",
        "decision",
        "result",
        "status",
        "label",
        "classification",
        "prediction",
        "outcome",
        "safe",
        "is_safe",
    )
)
INVERTED_KEYS = frozenset(
    ("is_valid", "valid", "is_safe", "safe", "passed", "pass", "ok", "allowed", "compliant", "clean")
)
POSITIVE_WORDS = frozenset(
    (
        "unsafe",
        "flagged",
        "yes",
        "true",
        "harmful",
        "toxic",
        "detected",
        "violation",
        "malicious",
        "blocked",
        "fail",
        "failed",
        "positive",
        "attack",
        "injection",
        "jailbreak",
    )
)
NEGATIVE_WORDS = frozenset(
    (
        "safe",
        "no",
        "false",
        "benign",
        "clean",
        "pass",
        "passed",
        "ok",
        "none",
        "negative",
        "allowed",
        "not_flagged",
        "non_toxic",
        "neutral",
        "legitimate",
    )
)
LEVEL_WORDS = {
    "none": 0,
    "negligible": 0,
    "safe": 0,
    "very_low": 0,
    "low": 1,
    "medium": 2,
    "moderate": 2,
    "high": 3,
    "very_high": 3,
    "critical": 3,
    "severe": 3,
}
CATEGORY_KEYS = (
    "category",
    "label",
    "type",
    "entity_type",
    "entityType",
    "name",
    "class",
    "attribute",
    "infoType",
    "info_type",
    "policy",
    "rule",
    "topic",
    "kind",
    "risk",
    "violation_type",
    "pattern",
    "detector_type",
    "risk_name",
    "criteria",
    "validator_name",
    "policy_name",
    "harm_category",
    "harm_type",
)
# Lists of bare category strings under these keys are flagged categories: {"violations": ["hate"]}.
LIST_CATEGORY_KEYS = frozenset(
    (
        "categories",
        "flagged_categories",
        "labels",
        "violations",
        "detected",
        "types",
        "reasons",
        "policies",
        "violated_categories",
    )
)
SIGNAL_KEYS = (
    "score",
    "value",
    "probability",
    "severity",
    "flagged",
    "detected",
    "filtered",
    "likelihood",
    "is_valid",
    "confidence",
)
CONTAINER_HINTS = (
    "categories",
    "category_scores",
    "scores",
    "labels",
    "attributes",
    "classes",
    "results",
    "findings",
)


_KEY_CACHE: dict[Any, str] = {}


def _key(name: Any) -> str:
    """``"Self-Harm/Intent"`` -> ``"self_harm_intent"`` (cached: keys repeat across outputs)."""
    key = _KEY_CACHE.get(name)
    if key is None:
        key = re.sub(r"[^a-z0-9]+", "_", str(name).lower()).strip("_")
        if len(_KEY_CACHE) < 50_000 and isinstance(name, str) and len(name) <= 64:
            _KEY_CACHE[name] = key
    return key


VERDICT_HINTS = ("safety", "verdict", "status", "decision", "assessment", "rating", "outcome", "harmful")
# Verdict values that mean "neither safe nor unsafe: a person should look" (Qwen3Guard's Controversial).
REVIEW_WORDS = frozenset(
    ("controversial", "borderline", "uncertain", "unclear", "needs_review", "potentially_unsafe")
)
# Stop or finish reasons that mean a safety system intervened (Bedrock Converse, Anthropic, OpenAI,
# Gemini), named by what they are; normal reasons (stop, end_turn, length...) are no finding.
_TOPIC_POLICY = re.compile(
    r"(?:^|_)(?:topic_?polic(?:y|ies)|(?:denied|banned|restricted|blocked)_topics?)(?:_|$)"
)
STOP_REASON_KEYS = frozenset(("stop_reason", "stopreason", "finish_reason", "finishreason", "done_reason"))
INTERVENTION_STOPS = {
    "content_filter": "content_filter",
    "guardrail_intervened": "guardrail_intervened",
    "refusal": "refusal",
    "safety": "content_filter",
    "blocklist": "content_filter",
    "prohibited_content": "content_filter",
    "spii": "content_filter",
    "image_safety": "content_filter",
}
# "Safety: Unsafe\nCategories: Violent" (Qwen3Guard), "Harmful request: yes" (WildGuard).
_KEY_VALUE_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9 _/-]{0,40}?)\s*:\s*(.{0,500}?)\s*$")


def key_value_text(text: str) -> dict[str, Any] | None:
    """A dict from text whose every non-empty line is ``Key: value`` (yes/no become booleans)."""
    lines = [line for line in text.splitlines()[:40] if line.strip()]
    fields: dict[str, Any] = {}
    for line in lines:
        match = _KEY_VALUE_LINE.match(line)
        if match is None:
            return None
        key, raw = match.groups()
        word = _key(raw)
        fields[key] = True if word in ("yes", "true") else False if word in ("no", "false") else raw
    return fields or None


INVERTED_SUFFIXES = ("_passed", "_valid", "_safe", "_ok", "_allowed", "_compliant")


_VERDICT_SENTENCE = re.compile(
    r"\b(violat(?:e|es|ed|ing|ion|ions)|flagged|unsafe|harmful|inappropriate|prohibited|disallowed|not allowed)\b",
    re.IGNORECASE,
)
_NEGATION = re.compile(
    r"\b(no|not|never|without|nothing|none|n't|is not|was not|does not|did not)\b(\W+\w+){0,2}\W*$",
    re.IGNORECASE,
)


SENTENCE_KEYS = frozenset(
    ("output", "result", "message", "reason", "detail", "details", "verdict", "response", "generated_text")
)
EMPTY_ENTITY_KEYS = frozenset(
    ("ents", "entities", "entity_list", "spans", "detections", "findings", "matches", "pii", "pii_entities")
)


def sentence_verdict(text: str) -> bool | None:
    """A one-sentence verdict from a wrapper, not a model's answer: LangChain's moderation chain says
    "Text was found that violates OpenAI's content policy." True for a violation, False when negated
    ("No policy violations found"), None for any other text (a refusal or a normal answer says nothing)."""
    text = text.strip()
    if len(text) > 200 or text.count(". ") > 1:
        return None
    match = _VERDICT_SENTENCE.search(text)
    if match is None:
        return None
    return _NEGATION.search(text[: match.start()].replace("n't", " n't")) is None


@lru_cache(maxsize=8192)
def _is_verdict_key(k: str) -> bool:
    """``flagged``, ``verdict``, ``User Safety``, ``validator_status``... (normalised key)."""
    return k in VERDICT_KEYS or any(h in k for h in VERDICT_HINTS)


@lru_cache(maxsize=8192)
def _is_inverted_key(k: str) -> bool:
    """``is_valid``, ``validation_passed``, ``is_safe``: false means flagged."""
    return k in INVERTED_KEYS or k.endswith(INVERTED_SUFFIXES)


# Values of a category key that are a verdict or an action, not a category: Granite Guardian's
# {"risk_name": "social_bias", "label": "Yes"}, Bedrock's {"name": "Investment Advice", "type": "DENY"}.
NOT_CATEGORY_WORDS = frozenset(
    ("yes", "no", "true", "false", "safe", "unsafe", "flagged", "not_flagged", "pass", "passed", "fail")
    + ("failed", "ok", "none", "positive", "negative", "detected", "deny", "denied", "allow", "allowed")
    + ("block", "blocked", "anonymized", "masked", "redacted", "intervened", "success", "error")
)


# Other keys that name an item's type: HF pipelines' entity_group/entity, Phileas filterType,
# Purview sensitiveType / SensitiveInformationTypeName, gitleaks RuleID (matched on _key's suffix).
CATEGORY_KEY_SUFFIXES = ("type", "typename", "type_name", "entity_group", "entitygroup", "ruleid", "rule_id")
NOT_CATEGORY_KEYS = frozenset(
    ("content_type", "contenttype", "mime_type", "mimetype", "media_type", "mediatype", "input_type")
    + ("inputtype", "object_type", "objecttype", "data_type", "datatype", "file_type", "filetype")
    + ("odata_type", "message_type", "event_type", "eventtype", "match_type", "matchtype", "token_type")
)
_BIO_PREFIX = re.compile(r"^[BIESLU]-(?=[A-Za-z])")  # token-classification tags: B-PER, I-LOC
# The CoNLL and OntoNotes tags of NER models (spaCy, Flair, Stanza, BERT NER), spelled out the way
# vendors of PII detectors name them; the others (PRODUCT, CARDINAL...) stay as they are.
NER_TAGS = {
    "PER": "person",
    "LOC": "location",
    "GPE": "location (geopolitical entity)",
    "FAC": "location (facility)",
    "ORG": "organization name",
    "NORP": "nationality or religious or political group",
    "TIME": "time (date time)",
}


def _tag(name: str) -> str:
    """``B-PER`` -> ``person``: a BIO prefix dropped, a NER tag spelled out."""
    name = _BIO_PREFIX.sub("", name)
    return NER_TAGS.get(name, name)


_ID_LIKE = re.compile(r"[0-9a-f]{8}-[0-9a-f-]{8,}|[0-9a-f]{16,}")


def _item_category(item: dict) -> str | None:
    """The item's category: the first category key with a name, preferring one that is not a
    verdict or action word (those are returned only when nothing else names the item); then a key
    that names a type (``entity_group``, ``filterType``), then a token-classifier's ``entity``, or a
    bare ``value`` beside a confidence (Flair). BIO prefixes are dropped: ``B-PER`` is ``PER``."""
    fallback = None
    for key in CATEGORY_KEYS:
        if key in item:
            name = category_name(item[key])
            if name and not name.replace(".", "").isdigit():
                if _key(name) not in NOT_CATEGORY_WORDS:
                    return _tag(name)
                fallback = fallback or name
    if fallback is not None:
        return fallback
    for key, raw in list(item.items())[:50]:
        k = _key(key)
        if k.endswith(CATEGORY_KEY_SUFFIXES) and k not in NOT_CATEGORY_KEYS:
            name = category_name(raw)
            if name and not _ID_LIKE.fullmatch(name.lower()) and _key(name) not in NOT_CATEGORY_WORDS:
                return _tag(name)
    for key in ("entity", "value"):
        raw = item.get(key)
        if isinstance(raw, str) and (key == "entity" or any(s in item for s in SCORE_KEYS)):
            name = category_name(raw)
            if name and len(name) <= 64 and _key(name) not in NOT_CATEGORY_WORDS:
                return _tag(name)
    return None


def _flag_decision(item: dict) -> tuple[bool | None, float | None, float]:
    """(counted, score, certainty) from an item's flags and verdict words; counted None if none."""
    for key, raw in item.items():
        k = _key(key)
        if k in (
            "flagged",
            "detected",
            "is_flagged",
            "unsafe",
            "violated",
            "triggered",
            "match",
            "matched",
            "positive",
        ) and isinstance(raw, bool):
            return raw, None, 0.9
        if _is_inverted_key(k) and isinstance(raw, bool):
            return (not raw), None, 0.85
        if isinstance(raw, str) and _is_verdict_key(k) and len(raw) <= 64:
            word = _key(raw)
            if word in POSITIVE_WORDS or word in NEGATIVE_WORDS:  # {"validator_status": "fail"}
                return word in POSITIVE_WORDS, None, 0.8
    return None, None, 0.0


def _item_decision(item: dict, cfg: ReaderConfig) -> tuple[bool | None, float | None, float]:
    """(counted, score, certainty) for a {category, <signal>} item; counted None if no signal.

    The signal may sit one level down, in a result object of the named item: Patronus'
    ``{"criteria": "patronus:hallucination", "evaluation_result": {"pass": false}}``.
    """
    decision = _flag_decision(item)
    if decision[0] is not None:
        return decision
    for key, raw in item.items():
        k = _key(key)
        if k in ("severity", "level", "risk_level", "severity_level"):
            if isinstance(raw, str) and _key(raw) in LEVEL_WORDS:
                return LEVEL_WORDS[_key(raw)] >= 2, LEVEL_WORDS[_key(raw)] / 3, 0.75
            f = number(raw)
            if f is not None:
                if f <= 1:
                    return f >= cfg.threshold, f, 0.7
                return f >= 2, min(f / 7, 1.0), 0.7
        if k == "likelihood":
            level = dlp_likelihood(raw)
            if level is not None:
                return level >= 4, level / 5, 0.85
        if (
            k in ("confidence", "score", "probability", "risk")
            and isinstance(raw, str)
            and _key(raw) in LEVEL_WORDS
        ):
            level = LEVEL_WORDS[_key(raw)]  # Bedrock-style {"confidence": "HIGH"}
            return level >= 2, level / 3, 0.75
    score = unit_score(first_key(item, SCORE_KEYS))
    if score is not None:
        offsets = any(
            k in item for k in ("start", "end", "begin", "offset", "BeginOffset", "location", "span")
        )
        if offsets:  # an entity with a position: the detector already thresholded it
            return True, score, 0.85
        return score >= cfg.threshold, score, 0.8
    if any(
        k in item for k in ("start", "end", "BeginOffset", "offset", "span", "location", "match", "value")
    ):
        return True, None, 0.8  # an entity list item without a score
    for raw in list(item.values())[:50]:
        if isinstance(raw, dict):
            counted, score, certainty = _flag_decision(raw)
            if counted is not None:
                return counted, score, certainty * 0.9
    return None, None, 0.0


def read_generic(value: Any, cfg: ReaderConfig) -> Reading:
    """Best-effort reader: flags, inverted flags, severities, likelihoods, scores, verdicts, entities."""
    reading = Reading()
    if isinstance(value, str):
        word = _key(value) if len(value) <= 64 else ""
        if word in POSITIVE_WORDS:
            return Reading(verdict=True)
        if word in NEGATIVE_WORDS:
            return Reading(verdict=False)
        if "\n" in value or value.lower().startswith(("safe", "unsafe")):
            lg = read_llama_guard(value, cfg)
            if lg.status == "ok":
                return Reading(
                    findings=[Finding(f.category, f.counted, f.score, f.path, 0.8) for f in lg.findings],
                    verdict=lg.verdict,
                )
        fields = key_value_text(value[:MAX_TEXT])
        if fields is not None:
            reading = read_generic(fields, cfg)
            if reading.status == "ok":
                return reading
        if (verdict := sentence_verdict(value)) is not None:
            return Reading(verdict=verdict)
        return Reading(status="unreadable", reason="free text")
    if isinstance(value, dict) and (name := _item_category(value)) is not None:
        counted, score, certainty = _item_decision(value, cfg)
        if counted is not None:  # a single {"label": ..., "score": ...} item
            return Reading(findings=[Finding(name, counted, score, "", certainty)])
    if (
        isinstance(value, dict)
        and isinstance(value.get("value"), list)
        and any(k.startswith("@odata") for k in value)
    ):
        value = value["value"]  # a Microsoft Graph (OData) envelope: {"@odata.context": ..., "value": [...]}
    budget = Budget()
    for finding in _walk(value, "", 0, budget, cfg, reading):
        reading.findings.append(finding)
    stops = [f for f in reading.findings if _key(f.path.rpartition(".")[2]) in STOP_REASON_KEYS]
    if stops and len(stops) < sum(f.counted for f in reading.findings):
        # Gemini's {"finishReason": "SAFETY", "safetyRatings": [...]}: the ratings say what was stopped
        reading.findings = [f for f in reading.findings if f not in stops]
    for i, f in enumerate(reading.findings):
        if _TOPIC_POLICY.search(_key(f.path)) and not f.category.lower().startswith("denied topic"):
            # Bedrock's topicPolicy.topics[]: the application's own denied topics (OTHER.OffTopic)
            reading.findings[i] = Finding(
                f"denied topic: {f.category}", f.counted, f.score, f.path, f.certainty, f.thresholded
            )
    if any(f.counted and _key(f.category) in REVIEW_WORDS for f in reading.findings):
        # "Safety: Controversial": the categories say what to review, they are not asserted harms
        reading.findings = [
            f
            if _key(f.category) in REVIEW_WORDS
            else Finding(f.category, False, f.score, f.path, f.certainty)
            for f in reading.findings
        ]
    if not reading.findings and reading.verdict is None and isinstance(value, dict):
        # A verdict as text under an output key: {"response": "unsafe\nS2"} (a Llama Guard worker),
        # {"input": ..., "output": "Text was found that violates ... policy."} (a wrapper's sentence)
        for key, text in list(value.items())[:50]:
            if _key(key) in SENTENCE_KEYS and isinstance(text, str):
                inner = read_generic(text, cfg)
                if inner.status == "ok":
                    return inner
        if any(_key(k) in EMPTY_ENTITY_KEYS and v == [] for k, v in list(value.items())[:50]):
            reading.verdict = False  # {"text": ..., "ents": []}: an entity list that found nothing
    if not reading.findings and reading.verdict is None:
        return Reading(status="unreadable", reason="no flags, scores, severities or entities found")
    return reading


def _walk(
    value: Any, path: str, depth: int, budget: Budget, cfg: ReaderConfig, reading: Reading, parent: str = ""
) -> Iterator[Finding]:
    if depth > MAX_DEPTH or not budget.take():
        return
    if isinstance(value, list):
        for i, item in enumerate(value[:2000]):
            if isinstance(item, dict) and (name := _item_category(item)) is not None:
                counted, score, certainty = _item_decision(item, cfg)
                if counted is not None:
                    budget.take()
                    yield Finding(name, counted, score, f"{path}[{i}]", certainty)
                    continue
                if _has_nested_signal(item):
                    yield from _walk(item, f"{path}[{i}]", depth + 1, budget, cfg, reading, parent)
                    continue
                # a bare {"type": "EMAIL"} entity
                yield Finding(name, True, None, f"{path}[{i}]", 0.7)
            elif isinstance(item, list) and (label := _tuple_label(item)) is not None:
                yield Finding(label, True, None, f"{path}[{i}]", 0.7)  # spaCy's [text, label] pairs
            elif isinstance(item, (dict, list)):
                yield from _walk(item, f"{path}[{i}]", depth + 1, budget, cfg, reading, parent)
            elif isinstance(item, str) and item.strip() and _key(parent) in LIST_CATEGORY_KEYS:
                yield Finding(_tag(item.strip()[:200]), True, None, f"{path}[{i}]", 0.8)
        return
    if not isinstance(value, dict):
        return
    if isinstance(value.get("attributeScores"), dict):  # Perspective-like
        for f in read_perspective(value, cfg).findings:
            yield Finding(f.category, f.counted, f.score, f.path, 0.9)
        return
    for key, item in list(value.items())[:2000]:
        if not budget.take():
            return
        k = _key(key)
        child = f"{path}.{key}" if path else str(key)
        if k in STOP_REASON_KEYS:
            stop = INTERVENTION_STOPS.get(_key(item)) if isinstance(item, str) and len(item) <= 64 else None
            if stop is not None:  # {"stopReason": "guardrail_intervened"}: a safety system intervened
                yield Finding(stop, True, None, child, 0.8)
            continue
        if k in META_KEYS:
            continue
        if isinstance(item, bool):
            if k in VERDICT_KEYS or (not parent and ("harmful" in k or _is_inverted_key(k))):
                verdict = (not item) if _is_inverted_key(k) else item
                reading.verdict = bool(reading.verdict) or verdict
            elif _is_inverted_key(k):
                if parent:
                    yield Finding(parent[:200], not item, None, path, 0.8)
                else:
                    reading.verdict = bool(reading.verdict) or (not item)
            else:
                yield Finding(str(key)[:200], item, None, child, 0.9)
        elif isinstance(item, (int, float)):
            score = unit_score(item)
            if score is not None and not k.endswith(("_id", "_count", "_ms")):
                yield Finding(str(key)[:200], score >= cfg.threshold, score, child, 0.8)
        elif isinstance(item, str):
            word = _key(item) if len(item) <= 64 else ""
            if "categor" in k and not word.startswith(("none", "safe")):
                # "Safety Categories": "Violence, Criminal Planning/Confessions"
                for part in re.split(r"[,;\n]+", item[:2000])[:50]:
                    if part.strip():
                        yield Finding(part.strip()[:200], True, None, child, 0.8)
            elif _is_verdict_key(k):
                if word in POSITIVE_WORDS:
                    reading.verdict = True
                elif word in NEGATIVE_WORDS:
                    reading.verdict = bool(reading.verdict)
                elif word in REVIEW_WORDS:  # {"Safety": "Controversial"}
                    yield Finding(item.strip()[:200], True, None, child, 0.7)
                elif k in (
                    "label",
                    "classification",
                    "prediction",
                    "category",
                    "result",
                    "outcome",
                    "decision",
                ):
                    yield Finding(item.strip()[:200], True, unit_score(value.get("score")), child, 0.7)
            elif (
                k in ("severity", "level", "risk_level", "likelihood")
                or word in LEVEL_WORDS
                or word in DLP_LIKELIHOOD
            ):
                if word in LEVEL_WORDS:
                    yield Finding(
                        (parent if k in ("severity", "level", "risk_level") and parent else str(key))[:200],
                        LEVEL_WORDS[word] >= 2,
                        LEVEL_WORDS[word] / 3,
                        child,
                        0.75,
                    )
                elif item.strip().upper() in DLP_LIKELIHOOD:
                    level = DLP_LIKELIHOOD[item.strip().upper()]
                    yield Finding(str(key)[:200], level >= 4, level / 5, child, 0.8)
        elif isinstance(item, dict) and (column := index_scores(item)) is not None:
            scores = [s for s in (unit_score(x) for x in column) if s is not None]
            if scores:
                yield Finding(str(key)[:200], max(scores) >= cfg.threshold, max(scores), child, 0.75)
        elif isinstance(item, dict):
            if not _has_nested_signal(item) and any(s in item for s in SIGNAL_KEYS):
                counted, score, certainty = _item_decision(item, cfg)
                if counted is None and isinstance(item.get("value"), (int, float)):
                    score = unit_score(item["value"])
                    counted = score is not None and score >= cfg.threshold
                    certainty = 0.8
                if counted is not None:
                    yield Finding(str(key)[:200], counted, score, child, certainty)
                    continue
            yield from _walk(item, child, depth + 1, budget, cfg, reading, str(key))
        elif isinstance(item, list):
            if item and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in item[:100]):
                scores = [s for s in (unit_score(x) for x in item[:1000]) if s is not None]
                if scores:
                    yield Finding(str(key)[:200], max(scores) >= cfg.threshold, max(scores), child, 0.75)
                continue
            if (
                item
                and all(isinstance(x, str) for x in item[:100])
                and k not in CONTAINER_HINTS
                and k not in LIST_CATEGORY_KEYS
            ):
                # {"EMAIL": ["a@b.c"]}: a type with its matches
                yield Finding(str(key)[:200], True, None, child, 0.7)
                continue
            yield from _walk(item, child, depth + 1, budget, cfg, reading, str(key))


_TAG = re.compile(r"[A-Z][A-Z0-9_\-]{1,40}")


def _tuple_label(item: list) -> str | None:
    """The entity label of a ``[text, LABEL]`` or ``[start, end, LABEL]`` pair (spaCy ``doc.ents``
    as tuples): the last element, an upper-case tag, after text or offsets only."""
    if not 2 <= len(item) <= 4 or not isinstance(item[-1], str) or not _TAG.fullmatch(item[-1]):
        return None
    if not all(isinstance(x, (str, int)) and not isinstance(x, bool) for x in item[:-1]):
        return None
    return _tag(item[-1])


def _has_nested_signal(item: dict) -> bool:
    """Does an item hold more structure to read (not an empty list, a metadata object, or a name
    object such as Purview's ``sensitiveType: {id, name}``)?"""
    return any(
        isinstance(v, (dict, list))
        and v
        and _key(k) not in META_KEYS
        and not (isinstance(v, dict) and {_key(x) for x in v} <= NAME_OBJECT_KEYS)
        for k, v in item.items()
    )


NAME_OBJECT_KEYS = frozenset(("id", "name", "description", "display_name", "displayname", "version"))


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


def read(output: Any, format: str = "generic", cfg: ReaderConfig | None = None) -> Reading:
    """Read one raw output with the named reader; never raises.

    Error objects and empty or malformed outputs give status ``error``; a known reader that does not
    recognise the shape falls back to the generic reader (its findings carry lower certainty).
    """
    cfg = cfg or ReaderConfig()
    value, problem = parse_output(output)
    if problem:
        return Reading(status="error", reason=problem)
    if (reason := error_reason(value)) is not None:
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
    return reading

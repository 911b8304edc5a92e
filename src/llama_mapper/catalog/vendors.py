"""Vendor readers: one per documented output format (OpenAI moderation, Llama Guard, Presidio and
other entity lists, Amazon Comprehend, score dicts, label/score lists, Perspective, Azure AI Content
Safety, Google Cloud DLP), with the field names and value scales they know.

May import: :mod:`llama_mapper.catalog.base`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from llama_mapper.catalog.base import (
    _SPECIAL_TOKENS,
    Finding,
    ReaderConfig,
    Reading,
    category_name,
    find_text,
    first_key,
    number,
    unit_score,
    unwrap_list,
)


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

"""Readers for AI-safety scanners (see docs/research/scanners_and_dlp.md §1-5): Protect AI LLM Guard,
Guardrails AI, Rebuff, and the Cardiff NLP tweet classifiers (tweetnlp and transformers pipelines).

What they share: each scanner / validator / tactic reports its own decision, named, and that decision
counts (LLM Guard's ``results_valid[name] is False`` = the check failed, Guardrails' ``validatorStatus
"fail"``, Rebuff's ``injectionDetected`` / tactic ``detected``, tweetnlp's ``label``); scores count only
where no decision is given. Where the decision names no scanner (LLM Guard API ``is_valid: false`` with no
positive score, Guardrails ``validationPassed: false`` with no summary, a single LLM Guard scanner's
``(sanitized, is_valid, risk_score)``) the reading carries only the overall verdict.

PII scanners that redact name the entity type in the placeholders they leave (LLM Guard Anonymize
``[REDACTED_PERSON_1]``, Presidio's ``<PERSON>`` in LLM Guard Sensitive(redact=True) and Guardrails
DetectPII / GuardrailsPII fixes): those types replace the scanner's own category when they are known
entity names. Only the type names leave the text; nothing of the content does.

May import: :mod:`llama_mapper.catalog.base` and :mod:`llama_mapper.catalog.vendors`.
"""

from __future__ import annotations

import re
from itertools import islice
from typing import Any

from llama_mapper.catalog.base import (
    Finding,
    Reader,
    ReaderConfig,
    Reading,
    batch_items,
    number,
    union_readings,
    unit_score,
)
from llama_mapper.catalog.vendors import LABEL_KEYS, SCORE_KEYS, read_label_scores

MAX_ITEMS = 200  # records read from one batch
MAX_KEYS = 200  # scanners / validators / labels read from one map
MAX_NAME = 100  # characters kept of a scanner / validator / label name
MAX_SCAN = 20_000  # characters of a sanitized text searched for placeholders
MAX_PLACEHOLDERS = 200
MAX_SPANS = 20  # error spans read from one Guardrails summary (each repeats the validator's finding)

_KEY = re.compile(r"[^a-z0-9]+")


def _key(name: str) -> str:
    """Lenient key: case, ``-``, ``_``, ``/`` and spaces do not matter."""
    return _KEY.sub("", name.lower())


def _name(value: Any) -> str | None:
    """A short category name from a string, else None."""
    if not isinstance(value, str):
        return None
    name = value.strip()[:MAX_NAME].strip()
    return name or None


def _get(record: dict, *keys: str) -> Any:
    """The value of the first of ``keys`` present in ``record`` (camelCase and snake_case spellings)."""
    for key in keys:
        if key in record:
            return record[key]
    return None


# ---------------------------------------------------------------------------------------------
# PII placeholders left by redacting scanners
# ---------------------------------------------------------------------------------------------

# Presidio's predefined entity names (global + US) and LLM Guard's regex recognizers: the only names a
# placeholder may give (an unknown one leaves the scanner's own category). PRICE_RE and HEX_COLOR are
# not personal data and are left out on purpose.
PII_ENTITIES = frozenset(
    {
        "PERSON",
        "EMAIL_ADDRESS",
        "EMAIL_ADDRESS_RE",
        "PHONE_NUMBER",
        "PHONE_NUMBER_ZH",
        "PHONE_NUMBER_WITH_EXT",
        "CREDIT_CARD",
        "CREDIT_CARD_RE",
        "US_SSN",
        "US_SSN_RE",
        "IBAN_CODE",
        "US_BANK_NUMBER",
        "IP_ADDRESS",
        "CRYPTO",
        "BTC_ADDRESS",
        "UUID",
        "URL",
        "URL_RE",
        "DOMAIN_NAME",
        "LOCATION",
        "PO_BOX_RE",
        "ORGANIZATION",
        "DATE_TIME",
        "DATE_RE",
        "TIME_RE",
        "NRP",
        "MEDICAL_LICENSE",
        "US_DRIVER_LICENSE",
        "US_ITIN",
        "US_PASSPORT",
        "CUSTOM",
    }
)
_REDACTED = re.compile(r"\[REDACTED_([A-Z][A-Z0-9_]{0,40}?)_\d{1,6}\]")
_ANGLE = re.compile(r"<([A-Z][A-Z0-9_]{1,40})>")


def placeholder_types(text: Any, pattern: re.Pattern[str]) -> tuple[list[str], bool]:
    """(known entity types named by the placeholders in ``text``, whether an unknown type was seen)."""
    if not isinstance(text, str):
        return [], False
    known: dict[str, None] = {}
    unknown = False
    for match in islice(pattern.finditer(text[:MAX_SCAN]), MAX_PLACEHOLDERS):
        if match[1] in PII_ENTITIES:
            known[match[1]] = None
        elif pattern is _REDACTED:
            unknown = True  # LLM Guard's placeholder is unambiguous: a custom entity type
    return list(known), unknown


def _refined(name: str, counted: bool, score: float | None, path: str, types: list[str], unknown: bool):
    """The scanner's own finding, or the entity types its placeholders name (both when some are unknown)."""
    if not counted or not types:
        return [Finding(name, counted, score, path)]
    found = [Finding(t, True, None, "placeholders") for t in types]
    if unknown:
        found.append(Finding(name, True, score, path))
    return found


# ---------------------------------------------------------------------------------------------
# Protect AI LLM Guard
# ---------------------------------------------------------------------------------------------

_LG_VALID_KEYS = ("results_valid", "valid", "validity", "is_valid", "scanners_valid")
_LG_SCORE_KEYS = ("results_score", "results_scores", "scores", "risk_scores", "risk_score", "scanners")
_LG_TEXT_KEYS = ("sanitized_prompt", "sanitized_output", "sanitized", "sanitized_text")
# Scanner classes that anonymise, and the placeholder each leaves.
_LG_PII = {"anonymize": _REDACTED, "sensitive": _ANGLE}


def _bool_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, bool) for k, v in islice(value.items(), MAX_KEYS)
    )


def _number_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and number(v) is not None for k, v in islice(value.items(), MAX_KEYS)
    )


def _llm_guard_maps(valid: dict | None, scores: dict | None, text: Any, api_valid: bool | None) -> Reading:
    """Findings from LLM Guard's validity map (False = the scanner FAILED) and its risk scores.

    Without a validity map a scanner counts when its score is > 0 (LLM Guard's own API client); with the
    API's overall ``is_valid: true`` nothing counts."""
    reading = Reading()
    names = valid if valid is not None else scores or {}
    for raw, item in islice(names.items(), MAX_KEYS):
        name = _name(raw)
        if name is None:
            continue
        score = number((scores or {}).get(raw))
        if valid is not None:
            counted = item is False
        else:
            counted = score is not None and score > 0 and api_valid is not True
        shown = unit_score(score) if score is not None and score > 0 else None
        pattern = _LG_PII.get(_key(name))
        types, unknown = placeholder_types(text, pattern) if pattern and counted else ([], False)
        path = "results_valid" if valid is not None else "scanners"
        reading.findings.extend(_refined(name, counted, shown, path, types, unknown))
    if valid is not None:
        reading.verdict = any(v is False for v in islice(valid.values(), MAX_KEYS))
    elif api_valid is not None:
        reading.verdict = not api_valid
    return reading


def _llm_guard_list(value: list) -> Reading | None:
    """The scan_prompt / scan_output triple ``[sanitized, results_valid, results_score]`` (or without the
    text), or one scanner's ``[sanitized, is_valid, risk_score]``; None for another list."""
    if not 2 <= len(value) <= 3:
        return None
    if (
        len(value) == 3
        and isinstance(value[0], str)
        and isinstance(value[1], bool)
        and number(value[2]) is not None
    ):
        return Reading(verdict=not value[1])  # one scanner's scan(): no scanner name
    text = value[0] if isinstance(value[0], str) else None
    maps = value[1:] if text is not None else value
    if len(maps) != 2 or not all(isinstance(m, dict) for m in maps):
        return None
    valid, scores = maps
    if not _bool_map(valid) or not _number_map(scores):
        return None
    return _llm_guard_maps(valid, scores, text, None)


_LG_NOT_RESULTS = ("message", "details", "detail", "status", "name")


def _llm_guard_dict(value: dict) -> Reading:
    is_valid = value.get("is_valid")
    if isinstance(is_valid, bool) and isinstance(value.get("scanners"), dict):  # the LLM Guard API
        scores = value["scanners"]
        text = _get(value, *_LG_TEXT_KEYS)
        return _llm_guard_maps(None, scores if _number_map(scores) else {}, text, is_valid)
    valid = next((value[k] for k in _LG_VALID_KEYS if isinstance(value.get(k), dict)), None)
    scores = next((value[k] for k in _LG_SCORE_KEYS if isinstance(value.get(k), dict)), None)
    if valid is not None or scores is not None:
        if (valid is not None and not _bool_map(valid)) or (scores is not None and not _number_map(scores)):
            return Reading(status="unreadable", reason="LLM Guard maps of unexpected types")
        api_valid = is_valid if isinstance(is_valid, bool) else None
        return _llm_guard_maps(valid, scores, _get(value, *_LG_TEXT_KEYS), api_valid)
    if value and set(islice(value, 10)) <= set(_LG_NOT_RESULTS) and len(value) <= 4:
        # {"message": "Invalid API key", "details": null}, {"status": "alive"}, {"name": "LLM Guard API"}
        return Reading(status="error", reason="an LLM Guard API error or status body, not a scan result")
    if _bool_map(value):
        return _llm_guard_maps(value, None, None, None)
    if _number_map(value):
        return _llm_guard_maps(None, value, None, None)
    return Reading(status="unreadable", reason="no LLM Guard result")


def read_llm_guard(value: Any, cfg: ReaderConfig) -> Reading:
    """LLM Guard: the library triple, a wrapper object with its maps, the API body, or a batch of these."""
    if isinstance(value, dict):
        return _llm_guard_dict(value)
    if not isinstance(value, list):
        return Reading(status="unreadable", reason="not an LLM Guard result")
    triple = _llm_guard_list(value)
    if triple is not None:
        return triple
    records = value[:MAX_ITEMS]
    if not records or not all(isinstance(r, (dict, list)) for r in records):
        return Reading(status="unreadable", reason="not an LLM Guard result")
    readings = []
    for record in records:
        if isinstance(record, dict):
            readings.append(_llm_guard_dict(record))
        else:
            readings.append(_llm_guard_list(record) or Reading(status="unreadable"))
    return union_readings(readings)


# ---------------------------------------------------------------------------------------------
# Guardrails AI
# ---------------------------------------------------------------------------------------------

_GR_EXCEPTION = "Validation failed for field with errors:"
_DETOXIFY_LABELS = frozenset(
    {"toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack", "sexual_explicit"}
)
_TOXIC_SPAN = re.compile(r"Toxic language detected:\s*([a-z_, ]{1,200})")
_LG7B_POLICY = re.compile(r"Violated Policy:\s*(POLICY__[A-Z_]{1,60})")
# The hub validators' failure messages, for an exception that names no validator (the 400 body).
_GR_MESSAGES = (
    (
        re.compile(r"The following (?:sentences|text) in your response (?:were|was) found to be toxic"),
        "ToxicLanguage",
    ),
    (re.compile(r"The following text in your response contains PII"), "DetectPII"),
    (re.compile(r"The following text contains PII"), "GuardrailsPII"),
    (re.compile(r"The following secrets were detected in your response"), "SecretsPresent"),
    (re.compile(r"\d+ detected as potential jailbreaks"), "DetectJailbreak"),
    (re.compile(r"Found the following competitors"), "CompetitorCheck"),
    (re.compile(r"Invalid topics found|No valid topic was found"), "RestrictToTopic"),
    (re.compile(r"The following sentences in your response were found to be NSFW"), "NSFWText"),
    (re.compile(r"contains profanity\. Please return profanity-free output"), "ProfanityFree"),
    (re.compile(r"Found an unusual request being made"), "UnusualPrompt"),
    (re.compile(r"contains unsafe content\. Classification: unsafe"), "LlamaGuard7B"),
    (re.compile(r"Output contains banned words"), "BanList"),
)


def _validator_name(raw: Any) -> str | None:
    """The validator's name: the class name, or the last part of a registry id / hub URI
    (``hub://guardrails/toxic_language`` -> ``toxic_language``)."""
    name = _name(raw)
    if name is None:
        return None
    return _name(name.rpartition("/")[2]) or name


def _span_reasons(spans: Any) -> list[str]:
    if not isinstance(spans, list):
        return []
    out = []
    for span in spans[:MAX_SPANS]:
        reason = span.get("reason") if isinstance(span, dict) else None
        if isinstance(reason, str):
            out.append(reason[:300])
    return out


def _gr_refine(name: str, reason: Any, spans: Any, fixed: Any) -> tuple[list[str], bool]:
    """(the finer categories a failing validator's own output names, whether they are all it found)."""
    key = _key(name)
    if key == "toxiclanguage":
        labels: dict[str, None] = {}
        for text in _span_reasons(spans):
            match = _TOXIC_SPAN.search(text)
            for label in match[1].split(",") if match else ():
                if label.strip() in _DETOXIFY_LABELS:
                    labels[label.strip()] = None
        return list(labels), True
    if key == "llamaguard7b" and isinstance(reason, str):
        match = _LG7B_POLICY.search(reason[-500:])
        return ([match[1]] if match else []), True
    if key == "guardrailspii":
        types = [r.strip() for r in _span_reasons(spans) if r.strip() in PII_ENTITIES]
        if types:
            return list(dict.fromkeys(types)), True
    if key in ("guardrailspii", "detectpii", "piifilter", "pii"):
        types, unknown = placeholder_types(fixed, _ANGLE)
        return types, not unknown
    return [], True


def _gr_record(record: dict, fixed: Any) -> list[Finding] | None:
    """Findings of one validation summary or validator log; None if it is neither."""
    name = _validator_name(
        _get(record, "validatorName", "validator_name", "registeredName", "registered_name")
    )
    result = _get(record, "validationResult", "validation_result")
    result = result if isinstance(result, dict) else {}
    status = _get(record, "validatorStatus", "validator_status")
    if status is None:
        status = result.get("outcome")
    if name is None or not isinstance(status, str):
        return None
    path = str(_get(record, "propertyPath", "property_path") or "$")[:MAX_NAME]
    if status.strip().lower() != "fail":
        return [Finding(name, False, None, path)]
    if fixed is None:  # a validator log keeps the fixed value itself
        fixed = _get(record, "valueAfterValidation", "value_after_validation")
        fixed = fixed if fixed is not None else _get(result, "fixValue", "fix_value")
    reason = _get(record, "failureReason", "failure_reason")
    if reason is None:
        reason = _get(result, "errorMessage", "error_message")
    spans = _get(record, "errorSpans", "error_spans")
    if spans is None:
        spans = _get(result, "errorSpans", "error_spans")
    finer, complete = _gr_refine(name, reason, spans, fixed)
    findings = [Finding(f, True, None, path) for f in finer]
    if not finer or not complete:
        findings.append(Finding(name, True, None, path))
    return findings


def _gr_exception(message: str) -> Reading:
    """A guard that raised ``ValidationError`` (on_fail="exception"): the message names no validator,
    but each hub validator writes its own failure text."""
    message = message[len(_GR_EXCEPTION) :][:MAX_SCAN]
    for pattern, name in _GR_MESSAGES:
        if pattern.search(message):
            finer, _ = _gr_refine(name, message, None, None)
            return Reading([Finding(n, True, None, "detail") for n in finer or [name]], verdict=True)
    return Reading(verdict=True)


def _gr_outcome(value: dict) -> Reading:
    if isinstance(value.get("guardrails"), dict):  # guardrails-api's OpenAI-compatible completion
        value = value["guardrails"]
    detail = value.get("detail")
    if "detail" in value and len(value) <= 3:  # guardrails-api error bodies
        if isinstance(detail, str) and detail.strip().startswith(_GR_EXCEPTION):
            return _gr_exception(detail.strip())
        return Reading(status="error", reason="a guardrails-api error body")
    record = _gr_record(value, None)
    if record is not None:  # one summary or validator log on its own
        return Reading(record, verdict=any(f.counted for f in record))
    passed = _get(value, "validationPassed", "validation_passed")
    summaries = _get(value, "validationSummaries", "validation_summaries")
    logs = _get(value, "validatorLogs", "validator_logs")
    if not isinstance(passed, bool) and not isinstance(summaries, list) and not isinstance(logs, list):
        return Reading(status="unreadable", reason="no Guardrails validation outcome")
    fixed = _get(value, "validatedOutput", "validated_output")
    reading = Reading(verdict=(not passed) if isinstance(passed, bool) else None)
    for items in (summaries, logs):
        for item in items[:MAX_ITEMS] if isinstance(items, list) else ():
            if isinstance(item, dict):
                reading.findings.extend(_gr_record(item, fixed) or ())
    if reading.verdict is None:
        reading.verdict = any(f.counted for f in reading.findings)
    error = value.get("error")
    if isinstance(error, str) and error.strip() and not any(f.counted for f in reading.findings):
        return Reading(status="error", reason="the guard raised an error")
    return reading


def read_guardrails_ai(value: Any, cfg: ReaderConfig) -> Reading:
    """Guardrails AI: ``ValidationOutcome`` (``to_dict()`` camelCase or ``model_dump()`` snake_case),
    guardrails-api bodies, validation summaries or validator logs, and batches / streams of them."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(_GR_EXCEPTION):
            return _gr_exception(text)
        return Reading(status="unreadable", reason="text that is no Guardrails validation error")
    if isinstance(value, dict):
        return _gr_outcome(value)
    if isinstance(value, list):
        records = [r for r in batch_items(value, MAX_ITEMS) if isinstance(r, dict)]
        if not records:
            return Reading(status="unreadable", reason="no Guardrails records")
        return union_readings([_gr_outcome(r) for r in records])
    return Reading(status="unreadable", reason="not a Guardrails result")


# ---------------------------------------------------------------------------------------------
# Rebuff
# ---------------------------------------------------------------------------------------------

# (score field, run flag, maximum) per tactic: hosted API / Python Rebuff client (camelCase), and the
# self-hosted Python RebuffSdk (snake_case).
_RB_TACTICS = (
    ("heuristicScore", "runHeuristicCheck", "maxHeuristicScore"),
    ("modelScore", "runLanguageModelCheck", "maxModelScore"),
    ("vectorScore", "runVectorCheck", "maxVectorScore"),
    ("heuristic_score", "run_heuristic_check", "max_heuristic_score"),
    ("openai_score", "run_language_model_check", "max_model_score"),
    ("vector_score", "run_vector_check", "max_vector_score"),
)
_RB_FLAGS = ("injectionDetected", "injection_detected")


def _rb_detection(value: dict) -> Reading | None:
    """One detect_injection result; None if ``value`` is none."""
    flag_key = next((k for k in _RB_FLAGS if k in value), None)
    flag = value.get(flag_key) if flag_key else None
    flag = flag if isinstance(flag, bool) else None
    reading = Reading()
    seen = flag is not None
    tactics = value.get("tacticResults")
    if isinstance(tactics, list):  # JS SDK since 2024-01: the tactic's own decision
        for tactic in tactics[:MAX_ITEMS]:
            if not isinstance(tactic, dict) or (name := _name(tactic.get("name"))) is None:
                continue
            seen = True
            detected = tactic.get("detected") is True and flag is not False
            reading.findings.append(Finding(name, detected, unit_score(tactic.get("score")), "tacticResults"))
    for score_key, run_key, max_key in _RB_TACTICS:
        if score_key not in value:
            continue
        raw = value[score_key]
        if isinstance(raw, dict):  # vectorScore {"topScore", "countOverMaxVectorScore"}
            raw = _get(raw, "topScore", "top_score")
        score = number(raw)
        if score is None:
            continue
        seen = True
        limit = number(value.get(max_key))
        over = value.get(run_key) is not False and limit is not None and score > limit  # strict, as Rebuff
        counted = over if flag is None else (over and flag)
        reading.findings.append(Finding(score_key, counted, unit_score(score), score_key))
    if not seen:
        return None
    if flag is not None:
        reading.findings.append(Finding(flag_key, flag, None, flag_key))
        reading.verdict = flag
    else:
        reading.verdict = any(f.counted for f in reading.findings)
    return reading


def _rb_record(value: dict) -> Reading:
    detection = value.get("detection")
    reading = _rb_detection(detection if isinstance(detection, dict) else value)
    leaked = value.get("canary_word_leaked")
    breach = value.get("breach")
    if reading is None:
        if not isinstance(leaked, bool) and not isinstance(breach, bool):
            return Reading(status="unreadable", reason="no Rebuff detection or canary result")
        reading = Reading(verdict=False)
    if isinstance(leaked, bool):
        reading.findings.append(Finding("canary_word_leaked", leaked, None, "canary_word_leaked"))
    if isinstance(breach, bool):
        # the playground's breach = canary leaked OR its SQL check; only the SQL check is a finding of its own
        reading.findings.append(Finding("breach", breach and leaked is not True, None, "breach"))
    reading.verdict = bool(reading.verdict) or any(f.counted for f in reading.findings)
    return reading


def read_rebuff(value: Any, cfg: ReaderConfig) -> Reading:
    """Rebuff: detect_injection results (three generations), the playground body, canary checks."""
    if isinstance(value, dict):
        return _rb_record(value)
    if isinstance(value, list):
        records = [r for r in batch_items(value, MAX_ITEMS) if isinstance(r, dict)]
        if not records:
            return Reading(status="unreadable", reason="no Rebuff records")
        return union_readings([_rb_record(r) for r in records])
    return Reading(status="unreadable", reason="not a Rebuff result")


# ---------------------------------------------------------------------------------------------
# tweetnlp (Cardiff NLP) and transformers text-classification pipelines
# ---------------------------------------------------------------------------------------------


def _label_only(item: Any) -> bool:
    """A record with a label and no score: tweetnlp's ``predict`` output."""
    return (
        isinstance(item, dict)
        and any(k in item for k in LABEL_KEYS)
        and not any(k in item for k in SCORE_KEYS)
    )


def read_tweetnlp(value: Any, cfg: ReaderConfig) -> Reading:
    """tweetnlp ``Classifier.predict``: ``{"label": ...}``, with ``return_probability=True``
    ``{"label", "probability": {label: p}}``, a list ``label`` for multi-label models, a list of these for
    a batch; the label is the model's decision and counts. transformers pipeline lists (``{"label",
    "score"}``) are read as ``label_scores`` reads them (a label counts at score >= threshold)."""
    records = batch_items(value, MAX_ITEMS) if isinstance(value, list) else [value]
    if not any(_label_only(r) for r in records):
        return read_label_scores(value, cfg)
    reading = Reading()
    for record in records:
        if not _label_only(record):
            continue
        raw = next(record[k] for k in LABEL_KEYS if k in record)
        labels = [n for n in (_name(x) for x in (raw[:MAX_KEYS] if isinstance(raw, list) else [raw])) if n]
        probs = record.get("probability")
        probs = probs if isinstance(probs, dict) else {}
        for label in labels:
            reading.findings.append(Finding(label, True, unit_score(probs.get(label)), "label"))
        for other, p in islice(probs.items(), MAX_KEYS):
            name = _name(other)
            if name and name not in labels and (score := unit_score(p)) is not None:
                reading.findings.append(Finding(name, False, score, "probability"))
        if isinstance(raw, list) and not labels:
            reading.verdict = False  # a multi-label model that found nothing
    if not reading.findings and reading.verdict is None:
        return Reading(status="unreadable", reason="tweetnlp records without a label")
    return reading


READERS: dict[str, Reader] = {
    "llm_guard": read_llm_guard,
    "guardrails_ai": read_guardrails_ai,
    "rebuff": read_rebuff,
    "tweetnlp": read_tweetnlp,
}

# A Guardrails outcome that carries ``error`` may still carry the validators' failures: its reader reads it.
READS_ERROR_BODIES = frozenset({"guardrails_ai"})

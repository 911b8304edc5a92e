"""The generic reader's vocabulary: the key names, words, regexes and small key/word predicates it
uses to tell metadata from categories, verdicts from scores (``META_KEYS``, ``VERDICT_KEYS``,
``POSITIVE_WORDS``, ``LEVEL_WORDS``, ``CATEGORY_KEYS``, ``CONTAINER_HINTS``, ``NER_TAGS``...), and the
two pure text classifiers built on them (:func:`key_value_text`, :func:`sentence_verdict`).

May import: :mod:`llama_mapper.catalog.base` (it needs nothing from it today).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

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
    + ("isvalid", "issafe", "isallowed", "iscompliant", "isclean")  # camelCase keys: isSafe
    + ("on_topic", "is_on_topic", "isontopic")  # a topic held to: false means off topic
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
        "block",
        "deny",
        "denied",
        "reject",
        "rejected",
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
    "riskLevel",
    "risk_level",
    "level",
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
    r"(?:^|_)(?:topic_?polic(?:y|ies)|(?:denied|banned|restricted|blocked)_topics?|topics)(?:_|$)"
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
INVERTED_PREFIXES = ("passed_", "valid_", "is_valid_", "safe_", "allowed_")
# Topical verdicts (a topic-control model's whole answer): off-topic is a finding, on-topic is clean.
OFF_TOPIC_WORDS = frozenset(
    ("off_topic", "offtopic", "out_of_scope", "not_relevant", "irrelevant", "unrelated")
)
ON_TOPIC_WORDS = frozenset(("on_topic", "ontopic", "in_scope", "relevant", "in_topic"))
# Prose that explains a positive verdict: "Regex match: Social security number", "likely to be a
# prompt injection". Read for a category only when the output flags and names nothing else.
REASON_KEYS = frozenset(
    ("reason", "reasons", "explanation", "rationale", "justification", "message", "detail", "details")
    + ("description", "why", "reasoning", "violation_reason", "block_reason", "blocked_reason")
)
# A customer's own word list or blocklist hit ({"customWords": [{"match": ...}]}): a policy hit whose
# "match" is the user's content, never a category.
_CUSTOM_LIST = re.compile(
    r"(?:^|_)(?:custom_?words?|custom_?(?:block|deny)_?lists?|(?:block|deny)_?lists?)(?:_|$)"
)
# Keys that hold a level: severity, riskLevel (an older API's name for it), harm_level...
_LEVEL_KEY = re.compile(r"(?:^|_)(?:severity|level|risk_?level|severity_?level|harm_?level)$")


def is_custom_list_key(k: str) -> bool:
    """``customWords``, ``custom_blocklists``, ``blocklist``: a customer list, not a category."""
    return bool(_CUSTOM_LIST.search(k))


def is_level_key(k: str) -> bool:
    """``severity``, ``riskLevel`` (normalised ``risklevel``), ``severity_level``, not ``log_level``."""
    return bool(_LEVEL_KEY.search(k)) and not k.startswith(("log", "debug", "trace", "verbosity"))


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
    return k in INVERTED_KEYS or k.endswith(INVERTED_SUFFIXES) or k.startswith(INVERTED_PREFIXES)


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


_TAG = re.compile(r"[A-Z][A-Z0-9_\-]{1,40}")


NAME_OBJECT_KEYS = frozenset(("id", "name", "description", "display_name", "displayname", "version"))

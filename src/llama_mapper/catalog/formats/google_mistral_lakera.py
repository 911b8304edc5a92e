"""Readers for the Google, Mistral and Lakera guardrail services (see docs/research/guardrail_services.md
§4a-4c, 5, 6): Cloud Natural Language ``moderateText``, Gemini API / Vertex AI safety ratings, Cloud Model
Armor ``sanitizeUserPrompt`` / ``sanitizeModelResponse``, the Mistral moderation API (and its custom
guardrails) and Lakera Guard v1 / v2.

The rule they share: the detection field decides (a rating's level or ``blocked``, a filter's
``matchState``, a category's boolean or ``violated``, a detector's ``detected``), never the deployment's
action; a block that names no reason becomes a catalog category of its own (``OTHER``, ``PROHIBITED_CONTENT``,
``rai``, ``sdp``...), and an overall verdict with nothing counted is left to the rules
(OTHER.PolicyViolation).

May import: :mod:`llama_mapper.catalog.base` and :mod:`llama_mapper.catalog.vendors`.
"""

from __future__ import annotations

import re
from itertools import islice
from typing import Any

from llama_mapper.catalog.base import (
    Budget,
    Finding,
    Reader,
    ReaderConfig,
    Reading,
    first_key,
    number,
    sse_chunks,
    unit_score,
)

MAX_ITEMS = 1000  # list items a reader looks at, per list
MAX_KEYS = 200  # keys of a map a reader looks at


def _dicts(value: Any) -> list[dict]:
    """The dict items of a list (bounded); [] for anything else."""
    return [v for v in value[:MAX_ITEMS] if isinstance(v, dict)] if isinstance(value, list) else []


def _pairs(value: dict, limit: int = MAX_KEYS) -> list[tuple[Any, Any]]:
    """The first ``limit`` (key, value) pairs of a map, without copying a huge one."""
    return list(islice(value.items(), limit))


def _keys(*maps: dict) -> list[Any]:
    """The keys of several maps, each once, in order (bounded)."""
    return list(dict.fromkeys(k for m in maps for k in islice(m, MAX_KEYS)))[:MAX_KEYS]


def _name(value: Any) -> str | None:
    """A category name: a non-empty string (cut to 200 characters), or the string ``name`` of a
    ``{"name": ...}`` object (one level only: no recursion on hostile nesting)."""
    if isinstance(value, dict):
        value = value.get("name")
    if isinstance(value, str):
        text = value.strip()
        return text[:200] if text else None
    return None


def _items(value: Any) -> list[dict]:
    """One response, or a batch / stream of them."""
    return [value] if isinstance(value, dict) else _dicts(value)


def _word(value: Any) -> str:
    """An enum value, upper-cased ("" when it is not a short string)."""
    return value.strip().upper() if isinstance(value, str) and len(value) <= 80 else ""


def _flag(value: Any) -> bool | None:
    """A boolean, also from the strings "true"/"false" (printed SDK objects)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and len(value) <= 8 and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _enum_int(value: Any) -> int | None:
    """An integer enum value (proto-plus ``to_dict`` writes enums as numbers), not a bool."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value < 1000 else None


def _lenient(name: Any) -> str:
    return "".join(c for c in name.lower() if c.isalnum()) if isinstance(name, str) else ""


def _counted(reading: Reading) -> bool:
    return any(f.counted for f in reading.findings)


_ERROR_TYPES = re.compile(r"error|exception", re.I)


def _error_body(value: dict) -> bool:
    """An API error body that ``base.error_reason`` does not catch: FastAPI/422 ``{"detail": ...}``,
    ``{"object": "error", ...}``, ``{"message": "Unauthorized", "request_id": ...}``."""
    if _word(value.get("object")) == "ERROR":
        return True
    if "detail" in value and len(value) <= 3 and isinstance(value["detail"], (str, list)):
        return True
    if "message" in value and isinstance(value["message"], str) and len(value) <= 4:
        rest = set(value) - {"message", "request_id", "requestId", "type", "code", "status", "param"}
        return not rest
    return (
        isinstance(value.get("type"), str) and bool(_ERROR_TYPES.search(value["type"])) and "message" in value
    )


# ---------------------------------------------------------------------------------------------
# Google Cloud Natural Language: documents:moderateText (v1, v1beta2, v2)
# ---------------------------------------------------------------------------------------------

_NL_KEYS = ("moderationCategories", "moderation_categories")


def _nl_category_list(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(v, dict) and "name" in v for v in value[:MAX_ITEMS])


def read_google_nl_moderation(value: Any, cfg: ReaderConfig) -> Reading:
    """``moderationCategories[]`` of ``{name, confidence, severity?}``: a category counts at
    confidence >= the threshold; a missing confidence is proto3's omitted zero; ``severity`` (v2,
    MODEL_VERSION_2) never decides. A list of responses (a batch of documents) is their union."""
    if _nl_category_list(value) and not any(isinstance(v, dict) and first_key(v, _NL_KEYS) for v in value):
        lists = [value]  # the categories list itself (response.moderation_categories)
    else:
        lists = [first_key(item, _NL_KEYS) for item in _items(value)]
        lists = [item for item in lists if isinstance(item, list)]
    if not lists:
        return Reading(status="unreadable", reason="no moderationCategories")
    reading = Reading()
    budget = Budget()
    for i, categories in enumerate(lists):
        for item in _dicts(categories):
            name = _name(item.get("name"))
            if not name or not budget.take():
                continue
            raw = item.get("confidence")
            score = 0.0 if raw is None else unit_score(raw)
            if score is None:
                continue
            counted = score >= cfg.threshold
            reading.findings.append(Finding(name, counted, score, f"[{i}].moderationCategories", 1.0, True))
    if not reading.findings:
        # The service always returns every category: an empty list is a failed call.
        return Reading(status="error", reason="empty moderationCategories")
    return reading


# ---------------------------------------------------------------------------------------------
# Gemini API (generativelanguage) and Vertex AI (aiplatform) generateContent safety ratings
# ---------------------------------------------------------------------------------------------

GEMINI_LOW = "LOW"  # catalog category of a response whose highest rating is LOW (OTHER.LowRisk)
_LEVELS = {"UNSPECIFIED": 0, "NEGLIGIBLE": 1, "LOW": 2, "MEDIUM": 3, "HIGH": 4}
# Integer HarmCategory values differ between the two APIs (proto-plus to_dict writes numbers).
_GEMINI_CATEGORIES = (
    "HARM_CATEGORY_UNSPECIFIED",
    "HARM_CATEGORY_DEROGATORY",
    "HARM_CATEGORY_TOXICITY",
    "HARM_CATEGORY_VIOLENCE",
    "HARM_CATEGORY_SEXUAL",
    "HARM_CATEGORY_MEDICAL",
    "HARM_CATEGORY_DANGEROUS",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_CIVIC_INTEGRITY",
)
_VERTEX_CATEGORIES = (
    "HARM_CATEGORY_UNSPECIFIED",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_CIVIC_INTEGRITY",
    "HARM_CATEGORY_JAILBREAK",
)
_BLOCK_REASONS = ("BLOCK_REASON_UNSPECIFIED", "SAFETY", "OTHER", "BLOCKLIST", "PROHIBITED_CONTENT")
_GEMINI_BLOCK_REASONS = (*_BLOCK_REASONS, "IMAGE_SAFETY")
_VERTEX_BLOCK_REASONS = (*_BLOCK_REASONS, "MODEL_ARMOR", "JAILBREAK")
_FINISH = ("FINISH_REASON_UNSPECIFIED", "STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "OTHER")
_GEMINI_FINISH = (
    *_FINISH,
    "LANGUAGE",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "MALFORMED_FUNCTION_CALL",
    "IMAGE_SAFETY",
    "UNEXPECTED_TOOL_CALL",
    "TOO_MANY_TOOL_CALLS",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_OTHER",
    "NO_IMAGE",
    "IMAGE_RECITATION",
)
_VERTEX_FINISH = (
    *_FINISH,
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "MALFORMED_FUNCTION_CALL",
    "MODEL_ARMOR",
)
# Reasons whose ratings say why ("Inspect safety_ratings to understand which safety category blocked it").
_RATED_REASONS = {"SAFETY", "IMAGE_SAFETY"}
_PALM_BLOCK_REASONS = ("BLOCKED_REASON_UNSPECIFIED", "SAFETY", "OTHER")
_UNBLOCKED = {"", "BLOCK_REASON_UNSPECIFIED", "BLOCKED_REASON_UNSPECIFIED"}
# Finish reasons that say the candidate was stopped by a safety, policy or data-protection filter.
_SAFETY_FINISH = {
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
    "IMAGE_PROHIBITED_CONTENT",
    "IMAGE_RECITATION",
    "MODEL_ARMOR",
    "JAILBREAK",
}
_VERTEX_RATING_KEYS = ("probabilityScore", "probability_score", "severity", "severityScore", "severity_score")
_RATINGS = ("safetyRatings", "safety_ratings")
_FEEDBACK = ("promptFeedback", "prompt_feedback")
_BLOCK = ("blockReason", "block_reason")
_FINISH_KEYS = ("finishReason", "finish_reason")


def _gword(value: Any) -> str:
    """A google-genai / proto enum name: "HarmCategory.HARM_CATEGORY_HATE_SPEECH" (a printed Python
    enum) and "harm_category_hate_speech" both give "HARM_CATEGORY_HATE_SPEECH"."""
    return _word(value).rpartition(".")[2]


def _level(value: Any) -> int | None:
    """HarmProbability / HarmSeverity as 0..4 (NEGLIGIBLE=1 .. HIGH=4), from a name or a number."""
    if (n := _enum_int(value)) is not None:
        return n if n <= 4 else None
    word = _gword(value)
    for prefix in ("HARM_PROBABILITY_", "HARM_SEVERITY_"):
        word = word.removeprefix(prefix)
    return _LEVELS.get(word)


def _enum_name(value: Any, names: tuple[str, ...], prefix: str) -> str:
    """An enum's name, from its name or its number (unknown numbers keep the number)."""
    if (n := _enum_int(value)) is not None:
        return names[n] if n < len(names) else f"{prefix}{n}"
    word = _gword(value)
    return word if word else _name(value) or ""


class _Gemini:
    def __init__(self, cfg: ReaderConfig) -> None:
        self.cfg = cfg
        self.reading = Reading()
        self.budget = Budget()
        self.seen = False
        self.errored = False
        self.blocked = False
        self.vertex = False
        self.low = False  # a rating at LOW, the highest level below the counting line

    def add(self, name: str, counted: bool, path: str, score: float | None = None, by_score: bool = False):
        if name:
            self.reading.findings.append(Finding(name[:200], counted, score, path, 1.0, by_score))

    def ratings(self, ratings: Any, path: str) -> bool:
        """One safetyRatings list; True when a rating in it counts."""
        hit = False
        for rating in _dicts(ratings):
            if not self.budget.take():
                break
            names = _VERTEX_CATEGORIES if self.vertex else _GEMINI_CATEGORIES
            name = _enum_name(rating.get("category"), names, "HARM_CATEGORY_")
            if not name:
                continue
            levels = [
                lv
                for lv in (_level(rating.get("probability")), _level(rating.get("severity")))
                if lv is not None and lv > 0
            ]
            score = unit_score(first_key(rating, ("probabilityScore", "probability_score")))
            if score is None:
                score = unit_score(first_key(rating, ("severityScore", "severity_score")))
            blocked = _flag(rating.get("blocked")) is True
            if levels:
                counted = blocked or max(levels) >= 3
                self.low = self.low or (not counted and max(levels) == 2)
                self.add(name, counted, path, score)
            elif score is not None:
                counted = blocked or score >= self.cfg.threshold
                self.add(name, counted, path, score, not blocked)
            else:
                counted = blocked
                self.add(name, counted, path)
            self.blocked = self.blocked or blocked
            hit = hit or counted
        return hit

    def reason(self, value: Any, names: tuple[str, ...], path: str, rated: bool, block: bool) -> None:
        """A blockReason (any value but unspecified means blocked) or a finishReason (only the safety
        ones count); SAFETY and IMAGE_SAFETY count only when no rating of the same object does (then the
        ratings say why)."""
        if value is None or not self.budget.take():
            return
        name = _enum_name(value, names, "BLOCK_REASON_" if block else "FINISH_REASON_")
        if not name:
            return
        stopped = name not in _UNBLOCKED if block else name in _SAFETY_FINISH
        self.blocked = self.blocked or stopped
        self.add(name, stopped and not (name in _RATED_REASONS and rated), path)

    def response(self, value: dict) -> None:
        if not self.budget.take():
            return
        if isinstance(value.get("error"), dict) and value["error"]:
            self.errored = True  # a streamed error chunk: [{"error": {"code": 429, ...}}]
            return
        feedback = first_key(value, _FEEDBACK)
        candidates = value.get("candidates")
        bare = any(k in value for k in (*_RATINGS, *_BLOCK, *_FINISH_KEYS))
        palm = first_key(value, ("safetyFeedback", "safety_feedback"))
        filters = _dicts(value.get("filters"))
        if isinstance(palm, list) or any("reason" in f for f in filters):
            self.seen = True  # PaLM generateText: filters[].reason and safetyFeedback[].rating
            ratings = [fb.get("rating") for fb in _dicts(palm) if isinstance(fb.get("rating"), dict)]
            rated = self.ratings(ratings, "safetyFeedback")
            for item in filters:
                self.reason(item.get("reason"), _PALM_BLOCK_REASONS, "filters", rated, True)
        if not isinstance(feedback, dict) and not isinstance(candidates, list) and not bare:
            return
        self.seen = True
        if isinstance(feedback, dict):
            self.part(feedback, "promptFeedback")
        for i, candidate in enumerate(_dicts(candidates)):
            if self.budget.left <= 0:
                break
            self.part(candidate, f"candidates[{i}]")
        if bare:
            self.part(value, "")  # a bare candidate or promptFeedback object

    def part(self, obj: dict, path: str) -> None:
        """A promptFeedback or a candidate: its ratings, then its block or finish reason."""
        rated = self.ratings(first_key(obj, _RATINGS), f"{path}.safetyRatings")
        blocks = _VERTEX_BLOCK_REASONS if self.vertex else _GEMINI_BLOCK_REASONS
        finishes = _VERTEX_FINISH if self.vertex else _GEMINI_FINISH
        self.reason(first_key(obj, _BLOCK), blocks, f"{path}.blockReason", rated, True)
        self.reason(first_key(obj, _FINISH_KEYS), finishes, f"{path}.finishReason", rated, False)

    def result(self) -> Reading:
        reading = self.reading
        if self.errored and not _counted(reading):
            return Reading(status="error", reason="Google API error body in the response or stream")
        if not self.seen:
            return Reading(status="unreadable", reason="no candidates, promptFeedback or safetyRatings")
        if self.low and not _counted(reading):
            reading.findings.append(Finding(GEMINI_LOW, True, None, "safetyRatings"))
        reading.verdict = self.blocked
        return reading


def _gemini_is_vertex(items: list[dict]) -> bool:
    """Vertex AI ratings carry probabilityScore / severity; the Gemini API's never do (the integer
    enums of the two APIs differ)."""
    budget = Budget(2000)
    for item in items:
        parts = [item, first_key(item, _FEEDBACK), *_dicts(item.get("candidates"))]
        for part in parts:
            if not isinstance(part, dict):
                continue
            for rating in _dicts(first_key(part, _RATINGS)):
                if not budget.take():
                    return False
                if any(rating.get(k) is not None for k in _VERTEX_RATING_KEYS):
                    return True
    return False


def read_gemini_safety(value: Any, cfg: ReaderConfig) -> Reading:
    """``generateContent`` / ``streamGenerateContent``: ``promptFeedback`` {blockReason, safetyRatings}
    and ``candidates[]`` {finishReason, safetyRatings}; a list is a stream of chunks (their union), a
    string a server-sent event stream. A rating counts when ``blocked``, or at MEDIUM/HIGH probability
    or severity (``probabilityScore`` >= the threshold only without either level); a block reason or a
    safety finish reason is a category of its own (SAFETY only when no rating of the same object counts);
    a highest rating of LOW gives the ``LOW`` category."""
    if isinstance(value, str):
        value = sse_chunks(value)
        if not value:
            return Reading(status="unreadable", reason="text that is not a server-sent event stream")
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, dict) and "category" in v for v in value[:MAX_ITEMS])
    ):
        value = {"safetyRatings": value}  # a safetyRatings list on its own
    items = _items(value)
    if not items:
        if isinstance(value, list) and not value:
            return Reading(status="error", reason="empty stream")
        return Reading(status="unreadable", reason="not a generateContent response")
    if any(isinstance(item.get("candidates"), list) for item in items) and not any(
        item.get("candidates") or first_key(item, _FEEDBACK) or item.get("error") for item in items
    ):
        return Reading(status="error", reason="no candidates and no promptFeedback")
    state = _Gemini(cfg)
    state.vertex = _gemini_is_vertex(items)
    for item in items:
        state.response(item)
    return state.result()


# ---------------------------------------------------------------------------------------------
# Google Cloud Model Armor: sanitizeUserPrompt / sanitizeModelResponse
# ---------------------------------------------------------------------------------------------

MODEL_ARMOR = "MODEL_ARMOR"  # a Vertex AI response blocked by an integrated Model Armor template
_MATCH = {1: "NO_MATCH_FOUND", 2: "MATCH_FOUND"}
_EXECUTION = {1: "EXECUTION_SUCCESS", 2: "EXECUTION_SKIPPED"}
_INVOCATION = {1: "SUCCESS", 2: "PARTIAL", 3: "FAILURE"}
_WRAPPERS = {  # lenient FilterResult oneof key -> filter name (the filterResults map key)
    "raifilterresult": "rai",
    "sdpfilterresult": "sdp",
    "piandjailbreakfilterresult": "pi_and_jailbreak",
    "maliciousurifilterresult": "malicious_uris",
    "csamfilterfilterresult": "csam",
    "csamfilterresult": "csam",
    "virusscanfilterresult": "virus_scan",
}
_SDP_RESULTS = (
    "inspectResult",
    "inspect_result",
    "deidentifyResult",
    "deidentify_result",
    "redactResult",
    "redact_result",
)


def _state(value: Any, names: dict[int, str]) -> str:
    n = _enum_int(value)
    return names.get(n, "") if n is not None else _word(value)


class _ModelArmor:
    def __init__(self) -> None:
        self.reading = Reading()
        self.budget = Budget()
        self.seen = False
        self.matched = False  # a top-level filterMatchState MATCH_FOUND
        self.failed = False  # the answer "nothing found" cannot be trusted

    def add(self, name: str, counted: bool, path: str) -> None:
        if name and self.budget.take():
            self.reading.findings.append(Finding(name[:200], counted, None, path))

    def result_object(self, value: dict) -> None:
        result = first_key(value, ("sanitizationResult", "sanitization_result"))
        if not isinstance(result, dict):
            if any(
                k in value
                for k in ("filterMatchState", "filter_match_state", "filterResults", "filter_results")
            ):
                result = value  # a bare SanitizationResult
            else:
                self.gemini(value)
                return
        self.seen = True
        top = _state(first_key(result, ("filterMatchState", "filter_match_state")), _MATCH)
        invocation = _state(first_key(result, ("invocationResult", "invocation_result")), _INVOCATION)
        filters = first_key(result, ("filterResults", "filter_results"))
        metadata = first_key(result, ("sanitizationMetadata", "sanitization_metadata"))
        metadata = metadata if isinstance(metadata, dict) else {}
        if not top and not filters and not invocation:
            self.failed = True  # {"sanitizationResult": {}}: nothing was reported
            return
        self.matched = self.matched or top == "MATCH_FOUND"
        ignore_partial = _flag(
            first_key(metadata, ("ignorePartialInvocationFailures", "ignore_partial_invocation_failures"))
        )
        error_code = number(first_key(metadata, ("errorCode", "error_code")))
        if invocation == "FAILURE" or (invocation == "PARTIAL" and ignore_partial is not True) or error_code:
            self.failed = True
        entries: list[tuple[str, Any]] = []
        if isinstance(filters, dict):
            entries = [(str(k), v) for k, v in _pairs(filters)]
        elif isinstance(filters, list):  # some parsers turn the map into a list of FilterResult objects
            entries = [("", v) for v in _dicts(filters)]
        ran = 0
        for name, wrapper in entries:
            ran += self.filter(name, wrapper)
        if entries and not ran and ignore_partial is not True:
            self.failed = True  # every filter skipped

    def filter(self, name: str, wrapper: Any) -> int:
        """One FilterResult; 1 when the filter ran, 0 when it was skipped or unreadable."""
        if not isinstance(wrapper, dict):
            return 0
        inner = None
        for key, item in _pairs(wrapper, 8):
            if _lenient(key) in _WRAPPERS and isinstance(item, dict):
                name = name or _WRAPPERS[_lenient(key)]
                inner = item
                break
        if inner is None and any(k in wrapper for k in ("matchState", "match_state")):
            inner = wrapper  # the FilterResult's oneof already unwrapped
        if inner is None:  # a filter kind this reader does not know yet: {"<kind>FilterResult": {...}}
            inner = next(
                (
                    item
                    for item in islice(wrapper.values(), 8)
                    if isinstance(item, dict) and any(k in item for k in ("matchState", "match_state"))
                ),
                None,
            )
        if inner is None or not name:
            return 0
        if name == "sdp" or any(k in inner for k in _SDP_RESULTS):
            return self.sdp(name, inner)
        if _state(first_key(inner, ("executionState", "execution_state")), _EXECUTION) == "EXECUTION_SKIPPED":
            return 0
        match = _state(first_key(inner, ("matchState", "match_state")), _MATCH)
        types = first_key(inner, ("raiFilterTypeResults", "rai_filter_type_results"))
        if isinstance(types, dict) and types:
            hit = False
            for key, item in _pairs(types):
                if isinstance(item, dict):
                    found = _state(first_key(item, ("matchState", "match_state")), _MATCH) == "MATCH_FOUND"
                    hit = hit or found
                    self.add(str(key), found, f"filterResults.{name}.raiFilterTypeResults")
            if match == "MATCH_FOUND" and not hit:
                self.add(name, True, f"filterResults.{name}")  # matched with no type detail
            return 1
        if not match:
            return 0
        self.add(name, match == "MATCH_FOUND", f"filterResults.{name}")
        return 1

    def sdp(self, name: str, wrapper: dict) -> int:
        """Sensitive Data Protection: inspect findings' infoTypes, deidentify ``infoTypes[]``."""
        inner = first_key(wrapper, _SDP_RESULTS)
        inner = inner if isinstance(inner, dict) else wrapper
        if _state(first_key(inner, ("executionState", "execution_state")), _EXECUTION) == "EXECUTION_SKIPPED":
            return 0
        match = _state(first_key(inner, ("matchState", "match_state")), _MATCH)
        types: list[str] = []
        for finding in _dicts(inner.get("findings")):
            found = _name(first_key(finding, ("infoType", "info_type")))
            if found:
                types.append(found)
        listed = first_key(inner, ("infoTypes", "info_types"))
        for item in listed[:MAX_ITEMS] if isinstance(listed, list) else []:
            found = _name(item)
            if found:
                types.append(found)
        if match == "MATCH_FOUND" or (types and not match):
            for found in dict.fromkeys(types):
                self.add(found, True, f"filterResults.{name}")
            if not types:
                self.add(name, True, f"filterResults.{name}")  # a match with no infoType given
            return 1
        if not match:
            return 0
        self.add(name, False, f"filterResults.{name}")
        return 1

    def gemini(self, value: dict) -> None:
        """A Vertex AI generateContent response blocked by an integrated Model Armor template."""
        parts = [first_key(value, _FEEDBACK), *_dicts(value.get("candidates"))]
        for part in parts:
            if isinstance(part, dict):
                reason = first_key(part, (*_BLOCK, *_FINISH_KEYS))
                if _gword(reason) == MODEL_ARMOR:
                    self.seen = True
                    self.add(MODEL_ARMOR, True, "promptFeedback.blockReason")

    def result(self) -> Reading:
        reading = self.reading
        counted = _counted(reading)
        if not self.seen:
            return Reading(status="unreadable", reason="no sanitizationResult")
        if self.failed and not counted:
            return Reading(status="error", reason="Model Armor invocation failed, partial or skipped")
        reading.verdict = self.matched or counted
        return reading


def read_model_armor(value: Any, cfg: ReaderConfig) -> Reading:
    """``{"sanitizationResult": {filterMatchState, filterResults: {name: {<kind>FilterResult: {...}}},
    invocationResult, sanitizationMetadata}}``: every filter's own ``matchState`` decides (RAI per
    ``raiFilterTypeResults`` key, SDP per infoType), never the top-level state, which alone gives only
    a verdict; a failed, partial (unless ignored) or fully skipped call with nothing matched is an error."""
    state = _ModelArmor()
    for item in _items(value):
        state.result_object(item)
    return state.result()


# ---------------------------------------------------------------------------------------------
# Mistral moderation: /v1/moderations, /v1/chat/moderations, custom guardrails (moderation_llm_v1/v2)
# ---------------------------------------------------------------------------------------------

_GUARDRAIL_KEYS = ("moderation_llm_v2", "moderation_llm_v1")
MISTRAL_VIOLATED = "violated"  # catalog category of a guardrail block that names no category


def _mistral_guardrail(config: dict, reading: Reading, budget: Budget, path: str) -> tuple[bool, bool]:
    """One ``moderation_llm_v*`` result: ``categories`` (a passed request) or ``decisions`` (the 403
    block), each ``{score, violated, threshold?}``; returns (read, errored)."""
    if config.get("error"):
        return False, True
    seen = False
    for key in ("categories", "decisions"):
        block = config.get(key)
        if not isinstance(block, dict):
            continue
        for name, item in _pairs(block):
            if isinstance(item, dict):
                flag = _flag(item.get("violated"))
                score = unit_score(item.get("score"))
                if flag is None and score is None:
                    continue
                seen = True
                if budget.take():
                    reading.findings.append(Finding(str(name)[:200], flag is True, score, f"{path}.{key}"))
            elif (flag := _flag(item)) is not None:
                seen = True
                if budget.take():
                    reading.findings.append(Finding(str(name)[:200], flag, None, f"{path}.{key}"))
    violated = _flag(config.get("violated"))
    if violated is not None:
        seen = True
        reading.verdict = bool(reading.verdict) or violated
        if violated and not any(f.counted for f in reading.findings):
            reading.findings.append(Finding(MISTRAL_VIOLATED, True, None, f"{path}.violated"))
    elif _word(config.get("action")) == "BLOCK":
        reading.verdict = True
    return seen, False


def _mistral_guardrails(value: dict, reading: Reading) -> tuple[bool, bool]:
    """The ``guardrails`` of a chat completion / conversation (a list of ``{moderation_llm_v2: ...}``)
    or of the 403 block body (``{"results": {moderation_llm_v2: ...}}``)."""
    guardrails = value.get("guardrails")
    holders: list[dict] = []
    if isinstance(guardrails, list):
        holders = _dicts(guardrails)
    elif isinstance(guardrails, dict):
        results = guardrails.get("results")
        holders = [results] if isinstance(results, dict) else _dicts(results) or [guardrails]
    seen = errored = False
    budget = Budget()
    for i, holder in enumerate(holders):
        for key in _GUARDRAIL_KEYS:
            config = holder.get(key)
            if isinstance(config, dict):
                read, failed = _mistral_guardrail(config, reading, budget, f"guardrails[{i}].{key}")
                seen, errored = seen or read, errored or failed
    return seen, errored


def read_mistral_moderation(value: Any, cfg: ReaderConfig) -> Reading:
    """``{"id", "model", "results": [{"categories": {name: bool}, "category_scores": {name: float}}]}``
    from both moderation endpoints (one result per input; their union): the booleans decide, the scores
    only when a result has no ``categories``. Custom guardrails: ``guardrails[].moderation_llm_v2
    .categories`` (passed) or ``guardrails.results.moderation_llm_v2.decisions`` (the 403 block), where
    ``violated`` decides. Mistral's error bodies give status error."""
    reading = Reading()
    seen = errored = False
    budget = Budget()
    for item in _items(value):
        if "guardrails" in item:
            read, failed = _mistral_guardrails(item, reading)
            seen, errored = seen or read, errored or failed
            if read or failed:
                continue
        if _error_body(item) or (isinstance(item.get("error"), dict) and item["error"]):
            errored = True
            continue
        results = item.get("results")
        if "categories" in item or "category_scores" in item:
            results = [item]  # one ClassificationObject on its own
        if isinstance(results, list) and not results:
            errored = True  # the API returns one result per input
            continue
        for i, result in enumerate(_dicts(results)):
            flags = result.get("categories")
            scores = result.get("category_scores", result.get("categoryScores"))
            flags = flags if isinstance(flags, dict) else {}
            scores = scores if isinstance(scores, dict) else {}
            if not flags and not scores:
                continue
            seen = True
            for name in _keys(flags, scores):
                if not budget.take():
                    break
                score = unit_score(scores.get(name))
                if flags:  # the booleans decide (null = not flagged)
                    flag = _flag(flags.get(name))
                    counted, by_score = flag is True, False
                else:
                    counted, by_score = score is not None and score >= cfg.threshold, True
                reading.findings.append(
                    Finding(str(name)[:200], counted, score, f"results[{i}].categories", 1.0, by_score)
                )
    if errored and not _counted(reading):
        return Reading(status="error", reason="Mistral error body, empty results or guardrail error")
    if not seen:
        return Reading(status="unreadable", reason="no results[] with categories and no guardrails")
    return reading


# ---------------------------------------------------------------------------------------------
# Lakera Guard: v1 endpoints, v2 /guard and /guard/results, gateway wrappers
# ---------------------------------------------------------------------------------------------

_LAKERA_LEVELS = {"l1confident": 1, "l2verylikely": 2, "l3likely": 3, "l4lesslikely": 4, "l5unlikely": 5}
LAKERA_REVIEW = "l3_likely"  # catalog category of results-endpoint levels L3/L4 with nothing higher
_PII_TYPE_KEYS = ("detector_type", "entity_type", "entityType", "type", "label")


def _lakera_level(value: Any) -> int | None:
    """A /guard/results confidence level: "l1_confident" .. "l5_unlikely" (also "L1".."L5")."""
    key = _lenient(value)
    if key in _LAKERA_LEVELS:
        return _LAKERA_LEVELS[key]
    if len(key) == 2 and key[0] == "l" and key[1] in "12345":
        return int(key[1])
    return None


class _Lakera:
    def __init__(self, cfg: ReaderConfig) -> None:
        self.cfg = cfg
        self.reading = Reading()
        self.budget = Budget()
        self.seen = False
        self.errored = False
        self.review = False
        self.flagged: bool | None = None

    def add(self, name: Any, counted: bool, path: str, score: float | None = None, by_score: bool = False):
        category = _name(name)
        if category and self.budget.take():
            self.reading.findings.append(Finding(category, counted, score, path, 1.0, by_score))

    def flag(self, value: Any) -> None:
        flag = _flag(value)
        if flag is not None:
            self.seen = True
            self.flagged = bool(self.flagged) or flag

    def response(self, value: dict, depth: int = 0) -> None:
        if depth > 3:
            return
        err = value.get("error")
        if err:
            inner = err.get("message") if isinstance(err, dict) else None
            wrapped = (
                first_key(inner, ("lakera_ai_response", "lakera_guard_response"))
                if isinstance(inner, dict)
                else None
            )
            if isinstance(wrapped, dict):  # LiteLLM: {"error": {"message": {"lakera_ai_response": {...}}}}
                self.response(wrapped, depth + 1)
            else:
                self.errored = True
            return
        for key in ("lakera_ai_response", "lakera_guard_response", "lakera_response"):
            if isinstance(value.get(key), dict):
                self.response(value[key], depth + 1)
        known = any(k in value for k in ("flagged", "results", "breakdown", "payload"))
        if not known and _error_body(value):
            self.errored = True
            return
        self.flag(value.get("flagged"))
        results = value.get("results")
        for i, result in enumerate(_dicts(results)):
            self.result(result, f"results[{i}]")
        breakdown = value.get("breakdown")
        if isinstance(breakdown, list):
            self.seen = True
            for item in _dicts(breakdown):
                detected = _flag(item.get("detected"))
                if detected is not None:
                    self.add(item.get("detector_type"), detected, "breakdown")
        payload = value.get("payload")
        if isinstance(payload, list):
            self.seen = True
            for item in _dicts(payload):
                self.add(item.get("detector_type"), True, "payload")
        if isinstance(breakdown, list) and "flagged" not in value and isinstance(value.get("message"), str):
            self.flagged = True  # Kong ai-lakera-guard's 403: "Request was filtered by Lakera Guard"

    def result(self, result: dict, path: str) -> None:
        """A v1 result {categories, category_scores, flagged, payload} or a /guard/results item
        {detector_type, result: "l1_confident"..}."""
        if "detector_type" in result and "result" in result:
            level = _lakera_level(result.get("result"))
            if level is not None:
                self.seen = True
                self.add(result.get("detector_type"), level <= 2, path)
                self.review = self.review or level in (3, 4)
            return
        flags = result.get("categories")
        scores = result.get("category_scores")
        flags = flags if isinstance(flags, dict) else {}
        scores = scores if isinstance(scores, dict) else {}
        self.flag(result.get("flagged"))
        for name in _keys(flags, scores):
            self.seen = True
            score = unit_score(scores.get(name))
            if flags:
                self.add(name, _flag(flags.get(name)) is True, f"{path}.categories", score)
            else:
                self.add(
                    name,
                    score is not None and score >= self.cfg.threshold,
                    f"{path}.category_scores",
                    score,
                    True,
                )
        payload = result.get("payload")
        pii = payload.get("pii") if isinstance(payload, dict) else None
        for item in _dicts(pii):
            self.seen = True
            self.add(first_key(item, _PII_TYPE_KEYS) or "pii", True, f"{path}.payload.pii")

    def done(self) -> Reading:
        reading = self.reading
        counted = _counted(reading)
        if self.errored and not counted:
            return Reading(status="error", reason="Lakera or gateway error body")
        if not self.seen:
            return Reading(status="unreadable", reason="no flagged, results, breakdown or payload")
        if self.review and not counted:
            reading.findings.append(Finding(LAKERA_REVIEW, True, None, "results"))
        reading.verdict = self.flagged if self.flagged is not None else (counted or None)
        return reading


def read_lakera_guard(value: Any, cfg: ReaderConfig) -> Reading:
    """Lakera Guard v1 (``results[]`` of ``{categories, category_scores, flagged, payload}``; the PII
    endpoint lists entities in ``payload.pii``), v2 ``/guard`` (``flagged``, ``breakdown[]`` of
    ``{detector_type, detected}``, ``payload[]`` matches of ``{detector_type}``), v2 ``/guard/results``
    (``results[]`` of ``{detector_type, result: l1_confident .. l5_unlikely}``: L1/L2 count, L3/L4 with
    nothing higher give ``l3_likely``), the LiteLLM and Kong wrappers. The flags decide; ``flagged`` with
    nothing counted is a verdict with no category."""
    state = _Lakera(cfg)
    for item in _items(value):
        state.response(item)
    return state.done()


# Formats whose reader reads the vendor's error bodies itself (the dispatcher's error check runs first
# today, so these shapes reach the reader only when it stops doing so for them): Mistral's 403
# guardrail block {"error": {...}, "guardrails": {...}} and LiteLLM's Lakera wrapper {"error":
# {"message": {"lakera_ai_response": {...}}}} are verdicts, not model errors.
READS_ERROR_BODIES = frozenset({"mistral_moderation", "lakera_guard"})

READERS: dict[str, Reader] = {
    "google_nl_moderation": read_google_nl_moderation,
    "gemini_safety": read_gemini_safety,
    "model_armor": read_model_armor,
    "mistral_moderation": read_mistral_moderation,
    "lakera_guard": read_lakera_guard,
}

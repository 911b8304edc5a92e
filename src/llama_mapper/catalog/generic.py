"""The generic reader: best effort for shapes the catalog has never seen. :func:`read_generic` and
the functions that walk an output and decide what each item means.

May import: :mod:`llama_mapper.catalog.base`, :mod:`llama_mapper.catalog.vocabulary` and
:mod:`llama_mapper.catalog.vendors` (it reuses the Llama Guard and Perspective readers and the DLP
likelihood scale).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from llama_mapper.catalog.base import (
    MAX_DEPTH,
    MAX_TEXT,
    Budget,
    Finding,
    ReaderConfig,
    Reading,
    category_name,
    find_text,
    first_key,
    number,
    unit_score,
)
from llama_mapper.catalog.vendors import (
    DLP_LIKELIHOOD,
    SCORE_KEYS,
    dlp_likelihood,
    index_scores,
    read_llama_guard,
    read_perspective,
)
from llama_mapper.catalog.vocabulary import (
    _ID_LIKE,
    _TAG,
    _TOPIC_POLICY,
    CATEGORY_KEY_SUFFIXES,
    CATEGORY_KEYS,
    CONTAINER_HINTS,
    EMPTY_ENTITY_KEYS,
    INTERVENTION_STOPS,
    LEVEL_WORDS,
    LIST_CATEGORY_KEYS,
    META_KEYS,
    NAME_OBJECT_KEYS,
    NEGATIVE_WORDS,
    NOT_CATEGORY_KEYS,
    NOT_CATEGORY_WORDS,
    OFF_TOPIC_WORDS,
    ON_TOPIC_WORDS,
    POSITIVE_WORDS,
    REASON_KEYS,
    REVIEW_WORDS,
    SENTENCE_KEYS,
    SIGNAL_KEYS,
    STOP_REASON_KEYS,
    VERDICT_KEYS,
    _is_inverted_key,
    _is_verdict_key,
    _key,
    _tag,
    is_custom_list_key,
    is_level_key,
    key_value_text,
    sentence_verdict,
)

MAX_NESTED = 3  # JSON inside a string inside JSON... decoded this many times at most


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
            "present",
            "is_present",
            "ispresent",
            "found",
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
        if is_level_key(k):
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


_THINK = re.compile(r"<think>.*?(?:</think>|$)", re.S | re.I)
_TAG_BLOCK = re.compile(r"<(confidence|score|probability|certainty)>(.{0,64}?)</\1>", re.S | re.I)
_XML_TAG = re.compile(r"</?[A-Za-z_][A-Za-z0-9_-]{0,30}>")


def _untagged(text: str) -> tuple[str, bool]:
    """Text without reasoning blocks and tags: ``"<think>...</think> Yes <confidence> High
    </confidence>"`` -> ``"Yes"``. A ``<score> yes </score>`` block is the answer itself. The flag
    says whether the model said its confidence was low."""
    text = _THINK.sub(" ", text[:MAX_TEXT])
    low = False
    answer = None
    for name, inner in _TAG_BLOCK.findall(text):
        word = _key(inner)
        if name.lower() == "score" and (word in POSITIVE_WORDS or word in NEGATIVE_WORDS):
            answer = inner
        elif word in ("low", "very_low"):
            low = True
    text = _XML_TAG.sub(" ", _TAG_BLOCK.sub(" ", text)).strip()
    return (answer.strip() if answer is not None else text), low


def _text_verdict(value: str) -> Reading | None:
    """A whole answer that is one verdict word: yes/no, safe/unsafe, pass/fail, on-/off-topic."""
    word = _key(value) if len(value) <= 64 else ""
    if word in OFF_TOPIC_WORDS:
        return Reading(findings=[Finding("off topic", True, None, "", 0.8)])
    if word in ON_TOPIC_WORDS:
        return Reading(verdict=False)
    if word in POSITIVE_WORDS:
        return Reading(verdict=True)
    if word in NEGATIVE_WORDS:
        return Reading(verdict=False)
    return None


def read_generic(value: Any, cfg: ReaderConfig, nested: int = 0) -> Reading:
    """Best-effort reader: flags, inverted flags, severities, likelihoods, scores, verdicts, entities."""
    reading = Reading()
    if isinstance(value, str):
        if (verdict := _text_verdict(value.strip())) is not None:
            return verdict
        stripped = value.lstrip()
        if stripped[:1] in ("{", "[") and nested < MAX_NESTED:  # JSON inside a string
            try:
                inner_value = json.loads(stripped[:MAX_TEXT])
            except (ValueError, RecursionError):
                inner_value = None
            if isinstance(inner_value, (dict, list)) and inner_value:
                return read_generic(inner_value, cfg, nested + 1)
        if "<" in value:
            text, low = _untagged(value)
            if text != value.strip() and text and (verdict := _text_verdict(text.split()[0])) is not None:
                if low and verdict.verdict:  # "Yes <confidence> Low </confidence>": unsure, for a person
                    return Reading(findings=[Finding("needs review", True, None, "", 0.6)])
                if verdict.verdict is not None and len(text.split()) == 1:
                    return verdict
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
    if isinstance(value, dict) and (pair := _yes_no_probability(value, cfg)) is not None:
        return pair
    if isinstance(value, dict) and (aligned := _aligned_scores(value, cfg)) is not None:
        return aligned
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
    reading.findings = _scores_of_named(_flags_decide(reading.findings))
    if not reading.findings and reading.verdict is None and isinstance(value, dict) and _acted(value):
        # No detection field at all: what the deployment did ({"blocked": true}) is the only evidence
        reading.verdict = True
    if reading.verdict and not any(f.counted for f in reading.findings) and isinstance(value, dict):
        # A positive verdict with nothing named: the reason may say what ("Regex match: Social
        # security number"); a hint the taxonomy's aliases must confirm, never a guess.
        reading.findings.extend(_reason_hints(value))
    if not reading.findings and reading.verdict is None and isinstance(value, dict):
        # A verdict as text under an output key: {"response": "unsafe\nS2"} (a Llama Guard worker),
        # {"input": ..., "output": "Text was found that violates ... policy."} (a wrapper's sentence),
        # or a chat completion whose message is the guard model's answer
        for key, text in list(value.items())[:50]:
            if _key(key) in SENTENCE_KEYS and isinstance(text, str):
                inner = read_generic(text, cfg, nested + 1)
                if inner.status == "ok":
                    return inner
        if "choices" in value and nested < MAX_NESTED and isinstance(text := find_text(value), str):
            inner = read_generic(text, cfg, nested + 1)
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
        if k in META_KEYS or "refusal" in k:  # a refusal is the model declining, not a harm
            continue
        if is_custom_list_key(k) and isinstance(item, (list, dict)):
            if _any_hit(item):  # a customer's own list matched: a policy hit; its "match" is content
                reading.verdict = True
            continue
        if (
            isinstance(item, bool)
            and parent
            and _is_inverted_key(_key(parent))
            and not (k in VERDICT_KEYS or _is_inverted_key(k))
        ):
            # {"results_valid": {"Toxicity": false}}: the map says which checks passed
            yield Finding(str(key)[:200], not item, None, child, 0.8)
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
            elif is_level_key(k) or k == "likelihood" or word in LEVEL_WORDS or word in DLP_LIKELIHOOD:
                if word in LEVEL_WORDS:
                    yield Finding(
                        (parent if is_level_key(k) and parent else str(key))[:200],
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


def _any_hit(item: Any) -> bool:
    """Does a custom list section hold a hit (a non-empty list, or an item not marked undetected)?"""
    items = item if isinstance(item, list) else [item]
    return any(
        (isinstance(x, dict) and x.get("detected", True) is not False and x) or isinstance(x, str)
        for x in items[:100]
    )


_POLICY_KEYS = ("policy", "policy_name", "risk", "risk_name", "category", "harm_type", "name")


def _yes_no_probability(value: dict, cfg: ReaderConfig) -> Reading | None:
    """``{"Yes": 0.83, "No": 0.17}``: a guard model's probabilities of its two answers, with the
    policy it judged when the record names it (``{"policy": "harassment", "Yes": ..., "No": ...}``)."""
    keys = {_key(k): k for k in list(value)[:20]}
    if "yes" not in keys or "no" not in keys:
        return None
    p_yes, p_no = unit_score(value[keys["yes"]]), unit_score(value[keys["no"]])
    if p_yes is None or p_no is None:
        return None
    counted = p_yes >= cfg.threshold and p_yes >= p_no
    name = next((category_name(value[k]) for k in _POLICY_KEYS if isinstance(value.get(k), str)), None)
    if name is None or _key(name) in NOT_CATEGORY_WORDS:
        return Reading(verdict=counted)
    return Reading(findings=[Finding(name, counted, p_yes, "", 0.75, True)])


_NAME_LIST_KEYS = frozenset(
    ("policies", "policy", "categories", "labels", "names", "classes", "risks", "harms")
)


def _aligned_scores(value: dict, cfg: ReaderConfig) -> Reading | None:
    """A list of names beside a list of the same length of scores or ``[p_no, p_yes]`` pairs:
    ``{"policies": ["hate", "violence"], "probabilities": [[0.9, 0.1], [0.2, 0.8]]}``. A pair's second
    value is the "yes" probability (the positive class comes second, as in a softmax over No/Yes)."""
    names = next(
        (
            v
            for k, v in list(value.items())[:50]
            if _key(k) in _NAME_LIST_KEYS
            and isinstance(v, list)
            and 0 < len(v) <= 500
            and all(isinstance(x, str) for x in v)
        ),
        None,
    )
    if names is None:
        return None
    for key, column in list(value.items())[:50]:
        if not isinstance(column, list) or len(column) != len(names) or column is names:
            continue
        if all(isinstance(x, list) and len(x) == 2 for x in column):
            scores = [unit_score(x[1]) for x in column]
        else:
            scores = [unit_score(x) for x in column]
        if any(score is None for score in scores):
            continue
        findings = [
            Finding(str(n).strip()[:200], score >= cfg.threshold, score, f"{key}[{i}]", 0.75, True)
            for i, (n, score) in enumerate(zip(names, scores, strict=True))
        ]
        return Reading(findings=findings)
    return None


def _flags_decide(findings: list[Finding]) -> list[Finding]:
    """A category decided by a flag (no score) is not decided again by a score elsewhere in the
    output: LLM Guard's ``results_valid`` says which scanner failed, its ``results_score`` only how
    much (the product's contract: a flag decides over any score)."""
    flagged = {_key(f.category) for f in findings if f.score is None and f.certainty >= 0.8}
    if not flagged:
        return findings
    return [f for f in findings if f.score is None or _key(f.category) not in flagged]


_SCORE_WORDS = frozenset(_key(k) for k in SCORE_KEYS)


def _scores_of_named(findings: list[Finding]) -> list[Finding]:
    """A bare ``score`` or ``confidence`` beside named categories is how sure the detector was of
    them, not a category called "score": ``{"flagged": true, "labels": ["toxicity"], "score": 0.93}``
    is one finding."""
    bare = [f for f in findings if _key(f.category) in _SCORE_WORDS and f.score is not None]
    if not bare or not any(f.counted and f not in bare for f in findings):
        return findings
    return [f for f in findings if f not in bare]


def _reason_hints(value: dict, depth: int = 0) -> list[Finding]:
    """Prose reasons of a positive verdict, as hints (see :attr:`Finding.hint`)."""
    hints = []
    for key, item in list(value.items())[:50]:
        k = _key(key)
        if k in REASON_KEYS:
            texts = item if isinstance(item, list) else [item]
            for text in texts[:10]:
                if isinstance(text, str) and 3 <= len(text.strip()) <= 300:
                    hints.append(Finding(text.strip()[:200], True, None, str(key), 0.7, hint=True))
        elif isinstance(item, dict) and depth < 2 and k not in META_KEYS:
            hints.extend(_reason_hints(item, depth + 1))
    return hints[:10]


_ACTION_WORDS = frozenset(
    ("blocked", "block", "deny", "denied", "guardrail_intervened", "intervened", "rejected")
)


def _acted(value: dict) -> bool:
    """Did the deployment block (``{"blocked": true}``, ``{"action": "BLOCKED"}``)? Used only when an
    output has no detection field: what a classifier found decides over what the deployment did."""
    for key, item in list(value.items())[:50]:
        k = _key(key)
        if k in ("blocked", "filtered", "intervened", "is_blocked") and item is True:
            return True
        if (
            k in ("action", "decision", "guardrail_action")
            and isinstance(item, str)
            and _key(item) in _ACTION_WORDS
        ):
            return True
    return False

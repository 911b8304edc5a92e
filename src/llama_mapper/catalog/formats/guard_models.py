"""Readers for guard models that answer one question at a time (see docs/research/guard_models.md):
IBM Granite Guardian, Google ShieldGemma 1 and 2, AI2 WildGuard, Meta LlamaFirewall and Patronus Lynx.

What they share: the risk or policy asked about is often part of the *request* (Granite's
``guardian_config``, ShieldGemma's policy), so a bare "Yes" names no category (an uncategorised
verdict); records that log the risk beside the verdict give the category. "Yes" always means the risk is
present (for Granite's RAG risks too: groundedness "Yes" = ungrounded); Lynx "FAIL" = unfaithful.

May import: :mod:`llama_mapper.catalog.base` and :mod:`llama_mapper.catalog.vendors`.
"""

from __future__ import annotations

import ast
import math
import re
from itertools import islice
from typing import Any

from llama_mapper.catalog.base import (
    _SPECIAL_TOKENS,
    MAX_TEXT,
    Finding,
    Reader,
    ReaderConfig,
    Reading,
    batch_items,
    find_text,
    first_key,
    number,
    union_readings,
    unit_score,
)

MAX_ITEMS = 100  # records read from one batch
MAX_NAME = 100  # characters kept of a risk / policy / regex name
_GEMMA_TOKENS = re.compile(r"<(?:eos|bos|pad|end_of_turn|start_of_turn)>", re.I)


def _clean(text: str) -> str:
    """Text without decoding leftovers (special tokens), bounded."""
    text = _SPECIAL_TOKENS.sub("", text[:MAX_TEXT])
    return _GEMMA_TOKENS.sub("", text).strip()


def _name(value: Any) -> str | None:
    """A short category name from a string, else None."""
    if not isinstance(value, str):
        return None
    name = value.strip().strip("\"'`* ").strip()
    return name[:MAX_NAME] or None


def _lower_keys(record: dict) -> dict[str, Any]:
    """The record's keys lower-cased (first spelling wins), bounded."""
    out: dict[str, Any] = {}
    for key, item in islice(record.items(), 200):
        if isinstance(key, str):
            out.setdefault(key.lower(), item)
    return out


def _yes_no(text: str) -> bool | None:
    """True for a leading "Yes", False for "No", else None ("Yes." and " YES " count)."""
    match = re.match(r"[\s\"'*`]*([A-Za-z]+)", text)
    word = match[1].lower() if match else ""
    return True if word == "yes" else False if word == "no" else None


# ---------------------------------------------------------------------------------------------
# IBM Granite Guardian 3.0-3.3 (and 4.1)
# ---------------------------------------------------------------------------------------------

_GG_SCORE = re.compile(r"<score>\s*([A-Za-z]*)\s*</score>", re.I)
_GG_RISK_KEYS = ("risk_name", "riskname", "risk", "criteria_id", "risk_type")
_GG_CONFIG_KEYS = ("guardian_config", "guardianconfig", "config")
_GG_LABEL_KEYS = (
    "label",
    "detection",
    "result",
    "verdict",
    "answer",
    "prediction",
    "output",
    "generated_text",
    "text",
    "response",
    "content",
)
_GG_PROB_KEYS = (
    "prob_of_risk",
    "probability_of_risk",
    "risk_probability",
    "risk_prob",
    "p_risk",
    "probability",
    "prob",
    "score",
)
_NO_CATEGORY = {"", "none", "no", "n/a", "na"}


def _granite_text(text: str) -> tuple[bool | None, list[str], str]:
    """(verdict, harm categories, reason) of Granite Guardian's generated text; verdict None = unusable."""
    text = _clean(text)
    low = text.lower()
    if not text:
        return None, [], "empty verdict text"
    if "<score>" in low:  # 3.3 / 4.1: <think>...</think> <score> yes </score>; the last score decides
        scores = _GG_SCORE.findall(text[-5000:])
        word = scores[-1].lower() if scores else ""
        if word in ("yes", "no"):
            return word == "yes", [], ""
        return None, [], "<score> is neither yes nor no"
    if "<think>" in low:
        return None, [], "reasoning trace without a <score> (truncated)"
    if "categories>" in low:  # 3.2 LoRA harm categories: "Violence, Unethical Behavior</categories>"
        body = re.sub(r"</?categories>", "\n", text, flags=re.I)
        names = [n for n in (_name(p) for p in re.split(r"[,\n]", body)[:50]) if n]
        names = [n for n in names if n.lower() not in _NO_CATEGORY]
        return bool(names), names, ""
    verdict = _yes_no(text)
    if verdict is None:  # the cookbooks' own parser writes "Failed"; anything else is unusable too
        return None, [], "verdict is neither Yes nor No"
    return verdict, [], ""


def _granite_risk(record: dict) -> tuple[str | None, bool]:
    """(risk name, whether the record carries a request config) of a Granite record."""
    keys = _lower_keys(record)
    config = first_key(keys, _GG_CONFIG_KEYS)
    has_config = isinstance(config, dict)
    for source in (keys, _lower_keys(config) if has_config else {}):
        risk = _name(first_key(source, _GG_RISK_KEYS))
        if risk:
            return risk, True
        if source.get("custom_criteria") or source.get("risk_definition"):
            return "custom_criteria", True  # caller-defined criterion without an id: its text is content
    return None, has_config


def _granite_record(record: dict, cfg: ReaderConfig) -> Reading:
    risk, configured = _granite_risk(record)
    keys = _lower_keys(record)
    label = first_key(keys, _GG_LABEL_KEYS)
    text = label if isinstance(label, str) else find_text(label) if isinstance(label, (dict, list)) else None
    if text is None and ("message" in keys or "choices" in keys):
        text = find_text(record)
    raw_prob = first_key(keys, _GG_PROB_KEYS)
    prob = unit_score(raw_prob)
    if isinstance(label, bool):
        text = "yes" if label else "no"
    if text is not None:
        verdict, categories, reason = _granite_text(text)
        if verdict is None:
            return Reading(status="error", reason=reason)
        if categories:
            return Reading([Finding(c, True, None, "categories") for c in categories], verdict=True)
        if risk is None:
            return Reading(verdict=verdict)
        # P(risk) comes from the logprobs whatever the label says: keep it only where it agrees.
        score = prob if prob is not None and (prob >= cfg.threshold) == verdict else None
        return Reading([Finding(risk, verdict, score, "label")], verdict=verdict)
    if prob is not None:
        counted = prob >= cfg.threshold
        findings = [Finding(risk, counted, prob, "prob_of_risk", 1.0, True)] if risk else []
        return Reading(findings, verdict=counted)
    if number(raw_prob) is not None:
        return Reading(status="error", reason="probability of risk outside [0, 1]")
    if configured:
        return Reading(status="error", reason="request config without a verdict")
    return Reading(status="unreadable", reason="no Granite Guardian verdict")


def read_granite_guardian(value: Any, cfg: ReaderConfig) -> Reading:
    """Granite Guardian: "Yes"/"No" text (3.2 adds ``<confidence>``, 3.3 ``<score>`` tags), cookbook
    records with the risk name beside the label and P(risk), vllm-detector-adapter detection lists,
    chat-completion and Ollama envelopes, and the 3.2 LoRA's harm-category list."""
    if isinstance(value, str):
        prob = unit_score(value) if number(value) is not None else None
        if prob is not None:
            return Reading(verdict=prob >= cfg.threshold)
        verdict, categories, reason = _granite_text(value)
        if verdict is None:
            return Reading(status="error", reason=reason)
        return Reading([Finding(c, True, None, "categories") for c in categories], verdict=verdict)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        prob = unit_score(value)
        if prob is None:
            return Reading(status="error", reason="probability of risk outside [0, 1]")
        return Reading(verdict=prob >= cfg.threshold)
    if isinstance(value, dict):
        return _granite_record(value, cfg)
    if isinstance(value, list):
        return union_readings(read_granite_guardian(item, cfg) for item in batch_items(value, MAX_ITEMS))
    return Reading(status="unreadable", reason="not a Granite Guardian output")


# ---------------------------------------------------------------------------------------------
# Google ShieldGemma 1 (text, per policy) and ShieldGemma 2 (images x policies)
# ---------------------------------------------------------------------------------------------

SHIELDGEMMA2_POLICIES = ("dangerous", "sexual", "violence")  # transformers' default order
_SG_POLICY_KEYS = ("policy", "policy_name", "harm_type", "category")
_SG_YES_KEYS = (
    "p_yes",
    "yes",
    "prob_yes",
    "yes_prob",
    "yes_probability",
    "violation",
    "violation_probability",
    "violation_score",
    "p_violation",
    "score",
    "probability",
    "prob",
)
_SG_NO_KEYS = ("p_no", "no", "prob_no", "no_prob", "no_probability")
_SG_LIST_KEYS = ("scores", "yes_probabilities", "p_yes", "violation_probabilities", "probabilities")
_SG_WRAPPERS = ("scores", "results", "policy_scores", "predictions")
_SG_META = {
    "model",
    "id",
    "object",
    "created",
    "usage",
    "index",
    "threshold",
    "latency",
    "latency_ms",
    "elapsed",
    "elapsed_ms",
    "duration",
    "image",
    "images",
    "image_id",
    "prompt",
    "request_id",
    "timestamp",
    "version",
    "done",
}


class _Bad(ValueError):
    """A number where a probability should be that is not one (a logit)."""


def _policy(value: Any) -> str | None:
    """A policy name: '"No Hate Speech": The prompt shall not ...' -> "Hate Speech"."""
    name = _name(value)
    if name is None:
        return None
    if ":" in name:
        name = _name(name.split(":", 1)[0]) or ""
    if name.lower().startswith("no "):
        name = name[3:].strip()
    return name or None


def _prob(value: Any) -> float | None:
    """A probability; raises :class:`_Bad` for a number outside [0, 1]."""
    f = number(value)
    if f is None:
        return None
    if not 0 <= f <= 1:
        raise _Bad("score outside [0, 1]")
    return f


def _pair(value: Any) -> float | None:
    """P(Yes) of a [P(Yes), P(No)] row (ShieldGemma's softmax over the Yes and No tokens)."""
    if isinstance(value, list) and len(value) == 2:
        yes, no = (_prob(v) for v in value)
        if yes is not None and no is not None:
            return yes
    return None


def _logit_pair(value: Any) -> float | None:
    """P(Yes) of a [logit(Yes), logit(No)] row."""
    if isinstance(value, list) and len(value) == 2:
        yes, no = (number(v) for v in value)
        if yes is not None and no is not None:
            return 1 / (1 + math.exp(max(-50.0, min(50.0, no - yes))))
    return None


def _yes_prob(record: dict) -> float | None:
    """P(Yes) from a record that labels its numbers (p_yes / p_no / score / probabilities)."""
    keys = _lower_keys(record)
    for key in _SG_YES_KEYS:
        if key in keys and (p := _prob(keys[key])) is not None:
            return p
    for key in _SG_NO_KEYS:
        if key in keys and (p := _prob(keys[key])) is not None:
            return 1 - p
    if (p := _pair(keys.get("probabilities"))) is not None:
        return p
    return _logit_pair(keys.get("logits"))


def _rows(value: Any) -> list[float] | None:
    """P(Yes) per row of a ``(images x policies, 2)`` matrix of probabilities or logits."""
    if not isinstance(value, list) or not value or not all(isinstance(r, list) for r in value[:1000]):
        return None
    rows = [_pair(r) for r in value[:1000]]
    return rows if all(r is not None for r in rows) else None


def _matrix(rows: list[float], policies: list[str | None], cfg: ReaderConfig, path: str) -> Reading:
    """Findings for rows ordered image1-policy1 ... image1-policyN, image2-policy1 ..."""
    if not policies or len(rows) % len(policies):
        counted = any(p >= cfg.threshold for p in rows)
        return Reading(verdict=counted)  # the policy of each row is unknown
    reading = Reading()
    for i, p in enumerate(rows):
        name = policies[i % len(policies)]
        if name:
            reading.findings.append(Finding(name, p >= cfg.threshold, p, f"{path}[{i}]", 1.0, True))
    reading.verdict = any(f.counted for f in reading.findings)
    return reading


def _policy_list(value: Any) -> list[str | None] | None:
    if isinstance(value, dict):  # custom_policies {key: definition}: keys in order
        value = list(value)
    if isinstance(value, list) and value and len(value) <= 1000:
        return [_policy(v) for v in value]
    return None


def _sg_text(text: str, policy: str | None, cfg: ReaderConfig) -> Reading:
    text = _clean(text)
    if not text:
        return Reading(status="error", reason="empty verdict text")
    p = _prob(text)
    if p is not None:  # a P(Yes) logged as text
        if policy is None:
            return Reading(verdict=p >= cfg.threshold)
        return Reading(
            [Finding(policy, p >= cfg.threshold, p, "score", 1.0, True)], verdict=p >= cfg.threshold
        )
    verdict = _yes_no(text)
    if verdict is None:
        return Reading(status="error", reason="answer does not start with Yes or No")
    if policy is None:
        return Reading(verdict=verdict)
    return Reading([Finding(policy, verdict, None, "answer")], verdict=verdict)


def _sg_scores(mapping: dict, cfg: ReaderConfig, path: str) -> Reading:
    """A dict of policy -> P(Yes) (or -> {"yes": p, "no": q})."""
    reading = Reading()
    for key, item in islice(mapping.items(), 200):
        if not isinstance(key, str) or key.lower() in _SG_META:
            continue
        p = _prob(item) if not isinstance(item, (dict, list)) else None
        if isinstance(item, dict):
            p = _yes_prob(item)
        elif isinstance(item, list):
            p = _pair(item)
        name = _policy(key)
        if p is not None and name:
            reading.findings.append(Finding(name, p >= cfg.threshold, p, path, 1.0, True))
    if not reading.findings:
        return Reading(status="unreadable", reason="no policy with a probability")
    reading.verdict = any(f.counted for f in reading.findings)
    return reading


def _sg_record(record: dict, cfg: ReaderConfig, defaults: tuple[str, ...]) -> Reading:
    keys = _lower_keys(record)
    policy = _policy(first_key(keys, _SG_POLICY_KEYS))
    policies = _policy_list(keys.get("policies"))
    if any(keys.get(k) == [] for k in ("probabilities", "logits", "scores")):
        return Reading(status="error", reason="empty probabilities")
    for key in ("probabilities", "logits"):  # (images x policies, 2) matrices
        matrix = keys.get(key)
        rows = _rows(matrix) if key == "probabilities" else None
        if (
            key == "logits"
            and isinstance(matrix, list)
            and matrix
            and all(isinstance(r, list) for r in matrix)
        ):
            rows = [_logit_pair(r) for r in matrix[:1000]]
            rows = rows if all(r is not None for r in rows) else None
        if rows is not None:
            names = policies or ([policy] if policy else list(defaults))
            return _matrix(rows, names, cfg, key)
    if policies is not None:  # per-policy P(Yes) beside the policies list
        for key in _SG_LIST_KEYS:
            scores = keys.get(key)
            if isinstance(scores, list) and scores and not any(isinstance(s, list) for s in scores):
                probs = [_prob(s) for s in scores[:1000]]
                if all(p is not None for p in probs):
                    return _matrix(probs, policies, cfg, key)  # type: ignore[arg-type]
    p = _yes_prob(record)
    if p is not None:
        if policy is None:
            return Reading(verdict=p >= cfg.threshold)
        return Reading(
            [Finding(policy, p >= cfg.threshold, p, "score", 1.0, True)], verdict=p >= cfg.threshold
        )
    text = first_key(keys, ("label", "answer"))
    if not isinstance(text, str):
        text = find_text(record)
    if isinstance(text, str):
        return _sg_text(text, policy, cfg)
    if policy is not None:
        return Reading(status="error", reason="policy without a score or an answer")
    for key in _SG_WRAPPERS:
        if isinstance(keys.get(key), dict):
            return _sg_scores(keys[key], cfg, key)
    return _sg_scores(record, cfg, "scores")


def _read_shieldgemma(value: Any, cfg: ReaderConfig, defaults: tuple[str, ...]) -> Reading:
    try:
        if isinstance(value, str):
            return _sg_text(value, None, cfg)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            p = _prob(value)
            if p is None:
                return Reading(status="error", reason="score is not a finite number")
            return Reading(verdict=p >= cfg.threshold)
        if isinstance(value, dict):
            return _sg_record(value, cfg, defaults)
        if isinstance(value, list):
            if (rows := _rows(value)) is not None:  # outputs.probabilities.tolist()
                return _matrix(rows, list(defaults), cfg, "probabilities")
            return union_readings(
                _read_shieldgemma(item, cfg, defaults) for item in batch_items(value, MAX_ITEMS)
            )
    except _Bad as err:
        return Reading(status="error", reason=str(err))
    return Reading(status="unreadable", reason="not a ShieldGemma output")


def read_shieldgemma(value: Any, cfg: ReaderConfig) -> Reading:
    """ShieldGemma 1: P(Yes) per policy (one policy a call), ``{"Yes": p, "No": q}``, a dict of policy
    -> P(Yes), or the generated "Yes"/"No" text; no policy named -> an uncategorised verdict."""
    return _read_shieldgemma(value, cfg, ())


def read_shieldgemma_2(value: Any, cfg: ReaderConfig) -> Reading:
    """ShieldGemma 2: ``probabilities`` of shape (images x policies, 2), column 0 = P(Yes), rows ordered
    image by image over the ``policies`` list (default dangerous, sexual, violence); or per-policy
    P(Yes) as a dict or beside the list."""
    return _read_shieldgemma(value, cfg, SHIELDGEMMA2_POLICIES)


# ---------------------------------------------------------------------------------------------
# AI2 WildGuard
# ---------------------------------------------------------------------------------------------

_WG_LINE = re.compile(
    r"^[ \t*]*(harmful request|response refusal|harmful response|prompt harmfulness|response harmfulness)"
    r"[ \t*]*:[ \t]*([^\n]*)$",
    re.I | re.M,
)
_WG_FIELD = {  # text field -> (finding name, is a harm)
    "harmful request": ("Harmful request", True),
    "prompt harmfulness": ("Harmful request", True),
    "harmful response": ("Harmful response", True),
    "response harmfulness": ("Harmful response", True),
    "response refusal": ("Response refusal", False),
}
_WG_VALUES = {
    "yes": True,
    "harmful": True,
    "refusal": True,
    "no": False,
    "unharmful": False,
    "compliance": False,
    "n/a": None,
    "na": None,
    "none": None,
}
_WG_DICT = {
    "prompt_harmfulness": ("prompt_harmfulness", True),
    "response_harmfulness": ("response_harmfulness", True),
    "response_refusal": ("response_refusal", False),
}


def _wg_value(raw: Any) -> tuple[bool | None, bool]:
    """(value, valid): yes/harmful/refusal -> True, no/unharmful/compliance -> False, n/a/None -> None."""
    if raw is None:
        return None, True
    if not isinstance(raw, str):
        return None, False
    word = raw.strip().strip(" .'\"*<>").lower()
    word = word.rsplit(".", 1)[-1].split(":")[0].strip(" '")  # enum reprs: PromptHarmfulness.HARMFUL
    if word in _WG_VALUES:
        return _WG_VALUES[word], True
    return None, False


def _wg_text(text: str) -> Reading:
    if "<|assistant|>" in text:  # a pipeline that returned the prompt too: the answer follows the last turn
        text = text.rsplit("<|assistant|>", 1)[1]
    text = _clean(text)
    if not text:
        return Reading(status="error", reason="empty verdict text")
    fields: dict[str, str] = {}
    for match in _WG_LINE.finditer(text[:10_000]):
        fields[match[1].lower()] = match[2]  # the last line of each field wins
    if not fields:
        return Reading(status="error", reason="no WildGuard answer lines")
    model_spelling = "harmful request" in fields or "harmful response" in fields
    needed = ("harmful request", "response refusal", "harmful response") if model_spelling else ()
    if any(f not in fields for f in needed) or not any(_WG_FIELD[f][1] for f in fields):
        return Reading(status="error", reason="a WildGuard answer line is missing")
    reading = Reading(verdict=False)
    for field, raw in fields.items():
        name, harm = _WG_FIELD[field]
        value, valid = _wg_value(raw)
        if not valid or (value is None and name == "Harmful request"):
            return Reading(status="error", reason=f"unexpected value on the {name.lower()} line")
        if value is None:
            continue
        reading.findings.append(Finding(name, harm and value, None, name))
        reading.verdict = reading.verdict or (harm and value)
    return reading


def _wg_record(record: dict) -> Reading:
    if record.get("is_parsing_error") is True:
        return Reading(status="error", reason="WildGuard could not parse its own output")
    present = [k for k in _WG_DICT if k in record]
    if not present:
        text = find_text(record)
        if isinstance(text, str):
            return _wg_text(text)
        return Reading(status="unreadable", reason="no WildGuard fields")
    reading = Reading(verdict=False)
    for key in present:
        name, harm = _WG_DICT[key]
        value, valid = _wg_value(record[key])
        if not valid:
            return Reading(status="error", reason=f"unexpected {key} value")
        if value is None:
            continue
        reading.findings.append(Finding(name, harm and value, None, key))
        reading.verdict = reading.verdict or (harm and value)
    if not any(_WG_DICT[f.category][1] for f in reading.findings):
        return Reading(status="error", reason="no harmfulness value")
    return reading


def read_wildguard(value: Any, cfg: ReaderConfig) -> Reading:
    """WildGuard: the three answer lines (harmful request / response refusal / harmful response), or
    the ``wildguard`` package's dicts; the refusal line is behaviour, never a finding."""
    if isinstance(value, str):
        return _wg_text(value)
    if isinstance(value, dict):
        return _wg_record(value)
    if isinstance(value, list):
        return union_readings(read_wildguard(item, cfg) for item in batch_items(value, MAX_ITEMS))
    return Reading(status="unreadable", reason="not a WildGuard output")


# ---------------------------------------------------------------------------------------------
# Meta LlamaFirewall (ScanResult) and standalone CodeShield
# ---------------------------------------------------------------------------------------------

_FW_DECISIONS = ("human_in_the_loop_required", "allow", "block")
_FW_STATUSES = ("success", "error", "skipped")
_FW_PART = re.compile(r"(?:^|; )ScannerType\.([A-Z_]{2,40}): ")
_FW_PART_SCORE = re.compile(r"\s+-\s+score:\s*[-+0-9.eE]+\s*$")
_FW_SCANNERS = {"prompt_guard", "code_shield", "agent_alignment", "hidden_ascii", "pii_detection", "regex"}
_FW_ALLOW = (
    "no prompt injection detected",
    "no unsafe function call detected",
    "no regex patterns matched",
    "no hidden ascii detected",
    "no pii detected",
    "default",
)
_FW_REPR_DECISION = re.compile(r"decision=<?ScanDecision\.([A-Z_]+)")
_FW_REPR_REASON = re.compile(r"""reason=('(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")""")
_FW_REPR_SCORE = re.compile(r"score=([-+0-9.eE]+|nan|inf)")
_FW_REPR_STATUS = re.compile(r"status=<?ScanStatus\.([A-Z_]+)")


def _fw_enum(value: Any, names: tuple[str, ...]) -> str | None:
    """'block', 'BLOCK', 'ScanDecision.BLOCK', "<ScanDecision.BLOCK: 'block'>" -> 'block'."""
    if not isinstance(value, str):
        return None
    low = value.strip().lower()[:100]
    return next((n for n in names if n in low), None)


def _fw_body(body: str) -> tuple[str, list[str]]:
    """What one scanner's reason says: ("block" | "allow" | "error" | "unknown", categories)."""
    text = body.strip()
    low = text[:200].lower()
    if low.startswith("received text is likely to be a prompt injection attack"):
        return "block", ["prompt_guard"]
    if re.match(r"\d+ unsafe function calls? detected", low):
        return "block", ["code_shield"]
    if low.startswith("regex match:"):
        return "block", [_name(text[12:].split("\n", 1)[0]) or "regex"]
    if low.startswith("hidden ascii:"):
        return "block", ["hidden_ascii"]  # the rest is the decoded hidden text: content, never read
    if low.startswith("pii detected:"):
        types = [_name(t) for t in text[13:].split("\n", 1)[0].split(",")[:30]]
        return "block", [t for t in types if t] or ["pii_detection"]
    if low.startswith("observation:"):
        if low.startswith("observation: error occurred during evaluation"):
            return "error", []  # AlignmentCheck's default answer when its LLM call failed
        conclusions = re.findall(r"conclusion:\s*(true|false)", text[-2000:].lower())
        return ("block", ["agent_alignment"]) if conclusions[-1:] == ["true"] else ("allow", [])
    if low.startswith("no trace provided"):
        return "error", []
    if any(low.startswith(a) for a in _FW_ALLOW):
        return "allow", []
    if low in _FW_SCANNERS:  # README-era results: reason='prompt_guard'
        return "block", [low]
    return "unknown", []


def _fw_reading(decision: str | None, reason: Any, score: Any, status: str | None) -> Reading:
    if status in ("error", "skipped"):
        return Reading(status="error", reason=f"scan status {status}")
    if decision is None:
        return Reading(status="error", reason="no scan decision")
    reason = reason[:MAX_TEXT] if isinstance(reason, str) else ""
    parts = list(islice(_FW_PART.finditer(reason), 20))
    bodies = (
        [
            reason[m.end() : parts[i + 1].start() if i + 1 < len(parts) else len(reason)]
            for i, m in enumerate(parts)
        ]
        if parts
        else [reason]
    )
    kinds = [_fw_body(_FW_PART_SCORE.sub("", b)) for b in bodies]
    blocked = decision != "allow"
    p = unit_score(score)
    reading = Reading(verdict=blocked)
    for kind, categories in kinds:
        for name in categories:
            reading.findings.append(
                Finding(name, blocked and kind == "block", p if blocked else None, "reason")
            )
    if any(kind == "error" for kind, _ in kinds) and not any(f.counted for f in reading.findings):
        return Reading(status="error", reason="the scanner's check failed (default error answer)")
    if decision == "human_in_the_loop_required" and not any(f.counted for f in reading.findings):
        reading.findings.append(Finding("human_in_the_loop_required", True, p, "decision"))
    return reading


def _fw_repr(text: str) -> Reading:
    """``ScanResult(decision=<ScanDecision.BLOCK: 'block'>, reason='...', score=0.95, status=...)``."""
    decision = _FW_REPR_DECISION.search(text)
    if decision is None:
        return Reading(status="unreadable", reason="no ScanDecision in the ScanResult")
    reason_match = _FW_REPR_REASON.search(text, decision.end())
    reason, rest = "", text[decision.end() :]
    if reason_match is not None:
        try:
            parsed = ast.literal_eval(reason_match[1])
            reason = parsed if isinstance(parsed, str) else ""
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            reason = ""
        rest = text[reason_match.end() :]
    score = _FW_REPR_SCORE.search(rest)
    status = _FW_REPR_STATUS.search(rest)
    return _fw_reading(
        _fw_enum(decision[1], _FW_DECISIONS),
        reason,
        score[1] if score else None,
        _fw_enum(status[1], _FW_STATUSES) if status else None,
    )


def _fw_printed(text: str) -> Reading:
    """The tutorials' print-out: ``Decision: ScanDecision.BLOCK`` / ``Reason: ...`` / ``Score: 0.95``."""
    decision = re.search(r"^\s*decision:\s*(\S+)", text, re.I | re.M)
    if decision is None:
        return Reading(status="unreadable", reason="no decision line")
    reason = re.search(r"^\s*reason:[ \t]*", text, re.I | re.M)
    scores = list(re.finditer(r"^\s*score:\s*(\S+)\s*$", text, re.I | re.M))
    status = re.search(r"^\s*status:\s*(\S+)\s*$", text, re.I | re.M)
    body = ""
    if reason is not None:
        end = scores[-1].start() if scores and scores[-1].start() > reason.end() else len(text)
        body = text[reason.end() : end]
    return _fw_reading(
        _fw_enum(decision[1], _FW_DECISIONS),
        body,
        scores[-1][1] if scores else None,
        _fw_enum(status[1], _FW_STATUSES) if status else None,
    )


def _fw_record(record: dict) -> Reading:
    keys = _lower_keys(record)
    if "decision" in keys:
        decision = _fw_enum(keys["decision"], _FW_DECISIONS)
        if decision is None:
            return Reading(status="error", reason="unknown scan decision")
        status = _fw_enum(keys.get("status"), _FW_STATUSES) if keys.get("status") is not None else None
        if keys.get("status") is not None and status is None:
            return Reading(status="error", reason="unknown scan status")
        return _fw_reading(decision, keys.get("reason"), keys.get("score"), status)
    if "is_insecure" in keys or "recommended_treatment" in keys:  # standalone CodeShield
        insecure = keys.get("is_insecure")
        if not isinstance(insecure, bool):
            insecure = _fw_enum(keys.get("recommended_treatment"), ("block", "warn", "ignore")) in (
                "block",
                "warn",
            )
        return Reading([Finding("code_shield", insecure, None, "is_insecure")], verdict=insecure)
    text = find_text(record)
    if isinstance(text, str):
        return read_llamafirewall(text, ReaderConfig())
    return Reading(status="unreadable", reason="no ScanResult fields")


def read_llamafirewall(value: Any, cfg: ReaderConfig) -> Reading:
    """LlamaFirewall ``ScanResult`` (dict, repr or print-out): the decision decides, whatever the score;
    the category comes from the reason (scanner, regex name, PII types)."""
    if isinstance(value, str):
        text = _clean(value)
        if "ScanDecision." in text[:2000] and "decision=" in text[:2000]:
            return _fw_repr(text)
        if re.search(r"^\s*decision:", text[:2000], re.I | re.M):
            return _fw_printed(text)
        return Reading(status="unreadable", reason="not a ScanResult")
    if isinstance(value, dict):
        return _fw_record(value)
    if isinstance(value, list):
        return union_readings(read_llamafirewall(item, cfg) for item in batch_items(value, MAX_ITEMS))
    return Reading(status="unreadable", reason="not a ScanResult")


# ---------------------------------------------------------------------------------------------
# Patronus Lynx (hallucination judge) and the Patronus Evaluate API
# ---------------------------------------------------------------------------------------------

_LYNX_SCORE = re.compile(r"\"score\"\s*:\s*\"?\s*([A-Za-z]*)", re.I)


def _lynx_verdict(value: Any) -> bool | None:
    """True for FAIL (unfaithful), False for PASS, None for anything else."""
    if not isinstance(value, str):
        return None
    word = value.strip().strip("\"'*. ").upper()
    return True if word == "FAIL" else False if word == "PASS" else None


def _lynx_reading(fail: bool | None, path: str) -> Reading:
    if fail is None:
        return Reading(status="error", reason="SCORE is neither PASS nor FAIL")
    return Reading([Finding("lynx", fail, None, path)], verdict=fail)


def _lynx_text(text: str) -> Reading:
    text = _clean(text)
    if not text:
        return Reading(status="error", reason="empty verdict text")
    scores = _LYNX_SCORE.findall(text[-20_000:])  # the JSON answer ends the text: its last SCORE decides
    if not scores:
        return Reading(status="error", reason="no SCORE in the answer")
    return _lynx_reading(_lynx_verdict(scores[-1]), "SCORE")


def _patronus_result(result: dict) -> Reading:
    """One Patronus Evaluate API result: ``evaluation_result.pass`` false = the evaluator failed it."""
    status = result.get("status")
    evaluation = result.get("evaluation_result")
    if result.get("error_message") or (isinstance(status, str) and status.lower() != "success"):
        return Reading(status="error", reason="evaluator status is not success")
    if not isinstance(evaluation, dict):
        return Reading(status="error", reason="no evaluation_result")
    passed = evaluation.get("pass", evaluation.get("pass_"))
    if not isinstance(passed, bool):
        return Reading(status="error", reason="evaluation_result without pass")
    name = _name(result.get("evaluator_id") or result.get("evaluator")) or "lynx"
    return Reading([Finding(name, not passed, None, "evaluation_result.pass")], verdict=not passed)


def _lynx_record(record: dict) -> Reading:
    keys = _lower_keys(record)
    if "score" in keys:
        return _lynx_reading(_lynx_verdict(keys["score"]), "SCORE")
    if "reasoning" in keys and "hallucination" not in keys:
        return Reading(status="error", reason="REASONING without a SCORE")
    if "hallucination" in keys:  # NeMo Guardrails' rail metadata
        flag = keys["hallucination"]
        if not isinstance(flag, bool):
            return Reading(status="error", reason="hallucination is not a boolean")
        return Reading([Finding("hallucination", flag, None, "hallucination")], verdict=flag)
    if isinstance(keys.get("results"), list):
        results = [r for r in keys["results"][:MAX_ITEMS] if isinstance(r, dict)]
        if not results:
            return Reading(status="error", reason="empty results")
        return union_readings(_patronus_result(r) for r in results)
    if "evaluation_result" in keys:
        return _patronus_result(record)
    text = find_text(record)
    if isinstance(text, str):
        return _lynx_text(text)
    return Reading(status="unreadable", reason="no Lynx SCORE")


def read_patronus_lynx(value: Any, cfg: ReaderConfig) -> Reading:
    """Lynx: ``{"REASONING": [...], "SCORE": "PASS"|"FAIL"}`` (as JSON or inside text); NeMo's
    ``{"hallucination": bool}``; Patronus Evaluate API ``results[].evaluation_result.pass``."""
    if isinstance(value, str):
        return _lynx_text(value)
    if isinstance(value, dict):
        return _lynx_record(value)
    if isinstance(value, list):
        return union_readings(read_patronus_lynx(item, cfg) for item in batch_items(value, MAX_ITEMS))
    return Reading(status="unreadable", reason="not a Lynx output")


READERS: dict[str, Reader] = {
    "granite_guardian": read_granite_guardian,
    "shieldgemma": read_shieldgemma,
    "shieldgemma_2": read_shieldgemma_2,
    "wildguard": read_wildguard,
    "llamafirewall": read_llamafirewall,
    "patronus_lynx": read_patronus_lynx,
}

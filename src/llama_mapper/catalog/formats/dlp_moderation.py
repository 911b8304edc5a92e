"""Readers for catalog detectors: DLP services and text moderation APIs (see
docs/research/scanners_and_dlp.md): Private AI (``private_ai``), Nightfall (``nightfall``), Microsoft
Purview DLP (``purview_dlp``) and Hive text moderation (``hive``). The legacy OpenAI
``text-moderation-*`` models use the existing ``openai_moderation`` reader.

Every reader keeps only metadata (category names, scores, levels); matched values, contexts and
redacted texts are never copied into a :class:`Reading`.

May import: :mod:`llama_mapper.catalog.base` and :mod:`llama_mapper.catalog.vendors`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from llama_mapper.catalog.base import (
    MAX_FINDINGS,
    MAX_TEXT,
    Budget,
    Finding,
    Reader,
    ReaderConfig,
    Reading,
    category_name,
    number,
    unit_score,
)

MAX_ITEMS = 5000  # list items a reader looks at, per list


def _dicts(value: Any, limit: int = MAX_ITEMS) -> list[dict]:
    """The dict items of a list (bounded); [] for anything else."""
    if not isinstance(value, list):
        return []
    return [item for item in value[:limit] if isinstance(item, dict)]


# ---------------------------------------------------------------------------------------------
# Private AI (Limina): process/text, ner/text, analyze/text, process/files
# ---------------------------------------------------------------------------------------------

_PAI_RESULT_KEYS = ("entities", "processed_text", "entities_present", "processed_file", "result_uri")
_PAI_ENTITY_KEYS = ("best_label", "labels")
_PAI_MARKER = re.compile(r"\[([A-Z][A-Z_]{0,60}[A-Z])_\d{1,6}\]")
_PAI_LABEL = re.compile(r"^[A-Z][A-Z_]{0,60}$")


def _pai_entity_label(entity: dict) -> str | None:
    """``best_label`` (the most specific label, not the arg-max of ``labels``), else the arg-max."""
    best = category_name(entity.get("best_label"))
    if best:
        return best
    labels = entity.get("labels")
    if isinstance(labels, dict):
        scored = [(unit_score(s), str(k)) for k, s in list(labels.items())[:200]]
        scored = [(s, k) for s, k in scored if s is not None and k]
        if scored:
            return max(scored)[1][:200]
    return None


def read_private_ai(value: Any, cfg: ReaderConfig) -> Reading:
    """Private AI: one result per input text with ``entities[].best_label``; every entity counts.

    Shapes: the REST list ``[{"processed_text", "entities", "entities_present", ...}]``, a single
    result object (files routes, ner/text), the thin client's ``entities`` property (a list of entity
    lists, or one entity list) and its ``best_labels`` (a list of label names). The markers in
    ``processed_text`` (``[NAME_GIVEN_1]``) are read only when a result has no ``entities``.
    """
    if isinstance(value, list) and not value:
        return Reading(status="error", reason="empty result list")
    if isinstance(value, dict) and "detail" in value and not any(k in value for k in _PAI_RESULT_KEYS):
        # The API is a FastAPI app (operation ids such as process_text_v3_process_text_post): its errors
        # are {"detail": "..."} or, for a 422, {"detail": [{"loc", "msg", "type"}]}.
        return Reading(status="error", reason="detector returned an error object (detail)")
    budget = Budget()
    reading = Reading()
    seen = False
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack and budget.take() and len(reading.findings) < MAX_FINDINGS:
        node, depth = stack.pop()
        if isinstance(node, list):
            if depth < 3:
                stack.extend((item, depth + 1) for item in reversed(node[:MAX_ITEMS]))
            continue
        if isinstance(node, str) and depth > 0 and _PAI_LABEL.match(node):
            seen = True  # the thin client's best_labels: a list of label names
            reading.findings.append(Finding(node, True, None, "best_labels"))
            continue
        if not isinstance(node, dict):
            continue
        if any(k in node for k in _PAI_ENTITY_KEYS):
            label = _pai_entity_label(node)
            if label:
                seen = True
                reading.findings.append(Finding(label, True, None, "entities"))
            continue
        if not any(k in node for k in _PAI_RESULT_KEYS):
            continue
        seen = True
        before = len(reading.findings)
        entities = node.get("entities")
        if isinstance(entities, list):
            for entity in _dicts(entities):
                label = _pai_entity_label(entity)
                if label:
                    reading.findings.append(Finding(label, True, None, "entities"))
        elif entities is None and isinstance(node.get("processed_text"), str):
            text = node["processed_text"][:MAX_TEXT]
            for match in list(_PAI_MARKER.finditer(text))[:MAX_FINDINGS]:
                reading.findings.append(Finding(match[1], True, None, "processed_text markers"))
        if len(reading.findings) == before and node.get("entities_present") is True:
            # Private AI says it found entities but the body lists none we can read.
            reading.findings.append(Finding("entities_present", True, None, "entities_present"))
    if not seen:
        return Reading(status="unreadable", reason="no Private AI result or entity")
    return reading


# ---------------------------------------------------------------------------------------------
# Nightfall: v3 /scan, v2 and v1 list-of-lists, SDK dataclasses
# ---------------------------------------------------------------------------------------------

_NF_FINDING_KEYS = (
    "finding",
    "fragment",
    "detector",
    "detectorName",
    "detector_name",
    "detector_uuid",
    "confidence",
    "location",
)
NIGHTFALL_CONFIDENCE = {"VERY_UNLIKELY": 1, "UNLIKELY": 2, "POSSIBLE": 3, "LIKELY": 4, "VERY_LIKELY": 5}


def _nf_name(item: dict) -> str:
    """The detector name of one finding: display name, v1/v2 name, else its UUID, else a placeholder."""
    detector = item.get("detector")
    names: list[Any] = []
    if isinstance(detector, dict):
        names += [detector.get(k) for k in ("name", "displayName", "nightfallDetector", "uuid")]
    else:
        names.append(detector)
    names += [item.get(k) for k in ("detectorName", "detector_name", "detector_uuid", "detectorUUID")]
    for name in names:
        found = category_name(name)
        if found:
            return found
    return "unnamed detector"


def _nf_confidence(value: Any) -> float | None:
    if isinstance(value, dict):  # v1: {"bucket": "LIKELY"}
        value = value.get("bucket")
    if isinstance(value, str):
        level = NIGHTFALL_CONFIDENCE.get(value.strip().upper().removeprefix("CONFIDENCE."))
        return level / 5 if level else None
    return None


def read_nightfall(value: Any, cfg: ReaderConfig) -> Reading:
    """Nightfall scan: ``findings`` is one list of findings per payload; every finding counts.

    The detection rule's ``minConfidence`` already chose which findings come back, so ``confidence``
    only becomes the finding's score. The label comes from ``detector.name`` (v3), ``detectorName``
    (v2), ``detector`` (v1) or ``detector_name`` (SDK dataclass).
    """
    if isinstance(value, dict):
        if "findings" not in value:
            return Reading(status="unreadable", reason="no findings")
        payloads = value["findings"]
        if isinstance(payloads, list) and not payloads:
            return Reading()  # no payload had a finding
    else:
        payloads = value
        # The Python SDK's (findings, redacted_payloads) tuple, stored as a two-element list.
        if (
            isinstance(payloads, list)
            and len(payloads) == 2
            and isinstance(payloads[0], list)
            and isinstance(payloads[1], list)
            and payloads[1]
            and all(isinstance(p, str) for p in payloads[1][:MAX_ITEMS])
            and all(isinstance(p, list) for p in payloads[0][:MAX_ITEMS])
        ):
            payloads = payloads[0]
    if not isinstance(payloads, list):
        return Reading(status="unreadable", reason="findings is not a list")
    if not payloads:
        return Reading(status="error", reason="empty findings list")
    items: list[Any] = []
    for payload in payloads[:MAX_ITEMS]:
        if isinstance(payload, list):
            items.extend(payload[: MAX_ITEMS - len(items)])
        else:
            items.append(payload)  # a flat list of findings
        if len(items) >= MAX_ITEMS:
            break
    reading = Reading()
    for item in items:
        if not isinstance(item, dict) or not any(k in item for k in _NF_FINDING_KEYS):
            continue
        reading.findings.append(
            Finding(_nf_name(item), True, _nf_confidence(item.get("confidence")), "findings")
        )
    if items and not reading.findings:
        return Reading(status="unreadable", reason="findings without a detector")
    return reading


# ---------------------------------------------------------------------------------------------
# Microsoft Purview DLP: audit records, activity explorer, Graph alerts, processContent
# ---------------------------------------------------------------------------------------------

_SIT_NAME_KEYS = (
    "SensitiveInformationTypeName",
    "SensitiveInfoTypeName",
    "sensitiveInformationTypeName",
    "Name",
)
_SIT_ID_KEYS = ("SensitiveType", "SensitiveInfoTypeId", "sensitiveTypeId", "Id", "id")
_SIT_LIST_KEYS = ("SensitiveInformation", "SensitiveInfoTypeData", "sensitiveInformation")
_DLP_NAMES = {"dlpruleundo": "DlpRuleUndo", "dlpinfo": "DlpInfo"}
_RECORD_KEYS = ("PolicyDetails", "EndpointMetaData", "PolicyMatchInfo", *_SIT_LIST_KEYS)


def _sit_list(value: Any) -> list[dict]:
    """A list of sensitive-information-type entries; Activity explorer exports carry it as a JSON string."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{") and len(value) <= MAX_TEXT:
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return []
    if isinstance(value, dict):
        value = [value]
    return _dicts(value, 1000)


def _sit_finding(item: dict, path: str) -> Finding | None:
    """One sensitive information type: by name, else by its GUID; it counts unless the detailed
    confidence levels say none of them matched the rule, or its count is 0."""
    name = None
    for key in _SIT_NAME_KEYS + _SIT_ID_KEYS:
        name = category_name(item.get(key))
        if name:
            break
    if not name:
        return None
    counted = True
    details = _dicts(item.get("SensitiveInformationDetailedClassificationAttributes"), 100)
    if details and any("IsMatch" in d for d in details):
        counted = any(d.get("IsMatch") is True for d in details)
    count = number(item.get("Count", item.get("count")))
    if count is not None and count <= 0:
        counted = False
    confidence = number(item.get("Confidence", item.get("confidenceLevel", item.get("confidence"))))
    score = confidence / 100 if confidence is not None and 0 <= confidence <= 100 else None
    return Finding(name, counted, score, path)


def _purview_record(record: dict, reading: Reading) -> bool:
    """Add one record's findings; False when the record is no Purview shape this reader knows."""
    # Graph processContent (Purview for AI apps).
    if any(k in record for k in ("policyActions", "processingErrors", "protectionScopeState")):
        actions = _dicts(record.get("policyActions"), 100)
        for action in actions:
            restriction = category_name(action.get("restrictionAction"))
            if restriction:
                reading.findings.append(
                    Finding(f"restrictionAction/{restriction}", True, None, "policyActions")
                )
            elif name := category_name(action.get("action")):
                reading.findings.append(Finding(f"action/{name}", True, None, "policyActions"))
        if not actions and _dicts(record.get("processingErrors"), 100):
            reading.status, reading.reason = "error", "processContent returned processingErrors"
        return True
    # Graph security alerts_v2 (one alert).
    if "serviceSource" in record or "detectionSource" in record:
        sources = f"{record.get('serviceSource')} {record.get('detectionSource')}".lower()
        reading.findings.append(
            Finding("microsoftDataLossPrevention", "datalossprevention" in sources, None, "alerts")
        )
        return True
    # Graph beta classificationResult.
    if "sensitiveTypeId" in record:
        if finding := _sit_finding(record, "classificationResult"):
            reading.findings.append(finding)
        return True
    # Management Activity API DLP events and Activity explorer / Sentinel records.
    operation = record.get("Operation", record.get("Activity"))
    if not any(k in record for k in _RECORD_KEYS):
        return False
    if isinstance(operation, str) and operation.strip().lower() in _DLP_NAMES:
        name = _DLP_NAMES[operation.strip().lower()]
        reading.findings.append(Finding(name, True, None, "Operation"))
        return True
    if "PolicyDetails" in record or "PolicyMatchInfo" in record or "dlp" in str(operation).lower()[:100]:
        reading.verdict = True  # a DLP rule matched
    for policy in _dicts(record.get("PolicyDetails"), 100):
        for rule in _dicts(policy.get("Rules"), 100):
            conditions = rule.get("ConditionsMatched")
            if not isinstance(conditions, dict):
                continue
            for item in _sit_list(conditions.get("SensitiveInformation")):
                if finding := _sit_finding(item, "PolicyDetails.Rules.ConditionsMatched"):
                    reading.findings.append(finding)
            for key in ("DocumentProperties", "OtherConditions"):
                if conditions.get(key):
                    reading.findings.append(Finding(key, True, None, "ConditionsMatched"))
    holders = [record]
    if isinstance(record.get("EndpointMetaData"), dict):
        holders.append(record["EndpointMetaData"])
    for holder in holders:
        for key in _SIT_LIST_KEYS:
            for item in _sit_list(holder.get(key)):
                if finding := _sit_finding(item, key):
                    reading.findings.append(finding)
    return True


def read_purview_dlp(value: Any, cfg: ReaderConfig) -> Reading:
    """Microsoft Purview DLP results in the shapes Microsoft emits them (one record, a list of records,
    or an OData ``{"value": [...]}`` page), read as a union."""
    records: Any = value
    if isinstance(value, dict):
        records = value.get("value") if isinstance(value.get("value"), list) else [value]
    if not isinstance(records, list):
        return Reading(status="unreadable", reason="not a Purview record or list")
    if not records and not isinstance(value, dict):
        return Reading(status="error", reason="empty record list")
    reading = Reading()
    known = isinstance(value, dict) and isinstance(value.get("value"), list)  # an OData page, even empty
    for record in _dicts(records, 1000):
        known = _purview_record(record, reading) or known
        if reading.status == "error" or len(reading.findings) >= MAX_FINDINGS:
            break
    if reading.status == "error":
        return Reading(status="error", reason=reading.reason)
    if not known:
        return Reading(status="unreadable", reason="no Purview DLP fields")
    return reading


# ---------------------------------------------------------------------------------------------
# Hive text moderation (v2 task API)
# ---------------------------------------------------------------------------------------------

HIVE_LOW = " (level 1)"  # suffix of the category a level-1 (mildest) class becomes
_HIVE_RESPONSE_KEYS = ("output", "text_filters", "pii_entities", "custom_classes", "moderated_classes")


def _hive_level(value: Any) -> int | None:
    """A Hive severity level: an integer from -1 (head not supported) to 3 (most severe)."""
    f = number(value)
    if f is None or f != int(f) or not -1 <= f <= 3:
        return None
    return int(f)


def _hive_class(name: str, level: int, path: str) -> Finding:
    if level >= 2:
        return Finding(name, True, level / 3, path)
    if level == 1:
        return Finding(name + HIVE_LOW, True, 1 / 3, path)
    return Finding(name, False, 0.0 if level == 0 else None, path)


def _hive_response(response: dict, reading: Reading) -> bool | None:
    """Add one task response's findings. True: read; None: no head was supported (language
    UNSUPPORTED); False: not a Hive response."""
    chunks = _dicts(response.get("output"), 1000)
    if not any(k in response for k in _HIVE_RESPONSE_KEYS):
        return False
    supported = False
    best: dict[str, int] = {}  # the highest level of each class over the chunks of a long text
    for chunk in chunks:
        for item in _dicts(chunk.get("classes"), 200):
            name = category_name(item.get("class"))
            level = _hive_level(item.get("score"))
            if not name or level is None or (name not in best and len(best) >= MAX_FINDINGS):
                continue
            supported = supported or level >= 0
            best[name] = max(level, best.get(name, -1))
    reading.findings.extend(_hive_class(name, level, "output.classes") for name, level in best.items())
    for item in _dicts(response.get("custom_classes"), 200):
        name = category_name(item.get("class") or item.get("name"))
        if not name:
            continue
        level = _hive_level(item.get("score"))
        supported = True
        reading.findings.append(
            _hive_class(f"custom_classes/{name}", 3 if level is None else level, "custom_classes")
        )
    for key in ("text_filters", "pii_entities"):
        for item in _dicts(response.get(key), 1000):
            kind = category_name(item.get("type"))
            if kind:
                supported = True
                reading.findings.append(Finding(f"{key}/{kind}", True, None, key))
    language = response.get("language")
    if not supported and isinstance(language, str) and language.strip().upper() == "UNSUPPORTED":
        return None
    return True


def read_hive(value: Any, cfg: ReaderConfig) -> Reading:
    """Hive text moderation: ``status[].response.output[].classes[]`` with integer severity levels.

    Levels 2-3 count as the class; level 1 counts as ``<class> (level 1)`` (the catalog maps it to
    OTHER.LowRisk); 0 and -1 (head not supported for the language) do not count. ``text_filters[]``
    and ``pii_entities[]`` count by ``type``, ``custom_classes[]`` by class. A failed task, a
    top-level ``code`` other than 200, an empty ``status`` or a response in which no head was
    supported (language ``UNSUPPORTED``) is an error.
    """
    tasks: list[dict]
    if isinstance(value, list):  # a batch of task responses
        items = _dicts(value, 1000)
        if not items:
            return Reading(status="error" if not value else "unreadable", reason="no Hive task")
        tasks = []
        for item in items:
            status = item.get("status")
            tasks.extend(_dicts(status, 1000) if isinstance(status, list) else [item])
    elif isinstance(value, dict):
        code = number(value.get("code"))
        if code is not None and code != 200:
            return Reading(status="error", reason="Hive returned an error code")
        if "status" in value and isinstance(value["status"], list):
            tasks = _dicts(value["status"], 1000)
            if not tasks:
                return Reading(status="error", reason="empty status list")
        else:
            tasks = [value]  # one status entry, or the response object itself
    else:
        return Reading(status="unreadable", reason="not a Hive response")
    reading = Reading()
    read_any = failed = unsupported = False
    for task in tasks:
        status = task.get("status")
        if isinstance(status, dict) and "code" in status and str(status.get("code")).strip() != "0":
            failed = True
            continue
        response = task.get("response") if isinstance(task.get("response"), dict) else task
        result = _hive_response(response, reading)
        if result is None:
            unsupported = True
        elif result:
            read_any = True
        if len(reading.findings) >= MAX_FINDINGS:
            break
    if read_any:
        return reading
    if failed:
        return Reading(status="error", reason="every Hive task failed")
    if unsupported:
        return Reading(status="error", reason="no head supported for the detected language")
    return Reading(status="unreadable", reason="no Hive output classes")


READERS: dict[str, Reader] = {
    "private_ai": read_private_ai,
    "nightfall": read_nightfall,
    "purview_dlp": read_purview_dlp,
    "hive": read_hive,
}

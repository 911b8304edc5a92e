"""Readers for the AWS and Azure guardrail services (see docs/research/guardrail_services.md §1-3):
Bedrock Guardrails (ApplyGuardrail, the Converse / InvokeModel / Agents traces, InvokeGuardrailChecks),
Comprehend DetectToxicContent, and Azure AI Content Safety's Prompt Shields, groundedness detection and
protected material, and the Azure OpenAI content filter annotations.

The rule all of them share: the detection field decides (``detected``, ``attackDetected``, a severity,
a score), never the deployment's action (``action: BLOCKED``, ``filtered: true``). The action is read
only where the output has no detection field at all; an intervention that names no reason becomes the
catalog category ``GUARDRAIL_INTERVENED`` / ``content_filter`` (OTHER.ContentFiltered).

May import: :mod:`llama_mapper.catalog.base` and :mod:`llama_mapper.catalog.vendors`.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from llama_mapper.catalog.base import (
    Budget,
    Finding,
    Reader,
    ReaderConfig,
    Reading,
    category_name,
    first_key,
    sse_chunks,
    unit_score,
)
from llama_mapper.catalog.vendors import azure_severity

MAX_ITEMS = 1000  # list items a reader looks at, per list


def _flag(value: Any) -> bool | None:
    """A boolean, also from the strings "true"/"false" (printed Python or .NET objects)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and len(value) <= 6:
        text = value.strip().lower()
        if text in ("true", "false"):
            return text == "true"
    return None


def _word(value: Any) -> str:
    """An enum value, upper-cased ("" when it is not a short string)."""
    return value.strip().upper() if isinstance(value, str) and len(value) <= 64 else ""


def _dicts(value: Any) -> list[dict]:
    """The dict items of a list (bounded); [] for anything else."""
    return [v for v in value[:MAX_ITEMS] if isinstance(v, dict)] if isinstance(value, list) else []


def _counted(reading: Reading) -> bool:
    return any(f.counted for f in reading.findings)


# ---------------------------------------------------------------------------------------------
# AWS Bedrock Guardrails
# ---------------------------------------------------------------------------------------------

BEDROCK_INTERVENED = "GUARDRAIL_INTERVENED"  # catalog category of an intervention with no counted entry
_INTERVENED = {"GUARDRAIL_INTERVENED", "INTERVENED"}
_ACTIONS = _INTERVENED | {"NONE"}
_ACTING = {"BLOCKED", "ANONYMIZED"}
_CONFIDENT = {"LOW", "MEDIUM", "HIGH"}
_POLICIES = (
    "topicPolicy",
    "contentPolicy",
    "wordPolicy",
    "sensitiveInformationPolicy",
    "contextualGroundingPolicy",
    "automatedReasoningPolicy",
)
# Automated Reasoning findings that report nothing wrong with the answer.
_AR_CLEAN = {"valid", "tooComplex", "noTranslations"}
_CHECKS = (  # InvokeGuardrailChecks: (section, name field, score field)
    ("contentFilter", "category", "severityScore"),
    ("promptAttack", "category", "severityScore"),
    ("sensitiveInformation", "type", "confidenceScore"),
)
_TRACE_KEYS = ("inputAssessment", "outputAssessments", "input", "outputs", "inputAssessments")
# The keys that make a bare trace object recognisable (not "input"/"outputs": ApplyGuardrail has "outputs").
_BARE_TRACE_KEYS = ("inputAssessment", "outputAssessments", "inputAssessments")
_ERROR_ONLY = {"message", "Message", "__type", "code", "Code", "reason", "Reason", "originalStatusCode"}


def _entry_counts(entry: dict) -> bool:
    """Does one Bedrock policy entry count? ``detected`` decides when present (detect mode reports
    ``action: NONE, detected: true``); older outputs without it list only what the guardrail acted on."""
    detected = _flag(entry.get("detected"))
    if detected is not None:
        return detected
    action, confidence = _word(entry.get("action")), _word(entry.get("confidence"))
    if action in _ACTING:
        return True
    if confidence == "NONE":
        return False
    if action == "NONE":
        return confidence in _CONFIDENT
    return True  # listed with no action field: a hand-built log of what was found


class _Bedrock:
    def __init__(self, cfg: ReaderConfig) -> None:
        self.cfg = cfg
        self.reading = Reading()
        self.budget = Budget()
        self.seen = False
        self.intervened = False
        self.acted = False  # an overall action field was read (NONE or intervened)
        self.errored = False

    def add(
        self,
        name: Any,
        counted: bool,
        path: str,
        score: float | None = None,
        by_score: bool = False,
        certainty: float = 1.0,
    ):
        category = category_name(name)
        if category and self.budget.take():
            self.reading.findings.append(Finding(category, counted, score, path, certainty, by_score))

    def action(self, value: Any) -> None:
        word = _word(value)
        if word in _ACTIONS:
            self.seen = self.acted = True
            self.intervened = self.intervened or word in _INTERVENED

    # -- one GuardrailAssessment ------------------------------------------------------------------

    def assessment(self, item: dict) -> None:
        self.seen = True
        topics = item.get("topicPolicy")
        for entry in _dicts(topics.get("topics") if isinstance(topics, dict) else None):
            self.add("topicPolicy", _entry_counts(entry), "topicPolicy.topics")
        content = item.get("contentPolicy")
        for entry in _dicts(content.get("filters") if isinstance(content, dict) else None):
            self.add(_word(entry.get("type")), _entry_counts(entry), "contentPolicy.filters")
        words = item.get("wordPolicy")
        if isinstance(words, dict):
            for entry in _dicts(words.get("customWords")):
                self.add("customWords", _entry_counts(entry), "wordPolicy.customWords")
            for entry in _dicts(words.get("managedWordLists")):
                name = _word(entry.get("type")) or "managedWordLists"
                self.add(name, _entry_counts(entry), "wordPolicy.managedWordLists")
        sensitive = item.get("sensitiveInformationPolicy")
        if isinstance(sensitive, dict):
            for entry in _dicts(sensitive.get("piiEntities")):
                self.add(
                    _word(entry.get("type")), _entry_counts(entry), "sensitiveInformationPolicy.piiEntities"
                )
            for entry in _dicts(sensitive.get("regexes")):
                # a customer's own pattern: what it matches is only in its free-text name, so the
                # label (PII.Other) is never as sure as a documented entity type's
                self.add("regexes", _entry_counts(entry), "sensitiveInformationPolicy.regexes", certainty=0.7)
        grounding = item.get("contextualGroundingPolicy")
        for entry in _dicts(grounding.get("filters") if isinstance(grounding, dict) else None):
            self.add(
                _word(entry.get("type")), self.grounding_counts(entry), "contextualGroundingPolicy.filters"
            )
        reasoning = item.get("automatedReasoningPolicy")
        for entry in _dicts(reasoning.get("findings") if isinstance(reasoning, dict) else None):
            for key in islice(entry, 8):  # a union: exactly one key is set
                if isinstance(key, str) and entry[key] is not None:
                    self.add(key, key not in _AR_CLEAN, "automatedReasoningPolicy.findings")

    @staticmethod
    def grounding_counts(entry: dict) -> bool:
        """Contextual grounding: ``detected`` decides; without it, score < threshold (strictly, as the
        API defines detection), and without numbers the action."""
        detected = _flag(entry.get("detected"))
        if detected is not None:
            return detected
        score, threshold = unit_score(entry.get("score")), unit_score(entry.get("threshold"))
        if score is not None and threshold is not None:
            return score < threshold
        return _word(entry.get("action")) in _ACTING

    def assessments(self, node: Any, depth: int = 0) -> None:
        """Every GuardrailAssessment under a trace member: a map of guardrail id to an assessment
        (Converse input, InvokeModel input), to a list of them (Converse output), a list of maps
        (InvokeModel outputs) or a plain list (agent traces)."""
        if depth > 4 or not self.budget.take():
            return
        if isinstance(node, dict):
            if any(key in node for key in _POLICIES) or "invocationMetrics" in node:
                self.assessment(node)
                return
            for value in islice(node.values(), 100):
                self.assessments(value, depth + 1)
        elif isinstance(node, list):
            for value in node[:100]:
                self.assessments(value, depth + 1)

    def trace(self, trace: dict) -> None:
        """A GuardrailTraceAssessment (Converse, InvokeModel) or an agent GuardrailTrace."""
        self.seen = True
        self.action(trace.get("action"))
        for key in _TRACE_KEYS:
            if key in trace:
                self.assessments(trace[key])

    # -- one response, event or chunk -------------------------------------------------------------

    def response(self, value: dict, depth: int = 0) -> None:
        if depth > 3 or not self.budget.take():
            return
        if any(
            isinstance(k, str) and k.endswith("Exception") and isinstance(v, dict)
            for k, v in islice(value.items(), 100)
        ):
            self.errored = True  # a ConverseStream error event: {"modelStreamErrorException": {...}}
            return
        if (
            0 < len(value) <= len(_ERROR_ONLY)
            and set(value) <= _ERROR_ONLY
            and ("message" in value or "Message" in value)
        ):
            self.errored = True  # the REST error body {"message": "..."}
            return
        for key in ("action", "guardrailAction", "amazon-bedrock-guardrailAction"):
            self.action(value.get(key))
        for holder in (value, value.get("messageStop")):
            reason = holder.get("stopReason") if isinstance(holder, dict) else None
            if isinstance(reason, str):
                self.seen = True
                self.intervened = self.intervened or reason == "guardrail_intervened"
        if isinstance(value.get("assessments"), list):
            self.seen = True
            self.assessments(value["assessments"])
        if any(key in value for key in _POLICIES):
            self.assessment(value)  # a bare GuardrailAssessment
        if any(key in value for key in _BARE_TRACE_KEYS):
            self.trace(value)  # a bare GuardrailTraceAssessment or agent GuardrailTrace
        for key in ("guardrail", "guardrails", "guardrailTrace"):
            if isinstance(value.get(key), dict):
                self.trace(value[key])
        for key in ("trace", "amazon-bedrock-trace", "metadata"):
            if isinstance(value.get(key), dict):
                self.response(value[key], depth + 1)
        results = value.get("results")
        if isinstance(results, dict) and any(section in results for section, _, _ in _CHECKS):
            self.checks(results)

    def checks(self, results: dict) -> None:
        """InvokeGuardrailChecks: scores only, no action; a score counts at >= the threshold."""
        self.seen = True
        for section, name_key, score_key in _CHECKS:
            block = results.get(section)
            for entry in _dicts(block.get("results") if isinstance(block, dict) else None):
                score = unit_score(entry.get(score_key))
                if score is not None:
                    counted = score >= self.cfg.threshold
                    self.add(_word(entry.get(name_key)), counted, f"results.{section}", score, True)
                elif section == "sensitiveInformation":
                    self.add(_word(entry.get(name_key)), True, f"results.{section}")

    def result(self) -> Reading:
        reading = self.reading
        counted = _counted(reading)
        if self.errored and not counted:
            return Reading(status="error", reason="Bedrock error body or stream exception")
        if not self.seen:
            return Reading(status="unreadable", reason="no Bedrock guardrail action, assessment or trace")
        if self.intervened:
            reading.verdict = True
            if not counted:  # blocked with no reason given (trace disabled or empty)
                reading.findings.append(Finding(BEDROCK_INTERVENED, True, None, "action"))
        elif self.acted:
            reading.verdict = False
        return reading


def read_bedrock_guardrails(value: Any, cfg: ReaderConfig) -> Reading:
    """AWS Bedrock Guardrails: ApplyGuardrail ``assessments``, the Converse/ConverseStream
    ``trace.guardrail``, the InvokeModel ``amazon-bedrock-guardrailAction`` / ``amazon-bedrock-trace``
    body keys, the Agents ``guardrailTrace``, RetrieveAndGenerate ``guardrailAction`` and
    InvokeGuardrailChecks ``results``; a list is a stream of events or a batch (the union)."""
    state = _Bedrock(cfg)
    if isinstance(value, dict):
        state.response(value)
    elif isinstance(value, list):
        for item in _dicts(value):
            state.response(item)
    else:
        return Reading(status="unreadable", reason="not a Bedrock response object")
    return state.result()


# ---------------------------------------------------------------------------------------------
# AWS Comprehend DetectToxicContent (and the prompt-safety classifier)
# ---------------------------------------------------------------------------------------------


def read_aws_comprehend_toxicity(value: Any, cfg: ReaderConfig) -> Reading:
    """``ResultList[]`` of ``{Labels: [{Name, Score}], Toxicity}`` (one per text segment): every
    label and the overall ``Toxicity`` count at score >= the threshold; ClassifyDocument
    ``Classes[]`` (the prompt-safety endpoint) the same way."""
    if isinstance(value, dict):
        results = first_key(value, ("ResultList", "resultList", "result_list"))
        classes = first_key(value, ("Classes", "classes"))
        if results is None and isinstance(classes, list):
            results = [{"Labels": classes}]
        elif results is None and any(k in value for k in ("Labels", "labels", "Toxicity", "toxicity")):
            results = [value]
    elif isinstance(value, list) and any(
        isinstance(v, dict) and "ResultList" in v for v in value[:MAX_ITEMS]
    ):
        # a batch of responses (one call per 10 segments): their results, in order
        results = [r for v in _dicts(value) for r in _dicts(v.get("ResultList"))][:MAX_ITEMS]
    else:
        results = value
    if not isinstance(results, list):
        return Reading(status="unreadable", reason="no ResultList, Labels or Classes")
    if not results:
        return Reading(status="error", reason="empty ResultList")  # AWS returns one result per segment
    reading = Reading()
    budget = Budget()
    for i, result in enumerate(_dicts(results)):
        if budget.left <= 0:
            break
        labels = first_key(result, ("Labels", "labels"))
        for label in _dicts(labels):
            name = category_name(first_key(label, ("Name", "name")))
            score = unit_score(first_key(label, ("Score", "score")))
            if name and score is not None and budget.take():
                counted = score >= cfg.threshold
                reading.findings.append(Finding(name, counted, score, f"ResultList[{i}].Labels", 1.0, True))
        toxicity = unit_score(first_key(result, ("Toxicity", "toxicity")))
        if toxicity is not None:
            counted = toxicity >= cfg.threshold
            reading.findings.append(Finding("Toxicity", counted, toxicity, f"ResultList[{i}]", 1.0, True))
    if not reading.findings:
        return Reading(status="error", reason="results without scores")
    return reading


# ---------------------------------------------------------------------------------------------
# Azure AI Content Safety: Prompt Shields, groundedness detection, protected material
# ---------------------------------------------------------------------------------------------


def _items(value: Any) -> list[dict]:
    """One result, or a batch of them (a list, as a caller that analysed several texts keeps them)."""
    return [value] if isinstance(value, dict) else _dicts(value)


def read_azure_prompt_shields(value: Any, cfg: ReaderConfig) -> Reading:
    """``text:shieldPrompt``: ``userPromptAnalysis.attackDetected`` and
    ``documentsAnalysis[].attackDetected``; the preview ``text:detectJailbreak`` gives
    ``jailbreakAnalysis.detected``."""
    reading = Reading()
    for item in _items(value):
        user = first_key(item, ("userPromptAnalysis", "user_prompt_analysis"))
        if isinstance(user, dict):
            flag = _flag(first_key(user, ("attackDetected", "attack_detected")))
            if flag is not None:
                reading.findings.append(Finding("userPromptAnalysis", flag, None, "userPromptAnalysis"))
        docs = first_key(item, ("documentsAnalysis", "documents_analysis"))
        if isinstance(docs, list):
            flags = [_flag(first_key(d, ("attackDetected", "attack_detected"))) for d in _dicts(docs)]
            reading.findings.append(Finding("documentsAnalysis", True in flags, None, "documentsAnalysis"))
        legacy = first_key(item, ("jailbreakAnalysis", "jailbreak_analysis"))
        if isinstance(legacy, dict) and (flag := _flag(legacy.get("detected"))) is not None:
            reading.findings.append(Finding("jailbreakAnalysis", flag, None, "jailbreakAnalysis"))
    if not reading.findings:
        return Reading(status="unreadable", reason="no Prompt Shields analysis")
    reading.verdict = _counted(reading)
    return reading


def read_azure_groundedness(value: Any, cfg: ReaderConfig) -> Reading:
    """``text:detectGroundedness``: ``ungroundedDetected`` decides; ``ungroundedPercentage`` is "not a
    confidence level" and ``ungroundedDetails`` / ``confidenceScore`` / corrections are informational."""
    reading = Reading()
    for item in _items(value):
        flag = _flag(first_key(item, ("ungroundedDetected", "ungrounded_detected")))
        if flag is not None:
            reading.findings.append(Finding("ungroundedDetected", flag, None, "ungroundedDetected"))
    if not reading.findings:
        return Reading(status="unreadable", reason="no ungroundedDetected")
    reading.verdict = _counted(reading)
    return reading


_PROTECTED_KEYS = ("protectedMaterialAnalysis", "protected_material_analysis")
_PROTECTED_ANNOTATIONS = ("protected_material_text", "protected_material_code")


def read_azure_protected_material(value: Any, cfg: ReaderConfig) -> Reading:
    """``text:detectProtectedMaterial`` and ``...ForCode``: ``protectedMaterialAnalysis.detected``
    decides (the code variant's ``codeCitations`` can come with ``detected: false`` and then do not
    count); the same models' Azure OpenAI annotations (``protected_material_text|code``) are read too."""
    reading = Reading()
    for item in _items(value):
        analysis = first_key(item, _PROTECTED_KEYS)
        if isinstance(analysis, dict) and (flag := _flag(analysis.get("detected"))) is not None:
            reading.findings.append(
                Finding("protectedMaterialAnalysis", flag, None, "protectedMaterialAnalysis")
            )
        for key in _PROTECTED_ANNOTATIONS:
            note = item.get(key)
            if isinstance(note, dict) and (flag := _flag(note.get("detected"))) is not None:
                reading.findings.append(Finding(key, flag, None, key))
    if not reading.findings:
        return Reading(status="unreadable", reason="no protectedMaterialAnalysis")
    reading.verdict = _counted(reading)
    return reading


# ---------------------------------------------------------------------------------------------
# Azure OpenAI content filter annotations
# ---------------------------------------------------------------------------------------------

AOAI_FILTERED = "content_filter"  # catalog category of a block that gives no category
_FILTER_CODES = (
    "content_filter",
    "ResponsibleAIPolicyViolation",
    "content_policy_violation",
    "contentFilter",
)
_BLOCK_KEYS = (
    "content_filter_results",
    "content_filter_result",
    "contentFilterResults",
    "contentFilterResult",
)
_LIST_KEYS = (
    "prompt_filter_results",
    "promptFilterResults",
    "prompt_annotations",  # 2023-06-01-preview
    "choices",
    "content_filters",  # the Responses API
    "microsoft.foundry.content_filter.results",  # Foundry tracing
    "data",  # image generation: data[].content_filter_results and data[].prompt_filter_results
)
_BLOCKLISTS = ("custom_blocklists", "customBlocklists")
_ANNOTATIONS = {  # lenient keys of the documented annotation names
    "hate",
    "sexual",
    "violence",
    "selfharm",
    "jailbreak",
    "indirectattack",
    "profanity",
    "protectedmaterialtext",
    "protectedmaterialcode",
    "customblocklists",
    "ungroundedmaterial",
}


def _lenient(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum())


class _AzureOpenAI:
    def __init__(self) -> None:
        self.reading = Reading()
        self.budget = Budget()
        self.seen = False
        self.intervened = False  # a block: finish_reason content_filter, blocked: true, the 400 error
        self.filtered = False
        self.errored = False

    def response(self, value: dict, depth: int = 0) -> None:
        if depth > 4 or not self.budget.take():
            return
        err = value.get("error")
        if isinstance(err, dict) and err:
            self.error(err)
            return
        if value.get("code") in _FILTER_CODES and ("innererror" in value or "message" in value):
            self.error(value)  # the error object without its {"error": ...} wrapper (openai's e.body)
            return
        found = False
        for key in _BLOCK_KEYS + ("prompt_filter_results",):  # an image's prompt results are one object
            if isinstance(value.get(key), dict):
                found = True
                self.block(value[key])
        if _word(value.get("finish_reason") or value.get("finishReason")):
            self.seen = True  # a choice that the filter let through, or stopped
            if value.get("finish_reason", value.get("finishReason")) == "content_filter":
                self.intervened = True
        if _flag(value.get("blocked")) is True:
            self.intervened = True
        for key in _LIST_KEYS:
            items = value.get(key)
            if isinstance(items, list):
                found = True
                for item in _dicts(items):
                    self.response(item, depth + 1)
        if not found and any(_lenient(str(k)) in _ANNOTATIONS for k in islice(value, 100)):
            self.block(value)  # the annotation object itself

    def error(self, err: dict) -> None:
        """An error body: the 400 ``content_filter`` error is a finding (its ``innererror`` holds
        the annotations; without one the prompt was blocked for no given reason); any other is an error."""
        self.seen = True
        if err.get("code") not in _FILTER_CODES:
            self.errored = True
            return
        self.intervened = True
        inner = first_key(err, ("innererror", "inner_error", "innerError"))
        if isinstance(inner, dict):
            for key in _BLOCK_KEYS + ("prompt_filter_results",):
                if isinstance(inner.get(key), dict):
                    self.block(inner[key])
        for item in _dicts(err.get("content_filters")):  # the Responses API's error body
            self.response(item, 1)

    def add(self, name: str, counted: bool, score: float | None = None) -> None:
        if self.budget.take():
            self.reading.findings.append(Finding(name[:200], counted, score, "content_filter_results"))

    def block(self, block: dict) -> None:
        """One ``content_filter_results`` object: category -> {filtered, severity | detected}."""
        self.seen = True
        for name, item in islice(block.items(), 100):
            if self.budget.left <= 0:
                break
            if not isinstance(name, str):
                continue
            if name == "error":
                self.errored = self.errored or bool(item)  # content_filter_error: the filter did not run
                continue
            if name in _BLOCKLISTS:
                self.blocklists(name, item)
                continue
            if not isinstance(item, dict):
                continue
            filtered = _flag(item.get("filtered"))
            self.filtered = self.filtered or filtered is True
            if "severity" in item and (severity := azure_severity(item["severity"])) is not None:
                # low, medium and high count (severity >= 2); "filtered" is only the deployment's action,
                # but a category it filtered counts even when the annotation says otherwise.
                self.add(name, severity >= 2 or filtered is True, min(severity / 7, 1.0))
            elif (detected := _flag(item.get("detected"))) is not None:
                self.add(name, detected or filtered is True)
            elif filtered is not None:
                self.add(name, filtered)  # no detection field at all: the action is all there is

    def blocklists(self, name: str, item: Any) -> None:
        """``custom_blocklists``: ``{filtered, details: [{filtered, id}]}``, or a list ``[{filtered, id}]``
        in older API versions; a blocklist has no severity, so a detail's ``filtered`` is the match."""
        details = item.get("details") if isinstance(item, dict) else item
        hits = [_flag(d.get("filtered")) for d in _dicts(details)]
        if isinstance(item, dict):
            hits.append(_flag(item.get("filtered")))
        if isinstance(details, list) or any(h is not None for h in hits):
            hit = True in hits
            self.filtered = self.filtered or hit
            self.add(name, hit)

    def result(self) -> Reading:
        reading = self.reading
        counted = _counted(reading)
        if not counted and self.intervened:
            reading.findings.append(Finding(AOAI_FILTERED, True, None, "finish_reason"))
        elif not counted and self.errored:
            return Reading(
                status="error", reason="content filter error (the filter did not run) or error body"
            )
        if not self.seen:
            return Reading(status="unreadable", reason="no content filter annotations")
        reading.verdict = self.intervened or self.filtered
        return reading


def read_azure_openai_content_filter(value: Any, cfg: ReaderConfig) -> Reading:
    """Azure OpenAI content filter annotations: ``prompt_filter_results[]`` (``prompt_annotations`` in
    2023-06-01-preview) and ``choices[].content_filter_results`` of a chat/completions response, a
    stream of chunks (a list, or the raw ``data:`` lines), the Responses API's ``content_filters[]``, a
    bare annotation object, and the 400 ``content_filter`` error with ``innererror.content_filter_result``.

    Severity categories count at low and above; ``{filtered, detected}`` categories on ``detected``;
    a filter that blocked without any counted category gives the ``content_filter`` category."""
    if isinstance(value, str):
        value = sse_chunks(value)
        if not value:
            return Reading(status="unreadable", reason="text that is not a server-sent event stream")
    state = _AzureOpenAI()
    if isinstance(value, dict):
        state.response(value)
    elif isinstance(value, list):
        for item in _dicts(value):
            state.response(item)
    else:
        return Reading(status="unreadable", reason="not an Azure OpenAI response")
    return state.result()


# Formats whose reader reads the vendor's error bodies itself: the Azure OpenAI 400 content_filter error
# is a finding, not a model error (the dispatcher currently unwraps it only for azure_content_safety).
READS_ERROR_BODIES = frozenset({"azure_openai_content_filter"})

READERS: dict[str, Reader] = {
    "bedrock_guardrails": read_bedrock_guardrails,
    "aws_comprehend_toxicity": read_aws_comprehend_toxicity,
    "azure_prompt_shields": read_azure_prompt_shields,
    "azure_groundedness": read_azure_groundedness,
    "azure_protected_material": read_azure_protected_material,
    "azure_openai_content_filter": read_azure_openai_content_filter,
}

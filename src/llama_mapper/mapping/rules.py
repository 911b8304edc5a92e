"""The deterministic mapper: catalog rules first, then the taxonomy's aliases, never an exception.

Semantics (the product's contract, also in the README):
- a per-category flag, boolean, severity, likelihood or verdict decides, over any score; score-only
  formats count a category at score >= the detector's threshold (default 0.5);
- every entity of an entity list counts (optionally above a per-detector minimum score);
- the labels are the union of the labels of every counting category, each once;
- nothing counts -> OTHER.Safe; error object, empty, malformed or truncated output ->
  OTHER.ModelError; output that cannot be read at all -> OTHER.Unknown; "unsafe"/"flagged" with no
  category -> OTHER.PolicyViolation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from llama_mapper.catalog import Catalog, Detector, Finding, Reading, load_catalog, read
from llama_mapper.catalog.base import parse_output
from llama_mapper.mapping.events import make_event
from llama_mapper.resources.frameworks import Frameworks, load_frameworks
from llama_mapper.resources.taxonomy import Taxonomy, load_taxonomy

SAFE, ERROR, UNKNOWN, POLICY = "OTHER.Safe", "OTHER.ModelError", "OTHER.Unknown", "OTHER.PolicyViolation"
MAX_FIELD = 256  # longest detector name / id / tenant accepted


class RequestError(ValueError):
    """A mapping request that cannot be read (missing detector, wrong types)."""


_SURROGATES = re.compile("[\ud800-\udfff]")
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")


def _valid_str(text: str) -> str:
    return text if text.isascii() else _SURROGATES.sub("\ufffd", text)


def _has_surrogates(value: Any) -> bool:
    stack = [value]
    while stack:  # iterative: outputs may nest thousands of levels deep
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATES.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def valid_text(value: Any) -> Any:
    """A JSON value with every string (keys too) made valid UTF-8: JSON allows lone surrogates
    (``"\\ud800"``), which no tokenizer, log line or UTF-8 writer accepts; each becomes U+FFFD.
    The value itself when it has none (the usual case: nothing is copied)."""
    if isinstance(value, str):
        return _valid_str(value)
    if not isinstance(value, (dict, list)) or not _has_surrogates(value):
        return value
    root: Any = {} if isinstance(value, dict) else []
    stack = [(value, root)]
    while stack:  # rebuilt iteratively, containers filled in order
        source, target = stack.pop()
        for key, item in source.items() if isinstance(source, dict) else enumerate(source):
            if isinstance(item, (dict, list)):
                child: Any = {} if isinstance(item, dict) else []
                stack.append((item, child))
            else:
                child = _valid_str(item) if isinstance(item, str) else item
            if isinstance(target, dict):
                target[_valid_str(key) if isinstance(key, str) else key] = child
            else:
                target.append(child)
    return root


def name_text(value: str) -> str:
    """A name that reaches log lines and events (detector, version, tenant, id): valid UTF-8, with
    control characters (newlines, NUL) replaced, so that it cannot forge a log line."""
    return _CONTROLS.sub("\ufffd", valid_text(value))


@dataclass
class MapRequest:
    """One mapping request: a raw detector output and who produced it."""

    detector: str
    output: Any
    detector_version: str | None = None
    tenant_id: str | None = None
    id: str | int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    FIELDS = ("detector", "output", "detector_version", "tenant_id", "id")

    @classmethod
    def from_dict(cls, raw: Any, valid_utf8: bool = False) -> MapRequest:
        """Validate a request object; raise :class:`RequestError` with a clear message.
        ``valid_utf8``: its strings are known to hold no lone surrogate (orjson parsed it: it refuses
        them), so they are not walked again."""
        if not isinstance(raw, dict):
            raise RequestError(f"a request must be a JSON object, got {type(raw).__name__}")
        detector = raw.get("detector")
        if not isinstance(detector, str) or not detector.strip():
            raise RequestError("field 'detector' is required and must be a non-empty string")
        if len(detector) > MAX_FIELD:
            raise RequestError(f"field 'detector' is longer than {MAX_FIELD} characters")
        if "output" not in raw:
            raise RequestError(
                "field 'output' is required (the raw detector output; null if it produced none)"
            )
        for name in ("detector_version", "tenant_id"):
            value = raw.get(name)
            if value is not None and (not isinstance(value, str) or len(value) > MAX_FIELD):
                raise RequestError(f"field '{name}' must be a string of at most {MAX_FIELD} characters")
        rid = raw.get("id")
        if rid is not None and (
            isinstance(rid, bool) or not isinstance(rid, (str, int)) or len(str(rid)) > MAX_FIELD
        ):
            raise RequestError(f"field 'id' must be a string or an integer of at most {MAX_FIELD} characters")
        text = (lambda value: value) if valid_utf8 else valid_text
        extra = {text(k): text(v) for k, v in raw.items() if k not in cls.FIELDS}
        version, tenant = raw.get("detector_version"), raw.get("tenant_id")
        return cls(
            name_text(detector.strip()),
            text(raw["output"]),
            None if version is None else name_text(version),
            None if tenant is None else name_text(tenant),
            name_text(rid) if isinstance(rid, str) else rid,
            extra,
        )


@dataclass
class Resolution:
    """What the rules make of one output, before it becomes an event (the hybrid route reads this)."""

    labels: list[str]
    scores: dict[str, float]
    confidence: float
    source: str  # "catalog" | "aliases" | "error" | "unreadable" | "safe" | "verdict"
    detector: Detector | None
    reading: Reading
    unresolved: list[Finding] = field(default_factory=list)  # counted categories no rule could map
    mapped_confidence: float | None = None  # the mapped categories' confidence, before unresolved lower it

    @property
    def exact(self) -> bool:
        """True when the catalog mapped every counted category of a known detector."""
        return (
            self.detector is not None
            and not self.unresolved
            and self.source in ("catalog", "safe", "verdict", "error")
        )


# The most confidence the generic reader's labels may carry (a detector outside the catalog): below
# 0.8, the line at which an auditor trusts an event. On formats it had not been written against, its
# readings at >= 0.8 were right 40 times of 48 (the issue-16 held-out set, at 5c56305) and 20 of 29
# (blind2, its first run): 69-83%, short of the 90% that 0.8 promises. Only a catalog entry (or a
# detector's own error body) vouches for more; a generic reading asks for a look (docs/MAPPING_QUALITY.md).
GENERIC_CEILING = 0.75


def _margin_factor(finding: Finding, threshold: float) -> float:
    """Confidence factor for a score-decided category: 0.75 at the threshold, 1.0 from 0.1 away."""
    if not finding.thresholded or finding.score is None:
        return 1.0
    return 0.75 + 0.25 * min(1.0, abs(finding.score - threshold) / 0.1)


class RulesMapper:
    """Maps raw detector outputs to canonical events with the catalog and the taxonomy's aliases."""

    route = "rules"

    def __init__(
        self,
        catalog: Catalog | None = None,
        taxonomy: Taxonomy | None = None,
        frameworks: Frameworks | None = None,
    ) -> None:
        self.taxonomy = taxonomy or load_taxonomy()
        self.frameworks = frameworks or load_frameworks()
        self.catalog = catalog or load_catalog(self.taxonomy.version)

    # -- resolution ---------------------------------------------------------------------------------

    def label_category(
        self, category: str, detector: Detector | None
    ) -> tuple[tuple[str, ...], float] | None:
        """Labels and mapping certainty for one vendor category; None when no rule knows it."""
        if detector is not None:
            labels = detector.labels_for(category)
            if labels is not None:
                return labels, 1.0
        match = self.taxonomy.match_alias(category)
        if match is None:
            return None
        label, quality = match
        return (() if label == SAFE else (label,)), quality * (0.9 if detector is not None else 1.0)

    def _hint_labels(self, prose: str) -> tuple[tuple[str, ...], float] | None:
        """Labels for a reason written in prose: only a name of two words or more ("social security
        number", "prompt injection") or a near-whole-text name says what the verdict was about; one
        word inside a sentence ("date", "name") is too weak. Never safe, never sure."""
        found = self.taxonomy.phrase_match(prose)
        if found is None:
            return None
        label, alias_words, text_words = found
        if label == SAFE or (alias_words < 2 and text_words > 2):
            return None
        return (label,), round(0.5 + 0.4 * alias_words / text_words, 3)

    def resolve(self, detector_name: str, output: Any) -> Resolution:
        """Read an output and map its counted categories to labels."""
        detector = self.catalog.get(detector_name)
        reading = detector.read(output) if detector else read(output)
        if detector is not None and reading.status == "error" and not self.catalog.is_exact(detector_name):
            # A name that only contains an entry's may be another model of the family (IBM's HAP
            # classifiers beside Granite Guardian): structured output its reader calls broken is a
            # format it does not describe, for the generic reader, not a detector error at 1.0.
            value, problem = parse_output(output)
            if problem is None and isinstance(value, (dict, list)):
                generic = read(value)
                if generic.status != "error":
                    detector, reading = None, generic
        threshold = detector.threshold if detector else 0.5
        if reading.status == "error":
            return Resolution([ERROR], {ERROR: 1.0}, 1.0, "error", detector, reading)
        if reading.status == "unreadable":
            return Resolution([UNKNOWN], {UNKNOWN: 0.1}, 0.1, "unreadable", detector, reading)

        labels: dict[str, float] = {}
        confidence = 1.0
        source = "catalog" if detector else "aliases"
        unresolved: list[Finding] = []
        for finding in reading.findings:
            if not finding.counted:
                continue
            mapped = (
                self._hint_labels(finding.category)
                if finding.hint
                else self.label_category(finding.category, detector)
            )
            if mapped is None:
                if not finding.hint:  # prose no alias explains says nothing: the verdict decides
                    unresolved.append(finding)
                continue
            names, certainty = mapped
            if certainty < 1.0:
                source = "aliases"
            confidence = min(confidence, certainty * finding.certainty * _margin_factor(finding, threshold))
            for name in names:
                score = 1.0 if finding.score is None else finding.score
                labels[name] = max(labels.get(name, 0.0), score)

        if labels:
            if detector is None:  # a format no entry describes: never as sure as a catalog reading
                confidence = min(confidence, GENERIC_CEILING)
            mapped = confidence
            if unresolved:
                confidence = min(confidence, 0.5)
            return Resolution(list(labels), labels, confidence, source, detector, reading, unresolved, mapped)
        if unresolved:
            return Resolution([UNKNOWN], {UNKNOWN: 0.2}, 0.2, "unreadable", detector, reading, unresolved)
        if reading.verdict:
            certainty = 0.9 if detector else 0.7
            return Resolution([POLICY], {POLICY: 1.0}, certainty, "verdict", detector, reading)
        # Nothing counts: safe, as sure as the closest call below the threshold allows.
        below = [f for f in reading.findings if f.score is not None]
        top = max(below, key=lambda f: f.score, default=None)
        margin = _margin_factor(top, threshold) if top is not None else 1.0
        certainty = min((f.certainty for f in reading.findings), default=1.0 if detector else 0.7)
        if detector is None:
            # The generic reader may have missed a flag it does not know: never sure of "safe".
            certainty = min(certainty, 0.6)
        safe_score = 1.0 - top.score if top is not None and top.score is not None else 1.0
        return Resolution([SAFE], {SAFE: safe_score}, margin * certainty, "safe", detector, reading)

    # -- events -------------------------------------------------------------------------------------

    def notes_for(self, resolution: Resolution) -> str:
        """Metadata-only notes: which reader and rules decided, never the output's content."""
        reading = resolution.reading
        who = (
            f"catalog {resolution.detector.name}"
            if resolution.detector
            else "generic reader (detector not in catalog)"
        )
        if reading.status != "ok":
            return f"{who}: {reading.reason}"
        counted = sum(1 for f in reading.findings if f.counted)
        text = (
            f"{who}: {counted} of {len(reading.findings)} categories counted; mapped by {resolution.source}"
        )
        if resolution.unresolved:
            text += f"; {len(resolution.unresolved)} counted categories unresolved"
        return text

    def event(
        self, request: MapRequest, resolution: Resolution, route: str | None = None, model: str | None = None
    ) -> dict[str, Any]:
        """The canonical event for a request and its resolution."""
        detector = resolution.detector
        return make_event(
            resolution.labels,
            resolution.scores,
            resolution.confidence,
            taxonomy=self.taxonomy,
            frameworks=self.frameworks,
            detector=detector.name if detector else request.detector,
            detector_version=request.detector_version,
            vendor=detector.vendor if detector else None,
            route=route or self.route,
            model=model,
            tenant_id=request.tenant_id,
            notes=self.notes_for(resolution),
        )

    def map(self, request: MapRequest | dict[str, Any]) -> dict[str, Any]:
        """Map one request to a schema-valid canonical event. Raises only :class:`RequestError`."""
        if not isinstance(request, MapRequest):
            request = MapRequest.from_dict(request)
        return self.event(request, self.resolve(request.detector, request.output))

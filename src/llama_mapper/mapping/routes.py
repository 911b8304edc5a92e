"""The three routes from a raw detector output to a canonical event: ``rules``, ``model``, ``hybrid``.

- ``rules``: the catalog and the taxonomy's aliases (:class:`~llama_mapper.mapping.rules.RulesMapper`).
- ``model``: the deterministic reader extracts the counted category strings; the adapter maps each
  one (with candidate labels retrieved for it), or reads the compacted raw output when it was trained
  in ``raw`` mode (large models). Requests without a counted category are decided by code.
- ``hybrid`` (default): catalog detectors by the rules, the categories no rule knows of other
  detectors by the model. A category
  whose answer is less confident than the detector's threshold (default 0.6) falls back to the
  rules' best effort and is flagged ``OTHER.NeedsReview``.

The model is reached through ``huggingface_hub.InferenceClient`` only (our server, a TGI container,
or any TGI-protocol endpoint): decoding is constrained to a JSON array of taxonomy labels, so no
answer can leave the taxonomy, whatever text a detector output carries. The client checks that the
endpoint really serves the adapter (TGI silently runs the base model for an unknown one) and records
the adapter's ``repo@tag`` and commit in every event.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from llama_mapper.catalog.base import Finding
from llama_mapper.catalog.vocabulary import CONTAINER_HINTS
from llama_mapper.mapping.candidates import CandidateIndex, load_embedder, retriever_path
from llama_mapper.mapping.confidence import Calibration
from llama_mapper.mapping.events import make_event
from llama_mapper.mapping.prompt import build_prompt, candidate_answers
from llama_mapper.mapping.rules import ERROR, POLICY, SAFE, UNKNOWN, MapRequest, Resolution, RulesMapper

logger = logging.getLogger(__name__)

NEEDS_REVIEW = "OTHER.NeedsReview"
DEFAULT_THRESHOLD = 0.6
# Hybrid: a category whose best retrieval score is below this is not trusted to the model. On the
# validation split the first candidate of such categories is right 46% of the time (92% above it), and
# the model answers its first candidate. When the rules mapped other categories of the output, such
# a category is not asked (a coin flip would spoil a right answer); when they mapped none, the model's
# answer for it is the rules' best effort, for review: on the blind and unknown-vocabulary sets its
# answers there were wrong 8 times of 9, at a confidence of 0.8 to 0.99.
MIN_SUPPORT = 0.6
# The most confidence an answer the model decided may carry, for a category no catalog rule maps:
# below 0.8, the line at which an auditor trusts an event. On our own sets (blind, unknown vocabulary,
# holdout; the default adapter at 5845472) the hybrid's model answers for such categories at a
# calibrated confidence >= 0.8 were right 17 times of 23 (74%); the rules' answers at >= 0.8 on
# detectors outside the catalog, 67 of 68. So a model answer is flagged as less sure, never as trusted.
MODEL_CEILING = 0.75
# The most confidence an event flagged OTHER.NeedsReview may carry: the model's answer was not
# trusted, so how sure the model was of it says nothing for the rules' best effort that replaces it.
REVIEW_CEILING = 0.5
MAX_ANSWER_LABELS = 4  # labels one category (or one raw output) may map to
# Bounded work per request: at most this many model questions (the categories past it are the
# rules' best effort, for review) and, when serving, answered within this many seconds (after which
# the unanswered ones are too). Options of Mapper and of serve.py; batch jobs wait for every answer.
MAX_QUESTIONS = 32
MAX_CATEGORY_CHARS = 200  # of a category string, as retrieval and the model see it
DEADLINE_S = 30.0
# The threads that wait for a request's model answers under its deadline (the answers asked past a
# deadline still land in the backend's cache, so a retry is quick).
_ASKING = concurrent.futures.ThreadPoolExecutor(16, thread_name_prefix="model-questions")
ROUTES = ("rules", "model", "hybrid")


def add_threshold_argument(parser: Any) -> None:
    """``--threshold DETECTOR=VALUE`` (repeatable) for the scripts that run the hybrid route; a
    malformed value is an argparse error that says what to write."""

    def threshold(text: str) -> tuple[str, float]:
        detector, sep, value = text.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            number = None
        if not sep or not detector.strip() or number is None:
            raise argparse.ArgumentTypeError(f"{text!r}: write DETECTOR=VALUE, e.g. acme-guard=0.7")
        return detector.strip(), number

    parser.add_argument(
        "--threshold",
        action="append",
        default=[],
        type=threshold,
        metavar="DETECTOR=VALUE",
        help=f"hybrid: a detector's confidence threshold (default {DEFAULT_THRESHOLD}; repeatable)",
    )


class BackendError(RuntimeError):
    """The model endpoint cannot be used as asked (not serving the adapter, unreachable)."""


@dataclass(frozen=True)
class Answer:
    """The model's labels for one prompt and how sure it was (probability of the whole answer)."""

    labels: tuple[str, ...]
    confidence: float


class Backend(Protocol):
    """What the model routes need of a model endpoint's client
    (:class:`~llama_mapper.serving.client.ModelBackend` is the one we ship)."""

    metadata: dict[str, Any]
    prompt_mode: str

    @property
    def model_ref(self) -> str: ...

    def answer(self, messages: list[dict[str, str]], candidates: Sequence[str] | None = None) -> Answer: ...

    def answer_all(
        self, prompts: list[list[dict[str, str]]], candidates: Sequence[Sequence[str]] | None = None
    ) -> list[Answer]:
        """The answers to ``prompts``; ``candidates`` (one list per prompt, answer texts) are the
        answers each is likely to be: an endpoint may use them to answer faster, never otherwise."""
        ...


@dataclass
class Mapper:
    """Maps requests by one route; the model routes need a :class:`ModelBackend`."""

    route: str = "hybrid"
    backend: Backend | None = None
    rules: RulesMapper = field(default_factory=RulesMapper)
    thresholds: dict[str, float] = field(default_factory=dict)
    default_threshold: float = DEFAULT_THRESHOLD
    calibration: Calibration = field(default_factory=Calibration)
    index: Any = None
    max_questions: int = MAX_QUESTIONS
    deadline: float | None = None  # seconds for a request's model answers (None: wait; serving: 30)
    model_ceiling: float = MODEL_CEILING  # most confidence of an answer the model decided (see above)

    def __post_init__(self) -> None:
        if self.route not in ROUTES:
            raise ValueError(f"unknown route {self.route!r}: choose one of {', '.join(ROUTES)}")
        if self.max_questions < 1:
            raise ValueError(f"max_questions must be at least 1, not {self.max_questions}")
        if self.deadline is not None and self.deadline <= 0:
            raise ValueError(f"the deadline must be a positive number of seconds, not {self.deadline}")
        if self.route != "rules" and self.backend is None:
            raise ValueError(f"the {self.route} route needs a model backend (an adapter and an endpoint)")
        if self.backend is not None and self.calibration == Calibration():
            self.calibration = Calibration.load(self.backend.metadata.get("path"))
        if self.route != "rules" and self.backend.prompt_mode == "categories" and self.index is None:
            # the adapter's own fine-tuned retriever, when it was trained with one
            embedder = load_embedder(retriever_path(self.backend.metadata.get("path")), self.rules.taxonomy)
            self.index = CandidateIndex.from_taxonomy(
                self.rules.taxonomy, detectors=self.rules.catalog, embedder=embedder
            )

    def threshold_for(self, detector: str) -> float:
        return self.thresholds.get(detector, self.default_threshold)

    def map(self, request: MapRequest | dict[str, Any]) -> dict[str, Any]:
        """One request -> one schema-valid canonical event. Raises only RequestError (bad input)
        and BackendError / the client's errors when the model cannot be reached."""
        started = time.monotonic()
        if not isinstance(request, MapRequest):
            request = MapRequest.from_dict(request)
        resolution = self.rules.resolve(request.detector, request.output)
        if self.route == "rules" or (self.route == "hybrid" and not self.needs_model(resolution)):
            return self.rules.event(request, resolution, route="rules")
        return self._model_event(request, resolution, started)

    def _ask(
        self,
        prompts: list[list[dict[str, str]]],
        started: float,
        candidates: Sequence[Sequence[str]] | None = None,
    ) -> list[Answer | None]:
        """The backend's answers, or None for each when they do not come before the deadline."""
        if not prompts:
            return []
        assert self.backend is not None
        if self.deadline is None:
            return list(self.backend.answer_all(prompts, candidates))
        asked = _ASKING.submit(self.backend.answer_all, prompts, candidates)
        try:
            return list(asked.result(timeout=max(0.0, self.deadline - (time.monotonic() - started))))
        except concurrent.futures.TimeoutError:
            logger.warning(
                "model answers past the %.1f s deadline: %d questions", self.deadline, len(prompts)
            )
            return [None] * len(prompts)

    def _for_review(self, category: str | None, detector: Any) -> list[str]:
        """A category the model did not settle: the rules' best effort for it, and NeedsReview."""
        fallback = self.rules.label_category(category, detector) if category is not None else None
        return [n for n in (fallback[0] if fallback else ()) if n != SAFE] + [NEEDS_REVIEW]

    @staticmethod
    def needs_model(resolution: Resolution) -> bool:
        """Hybrid: does the model have anything to map? See :func:`model_categories`."""
        return bool(model_categories(resolution))

    def _model_event(self, request: MapRequest, resolution: Resolution, started: float) -> dict[str, Any]:
        backend = self.backend
        assert backend is not None
        detector = resolution.detector
        shown = detector.name if detector else request.detector
        every = (
            [f for f in resolution.reading.findings if f.counted] if resolution.reading.status == "ok" else []
        )
        counted = every[:8]
        hybrid = self.route == "hybrid"
        # hybrid with some categories mapped by the rules: the model only adds confident labels
        partial = hybrid and resolution.labels != [UNKNOWN]
        if not counted:  # error, unreadable, safe or a bare verdict: code decides, as in training
            if hybrid:
                return self.rules.event(request, resolution, route="rules")
            return self.rules.event(request, resolution, route="model", model=backend.model_ref)
        threshold = self.threshold_for(shown)
        scores = {f.category: (1.0 if f.score is None else f.score) for f in every}
        categories = list(dict.fromkeys(f.category for f in counted))
        labels: dict[str, float] = dict(resolution.scores) if partial else {}
        confidence = (resolution.mapped_confidence or resolution.confidence) if partial else 1.0
        by_model = review = dropped = late = 0
        unsupported: set[str | None] = set()
        if hybrid:  # only what no rule maps
            categories = model_categories(resolution)
        over = categories[self.max_questions :]  # past the per-request bound: for review, unasked
        categories = categories[: self.max_questions]
        if backend.prompt_mode == "raw":
            prompts = [build_prompt(shown, output=request.output, mode="raw")] if categories else []
            asked = [(None, answer) for answer in self._ask(prompts, started)]
            over = []
        else:
            shown_categories = [c[:MAX_CATEGORY_CHARS] for c in categories]
            candidates = self.index.top(
                shown_categories, detectors=[detector.name if detector else None] * len(categories)
            )
            if hybrid:  # what nothing in the index comes close to is not the model's (see MIN_SUPPORT)
                support = self.index.support(shown_categories)
                unsupported = {c for c, s in zip(categories, support, strict=True) if s < MIN_SUPPORT}
            if partial:
                kept = [i for i, c in enumerate(categories) if c not in unsupported]
                dropped += len(categories) - len(kept)
                categories, candidates = [categories[i] for i in kept], [candidates[i] for i in kept]
                if dropped:
                    confidence = min(confidence, 0.5)
            prompts = [
                build_prompt(shown, category=c[:MAX_CATEGORY_CHARS], candidates=k)
                for c, k in zip(categories, candidates, strict=True)
            ]
            hints = [candidate_answers(k) for k in candidates]
            asked = list(zip(categories, self._ask(prompts, started, hints), strict=True))
        for category, answer in asked:
            if answer is None:  # past the deadline: the rules' best effort, for review
                late += 1
                if partial:
                    dropped += 1
                else:
                    over.append(category)
                continue
            sure = self.calibration(answer.confidence)
            score = scores[category] if category is not None else max(scores.values(), default=1.0)
            # In the hybrid route a "safe", "unknown" or "detector error" answer for a counted
            # category is not trusted either: the reader found something, and the detector answered.
            unsure = sure < threshold or set(answer.labels) <= NOT_FINDINGS or category in unsupported
            if partial and unsure:  # the rules' labels stand; nothing is added
                dropped += 1
                confidence = min(confidence, 0.5)
                continue
            if hybrid and unsure:  # flagged for a person: never as sure as a trusted answer
                review += 1
                sure = min(sure, REVIEW_CEILING)
                names = self._for_review(category, detector)
            else:
                by_model += 1
                names = list(answer.labels)
                sure = min(sure, self.model_ceiling)
            confidence = min(confidence, sure)
            for name in names:
                labels[name] = max(labels.get(name, 0.0), score)
        for category in over:
            for name in self._for_review(category, detector):
                labels[name] = max(labels.get(name, 0.0), scores.get(category, 1.0))
        if over or late:
            confidence = min(confidence, 0.5)
        if SAFE in labels and len(labels) > 1:
            del labels[SAFE]
        if not labels:
            labels = {POLICY: 1.0}
        route = "hybrid" if hybrid and (review or partial or over) else "model"
        unasked = len(over) - (late if not partial else 0)
        notes = (
            f"{'catalog ' + detector.name if detector else 'generic reader (detector not in catalog)'}: "
            f"{len(counted)} categories counted; {by_model} mapped by the model"
            + (f"; {len(resolution.scores)} labels from the rules" if partial else "")
            + (
                f"; {dropped} left out (below the confidence threshold {threshold:.2f} or unknown to retrieval)"
                if dropped
                else ""
            )
            + (
                f"; {review} below the confidence threshold {threshold:.2f} or unknown to retrieval:"
                " rules' best effort, needs review"
                if review
                else ""
            )
            + (
                f"; {unasked} past the limit of {self.max_questions} model questions a request:"
                " rules' best effort, needs review"
                if unasked
                else ""
            )
            + (f"; {late} unanswered within the {self.deadline:g} s deadline, needs review" if late else "")
        )
        return make_event(
            list(labels),
            labels,
            confidence,
            taxonomy=self.rules.taxonomy,
            frameworks=self.rules.frameworks,
            detector=shown,
            detector_version=request.detector_version,
            vendor=detector.vendor if detector else None,
            route=route,
            model=backend.model_ref if by_model or review else None,
            tenant_id=request.tenant_id,
            notes=notes,
        )


NOT_FINDINGS = frozenset((SAFE, UNKNOWN, ERROR))


def names_a_category(finding: Finding, known_detector: bool) -> bool:
    """Does a finding name a category, rather than being a structural key the generic reader counted?

    A known detector's findings are its categories; for the generic reader, list items
    (``ents[1]``: ``{"label": "GPE"}``), split category strings and keys inside a category container
    (``categories.quantum_risk``) are, while keys such as ``operations`` or ``languageSupported`` are
    not: asking the model about those added wrong labels on the held-out real outputs.
    """
    if known_detector or finding.path.endswith("]"):
        return True
    parent, _, last = finding.path.rpartition(".")
    if finding.category != last:
        return True
    return parent.rpartition(".")[2].lower() in CONTAINER_HINTS


def model_categories(resolution: Resolution) -> list[str]:
    """Hybrid: the categories the model maps. None for a catalog detector: its entry is exact, and a
    category it leaves unresolved (a code no table has, a customer's own risk name) is OTHER.Unknown
    for a person, not the model's guess (asked, the default adapter turned 14 of the golden sets'
    OTHER.Unknown answers into guesses: 0.995 exact-set against the rules' 1.000). For other
    detectors: all the counted categories that no rule knows when nothing else resolved; when some
    did, only the unresolved ones that name a category."""
    if resolution.detector is not None:
        return []
    if resolution.labels == [UNKNOWN]:
        return list(dict.fromkeys(f.category for f in resolution.unresolved))
    known = resolution.detector is not None
    return list(dict.fromkeys(f.category for f in resolution.unresolved if names_a_category(f, known)))

"""The three routes from a raw detector output to a canonical event: ``rules``, ``model``, ``hybrid``.

- ``rules``: the catalog and the taxonomy's aliases (:class:`~llama_mapper.rules.RulesMapper`).
- ``model``: the deterministic reader extracts the counted category strings; the adapter maps each
  one (with candidate labels retrieved for it), or reads the compacted raw output when it was trained
  in ``raw`` mode (large models). Requests without a counted category are decided by code.
- ``hybrid`` (default): exact catalog hits by the rules, everything else by the model. A category
  whose answer is less confident than the detector's threshold (default 0.6) falls back to the
  rules' best effort and is flagged ``OTHER.NeedsReview``.

The model is reached through ``huggingface_hub.InferenceClient`` only (our server, a TGI container,
or any TGI-protocol endpoint): decoding is constrained to a JSON array of taxonomy labels, so no
answer can leave the taxonomy, whatever text a detector output carries. The client checks that the
endpoint really serves the adapter (TGI silently runs the base model for an unknown one) and records
the adapter's ``repo@tag`` and commit in every event.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import logging
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from llama_mapper.calibration import Calibration
from llama_mapper.catalog.readers import CONTAINER_HINTS, Finding
from llama_mapper.rules import ERROR, POLICY, SAFE, UNKNOWN, MapRequest, Resolution, RulesMapper

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
MAX_ANSWER_LABELS = 4  # labels one category (or one raw output) may map to
ROUTES = ("rules", "model", "hybrid")


def add_threshold_argument(parser: Any) -> None:
    """``--threshold DETECTOR=VALUE`` (repeatable) for the scripts that run the hybrid route; a
    malformed value is an argparse error that says what to write."""
    import argparse

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


class ModelBackend:
    """One adapter on one TGI-protocol endpoint, through ``InferenceClient``."""

    def __init__(
        self,
        endpoint: str,
        adapter: str,
        labels: list[str],
        api_key: str | None = None,
        max_new_tokens: int = 64,
        cache_size: int = 4096,
        timeout: float = 120.0,
    ) -> None:
        from huggingface_hub import InferenceClient

        from llama_mapper.checkpoints import CheckpointManager
        from llama_mapper.serving.grammar import label_schema

        self.endpoint = endpoint.rstrip("/")
        self.client = InferenceClient(self.endpoint, api_key=api_key, timeout=timeout)
        self.metadata = CheckpointManager().metadata(adapter)
        hub = self.metadata.get("hub") or {}
        self.adapter_ref = hub.get("ref") if hub.get("repo_id") else self.metadata["name"]
        self.sha = hub.get("sha")
        self.prompt_mode = self.metadata.get("prompt_mode", "categories")
        self.grammar = {"type": "json", "value": label_schema(labels, max_items=MAX_ANSWER_LABELS)}
        self.max_new_tokens = max_new_tokens
        self.adapter_id = self._served_id(api_key)
        self.cache: OrderedDict[str, Answer] = OrderedDict()
        self.cache_size = cache_size
        self.lock = threading.Lock()
        self.in_flight: dict[str, concurrent.futures.Future] = {}
        self.stats = {"model_calls": 0, "cache_hits": 0}

    @property
    def model_ref(self) -> str:
        """What events record: ``repo@tag#sha`` (or the local folder's name)."""
        return f"{self.adapter_ref}#{self.sha}" if self.sha else str(self.adapter_ref)

    def _served_id(self, api_key: str | None) -> str:
        """The ``adapter_id`` the endpoint knows this adapter by; BackendError when it does not serve it."""
        from huggingface_hub.utils import get_session

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        try:  # the client library's own HTTP session
            response = get_session().get(f"{self.endpoint}/info", headers=headers, timeout=30)
            response.raise_for_status()
            info = response.json()
        except Exception as err:  # noqa: BLE001 - any transport or HTTP error: the endpoint is unusable
            raise BackendError(f"cannot read {self.endpoint}/info: {type(err).__name__}: {err}") from err
        served = info.get("adapters")
        if served is None:  # a real TGI: it does not list adapters, so check by behaviour
            return self._probe(
                self.adapter_ref.split("@")[0] if "@" in str(self.adapter_ref) else str(self.adapter_ref)
            )
        for entry in served:
            same_commit = self.sha is not None and entry.get("sha") == self.sha
            same_name = entry.get("id") in (self.adapter_ref, self.metadata["name"]) or entry.get(
                "ref"
            ) == self.metadata.get("path")
            if same_commit or (self.sha is None and same_name):
                return entry["id"]
        known = ", ".join(f"{e.get('id')} ({(e.get('sha') or 'local')[:12]})" for e in served) or "none"
        raise BackendError(f"{self.endpoint} does not serve {self.model_ref}: it serves {known}")

    def _probe(self, adapter_id: str) -> str:
        """TGI runs the base model for an unknown adapter_id: the adapter must change the prompt's
        log-probabilities, or it is not there."""
        prompt = "detector: probe\ncategory: probe"

        def prefill(aid: str | None) -> list[float]:
            out = self.client.text_generation(
                prompt, max_new_tokens=1, details=True, decoder_input_details=True, adapter_id=aid
            )
            return [t.logprob or 0.0 for t in out.details.prefill]

        if prefill(adapter_id) == prefill(None):
            raise BackendError(
                f"{self.endpoint} answers for {adapter_id!r} exactly as its base model: the adapter is not served"
            )
        return adapter_id

    def answer(self, messages: list[dict[str, str]]) -> Answer:
        """Labels for one prompt (cached: identical prompts are asked once)."""
        key = json.dumps(messages, sort_keys=True)
        with self.lock:
            if key in self.cache:
                self.stats["cache_hits"] += 1
                self.cache.move_to_end(key)
                return self.cache[key]
            waiting = self.in_flight.get(key)
            if waiting is None:
                self.in_flight[key] = concurrent.futures.Future()
        if waiting is not None:  # the same prompt is being asked right now: share its answer
            self.stats["cache_hits"] += 1
            return waiting.result()
        try:
            answer = self._ask(messages)
        except BaseException as err:
            with self.lock:
                self.in_flight.pop(key).set_exception(err)
            raise
        with self.lock:
            self.stats["model_calls"] += 1
            self.cache[key] = answer
            while len(self.cache) > self.cache_size:
                self.cache.popitem(last=False)
            self.in_flight.pop(key).set_result(answer)
        return answer

    def answer_all(self, prompts: list[list[dict[str, str]]]) -> list[Answer]:
        """Answers for several prompts, asked at once so that the server decodes them in one batch."""
        if len(prompts) <= 1:
            return [self.answer(p) for p in prompts]
        with concurrent.futures.ThreadPoolExecutor(min(len(prompts), 8)) as pool:
            return list(pool.map(self.answer, prompts))

    def _ask(self, messages: list[dict[str, str]]) -> Answer:
        out = self.client.chat_completion(
            messages,
            model=self.adapter_id,
            max_tokens=self.max_new_tokens,
            response_format=self.grammar,
            logprobs=True,
        )
        choice = out.choices[0]
        logprob = sum(t.logprob for t in (choice.logprobs.content if choice.logprobs else []) or [])
        try:  # the grammar allows only a JSON array of labels ...
            answer = Answer(tuple(dict.fromkeys(json.loads(choice.message.content))), math.exp(logprob))
        except ValueError:  # ... unless cut off by max_tokens: keep the whole labels, trust none
            complete = re.findall(r'"([A-Z_]+(?:\.[A-Za-z]+)+)"', choice.message.content)
            answer = Answer(tuple(dict.fromkeys(complete)), 0.0)
        return answer


@dataclass
class Mapper:
    """Maps requests by one route; the model routes need a :class:`ModelBackend`."""

    route: str = "hybrid"
    backend: ModelBackend | None = None
    rules: RulesMapper = field(default_factory=RulesMapper)
    thresholds: dict[str, float] = field(default_factory=dict)
    default_threshold: float = DEFAULT_THRESHOLD
    calibration: Calibration = field(default_factory=Calibration)
    index: Any = None

    def __post_init__(self) -> None:
        if self.route not in ROUTES:
            raise ValueError(f"unknown route {self.route!r}: choose one of {', '.join(ROUTES)}")
        if self.route != "rules" and self.backend is None:
            raise ValueError(f"the {self.route} route needs a model backend (an adapter and an endpoint)")
        if self.backend is not None and self.calibration == Calibration():
            self.calibration = Calibration.load(self.backend.metadata.get("path"))
        if self.route != "rules" and self.backend.prompt_mode == "categories" and self.index is None:
            from llama_mapper.candidates import CandidateIndex
            from llama_mapper.retriever import load_embedder, retriever_path

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
        if not isinstance(request, MapRequest):
            request = MapRequest.from_dict(request)
        resolution = self.rules.resolve(request.detector, request.output)
        if self.route == "rules" or (self.route == "hybrid" and not self.needs_model(resolution)):
            return self.rules.event(request, resolution, route="rules")
        return self._model_event(request, resolution)

    @staticmethod
    def needs_model(resolution: Resolution) -> bool:
        """Hybrid: does the model have anything to map? See :func:`model_categories`."""
        return bool(model_categories(resolution))

    def _model_event(self, request: MapRequest, resolution: Resolution) -> dict[str, Any]:
        from llama_mapper.prompt import build_prompt

        backend = self.backend
        assert backend is not None
        detector = resolution.detector
        shown = detector.name if detector else request.detector
        counted = (
            [f for f in resolution.reading.findings if f.counted][:8]
            if resolution.reading.status == "ok"
            else []
        )
        hybrid = self.route == "hybrid"
        # hybrid with some categories mapped by the rules: the model only adds confident labels
        partial = hybrid and resolution.labels != [UNKNOWN]
        if not counted:  # error, unreadable, safe or a bare verdict: code decides, as in training
            if hybrid:
                return self.rules.event(request, resolution, route="rules")
            return self.rules.event(request, resolution, route="model", model=backend.model_ref)
        threshold = self.threshold_for(shown)
        scores = {f.category: (1.0 if f.score is None else f.score) for f in counted}
        categories = list(dict.fromkeys(f.category for f in counted))
        labels: dict[str, float] = dict(resolution.scores) if partial else {}
        confidence = (resolution.mapped_confidence or resolution.confidence) if partial else 1.0
        by_model = review = dropped = 0
        unsupported: set[str | None] = set()
        if hybrid:  # only what no rule maps
            categories = model_categories(resolution)
        if backend.prompt_mode == "raw":
            asked = (
                [(None, backend.answer(build_prompt(shown, output=request.output, mode="raw")))]
                if categories
                else []
            )
        else:
            candidates = self.index.top(
                categories, detectors=[detector.name if detector else None] * len(categories)
            )
            if hybrid:  # what nothing in the index comes close to is not the model's (see MIN_SUPPORT)
                support = self.index.support(categories)
                unsupported = {c for c, s in zip(categories, support, strict=True) if s < MIN_SUPPORT}
            if partial:
                kept = [i for i, c in enumerate(categories) if c not in unsupported]
                dropped += len(categories) - len(kept)
                categories, candidates = [categories[i] for i in kept], [candidates[i] for i in kept]
                if dropped:
                    confidence = min(confidence, 0.5)
            prompts = [
                build_prompt(shown, category=c, candidates=k)
                for c, k in zip(categories, candidates, strict=True)
            ]
            asked = list(zip(categories, backend.answer_all(prompts), strict=True))
        for category, answer in asked:
            sure = self.calibration(answer.confidence)
            score = scores[category] if category is not None else max(scores.values(), default=1.0)
            # In the hybrid route a "safe", "unknown" or "detector error" answer for a counted
            # category is not trusted either: the reader found something, and the detector answered.
            unsure = sure < threshold or set(answer.labels) <= NOT_FINDINGS or category in unsupported
            if partial and unsure:  # the rules' labels stand; nothing is added
                dropped += 1
                confidence = min(confidence, 0.5)
                continue
            if hybrid and unsure:
                review += 1
                if category in unsupported:
                    sure = min(sure, 0.5)
                fallback = self.rules.label_category(category, detector) if category is not None else None
                names = [n for n in (fallback[0] if fallback else ()) if n != SAFE] + [NEEDS_REVIEW]
            else:
                by_model += 1
                names = list(answer.labels)
            confidence = min(confidence, sure)
            for name in names:
                labels[name] = max(labels.get(name, 0.0), score)
        if SAFE in labels and len(labels) > 1:
            del labels[SAFE]
        if not labels:
            labels = {POLICY: 1.0}
        route = "hybrid" if hybrid and (review or partial) else "model"
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
        )
        from llama_mapper.events import make_event

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
    """Hybrid: the categories the model maps. All the counted categories that no rule knows when
    nothing else resolved; when some did, only the unresolved ones that name a category."""
    if resolution.labels == [UNKNOWN]:
        return list(dict.fromkeys(f.category for f in resolution.unresolved))
    known = resolution.detector is not None
    return list(dict.fromkeys(f.category for f in resolution.unresolved if names_a_category(f, known)))


@contextlib.contextmanager
def serving_backend(
    adapter: str, endpoint: str | None = None, api_key: str | None = None, rules: RulesMapper | None = None
) -> Iterator[ModelBackend]:
    """A :class:`ModelBackend` for ``adapter`` on ``endpoint``, or on a local
    :class:`~llama_mapper.serving.server.ModelServer` started for the duration of the block."""
    import os

    rules = rules or RulesMapper()
    server = None
    try:
        if endpoint is None:
            from llama_mapper.serving.server import ModelServer

            server = ModelServer(adapters=[adapter]).start()
        labels = [label.name for label in rules.taxonomy.labels]
        yield ModelBackend(
            endpoint or server.url, adapter, labels, api_key=api_key or os.environ.get("LLAMA_MAPPER_API_KEY")
        )
    finally:
        if server is not None:
            server.stop()

"""The model route's client: one adapter on one endpoint, through ``InferenceClient``.

The endpoint is our server (:class:`~llama_mapper.serving.server.ModelServer`), a TGI container, or
vLLM's OpenAI server; the client tells them apart by what they answer (TGI's ``GET /info``, else
OpenAI's ``GET /v1/models``), never by a flag. Both are asked through the chat API, decoding
constrained to a JSON array of taxonomy labels (TGI's ``{"type": "json"}`` grammar; OpenAI's
``json_schema`` response format for vLLM), so no answer can leave the taxonomy. The client checks
that the endpoint really serves the adapter (TGI silently runs the base model for an unknown one;
vLLM lists its LoRA modules) and names the adapter's ``repo@tag`` and commit.
"""

from __future__ import annotations

import concurrent.futures
import json
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path

from huggingface_hub import InferenceClient
from huggingface_hub.utils import get_session

from llama_mapper.hub.checkpoints import CheckpointManager
from llama_mapper.mapping.routes import MAX_ANSWER_LABELS, Answer, BackendError
from llama_mapper.serving.deploy import served_name
from llama_mapper.serving.grammar import label_schema


class NotServed(BackendError):
    """The endpoint answers, but does not serve this adapter (a wrong endpoint, not a down one)."""


def _ask_all(
    answer: Callable[[list[dict[str, str]], Sequence[str] | None], Answer],
    prompts: list[list[dict[str, str]]],
    candidates: Sequence[Sequence[str]] | None = None,
) -> list[Answer]:
    """``answer`` for each prompt (with its candidate answers), up to 8 at once (the server batches
    what arrives together)."""
    hints = list(candidates) if candidates is not None else [None] * len(prompts)
    if len(prompts) <= 1:
        return [answer(p, h) for p, h in zip(prompts, hints, strict=True)]
    with concurrent.futures.ThreadPoolExecutor(min(len(prompts), 8)) as pool:
        return list(pool.map(answer, prompts, hints))


class ModelBackend:
    """One adapter on one endpoint (TGI protocol or vLLM's OpenAI server), through ``InferenceClient``.
    ``protocol`` says which the endpoint turned out to speak: ``"tgi"`` or ``"openai"``."""

    def __init__(
        self,
        endpoint: str,
        adapter: str,
        labels: list[str],
        api_key: str | None = None,
        max_new_tokens: int = 64,
        cache_size: int = 4096,
        timeout: float = 120.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.headers = dict(headers or {})
        self.client = InferenceClient(self.endpoint, api_key=api_key, timeout=timeout, headers=self.headers)
        self.metadata = CheckpointManager().metadata(adapter)
        hub = self.metadata.get("hub") or {}
        self.adapter_ref = hub.get("ref") if hub.get("repo_id") else self.metadata["name"]
        self.sha = hub.get("sha")
        self.prompt_mode = self.metadata.get("prompt_mode", "categories")
        schema = label_schema(labels, max_items=MAX_ANSWER_LABELS)
        self.max_new_tokens = max_new_tokens
        self.protocol = "tgi"
        self.verifies = False  # our server checks candidate answers in one pass (see Engine._verify)
        self.adapter_id = self._served_id(api_key)
        self.grammar = (
            {"type": "json", "value": schema}  # TGI's grammar
            if self.protocol == "tgi"
            else {"type": "json_schema", "json_schema": {"name": "labels", "schema": schema, "strict": True}}
        )
        self.cache: OrderedDict[str, Answer] = OrderedDict()
        self.cache_size = cache_size
        self.lock = threading.Lock()
        self.in_flight: dict[str, concurrent.futures.Future] = {}
        self.stats = {"model_calls": 0, "cache_hits": 0}

    @property
    def model_ref(self) -> str:
        """What events record: ``repo@tag#sha`` (or the local folder's name)."""
        return f"{self.adapter_ref}#{self.sha}" if self.sha else str(self.adapter_ref)

    def _get(self, path: str, api_key: str | None) -> tuple[int, dict]:
        """``GET path``: its status and JSON body ({} for a 404); BackendError when unreachable."""
        headers = self.headers | ({"Authorization": f"Bearer {api_key}"} if api_key else {})
        try:  # the client library's own HTTP session
            response = get_session().get(f"{self.endpoint}{path}", headers=headers, timeout=30)
            if response.status_code == 404:
                return 404, {}
            response.raise_for_status()
            return response.status_code, response.json()
        except Exception as err:  # noqa: BLE001 - any transport or HTTP error: the endpoint is unusable
            raise BackendError(f"cannot read {self.endpoint}{path}: {type(err).__name__}: {err}") from err

    def _served_id(self, api_key: str | None) -> str:
        """The id the endpoint knows this adapter by (TGI's ``adapter_id``, OpenAI's ``model``);
        BackendError when it does not serve it. Sets :attr:`protocol`."""
        status, info = self._get("/info", api_key)
        if status == 404:  # not TGI: vLLM's OpenAI server lists its LoRA modules
            status, models = self._get("/v1/models", api_key)
            if status == 404:
                raise BackendError(
                    f"{self.endpoint} answers neither TGI's /info nor OpenAI's /v1/models: not a model server"
                )
            self.protocol = "openai"
            return self._listed_id(models)
        self.verifies = bool(info.get("answer_candidates"))
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
        raise NotServed(f"{self.endpoint} does not serve {self.model_ref}: it serves {known}")

    def _listed_id(self, models: dict) -> str:
        """This adapter's entry in an OpenAI ``/v1/models`` list (vLLM: one entry per LoRA module,
        ``root`` its folder): by the name ``make vllm`` serves it under (``org--name--v1.2.0``, which
        pins the release), its reference, or its local folder's name."""
        names = {served_name(self.metadata), str(self.adapter_ref), self.metadata["name"]}
        loras = [m for m in models.get("data") or [] if isinstance(m, dict) and m.get("parent")]
        for entry in loras:
            if entry.get("id") in names or Path(str(entry.get("root") or "")).name in names:
                return str(entry["id"])
        known = ", ".join(str(m.get("id")) for m in loras) or "no LoRA module"
        raise NotServed(
            f"{self.endpoint} does not serve {self.model_ref}: it serves {known} (vLLM: --lora-modules "
            f"{served_name(self.metadata)}=<folder>, as `make vllm` writes it)"
        )

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

    def answer(self, messages: list[dict[str, str]], candidates: Sequence[str] | None = None) -> Answer:
        """Labels for one prompt (cached: identical prompts are asked once). ``candidates``: the
        answers (JSON texts) it is likely to be, which our server verifies in one pass instead of
        decoding token by token; they change how fast the answer comes, never which answer."""
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
            answer = self._ask(messages, candidates)
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

    def answer_all(
        self, prompts: list[list[dict[str, str]]], candidates: Sequence[Sequence[str]] | None = None
    ) -> list[Answer]:
        """Answers for several prompts, asked at once so that the server decodes them in one batch."""
        return _ask_all(self.answer, prompts, candidates)

    def _ask(self, messages: list[dict[str, str]], candidates: Sequence[str] | None = None) -> Answer:
        out = self.client.chat_completion(
            messages,
            model=self.adapter_id,
            max_tokens=self.max_new_tokens,
            response_format=self.grammar,
            logprobs=True,
            extra_body={"candidates": list(candidates)} if candidates and self.verifies else None,
        )
        choice = out.choices[0]
        logprob = sum(t.logprob for t in (choice.logprobs.content if choice.logprobs else []) or [])
        try:  # the grammar allows only a JSON array of labels ...
            answer = Answer(tuple(dict.fromkeys(json.loads(choice.message.content))), math.exp(logprob))
        except ValueError:  # ... unless cut off by max_tokens: keep the whole labels, trust none
            complete = re.findall(r'"([A-Z_]+(?:\.[A-Za-z]+)+)"', choice.message.content)
            answer = Answer(tuple(dict.fromkeys(complete)), 0.0)
        return answer


def _retryable(err: BaseException) -> bool:
    """A busy or failing endpoint (429, 5xx, a refused or dropped connection, a timeout), worth
    asking another; a 4xx is the request's own fault and is not."""
    status = getattr(getattr(err, "response", None), "status_code", None)
    if status is not None:
        return status == 429 or status >= 500
    names = {cls.__name__ for cls in type(err).__mro__}
    return isinstance(err, OSError) or bool(
        names & {"TransportError", "TimeoutException", "RemoteProtocolError"}
    )


class Fleet:
    """Several endpoints that serve one adapter (``--endpoint`` repeated), as one backend.

    Questions go round-robin to the healthy endpoints. A 429, a 5xx or a transport error marks the
    endpoint down and the question is asked again on another, with exponential back-off; a down
    endpoint is skipped until ``cooldown_s`` has passed and its ``/health`` answers 200 again (an
    endpoint unreachable at start is checked the same way, and joins once it serves the adapter).
    After ``attempts`` tries the question fails with BackendError, which the batch path turns into an
    error record: every request ends in an event or an error record. All endpoints must serve the
    same adapter commit."""

    def __init__(
        self,
        endpoints: Sequence[str],
        make_backend: Callable[[str], ModelBackend],
        attempts: int = 6,
        cooldown_s: float = 2.0,
        backoff_s: float = 0.1,
    ) -> None:
        if not endpoints:
            raise ValueError("a fleet needs at least one endpoint")
        self.make_backend = make_backend
        self.attempts, self.cooldown_s, self.backoff_s = attempts, cooldown_s, backoff_s
        self.lock = threading.Lock()
        self.backends: dict[str, ModelBackend | None] = {}
        self.down_until: dict[str, float] = {}
        self.turn = 0
        errors = []
        for endpoint in dict.fromkeys(e.rstrip("/") for e in endpoints):
            try:
                self.backends[endpoint] = make_backend(endpoint)
            except NotServed:  # a wrong endpoint, not a down one: refuse now
                raise
            except BackendError as err:
                errors.append(str(err))
                self.backends[endpoint] = None
                self.down_until[endpoint] = time.monotonic() + cooldown_s
        up = [b for b in self.backends.values() if b is not None]
        if not up:
            raise BackendError("no endpoint can be reached: " + "; ".join(errors))
        refs = {b.model_ref for b in up}
        if len(refs) > 1:
            raise BackendError(f"the endpoints serve different adapters: {', '.join(sorted(refs))}")
        first = up[0]
        self.metadata, self.prompt_mode, self.sha = first.metadata, first.prompt_mode, first.sha
        self.endpoint = ", ".join(self.backends)

    @property
    def model_ref(self) -> str:
        return next(b for b in self.backends.values() if b is not None).model_ref

    @property
    def stats(self) -> dict[str, int]:
        out = {"model_calls": 0, "cache_hits": 0}
        for backend in self.backends.values():
            for key in out:
                out[key] += backend.stats[key] if backend is not None else 0
        return out

    def healthy(self) -> list[str]:
        """The endpoints a question may go to now (a down one is checked once its cool-down is over)."""
        now = time.monotonic()
        with self.lock:
            due = [e for e, until in self.down_until.items() if until <= now]
            for endpoint in due:  # checked by one caller at a time; others skip it meanwhile
                self.down_until[endpoint] = now + self.cooldown_s
        for endpoint in due:
            if self._recovered(endpoint):
                with self.lock:
                    self.down_until.pop(endpoint, None)
        with self.lock:
            return [e for e in self.backends if e not in self.down_until]

    def _recovered(self, endpoint: str) -> bool:
        try:
            if get_session().get(f"{endpoint}/health", timeout=5).status_code != 200:
                return False
            if self.backends[endpoint] is None:
                backend = self.make_backend(endpoint)
                if backend.model_ref != self.model_ref:
                    return False
                self.backends[endpoint] = backend
            return True
        except Exception:  # noqa: BLE001 - still down, whatever the reason
            return False

    def _mark_down(self, endpoint: str) -> None:
        with self.lock:
            self.down_until[endpoint] = time.monotonic() + self.cooldown_s

    def answer(self, messages: list[dict[str, str]], candidates: Sequence[str] | None = None) -> Answer:
        delay, last = self.backoff_s, "no endpoint was healthy"
        for _ in range(self.attempts):
            healthy = self.healthy()
            if healthy:
                with self.lock:
                    endpoint = healthy[self.turn % len(healthy)]
                    self.turn += 1
                backend = self.backends[endpoint]
                assert backend is not None
                try:
                    return backend.answer(messages, candidates)
                except Exception as err:
                    if not _retryable(err):
                        raise
                    self._mark_down(endpoint)
                    last = f"{endpoint}: {type(err).__name__}"
            time.sleep(delay)
            delay = min(delay * 2, self.cooldown_s)
        raise BackendError(f"no endpoint answered after {self.attempts} attempts (last: {last})")

    def answer_all(
        self, prompts: list[list[dict[str, str]]], candidates: Sequence[Sequence[str]] | None = None
    ) -> list[Answer]:
        return _ask_all(self.answer, prompts, candidates)

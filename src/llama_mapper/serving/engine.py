"""The generation engine: one base model, several LoRA adapters, batched constrained decoding.

- Adapters are loaded once, by Hub reference (``org/name@v1.2.0``, pulled to the cache and reported
  with their commit sha) or local folder, into one ``PeftModel``; each batch runs one adapter (or the
  base model, with ``adapter_id`` unset).
- Requests wait in a bounded queue (``max_concurrent_requests``: more are refused with
  :class:`Overloaded`, TGI's 429) and a worker thread batches those for the same adapter
  (``max_batch_size``), so memory stays bounded under any load.
- Decoding is a plain loop over the model with a KV cache: greedy or sampled (seeded), grammar masks
  from xgrammar, stop sequences, and TGI's details (per-token log-probabilities after the grammar
  mask, top-n alternatives, prompt log-probabilities).
- Candidate verification (``candidates``, our extension of TGI's parameters): a greedy request may
  name the answers it expects (the mapper: retrieval's candidate labels). The engine feeds them all
  in one batched pass over the prompt's cache and replays greedy decoding on those logits, under the
  same grammar masks: when greedy decoding stays on a candidate, its answer, tokens and
  log-probabilities are those of plain decoding, found in one pass instead of one per token; when it
  leaves them, the request is decoded as usual. Candidates change how fast an answer comes, never
  which answer.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from llama_mapper.hub.checkpoints import CheckpointManager
from llama_mapper.models.base_model import resolve_base_model, trained_base
from llama_mapper.serving.grammar import GrammarCache, GrammarError

logger = logging.getLogger(__name__)


class ValidationError(ValueError):
    """A request the server refuses as it stands (TGI: 422, ``validation``)."""


class Overloaded(RuntimeError):
    """The queue is full (TGI: 429, ``overloaded``)."""


class GenerationFailed(RuntimeError):
    """The model failed on a valid request (TGI: 424, ``generation``)."""


class Parameters(BaseModel):
    """TGI's generation parameters (``parameters`` of ``POST /generate``); the HTTP API validates
    request bodies with this same model."""

    max_new_tokens: int | None = None
    do_sample: bool = False
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    typical_p: float | None = None
    repetition_penalty: float | None = None
    stop: list[str] = Field(default_factory=list)
    seed: int | None = None
    details: bool = False
    decoder_input_details: bool = False
    top_n_tokens: int | None = None
    truncate: int | None = None
    return_full_text: bool = False
    grammar: dict[str, Any] | None = None
    adapter_id: str | None = None
    # llama-mapper's extension: answers the client expects, verified in one pass (greedy only)
    candidates: list[str] | None = None


MAX_CANDIDATES = 32  # candidate answers one request may name
VERIFY_ROUNDS = 3  # verification passes a request may take before it is decoded token by token


@dataclass
class Token:
    id: int
    text: str
    logprob: float | None
    special: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "logprob": self.logprob, "special": self.special}


@dataclass
class Generation:
    """What one request produced."""

    text: str
    finish_reason: str  # "length" | "eos_token" | "stop_sequence"
    tokens: list[Token]
    top_tokens: list[list[Token]]
    prefill: list[Token]
    input_length: int
    seed: int | None
    seconds: float = 0.0

    @property
    def logprob(self) -> float:
        """Sum of the generated tokens' log-probabilities (after the grammar mask)."""
        return sum(t.logprob or 0.0 for t in self.tokens if not t.special)


@dataclass
class Adapter:
    """A served adapter: the id requests use, where it came from, and PEFT's internal name."""

    id: str
    name: str
    path: str
    ref: str
    sha: str | None
    metadata: dict[str, Any]
    given: str = ""  # the reference as the operator wrote it

    def info(self) -> dict[str, Any]:
        return {"id": self.id, "ref": self.ref, "sha": self.sha, "path": self.path}


@dataclass
class Request:
    prompt: str
    params: Parameters
    on_token: Callable[[Token], None] | None
    future: concurrent.futures.Future
    input_ids: list[int] = field(default_factory=list)
    grammar: Any = None
    enqueued: float = field(default_factory=time.perf_counter)
    candidate_texts: list[str] = field(default_factory=list)  # see ``Parameters.candidates``


def parse_adapter_spec(spec: str) -> tuple[str | None, str]:
    """``name=ref`` (TGI's syntax) -> (name, ref); a bare ref -> (None, ref)."""
    name, sep, ref = spec.partition("=")
    return (name.strip(), ref.strip()) if sep else (None, spec.strip())


class Engine:
    """Loads the base model and adapters, queues requests and runs them in batches."""

    def __init__(
        self,
        adapters: Sequence[str] = (),
        base_model: str | None = None,
        max_concurrent_requests: int = 64,
        max_batch_size: int = 16,
        max_input_tokens: int = 1024,
        max_total_tokens: int = 1536,
        default_max_new_tokens: int = 64,
        dtype: str = "float32",
        threads: int | None = None,
        batch_wait_ms: float = 3.0,
        allow_base_mismatch: bool = False,
        merge_adapter: bool = False,
    ) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.torch = torch
        manager = CheckpointManager(".")
        specs = [parse_adapter_spec(s) for s in adapters]
        metas = [manager.metadata(ref) for _, ref in specs]
        bases = {m["base_model"]["model_id"] for m in metas}
        if len(bases) > 1:
            raise ValueError(f"all adapters must share one base model; got {sorted(bases)}")
        if not metas and not base_model:
            raise ValueError("serve at least one adapter, or name a base model")
        trained_on = {(m["base_model"].get("source"), m["base_model"].get("revision")) for m in metas}
        if len(trained_on) > 1 and not allow_base_mismatch:
            raise ValueError(
                f"the adapters were trained on different weights of one base ({sorted(map(str, trained_on))}): "
                "serve them from separate servers, or pass allow_base_mismatch"
            )
        if base_model or not metas:  # a base named by the operator
            self.base = resolve_base_model(base_model or next(iter(bases)))
        else:  # the weights the adapter was trained (and measured) on
            self.base = trained_base(metas[0]["base_model"], allow_mismatch=allow_base_mismatch)
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(self.base.path, dtype=getattr(torch, dtype)).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(metas[0]["path"] if metas else self.base.path)
        self.adapters: dict[str, Adapter] = {}
        if metas:
            from peft import PeftModel

            for i, ((name, ref), meta) in enumerate(zip(specs, metas, strict=True)):
                hub = meta.get("hub") or {}
                ident = name or (ref if hub.get("repo_id") else Path(ref).name)
                adapter = Adapter(
                    ident, f"adapter_{i}", meta["path"], hub.get("ref") or ref, hub.get("sha"), meta, ref
                )
                if i == 0:
                    model = PeftModel.from_pretrained(model, adapter.path, adapter_name=adapter.name).eval()
                else:
                    model.load_adapter(adapter.path, adapter_name=adapter.name)
                self.adapters[adapter.id] = adapter
        self.merged = merge_adapter
        if merge_adapter:  # one adapter folded into the base weights: no LoRA work per token
            if len(self.adapters) != 1:
                raise ValueError(
                    "merge_adapter serves exactly one adapter (the base model is then not served)"
                )
            model = model.merge_and_unload().eval()
        self.model = model
        self.aliases = self._aliases()
        self.vocab_size = model.config.vocab_size
        self.grammars = GrammarCache(self.tokenizer, self.vocab_size)
        self.eos_ids = self._eos_ids()
        self.max_concurrent_requests = max_concurrent_requests
        self.max_batch_size = max_batch_size
        self.max_input_tokens = max_input_tokens
        self.max_total_tokens = max_total_tokens
        self.default_max_new_tokens = default_max_new_tokens
        self.pending: deque[Request] = deque()
        self.in_flight = 0
        self.cond = threading.Condition()
        self.running = False
        self.worker: threading.Thread | None = None
        self.stats = {
            "requests": 0,
            "batches": 0,
            "generated_tokens": 0,
            "verified": 0,
            "verify_missed": 0,
            "verify_rounds": 0,
        }
        self.batch_wait = batch_wait_ms / 1000

    # --- set-up -------------------------------------------------------------------------------------
    def _aliases(self) -> dict[str, str]:
        """Other names a request may use: the reference as given (a path, ``org/name@tag``) and
        ``org/name`` for the one adapter served from that repo (TGI's id for ``org/name@rev``)."""
        by_repo: dict[str, list[str]] = {}
        aliases = {a.given: a.id for a in self.adapters.values() if a.given != a.id}
        for adapter in self.adapters.values():
            repo = (adapter.metadata.get("hub") or {}).get("repo_id")
            if repo and repo != adapter.id:
                by_repo.setdefault(repo, []).append(adapter.id)
        aliases.update({repo: ids[0] for repo, ids in by_repo.items() if len(ids) == 1})
        return {k: v for k, v in aliases.items() if k not in self.adapters}

    def _eos_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id}
        generation_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        ids.update(generation_eos if isinstance(generation_eos, list) else [generation_eos])
        return {i for i in ids if i is not None}

    @property
    def model_id(self) -> str:
        return self.base.model_id

    def adapter_for(self, adapter_id: str | None) -> Adapter | None:
        """The adapter a request names (None: the base model); ValidationError for an unknown id."""
        if adapter_id in (None, "", self.base.model_id):
            if self.merged:
                raise ValidationError(
                    f"this server merged {next(iter(self.adapters))} into the base weights: name that adapter"
                )
            return None
        found = self.adapters.get(adapter_id) or self.adapters.get(self.aliases.get(adapter_id, ""))
        if found is None:
            known = ", ".join(sorted(self.adapters)) or "none"
            raise ValidationError(f"unknown adapter_id {adapter_id!r}: this server serves {known}")
        return found

    # --- the queue ----------------------------------------------------------------------------------
    def start(self) -> Engine:
        if not self.running:
            self.running = True
            self.worker = threading.Thread(target=self._loop, name="engine", daemon=True)
            self.worker.start()
        return self

    def stop(self) -> None:
        with self.cond:
            self.running = False
            self.cond.notify_all()
        if self.worker is not None:
            self.worker.join(timeout=30)
        for request in list(self.pending):
            request.future.set_exception(Overloaded("the server is shutting down"))
        self.pending.clear()

    def validate(self, prompt: str, params: Parameters) -> list[int]:
        """TGI's validation rules; returns the prompt's token ids."""
        p = params
        if not prompt:
            raise ValidationError("`inputs` cannot be empty")
        if p.max_new_tokens is not None and p.max_new_tokens <= 0:
            raise ValidationError("`max_new_tokens` must be strictly positive")
        if p.temperature is not None and p.temperature <= 0:
            raise ValidationError("`temperature` must be strictly positive")
        if p.top_k is not None and p.top_k <= 0:
            raise ValidationError("`top_k` must be strictly positive")
        for name in ("top_p", "typical_p"):
            value = getattr(p, name)
            if value is not None and not 0 < value < 1:
                raise ValidationError(f"`{name}` must be > 0.0 and < 1.0")
        if p.repetition_penalty is not None and p.repetition_penalty <= 0:
            raise ValidationError("`repetition_penalty` must be strictly positive")
        if len(p.stop) > 4:
            raise ValidationError(f"`stop` supports up to 4 stop sequences. Given: {len(p.stop)}")
        if p.top_n_tokens is not None and not 0 <= p.top_n_tokens <= 5:
            raise ValidationError("`top_n_tokens` must be >= 0 and <= 5")
        if p.truncate is not None and p.truncate <= 0:
            raise ValidationError("`truncate` must be strictly positive")
        if p.candidates is not None and len(p.candidates) > MAX_CANDIDATES:
            raise ValidationError(
                f"`candidates` holds at most {MAX_CANDIDATES} answers. Given: {len(p.candidates)}"
            )
        self.adapter_for(p.adapter_id)
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        if p.truncate:
            ids = ids[-p.truncate :]
        if len(ids) > self.max_input_tokens:
            raise ValidationError(
                f"`inputs` tokens + `max_new_tokens` must be <= {self.max_total_tokens}. "
                f"Given: {len(ids)} `inputs` tokens (more than max_input_tokens={self.max_input_tokens})"
            )
        new = p.max_new_tokens or self.default_max_new_tokens
        if len(ids) + new > self.max_total_tokens:
            raise ValidationError(
                f"`inputs` tokens + `max_new_tokens` must be <= {self.max_total_tokens}. "
                f"Given: {len(ids)} `inputs` tokens and {new} `max_new_tokens`"
            )
        return ids

    def submit(
        self, prompt: str, params: Parameters, on_token: Callable[[Token], None] | None = None
    ) -> concurrent.futures.Future:
        """Queue a request; its future resolves to a :class:`Generation`."""
        ids = self.validate(prompt, params)
        try:
            compiled = self.grammars.compile(params.grammar)
        except GrammarError as err:
            raise ValidationError(str(err)) from err
        request = Request(prompt, params, on_token, concurrent.futures.Future(), ids, compiled)
        if params.candidates and not params.do_sample and on_token is None:  # see _verify
            request.candidate_texts = [t for t in dict.fromkeys(params.candidates) if t]
        with self.cond:
            if not self.running:
                raise Overloaded("the engine is not running")
            if self.in_flight >= self.max_concurrent_requests:
                raise Overloaded("Model is overloaded")
            self.in_flight += 1
            self.stats["requests"] += 1
            self.pending.append(request)
            self.cond.notify()
        return request.future

    def _candidate_path(self, matcher: Any, text: str, max_new: int) -> list[int] | None:
        """The tokens greedy decoding would produce for ``text`` (from ``matcher``'s state, which it
        advances) if the model chose, at each free step, the tokenizer's own first token of what is
        left (as in training), with the tokens the grammar forces taken as decoding takes them (see
        :meth:`_State.forced`). None when the grammar does not allow ``text`` there."""
        encode, decode = self.tokenizer.encode, self.tokenizer.decode
        ids: list[int] = []
        rest = text
        while rest and len(ids) < max_new:
            steps = [encode(rest, add_special_tokens=False)[0]]
            if matcher is not None:
                if not matcher.accept_token(steps[0]):
                    return None
                steps += [int(t) for t in matcher.find_jump_forward_tokens()]
                for forced in steps[1:]:
                    matcher.accept_token(forced)
            for step in steps:
                piece = decode([step])
                if not rest.startswith(piece):
                    return None
                rest = rest[len(piece) :]
                ids.append(step)
        return ids[:max_new]

    def generate(self, prompt: str, params: Parameters | None = None) -> Generation:
        """Blocking convenience: submit and wait."""
        return self.submit(prompt, params or Parameters()).result()

    def _take_batch(self) -> list[Request]:
        with self.cond:
            while self.running and not self.pending:
                self.cond.wait(timeout=0.5)
            if not self.running:
                return []
            if len(self.pending) < self.max_batch_size and self.batch_wait > 0:
                # Requests sent together (one output's categories) arrive a moment apart: wait a
                # few milliseconds so that they share a batch.
                self.cond.wait(timeout=self.batch_wait)
            first = self.pending.popleft()
            batch = [first]
            for request in list(self.pending):
                if len(batch) >= self.max_batch_size:
                    break
                if request.params.adapter_id == first.params.adapter_id:
                    self.pending.remove(request)
                    batch.append(request)
            return batch

    def _loop(self) -> None:
        while self.running:
            batch = self._take_batch()
            if not batch:
                continue
            try:
                results = self.run_batch(batch)
                for request, result in zip(batch, results, strict=True):
                    request.future.set_result(result)
            except Exception as err:  # noqa: BLE001 - every waiting request must get an answer
                logger.exception("generation failed for a batch of %d", len(batch))
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(GenerationFailed(f"{type(err).__name__}: {err}"))
            finally:
                with self.cond:
                    self.in_flight -= len(batch)

    # --- decoding -----------------------------------------------------------------------------------
    def _adapter_context(self, adapter: Adapter | None):
        import contextlib

        if not self.adapters or self.merged:
            return contextlib.nullcontext()
        if adapter is None:
            return self.model.disable_adapter()
        self.model.set_adapter(adapter.name)
        return contextlib.nullcontext()

    def run_batch(self, batch: list[Request]) -> list[Generation]:
        """Decode a batch of requests that use the same adapter; those that name candidates are
        verified first (one pass), and decoded only when greedy decoding leaves their candidates."""
        start = time.perf_counter()
        done: dict[int, Generation] = {}
        named = [i for i, r in enumerate(batch) if r.candidate_texts]
        if named:
            for i, gen in zip(named, self._verify([batch[i] for i in named]), strict=True):
                if gen is not None:
                    done[i] = gen
            self.stats["verified"] += len(done)
            self.stats["verify_missed"] += len(named) - len(done)
        rest = [i for i in range(len(batch)) if i not in done]
        if rest:
            done.update(zip(rest, self._decode([batch[i] for i in rest]), strict=True))
        seconds = time.perf_counter() - start
        self.stats["batches"] += 1
        self.stats["generated_tokens"] += sum(len(g.tokens) for g in done.values())
        for gen in done.values():
            gen.seconds = seconds
        return [done[i] for i in range(len(batch))]

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return pad if pad is not None else next(iter(self.eos_ids))

    def _prompt_pass(self, batch: list[Request], states: list[_State]) -> tuple[Any, Any, Any, Any]:
        """One forward pass over the prompts, left-padded to the longest (inside inference mode and
        the adapter's context): the next-token logits of each, the cache, the attention mask and
        each prompt's last position."""
        torch = self.torch
        width = max(len(r.input_ids) for r in batch)
        input_ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for i, r in enumerate(batch):
            input_ids[i, width - len(r.input_ids) :] = torch.tensor(r.input_ids)
            attention[i, width - len(r.input_ids) :] = 1
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        out = self.model(
            input_ids=input_ids, attention_mask=attention, position_ids=positions, use_cache=True
        )
        for i, state in enumerate(states):
            if state.request.params.decoder_input_details:
                state.prefill = self._prefill(
                    out.logits[i, width - len(state.request.input_ids) :], state.request.input_ids
                )
        return out.logits[:, -1, :].float(), out.cache, attention, positions[:, -1].clone()

    def _decode(self, batch: list[Request]) -> list[Generation]:
        """Token-by-token decoding of a batch: one forward pass per step, grammar masks applied."""
        torch = self.torch
        pad = self.pad_id
        adapter = self.adapter_for(batch[0].params.adapter_id)
        states = [_State(self, r) for r in batch]
        bitmask = self.grammars.bitmask(len(batch)) if any(r.grammar is not None for r in batch) else None
        with torch.inference_mode(), self._adapter_context(adapter):
            logits, past, attention, last = self._prompt_pass(batch, states)
            while True:
                if bitmask is not None:
                    for i, state in enumerate(states):
                        if state.matcher is not None and not state.done:
                            state.matcher.fill_next_token_bitmask(bitmask, i)
                    rows = [i for i, s in enumerate(states) if s.matcher is not None and not s.done]
                    if rows:
                        self.grammars.apply(logits, bitmask, rows)
                steps: list[list[int]] = []
                for i, state in enumerate(states):
                    steps.append([] if state.done else [state.step(logits[i]), *state.forced()])
                if all(s.done for s in states):
                    break
                # Each sequence feeds its new tokens (one chosen + any forced by the grammar), padded on
                # the left to the longest; padding is masked out of attention.
                width = max(1, max(len(t) for t in steps))
                nxt = torch.full((len(batch), width), pad, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                pos = torch.zeros((len(batch), width), dtype=torch.long)
                for i, tokens in enumerate(steps):
                    if tokens and not states[i].done:
                        nxt[i, width - len(tokens) :] = torch.tensor(tokens)
                        mask[i, width - len(tokens) :] = 1
                        pos[i, width - len(tokens) :] = last[i] + torch.arange(1, len(tokens) + 1)
                        last[i] = last[i] + len(tokens)
                    pos[i, : width - len(tokens)] = last[i]
                attention = torch.cat([attention, mask], dim=-1)
                out = self.model(
                    input_ids=nxt, attention_mask=attention, position_ids=pos, cache=past, use_cache=True
                )
                past = out.cache
                logits = out.logits[:, -1, :].float()
        return [s.result(0.0) for s in states]

    def _verify(self, batch: list[Request]) -> list[Generation | None]:
        """Candidate verification: the prompt pass, then rounds of one pass each over every pending
        request's candidate answers (a row each: the tokens chosen so far and one candidate's rest,
        on a copy of its prompt's cache), greedy decoding replayed on those logits. A round ends
        where greedy decoding leaves the rows; the next feeds the candidates that still fit what was
        chosen. Requests not done after :data:`VERIFY_ROUNDS` rounds get None (decode them)."""
        torch = self.torch
        import copy

        adapter = self.adapter_for(batch[0].params.adapter_id)
        states = [_State(self, r) for r in batch]
        with torch.inference_mode(), self._adapter_context(adapter):
            first, cache, attention, last = self._prompt_pass(batch, states)
            # the first choice comes from the prompt pass: candidates are then fed only if they fit it
            results = [self._replay(state, first[i], {}) for i, state in enumerate(states)]
            pending = [i for i in range(len(batch)) if results[i] is None]
            for _ in range(VERIFY_ROUNDS if pending else 0):
                rows = [(i, [*states[i].ids, *rest]) for i in pending for rest in self._rests(states[i])]
                width = max(len(tokens) for _, tokens in rows)
                ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
                mask = torch.zeros((len(rows), width), dtype=torch.long)
                pos = torch.zeros((len(rows), width), dtype=torch.long)
                for row, (i, tokens) in enumerate(rows):  # right-padded: causal attention never sees it
                    ids[row, : len(tokens)] = torch.tensor(tokens)
                    mask[row, : len(tokens)] = 1
                    pos[row] = last[i] + torch.arange(1, width + 1)
                owner = torch.tensor([i for i, _ in rows])
                past = copy.deepcopy(cache)
                past.batch_select_indices(owner)
                out = self.model(
                    input_ids=ids,
                    attention_mask=torch.cat([attention[owner], mask], dim=-1),
                    position_ids=pos,
                    cache=past,
                    use_cache=True,
                )
                self.stats["verify_rounds"] += 1
                logits = out.logits.float()
                fed: dict[int, dict[tuple[int, ...], Any]] = {i: {} for i in pending}
                for row, (i, tokens) in enumerate(rows):
                    fed[i][tuple(tokens)] = logits[row]
                for i in pending:
                    results[i] = self._replay(states[i], first[i], fed[i])
                pending = [i for i in pending if results[i] is None]
                if not pending:
                    break
        return results

    def _rests(self, state: _State) -> list[list[int]]:
        """Each candidate's tokens after what ``state`` has chosen, for the candidates whose text
        starts with it (see :meth:`Engine._candidate_path`); ``[[]]`` when none does (the round then
        gives the next token's logits, as one decoding step)."""
        rests = []
        for text in state.request.candidate_texts:
            if text.startswith(state.text) and len(text) > len(state.text):
                matcher = state.matcher.fork() if state.matcher is not None else None
                path = self._candidate_path(matcher, text[len(state.text) :], state.max_new - len(state.ids))
                if path and path not in rests:
                    rests.append(path)
        return rests or [[]]

    def _replay(self, state: _State, first: Any, fed: dict[tuple[int, ...], Any]) -> Generation | None:
        """Greedy decoding of one request on precomputed logits (``first``: after the prompt; ``fed``:
        for each row's tokens, the logits after each of them). None where the chosen tokens leave
        every row (``state`` keeps what was chosen)."""
        n = len(state.ids)
        if n:
            found = next(row for tokens, row in fed.items() if list(tokens[:n]) == state.ids)
            logits = found[n - 1]
        else:
            logits = first
        while True:
            logits = logits.clone()
            if state.matcher is not None:
                bitmask = self.grammars.bitmask(1)
                state.matcher.fill_next_token_bitmask(bitmask, 0)
                self.grammars.apply(logits[None], bitmask)
            state.step(logits)
            state.forced()
            if state.done:
                return state.result(0.0)
            n = len(state.ids)
            found = next(
                (row for tokens, row in fed.items() if len(tokens) >= n and list(tokens[:n]) == state.ids),
                None,
            )
            if found is None:
                return None
            logits = found[n - 1]

    def _prefill(self, logits: Any, ids: list[int]) -> list[Token]:
        """TGI's ``prefill`` details: each prompt token with its log-probability given the ones before."""
        logprobs = self.torch.log_softmax(logits.float(), dim=-1)
        tokens = [Token(ids[0], self.tokenizer.decode([ids[0]]), None)]
        for pos in range(1, len(ids)):
            tokens.append(
                Token(ids[pos], self.tokenizer.decode([ids[pos]]), float(logprobs[pos - 1, ids[pos]]))
            )
        return tokens


class _State:
    """One request's decoding state inside a batch."""

    def __init__(self, engine: Engine, request: Request) -> None:
        self.engine = engine
        self.request = request
        self.params = request.params
        self.max_new = request.params.max_new_tokens or engine.default_max_new_tokens
        self.matcher = engine.grammars.matcher(request.grammar) if request.grammar is not None else None
        self.ids: list[int] = []
        self.tokens: list[Token] = []
        self.top_tokens: list[list[Token]] = []
        self.prefill: list[Token] = []
        self.text = ""
        self.done = False
        self.finish_reason = "length"
        self.generator = None
        if self.params.do_sample or self.params.seed is not None:
            self.generator = engine.torch.Generator().manual_seed(
                self.params.seed if self.params.seed is not None else int(time.time_ns() % 2**31)
            )

    def step(self, logits: Any) -> int:
        """Choose the next token from ``logits`` (already grammar-masked); returns it."""
        torch = self.engine.torch
        p = self.params
        if p.repetition_penalty and p.repetition_penalty != 1.0:
            seen = torch.tensor(sorted(set(self.request.input_ids + self.ids)), dtype=torch.long)
            values = logits[seen]
            logits[seen] = torch.where(
                values > 0, values / p.repetition_penalty, values * p.repetition_penalty
            )
        if p.do_sample:
            logits = logits / (p.temperature or 1.0)
            if p.top_k:
                kth = torch.topk(logits, min(p.top_k, logits.shape[-1])).values[-1]
                logits = logits.masked_fill(logits < kth, -math.inf)
            if p.top_p:
                sorted_logits, order = torch.sort(logits, descending=True)
                cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(-1)
                drop = cumulative - torch.softmax(sorted_logits, dim=-1) > p.top_p
                logits = logits.masked_fill(torch.zeros_like(drop).scatter(0, order, drop), -math.inf)
            if p.typical_p:  # locally typical sampling, as TGI and transformers' generate() apply it
                from transformers.generation.logits_process import TypicalLogitsWarper

                logits = TypicalLogitsWarper(p.typical_p)(None, logits[None])[0]
        logprobs = torch.log_softmax(logits, dim=-1)
        if p.do_sample:
            token = int(torch.multinomial(logprobs.exp(), 1, generator=self.generator))
        else:
            token = int(torch.argmax(logprobs))
        top = None
        if p.top_n_tokens:
            values, indices = torch.topk(logprobs, p.top_n_tokens)
            top = [
                (int(i), float(v)) for v, i in zip(values, indices, strict=True) if math.isfinite(float(v))
            ]
        self.record(token, float(logprobs[token]), top)
        return token

    def record(self, token: int, logprob: float, top: list[tuple[int, float]] | None = None) -> None:
        """Append a token (chosen, or forced by the grammar with log-probability 0) and check the
        stop conditions."""
        tokenizer = self.engine.tokenizer
        special = token in self.engine.eos_ids or token in tokenizer.all_special_ids
        previous = self.text
        self.ids.append(token)
        self.text = tokenizer.decode(self.ids, skip_special_tokens=True)
        piece = Token(
            token, tokenizer.decode([token]) if special else self.text[len(previous) :], logprob, special
        )
        self.tokens.append(piece)
        if self.params.top_n_tokens:  # tokens the grammar forbids (-inf) are not alternatives
            alternatives = top if top is not None else [(token, logprob)]
            self.top_tokens.append(
                [Token(i, tokenizer.decode([i]), v, i in self.engine.eos_ids) for i, v in alternatives]
            )
        if self.matcher is not None and not self.matcher.is_terminated():
            self.matcher.accept_token(token)
        if token in self.engine.eos_ids:
            self.done, self.finish_reason = True, "eos_token"
        elif any(stop in self.text for stop in self.params.stop):
            self.done, self.finish_reason = True, "stop_sequence"
        elif self.matcher is not None and (self.matcher.is_terminated() or self._only_stop_left()):
            self.done, self.finish_reason = True, "eos_token"
        elif len(self.ids) >= self.max_new:
            self.done, self.finish_reason = True, "length"
        if self.request.on_token is not None:
            self.request.on_token(piece)

    def _only_stop_left(self) -> bool:
        """The grammar is complete and allows nothing but its stop token: no forward pass needed."""
        if not self.matcher.is_completed():
            return False
        mask = self.engine.grammars.bitmask(1)
        self.matcher.fill_next_token_bitmask(mask, 0)
        allowed = self.engine.grammars.allowed(mask)
        return set(allowed) <= set(self.matcher.stop_token_ids)

    def forced(self) -> list[int]:
        """Jump-forward: the tokens the grammar allows as the only continuation, recorded at once so
        that one forward pass covers them all."""
        if self.done or self.matcher is None:
            return []
        tokens = list(self.matcher.find_jump_forward_tokens())[: self.max_new - len(self.ids)]
        taken = []
        for token in tokens:
            if self.done:
                break
            self.record(int(token), 0.0)
            taken.append(int(token))
        return taken

    def result(self, seconds: float) -> Generation:
        return Generation(
            text=self.text,
            finish_reason=self.finish_reason,
            tokens=self.tokens,
            top_tokens=self.top_tokens,
            prefill=self.prefill,
            input_length=len(self.request.input_ids),
            seed=self.params.seed,
            seconds=seconds,
        )

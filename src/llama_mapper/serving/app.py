"""The HTTP API: Text Generation Inference's protocol over :class:`~llama_mapper.serving.engine.Engine`.

``POST /`` and ``/generate``, ``/generate_stream`` (SSE), ``GET /info``, ``/health``, ``/metrics``
(Prometheus) and ``POST /v1/chat/completions`` (``model`` picks the adapter), with TGI's error bodies
``{"error", "error_type"}``: 422 ``validation``, 429 ``overloaded``, 424 ``generation``. One deliberate
difference: an unknown ``adapter_id`` (or chat ``model``) is a 422, where TGI silently runs the base
model.

Logs and metrics carry metadata only (route, adapter, status, token counts, latency), never inputs
or generated text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from llama_mapper import __version__
from llama_mapper.mapping.rules import MapRequest, RequestError, name_text
from llama_mapper.serving.engine import (
    MAX_CANDIDATES,
    Engine,
    Generation,
    GenerationFailed,
    Overloaded,
    Parameters,
    Token,
    ValidationError,
)
from llama_mapper.serving.limits import BodyTooLarge, Guard, Limits, Traffic

logger = logging.getLogger("llama_mapper.serve")


class GenerateParameters(Parameters):
    """TGI's ``parameters`` as a request carries them (unknown keys are ignored, as TGI does)."""

    model_config = ConfigDict(extra="ignore")
    return_full_text: bool | None = False
    best_of: int | None = None
    watermark: bool = False

    @field_validator("best_of")
    @classmethod
    def one_sequence(cls, value: int | None) -> int | None:
        if value not in (None, 1):
            raise ValueError("`best_of` is not supported by this server: use 1")
        return value


class GenerateRequest(BaseModel):
    inputs: str
    parameters: GenerateParameters = Field(default_factory=GenerateParameters)
    stream: bool = False


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    messages: list[ChatMessage]
    model: str | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: list[str] | str | None = None
    stream: bool = False
    response_format: dict[str, Any] | None = None
    logprobs: bool = False
    top_logprobs: int | None = None
    frequency_penalty: float | None = None
    candidates: list[str] | None = None  # llama-mapper's extension: see Parameters.candidates


class ErrorBody(BaseModel):
    """TGI's error body."""

    error: str
    error_type: str


ERROR: dict[str, Any] = {"model": ErrorBody, "description": "TGI's error body"}
ERRORS: dict[int | str, dict[str, Any]] = {status: ERROR for status in (401, 413, 422, 424, 429, 503)}


def error(status: int, message: str, kind: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"error": message, "error_type": kind}, status_code=status, headers=headers)


def to_parameters(p: GenerateParameters) -> Parameters:
    """The engine's parameters from a request's."""
    values = p.model_dump(exclude={"best_of", "watermark"})
    return Parameters(**values | {"return_full_text": bool(p.return_full_text)})


def details_of(gen: Generation, stream: bool = False) -> dict[str, Any]:
    base = {"finish_reason": gen.finish_reason, "generated_tokens": len(gen.tokens), "seed": gen.seed}
    if stream:
        return base | {"input_length": gen.input_length}
    return base | {
        "prefill": [{"id": t.id, "text": t.text, "logprob": t.logprob} for t in gen.prefill],
        "tokens": [t.to_dict() for t in gen.tokens],
        "top_tokens": [[t.to_dict() for t in step] for step in gen.top_tokens] or None,
        "best_of_sequences": None,
    }


def chat_grammar(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """TGI's and OpenAI's ``response_format`` spellings -> a grammar."""
    if not response_format or response_format.get("type") == "text":
        return None
    kind = response_format.get("type")
    if kind == "json_schema" and "json_schema" in response_format:  # OpenAI's spelling
        return {"type": "json_schema", "value": response_format["json_schema"]}
    if kind == "json_object" and "value" not in response_format:
        return {"type": "json", "value": {"type": "object"}}
    return {"type": kind, "value": response_format.get("value")}


class Metrics:
    """Prometheus metrics named as TGI's (``tgi_*``), in a registry of the app's own."""

    def __init__(self, engine: Engine) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter("tgi_request_count", "Requests received", ["route"], registry=self.registry)
        self.success = Counter(
            "tgi_request_success", "Requests answered", ["route", "adapter"], registry=self.registry
        )
        self.failure = Counter(
            "tgi_request_failure", "Requests refused or failed", ["route", "err"], registry=self.registry
        )
        self.duration = Histogram(
            "tgi_request_duration",
            "Request latency in seconds",
            ["route"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.generated = Histogram(
            "tgi_request_generated_tokens",
            "Generated tokens per request",
            buckets=(1, 4, 16, 64, 256, 1024),
            registry=self.registry,
        )
        queue = Gauge("tgi_queue_size", "Requests waiting or running", registry=self.registry)
        queue.set_function(lambda: engine.in_flight)

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


# TGI's own routes, which vLLM's OpenAI server does not have (``protocol="vllm"`` answers them 404).
TGI_ONLY_PATHS = frozenset({"/", "/generate", "/generate_stream", "/info"})
PROTOCOLS = ("tgi", "vllm")


def create_app(
    engine: Engine, api_key: str | None = None, limits: Limits | None = None, protocol: str = "tgi"
) -> FastAPI:
    """The FastAPI app (OpenAPI docs at ``/docs``). ``app.state.map_status`` is ``"off"`` (no
    ``/map``), ``"starting"`` (``/map`` and ``/health`` answer 503 until ``app.state.mapper`` is
    set) or ``"ready"``; ``app.state.traffic`` counts the requests in flight and refuses new ones
    with 503 once the server is stopping.

    ``protocol="vllm"`` makes it a stand-in for vLLM's OpenAI server (v0.11, the image
    ``make vllm`` runs): TGI's routes answer 404 as vLLM's would, and ``/v1/models`` lists the
    base model and each LoRA adapter by its served name with vLLM's fields (``owned_by``, ``root``,
    ``parent``). The tests reach the vLLM client path through it."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}: choose from {', '.join(PROTOCOLS)}")
    limits = limits or Limits()
    app = FastAPI(title="Llama Mapper model server", version=__version__, description=__doc__)
    app.state.engine = engine
    app.state.limits = limits
    app.state.map_status = "off"
    app.state.mapper = None
    app.state.traffic = Traffic()
    metrics = Metrics(engine)
    app.state.metrics = metrics
    app.add_middleware(
        Guard,
        api_key=api_key,
        max_body_bytes=limits.max_body_bytes,
        traffic=app.state.traffic,
        retry_after=limits.retry_after_s,
    )

    if protocol == "vllm":

        @app.middleware("http")
        async def openai_server_only(request: Request, call_next):
            if request.url.path in TGI_ONLY_PATHS:
                return JSONResponse({"detail": "Not Found"}, status_code=404)
            return await call_next(request)

    created = int(time.time())

    @app.get("/v1/models", summary="The served models (OpenAI's list; LoRA adapters as vLLM lists them)")
    async def models():
        owner = "vllm" if protocol == "vllm" else "llama-mapper"

        def card(ident: str, root: str, parent: str | None) -> dict[str, Any]:
            return {
                "id": ident,
                "object": "model",
                "created": created,
                "owned_by": owner,
                "root": root,
                "parent": parent,
            }

        adapters = [card(a.id, a.path, engine.model_id) for a in engine.adapters.values()]
        return {"object": "list", "data": [card(engine.model_id, engine.model_id, None), *adapters]}

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        metrics.failure.labels(request.url.path, "validation").inc()
        return error(413, str(exc.detail), "validation")

    @app.exception_handler(RequestValidationError)
    async def invalid_body(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        metrics.failure.labels(request.url.path, "validation").inc()
        return error(422, f"invalid request: {where}: {first.get('msg', 'malformed body')}", "validation")

    def refused(route: str, err: Exception) -> JSONResponse:
        """TGI's answer for a request the engine refused or failed: 422, 429 or 424."""
        status, kind = {ValidationError: (422, "validation"), Overloaded: (429, "overloaded")}.get(
            type(err), (424, "generation")
        )
        metrics.failure.labels(route, kind).inc()
        return error(status, str(err), kind)

    async def run(route: str, prompt: str, params: Parameters) -> Generation | JSONResponse:
        metrics.requests.labels(route).inc()
        start = time.perf_counter()
        try:
            gen = await asyncio.wrap_future(engine.submit(prompt, params))
        except (ValidationError, Overloaded, GenerationFailed) as err:
            return refused(route, err)
        seconds = time.perf_counter() - start
        metrics.duration.labels(route).observe(seconds)
        metrics.generated.observe(len(gen.tokens))
        metrics.success.labels(route, params.adapter_id or "base").inc()
        logger.info(
            "route=%s adapter=%s input_tokens=%d generated_tokens=%d finish=%s latency_ms=%.1f",
            route, params.adapter_id or "base", gen.input_length, len(gen.tokens), gen.finish_reason, seconds * 1000,
        )  # fmt: skip
        return gen

    def answer(body: GenerateRequest, gen: Generation) -> dict[str, Any]:
        text = (body.inputs + gen.text) if body.parameters.return_full_text else gen.text
        result: dict[str, Any] = {"generated_text": text}
        if body.parameters.details or body.parameters.decoder_input_details:
            result["details"] = details_of(gen)
        return result

    async def stream(route: str, prompt: str, params: Parameters, full_prefix: str = "") -> Response:
        """TGI's SSE stream: one event per token, the last one with the text and details."""
        metrics.requests.labels(route).inc()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        try:
            future = engine.submit(
                prompt, params, on_token=lambda t: loop.call_soon_threadsafe(queue.put_nowait, t)
            )
        except (ValidationError, Overloaded) as err:
            return refused(route, err)
        future.add_done_callback(lambda f: loop.call_soon_threadsafe(queue.put_nowait, f))

        async def events() -> AsyncIterator[bytes]:
            held: dict[str, Any] | None = None  # the newest token, sent once we know if it is the last
            index = 0
            while True:
                item = await queue.get()
                if isinstance(item, Token):
                    if held is not None:
                        yield f"data: {json.dumps(held)}\n\n".encode()
                    index += 1
                    held = {"index": index, "token": item.to_dict(), "generated_text": None, "details": None}
                    continue
                exc = item.exception()
                if exc is not None:
                    metrics.failure.labels(route, "generation").inc()
                    kind = "overloaded" if isinstance(exc, Overloaded) else "generation"
                    yield f"data: {json.dumps({'error': str(exc), 'error_type': kind})}\n\n".encode()
                    return
                gen: Generation = item.result()
                final = held or {"index": index, "token": None, "generated_text": None, "details": None}
                final["generated_text"] = full_prefix + gen.text
                if params.details:
                    final["details"] = details_of(gen, stream=True)
                metrics.success.labels(route, params.adapter_id or "base").inc()
                yield f"data: {json.dumps(final)}\n\n".encode()
                return

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.post("/generate", summary="Generate text (TGI)", responses=ERRORS)
    async def generate(body: GenerateRequest):
        params = to_parameters(body.parameters)
        gen = await run("/generate", body.inputs, params)
        return gen if isinstance(gen, JSONResponse) else answer(body, gen)

    @app.post(
        "/",
        summary="Generate text or stream it (TGI's compatibility route)",
        responses=ERRORS | {200: {"content": {"application/json": {}, "text/event-stream": {}}}},
    )
    async def compat(body: GenerateRequest):
        params = to_parameters(body.parameters)
        if body.stream:
            return await stream(
                "/", body.inputs, params, body.inputs if body.parameters.return_full_text else ""
            )
        gen = await run("/", body.inputs, params)
        return gen if isinstance(gen, JSONResponse) else [answer(body, gen)]

    @app.post(
        "/generate_stream",
        summary="Stream generated tokens as server-sent events (TGI)",
        response_class=StreamingResponse,
        responses=ERRORS | {200: {"content": {"text/event-stream": {}}}},
    )
    async def generate_stream(body: GenerateRequest):
        params = to_parameters(body.parameters)
        return await stream(
            "/generate_stream", body.inputs, params, body.inputs if body.parameters.return_full_text else ""
        )

    @app.post(
        "/v1/chat/completions",
        summary="OpenAI-style chat completions; `model` picks the adapter",
        responses=ERRORS | {200: {"content": {"application/json": {}, "text/event-stream": {}}}},
    )
    async def chat(body: ChatRequest):
        adapter = None if body.model in (None, "", "tgi") else body.model
        stop = [body.stop] if isinstance(body.stop, str) else list(body.stop or [])
        params = Parameters(
            max_new_tokens=body.max_completion_tokens or body.max_tokens,
            do_sample=bool(body.temperature) or body.top_p is not None,  # temperature 0 or none: greedy
            temperature=body.temperature if body.temperature else None,
            top_p=body.top_p,
            seed=body.seed,
            stop=stop,
            top_n_tokens=body.top_logprobs if body.logprobs else None,
            details=body.logprobs,
            grammar=chat_grammar(body.response_format),
            adapter_id=adapter,
            candidates=body.candidates,
        )
        messages = [
            {"role": m.role, "content": m.content if isinstance(m.content, str) else _text(m.content)}
            for m in body.messages
        ]
        try:
            prompt = engine.tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        except Exception as err:  # noqa: BLE001 - a template that rejects these messages
            return error(422, f"messages do not fit the chat template: {err}", "validation")
        created = int(time.time())
        model = body.model or engine.model_id
        if body.stream:
            return await chat_stream(prompt, params, model, created)
        gen = await run("/v1/chat/completions", prompt, params)
        if isinstance(gen, JSONResponse):
            return gen
        logprobs = None
        if body.logprobs:
            logprobs = {
                "content": [
                    _chat_logprob(t, gen.top_tokens[i] if i < len(gen.top_tokens) else [])
                    for i, t in enumerate(gen.tokens)
                    if not t.special
                ]
            }
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
            "object": "chat.completion",
            "created": created,
            "model": model,
            "system_fingerprint": f"llama-mapper-{__version__}",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": gen.text},
                    "logprobs": logprobs,
                    "finish_reason": "length" if gen.finish_reason == "length" else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": gen.input_length,
                "completion_tokens": len(gen.tokens),
                "total_tokens": gen.input_length + len(gen.tokens),
            },
        }

    async def chat_stream(prompt: str, params: Parameters, model: str, created: int) -> Response:
        inner = await stream("/v1/chat/completions", prompt, params)
        if not isinstance(inner, StreamingResponse):
            return inner

        async def chunks() -> AsyncIterator[bytes]:
            ident = f"chatcmpl-{uuid.uuid4().hex[:16]}"
            async for raw in inner.body_iterator:
                event = json.loads(raw.decode()[len("data: ") :])
                if "error" in event:
                    yield f"data: {json.dumps(event)}\n\n".encode()
                    return
                token = event.get("token") or {}
                finish = None
                if event.get("generated_text") is not None:
                    finish = (
                        "length" if (event.get("details") or {}).get("finish_reason") == "length" else "stop"
                    )
                delta = {
                    "role": "assistant",
                    "content": "" if token.get("special") else token.get("text", ""),
                }
                chunk = {
                    "id": ident,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "system_fingerprint": f"llama-mapper-{__version__}",
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
                }
                yield f"data: {json.dumps(chunk)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    add_map_routes(app, metrics)

    @app.get("/info", summary="Model and server information (TGI), plus the served adapters")
    async def info():
        return {
            "model_id": engine.model_id,
            "model_sha": engine.base.revision,
            "model_pipeline_tag": "text-generation",
            "max_concurrent_requests": engine.max_concurrent_requests,
            "max_best_of": 1,
            "max_stop_sequences": 4,
            "max_input_tokens": engine.max_input_tokens,
            "max_total_tokens": engine.max_total_tokens,
            "validation_workers": 1,
            "max_client_batch_size": engine.max_batch_size,
            "router": "llama-mapper",
            "version": __version__,
            "sha": None,
            "docker_label": None,
            "adapters": [a.info() for a in engine.adapters.values()],
            # llama-mapper's extension: a greedy request may name up to this many candidate answers
            "answer_candidates": MAX_CANDIDATES,
        }

    def unready() -> str | None:
        """Why the server cannot answer every route it serves yet (None: it can)."""
        if app.state.traffic.stopping:
            return "the server is shutting down"
        if not engine.running:
            return "the engine is not running"
        if app.state.map_status == "starting":
            return "the mapping service is starting"
        return None

    @app.get(
        "/health",
        summary="200 (empty) when every route it serves answers; 503 while starting or stopping",
        response_class=Response,
        responses={
            200: {"description": "healthy (an empty body, as TGI answers)", "content": None},
            503: ERROR,
        },
    )
    async def health():
        why = unready()
        if why:
            return error(503, why, "unhealthy", retry_after=limits.retry_after_s)
        return Response(status_code=200)

    @app.get(
        "/ready",
        summary="Kubernetes-style readiness: the same answer as /health",
        response_class=Response,
        responses={200: {"description": "ready (an empty body)", "content": None}, 503: ERROR},
    )
    async def ready():
        return await health()

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def prometheus():
        return PlainTextResponse(metrics.render().decode(), media_type="text/plain; version=0.0.4")

    return app


class MapBatch(BaseModel):
    requests: list[Any] = Field(
        description="mapping requests: {detector, output, detector_version?, tenant_id?, id?}"
    )


class NotServing(Exception):
    """``/map`` asked of a server that was started without it (404) or is starting it (503)."""


class TenantSlots:
    """At most ``limit`` ``/map`` requests in flight per tenant (``tenant_id``; none: one shared
    anonymous tenant), beside the engine's global queue bound."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight: dict[str, int] = {}

    def take(self, tenants: set[str]) -> bool:
        """Take a slot for each tenant (all or none); False when one is at its limit."""
        if any(self.in_flight.get(t, 0) >= self.limit for t in tenants):
            return False
        for t in tenants:
            self.in_flight[t] = self.in_flight.get(t, 0) + 1
        return True

    def give(self, tenants: set[str]) -> None:
        for t in tenants:
            self.in_flight[t] -= 1
            if not self.in_flight[t]:
                del self.in_flight[t]


def tenant_of(raw: Any) -> str:
    tenant = raw.get("tenant_id") if isinstance(raw, dict) else None
    return name_text(tenant)[:256] if isinstance(tenant, str) else "-"


def add_map_routes(app: FastAPI, metrics: Metrics) -> None:
    """``POST /map`` and ``/map/batch``: raw detector outputs in, canonical events out
    (``app.state.mapper`` is set by :class:`~llama_mapper.serving.server.ModelServer` with ``map_route``)."""
    import concurrent.futures

    from fastapi.concurrency import run_in_threadpool

    limits: Limits = app.state.limits
    slots = TenantSlots(limits.max_tenant_requests)

    def mapper():
        found = getattr(app.state, "mapper", None)
        if found is None:
            raise NotServing(app.state.map_status)
        return found

    def one(raw: Any) -> dict[str, Any]:
        start = time.perf_counter()
        request = MapRequest.from_dict(raw)  # validates, and makes every string valid UTF-8
        event = mapper().map(request)
        if request.id is not None:
            event = {"id": request.id, **event}
        prov = event["provenance"]
        logger.info(
            "map tenant=%s detector=%s labels=%s route=%s latency_ms=%.1f",
            prov.get("tenant_id"), prov["detector"], ",".join(event["taxonomy"]), prov["route"], (time.perf_counter() - start) * 1000,
        )  # fmt: skip
        return event

    def not_serving(route: str, status: str) -> JSONResponse:
        metrics.failure.labels(route, "unavailable").inc()
        if status == "starting":
            return error(
                503, "the mapping service is starting", "unavailable", retry_after=limits.retry_after_s
            )
        return error(404, "this server does not serve /map (start it with serve.py --map)", "unavailable")

    def busy(route: str) -> JSONResponse:
        metrics.failure.labels(route, "overloaded").inc()
        return error(
            429,
            f"over {limits.max_tenant_requests} requests in flight for this tenant",
            "overloaded",
            retry_after=limits.retry_after_s,
        )

    @app.post(
        "/map", summary="Map one raw detector output to a canonical event", responses=ERRORS | {404: ERROR}
    )
    async def map_one(body: dict[str, Any]):
        metrics.requests.labels("/map").inc()
        tenants = {tenant_of(body)}
        if not slots.take(tenants):
            return busy("/map")
        try:
            event = await run_in_threadpool(one, body)
        except NotServing as err:
            return not_serving("/map", str(err))
        except RequestError as err:
            metrics.failure.labels("/map", "validation").inc()
            return error(422, str(err), "validation")
        except Exception as err:  # noqa: BLE001 - the model endpoint failed: say so, lose nothing silently
            metrics.failure.labels("/map", "generation").inc()
            logger.warning("map failed: %s", type(err).__name__)
            return error(424, f"the model route failed: {type(err).__name__}", "generation")
        finally:
            slots.give(tenants)
        metrics.success.labels("/map", event["provenance"].get("model") or "rules").inc()
        return event

    @app.post(
        "/map/batch",
        summary="Map many outputs; a bad item gives an error record in its place",
        responses=ERRORS | {404: ERROR},
    )
    async def map_batch(body: MapBatch):
        if len(body.requests) > limits.max_batch_requests:
            return error(413, f"at most {limits.max_batch_requests} requests a batch", "validation")
        metrics.requests.labels("/map/batch").inc()
        if app.state.mapper is None:
            return not_serving("/map/batch", app.state.map_status)
        tenants = {tenant_of(raw) for raw in body.requests}
        if not slots.take(tenants):
            return busy("/map/batch")

        def safe(item: tuple[int, Any]) -> dict[str, Any]:
            index, raw = item
            try:
                return one(raw)
            except RequestError as err:
                return {"index": index, "error": str(err), "error_type": "validation"}
            except Exception as err:  # noqa: BLE001
                return {"index": index, "error": f"{type(err).__name__}", "error_type": "generation"}

        def run_all() -> list[dict[str, Any]]:
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                return list(pool.map(safe, enumerate(body.requests)))

        try:
            events = await run_in_threadpool(run_all)
        finally:
            slots.give(tenants)
        return {"events": events, "errors": sum("error" in e for e in events)}


def _text(parts: list[dict[str, Any]] | None) -> str:
    return "".join(p.get("text", "") for p in parts or [] if p.get("type") == "text")


def _chat_logprob(token: Token, top: list[Token]) -> dict[str, Any]:
    return {
        "token": token.text,
        "logprob": token.logprob,
        "top_logprobs": [{"token": t.text, "logprob": t.logprob} for t in top],
    }

"""``ModelServer``: the engine and its HTTP API in a background thread (the seed's Python API), and
:func:`open_routes`, the one way to build the mappers of the three routes.

server = ModelServer(checkpoint_path="org/mapper@v1.2.0").start()
client = InferenceClient(server.url)
...
server.stop()

``python -m llama_mapper.serving.server`` starts it from the command line (``scripts/serve.py``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llama_mapper.mapping.routes import ROUTES, Mapper
from llama_mapper.mapping.rules import RulesMapper
from llama_mapper.serving.app import create_app
from llama_mapper.serving.client import Fleet, ModelBackend
from llama_mapper.serving.engine import Engine
from llama_mapper.serving.limits import Limits


class ModelServer:
    """Serve one or more adapters (Hub references or local folders) over TGI's protocol."""

    def __init__(
        self,
        checkpoint_path: str | None = None,
        adapters: Sequence[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        base_model: str | None = None,
        engine: Engine | None = None,
        map_route: str | None = None,
        thresholds: dict[str, float] | None = None,
        limits: Limits | None = None,
        protocol: str = "tgi",
        **engine_options: Any,
    ) -> None:
        refs = [*([checkpoint_path] if checkpoint_path else []), *adapters]
        self.engine = engine or Engine(refs, base_model=base_model, **engine_options)
        self.host = host
        self.port = port or _free_port(host)
        self.api_key = api_key
        self.map_route = map_route
        self.thresholds = thresholds or {}
        self.limits = limits or Limits()
        self.protocol = protocol  # "vllm": a stand-in for vLLM's OpenAI server (tests)
        self.mapper: Any = None
        self._app: Any = None
        self.server: Any = None
        self.thread: threading.Thread | None = None
        self._routes = contextlib.ExitStack()
        self._indexes: dict[str, Any] = {}  # adapter -> its candidate index, built once

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def app(self):
        if self._app is None:
            self._app = create_app(
                self.engine, api_key=self.api_key, limits=self.limits, protocol=self.protocol
            )
        return self._app

    def start(self, timeout: float = 30.0) -> ModelServer:
        """Start the engine and the HTTP server; returns once every route answers (``/health``
        and ``/map`` answer 503 until then)."""
        import uvicorn

        if self.map_route:
            self.app().state.map_status = "starting"
        self.engine.start()
        config = uvicorn.Config(
            self.app(),
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=int(self.limits.shutdown_grace_s),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="model-server", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the model server did not start on {self.url}")
            time.sleep(0.02)
        if self.map_route:
            self.enable_map(self.map_route)
        return self

    def enable_map(self, route: str = "hybrid", adapter: str | None = None) -> Any:
        """Serve ``/map`` with ``route``, the model part through this server's own TGI API."""
        chosen = adapter
        if route != "rules":
            adapters = list(self.engine.adapters.values())
            if not adapters:
                raise ValueError("the model and hybrid routes need an adapter")
            chosen = adapter or adapters[0].given
        routes = self._routes.enter_context(
            open_routes(
                [route],
                chosen,
                self.url,
                self.api_key,
                thresholds=self.thresholds,
                mapper_options={"index": self._indexes.get(chosen or ""), **self.limits.mapper_options()},
                backend_options={"headers": self.app().state.traffic.internal_headers()},
            )
        )
        self.mapper = routes.mappers[route] if route != "rules" else Mapper(route="rules", rules=routes.rules)
        if route != "rules" and chosen:
            self._indexes[chosen] = self.mapper.index
        self.app().state.mapper = self.mapper
        self.app().state.map_status = "ready"
        return self.mapper

    def stop(self) -> None:
        """Stop accepting connections, let the requests in flight finish (within
        ``limits.shutdown_grace_s``), then stop the engine. SIGTERM calls this in ``serve.py``."""
        if self._app is not None and self.server is not None:
            traffic = self._app.state.traffic
            traffic.stopping = True
            deadline = time.monotonic() + self.limits.shutdown_grace_s
            while traffic.in_flight and time.monotonic() < deadline:
                time.sleep(0.05)
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=self.limits.shutdown_grace_s + 5)
        self.engine.stop()
        self._routes.close()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class Routes:
    """The mappers of the routes asked for, the model backend they share (None for ``rules``
    alone) and the rules they fall back to."""

    mappers: dict[str, Any]
    backend: ModelBackend | Fleet | None
    rules: RulesMapper


@contextlib.contextmanager
def open_routes(
    routes: Sequence[str],
    adapter: str | None = None,
    endpoint: str | Sequence[str] | None = None,
    api_key: str | None = None,
    thresholds: Mapping[str, float] | None = None,
    rules: RulesMapper | None = None,
    backend_options: Mapping[str, Any] | None = None,
    mapper_options: Mapping[str, Any] | None = None,
) -> Iterator[Routes]:
    """The one way to build mappers: ``rules`` is a :class:`RulesMapper`; ``model`` and ``hybrid``
    ask ``adapter`` (``org/name@v1.2.0`` or a folder) on ``endpoint``, or, without one, on a
    :class:`ModelServer` started for the duration of the block; several endpoints serving it are
    one :class:`~llama_mapper.serving.client.Fleet` (spread, retried, failed over). Raises ValueError for an unknown
    route or a model route without an adapter, and BackendError when the endpoint does not serve it.
    ``backend_options`` go to :class:`~llama_mapper.serving.client.ModelBackend` (``cache_size``...),
    ``mapper_options`` to the model routes' :class:`~llama_mapper.mapping.routes.Mapper`
    (``max_questions``, ``deadline``)."""
    unknown = [r for r in routes if r not in ROUTES]
    if unknown:
        raise ValueError(f"unknown route(s) {unknown}: choose from {', '.join(ROUTES)}")
    rules = rules or RulesMapper()
    if not set(routes) - {"rules"}:
        yield Routes({route: rules for route in routes}, None, rules)
        return
    if not adapter:
        raise ValueError("the model and hybrid routes need an adapter (org/name@v1.2.0 or a local folder)")
    with contextlib.ExitStack() as stack:
        if endpoint is None:
            endpoint = stack.enter_context(ModelServer(adapters=[adapter])).url
        labels = [label.name for label in rules.taxonomy.labels]
        endpoints = [endpoint] if isinstance(endpoint, str) else list(endpoint)

        def connect(url: str) -> ModelBackend:
            return ModelBackend(
                url,
                adapter,
                labels,
                api_key=api_key or os.environ.get("LLAMA_MAPPER_API_KEY"),
                **(backend_options or {}),
            )

        backend: Any = connect(endpoints[0]) if len(endpoints) == 1 else Fleet(endpoints, connect)
        mappers: dict[str, Any] = {}
        index = None  # the model routes share one candidate index (one adapter, one retriever)
        for route in routes:
            if route == "rules":
                mappers[route] = rules
                continue
            options = dict(mapper_options or {})
            if index is not None:
                options["index"] = index
            mappers[route] = Mapper(route, backend, rules, dict(thresholds or {}), **options)
            index = mappers[route].index
        yield Routes(mappers, backend, rules)


if __name__ == "__main__":  # python -m llama_mapper.serving.server: the command scripts/serve.py runs
    from llama_mapper.commands.serve import main

    sys.exit(main())

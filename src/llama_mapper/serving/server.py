"""``ModelServer``: the engine and its HTTP API in a background thread (the seed's Python API).

server = ModelServer(checkpoint_path="org/mapper@v1.2.0").start()
client = InferenceClient(server.url)
...
server.stop()
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

from llama_mapper.serving.engine import Engine


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
        **engine_options: Any,
    ) -> None:
        refs = [*([checkpoint_path] if checkpoint_path else []), *adapters]
        self.engine = engine or Engine(refs, base_model=base_model, **engine_options)
        self.host = host
        self.port = port or _free_port(host)
        self.api_key = api_key
        self.map_route = map_route
        self.thresholds = thresholds or {}
        self.mapper: Any = None
        self._app: Any = None
        self.server: Any = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def app(self):
        from llama_mapper.serving.app import create_app

        if self._app is None:
            self._app = create_app(self.engine, api_key=self.api_key)
        return self._app

    def start(self, timeout: float = 30.0) -> ModelServer:
        """Start the engine and the HTTP server; returns once it accepts connections."""
        import uvicorn

        self.engine.start()
        config = uvicorn.Config(
            self.app(), host=self.host, port=self.port, log_level="warning", access_log=False
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
        from llama_mapper.mapper import Mapper, ModelBackend
        from llama_mapper.rules import RulesMapper

        rules = RulesMapper()
        backend = None
        if route != "rules":
            adapters = list(self.engine.adapters.values())
            if not adapters:
                raise ValueError("the model and hybrid routes need an adapter")
            chosen = adapter or adapters[0].given
            labels = [label.name for label in rules.taxonomy.labels]
            backend = ModelBackend(self.url, chosen, labels, api_key=self.api_key)
        self.mapper = Mapper(route=route, backend=backend, rules=rules, thresholds=self.thresholds)
        self.app().state.mapper = self.mapper
        return self.mapper

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.engine.stop()

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]

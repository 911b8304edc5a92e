"""Serving: the generation engine, TGI's HTTP protocol (and ``/map``), ``ModelServer``, the client
the model routes use, :func:`~llama_mapper.serving.server.open_routes` (the one way to build the
routes' mappers) and the TGI/vLLM deployment commands.

May import: ``resources``, ``catalog``, ``mapping``, ``data``, ``models``, ``hub``.
"""

from llama_mapper.serving.server import ModelServer, open_routes

__all__ = ["ModelServer", "open_routes"]

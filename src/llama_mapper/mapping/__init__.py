"""Mapping: from a raw detector output to a schema-valid canonical event.

The rules (catalog + taxonomy aliases), the three routes (``rules``, ``model``, ``hybrid``) and their
contract with a model backend, candidate retrieval, prompts, events and their schema, calibrated
confidence, and the batch loop over JSONL files. Never imports torch, the Hub client or a server.

May import: ``resources``, ``catalog``.
"""

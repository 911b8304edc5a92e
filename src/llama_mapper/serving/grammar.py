"""Grammar-constrained decoding with xgrammar: TGI's ``grammar`` parameter, compiled once and cached.

TGI accepts ``{"type": "json", "value": <JSON Schema>}`` (alias ``json_object``), ``{"type":
"json_schema", "value": {"name", "schema"}}`` and ``{"type": "regex", "value": <pattern>}``. JSON
schemas are compiled with ``any_whitespace=False``: a weak model otherwise pads whitespace up to
``max_new_tokens``. xgrammar was chosen for its speed on this CPU (a compiled grammar masks a 49k
vocabulary in microseconds) and because transformers 5 runs it without a GPU. Like TGI's grammars, it
constrains tokens, not set semantics: ``uniqueItems`` is not enforced, and the mapper's answer parser
(:func:`llama_mapper.mapping.prompt.parse_answer`) drops repeated labels.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

MAX_LABELS = 8


class GrammarError(ValueError):
    """A grammar that cannot be compiled (a 422 validation error for the caller)."""


def label_schema(labels: Sequence[str], max_items: int = MAX_LABELS) -> dict[str, Any]:
    """The model's answer in the mapping service: a JSON array of distinct taxonomy labels."""
    return {
        "type": "array",
        "items": {"type": "string", "enum": list(labels)},
        "minItems": 1,
        "maxItems": max_items,
        "uniqueItems": True,
    }


def normalise(grammar: dict[str, Any]) -> tuple[str, str]:
    """``(kind, source)``: ``("json", schema text)`` or ``("regex", pattern)``."""
    if not isinstance(grammar, dict) or "type" not in grammar or "value" not in grammar:
        raise GrammarError(
            'grammar must be {"type": "json"|"json_object"|"json_schema"|"regex", "value": ...}'
        )
    kind, value = grammar["type"], grammar["value"]
    if kind in ("json", "json_object"):
        return "json", value if isinstance(value, str) else json.dumps(value)
    if kind == "json_schema":
        schema = value.get("schema") if isinstance(value, dict) else None
        if schema is None:
            raise GrammarError('a json_schema grammar needs {"name": ..., "schema": {...}}')
        return "json", json.dumps(schema)
    if kind == "regex":
        if not isinstance(value, str):
            raise GrammarError("a regex grammar's value must be a string")
        return "regex", value
    raise GrammarError(f"unknown grammar type {kind!r}: use json, json_object, json_schema or regex")


class GrammarCache:
    """Compiles grammars for one tokenizer, keeping the most recent ``size`` compiled ones."""

    def __init__(self, tokenizer: Any, vocab_size: int, size: int = 64) -> None:
        import xgrammar as xgr

        self.xgr = xgr
        self.info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size)
        self.compiler = xgr.GrammarCompiler(self.info, max_threads=2)
        self.vocab_size = vocab_size
        self.size = size
        self.cache: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self.lock = threading.Lock()

    def compile(self, grammar: dict[str, Any] | None) -> Any | None:
        """The compiled grammar (None for no grammar); GrammarError when it is invalid."""
        if grammar is None:
            return None
        key = normalise(grammar)
        with self.lock:
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
        kind, source = key
        try:
            if kind == "json":
                compiled = self.compiler.compile_json_schema(source, any_whitespace=False)
            else:
                compiled = self.compiler.compile_regex(source)
        except Exception as err:  # noqa: BLE001 - xgrammar raises RuntimeError/ValueError variants
            raise GrammarError(f"invalid {kind} grammar: {str(err).splitlines()[0][:300]}") from err
        with self.lock:
            self.cache[key] = compiled
            while len(self.cache) > self.size:
                self.cache.popitem(last=False)
        return compiled

    def matcher(self, compiled: Any) -> Any:
        return self.xgr.GrammarMatcher(compiled)

    def bitmask(self, batch: int) -> Any:
        return self.xgr.allocate_token_bitmask(batch, self.vocab_size)

    def allowed(self, bitmask: Any, row: int = 0) -> list[int]:
        """Token ids a bitmask row allows (bit set = allowed)."""
        import torch

        words = bitmask[row].to(torch.int64) & 0xFFFFFFFF
        bits = (words.unsqueeze(-1) >> torch.arange(32)) & 1
        return [int(i) for i in torch.nonzero(bits.flatten()).flatten() if int(i) < self.vocab_size]

    def apply(self, logits: Any, bitmask: Any, indices: Sequence[int] | None = None) -> None:
        """Mask ``logits`` (batch, vocab) in place: disallowed tokens get -inf."""
        self.xgr.apply_token_bitmask_inplace(
            logits, bitmask, indices=list(indices) if indices is not None else None
        )

"""The canonical event JSON Schema (draft 2020-12): the output contract of every route."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema

SCHEMA_FILE = "canonical_event.schema.json"


class EventSchemaError(ValueError):
    """An event does not validate against the canonical event schema."""


@cache
def load_schema() -> dict[str, Any]:
    """The canonical event schema as shipped in the package."""
    path = resources.files("llama_mapper") / "data" / SCHEMA_FILE
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def _compiled_validator():
    # fastjsonschema compiles the schema to Python code: ~15 us per event instead of ~200 us with
    # jsonschema, which keeps validation of every rules answer affordable. The test suite checks
    # it against the reference `jsonschema` Draft 2020-12 validator.
    return fastjsonschema.compile(load_schema(), formats={"date-time": r"^\d{4}-\d\d-\d\dT"})


def validate_event(event: dict[str, Any]) -> dict[str, Any]:
    """Return ``event`` unchanged if it is valid, else raise :class:`EventSchemaError`."""
    try:
        _compiled_validator()(event)
    except fastjsonschema.JsonSchemaValueException as err:
        raise EventSchemaError(f"invalid canonical event: {err.message}") from None
    return event


def is_valid_event(event: Any) -> bool:
    """True if ``event`` validates against the canonical event schema."""
    try:
        _compiled_validator()(event)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def label_enum() -> list[str]:
    """The label enum of the schema (kept equal to the taxonomy's labels; tested)."""
    return list(load_schema()["$defs"]["label"]["enum"])


def labels_json_schema(max_items: int = 4) -> dict[str, Any]:
    """JSON Schema of the model's answer: a non-empty array of distinct taxonomy labels.

    Derived from the canonical schema's ``taxonomy`` property, so the model route's grammar can
    never produce a label the event schema would reject.
    """
    return {"type": "array", "items": {"enum": label_enum()}, "minItems": 1, "maxItems": max_items}

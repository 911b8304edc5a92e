"""The canonical event JSON Schema (draft 2020-12): the output contract of every route."""

from __future__ import annotations

import copy
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
    path = resources.files("llama_mapper") / "resources" / SCHEMA_FILE
    return json.loads(path.read_text(encoding="utf-8"))


DATE_TIME = r"^\d{4}-\d\d-\d\dT"


@cache
def _compiled_validator():
    # fastjsonschema compiles the schema to Python code: ~15 us per event instead of ~200 us with
    # jsonschema. The test suite checks it against the reference Draft 2020-12 validator.
    return fastjsonschema.compile(load_schema(), formats={"date-time": DATE_TIME})


@cache
def _structure_validator():
    # The same schema with the label enum relaxed to "a string" and controls to "an array": those
    # checks depend only on the label tuple, the score keys and the controls, memoised below.
    schema = copy.deepcopy(load_schema())
    schema["$defs"]["label"] = {"type": "string"}
    schema["properties"]["controls"] = {"type": "array"}
    return fastjsonschema.compile(schema, formats={"date-time": DATE_TIME})


_LABELS_OK: dict[tuple, bool] = {}


def _labels_ok(event: dict[str, Any]) -> bool:
    labels, scores, controls = event.get("taxonomy"), event.get("scores"), event.get("controls", ())
    if not (isinstance(labels, list) and isinstance(scores, dict) and isinstance(controls, (list, tuple))):
        return False
    key = (tuple(labels), tuple(scores), tuple(controls))
    ok = _LABELS_OK.get(key)
    if ok is None:
        try:
            hash(key)
        except TypeError:
            return False
        probe = {"taxonomy": labels, "scores": dict.fromkeys(scores, 0.0), "confidence": 0.0}
        if "controls" in event:
            probe["controls"] = controls
        try:
            _compiled_validator()(probe)
            ok = True
        except fastjsonschema.JsonSchemaValueException:
            ok = False
        if len(_LABELS_OK) < 100_000:
            _LABELS_OK[key] = ok
    return ok


def validate_event(event: dict[str, Any]) -> dict[str, Any]:
    """Return ``event`` unchanged if it is valid, else raise :class:`EventSchemaError`.

    Exactly the schema's verdict: label checks are memoised per label set, the rest of the event is
    validated every time.
    """
    try:
        if isinstance(event, dict) and _labels_ok(event):
            _structure_validator()(event)
        else:
            _compiled_validator()(event)
    except fastjsonschema.JsonSchemaValueException as err:
        raise EventSchemaError(f"invalid canonical event: {err.message}") from None
    return event


def is_valid_event(event: Any) -> bool:
    """True if ``event`` validates against the canonical event schema."""
    try:
        validate_event(event)
    except EventSchemaError:
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

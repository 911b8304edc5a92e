"""Fuzzing with fixed budgets: hypothesis over the readers and the rules mapper (any JSON value as a
detector output), and schemathesis over every route of the server's own OpenAPI schema."""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error, response_schema_conformance

from llama_mapper.mapping.schema import validate_event

# Every string JSON can carry, lone surrogates and control characters included.
TEXT = st.text(st.characters(exclude_categories=()), max_size=40)
CATEGORY_WORDS = st.sampled_from(
    [
        "hate",
        "flagged",
        "categories",
        "results",
        "score",
        "label",
        "PII",
        "S1",
        "unsafe",
        "valid",
        "true",
        "Yes",
    ]
)
KEYS = st.one_of(TEXT, CATEGORY_WORDS)
JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=False),
        TEXT,
        CATEGORY_WORDS,
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(KEYS, inner, max_size=6)),
    max_leaves=40,
)
DETECTORS = st.one_of(
    st.sampled_from(["openai-moderation", "llama-guard", "presidio", "perspective", "aws-comprehend-pii"]),
    TEXT.filter(lambda t: t.strip()),
)
# A generous bound that only a hang or a blow-up crosses (speed is measured in bench/, not here).
BOUNDED = settings(max_examples=300, deadline=2000, derandomize=True, suppress_health_check=list(HealthCheck))


@BOUNDED
@given(detector=DETECTORS, output=JSON)
def test_any_json_output_gives_a_schema_valid_event(mapper, taxonomy, detector, output):
    event = validate_event(mapper.map({"detector": detector, "output": output, "id": detector}))
    names = {label.name for label in taxonomy.labels}
    assert set(event["taxonomy"]) <= names
    json.dumps(event, ensure_ascii=False).encode("utf-8")  # valid UTF-8 all through


@BOUNDED
@given(output=JSON)
def test_the_same_output_as_a_json_string_is_read_the_same_way_or_better(mapper, output):
    """Guard models return JSON inside a string: reading it must not fail either way."""
    event = validate_event(mapper.map({"detector": "acme-guard", "output": json.dumps(output)}))
    assert event["taxonomy"]


# ---- schemathesis: the served API, every route, against its own OpenAPI schema ----------------
# (the operations' hypothesis strategies, driven here: schemathesis' lazy pytest fixture loader
# does not run under pytest 9)


@pytest.fixture(scope="module")
def served(trained):
    from llama_mapper.serving.server import ModelServer

    adapter, _ = trained
    with ModelServer(
        adapters=[str(adapter)], map_route="hybrid", max_input_tokens=256, max_total_tokens=320
    ) as srv:
        yield srv


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_route_answers_5xx_breaks_its_schema_or_leaves_the_taxonomy(served, taxonomy, mode):
    names = {label.name for label in taxonomy.labels}
    generation = schemathesis.GenerationMode(mode)
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/map", "/map/batch", "/generate", "/v1/chat/completions"}
    for operation in operations:
        if mode == "negative" and operation.method.upper() == "GET":
            continue  # nothing to break in a request without parameters or body

        @settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation))
        def check(case):
            response = case.call(base_url=served.url, timeout=120)
            case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
            if case.path in ("/map", "/map/batch") and response.status_code == 200:
                body = response.json()
                for event in body["events"] if case.path == "/map/batch" else [body]:
                    if "error" not in event:
                        assert set(validate_event(event)["taxonomy"]) <= names

        check()

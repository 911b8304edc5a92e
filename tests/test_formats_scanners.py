"""Scanner readers (LLM Guard, Guardrails AI, Rebuff, tweetnlp): behaviour the golden cases do not show:
hostile input, shapes they must refuse, what they keep out of findings and reasons."""

from __future__ import annotations

import pytest
from conftest import calls_made

from llama_mapper.catalog.base import ReaderConfig
from llama_mapper.catalog.formats.scanners import READERS
from llama_mapper.catalog.readers import read

CFG = ReaderConfig()
FORMATS = sorted(READERS)


def deep(levels: int):
    value: object = {"validationPassed": False}
    for _ in range(levels):
        value = [value]
    return value


HOSTILE = [
    None,
    True,
    12,
    float("nan"),
    "x" * 200_000,
    "Validation failed for field with errors: " + "Toxic language detected: " * 10_000,
    {},
    [],
    [[[[[]]]]],
    deep(5000),
    {str(i): i for i in range(50_000)},
    {str(i): False for i in range(50_000)},
    list(range(50_000)),
    [{"label": "hate"}] * 50_000,
    ["[REDACTED_PERSON_1]" * 20_000, {"Anonymize": False}, {"Anonymize": 1.0}],
    {
        "is_valid": False,
        "scanners": {str(i): 1.0 for i in range(50_000)},
        "sanitized_prompt": "<PERSON>" * 50_000,
    },
    {
        "validationPassed": False,
        "validatedOutput": "<PERSON>" * 50_000,
        "validationSummaries": [
            {
                "validatorName": "ToxicLanguage",
                "validatorStatus": "fail",
                "errorSpans": [{"reason": "Toxic language detected: " + "insult, " * 5000}] * 5000,
            }
        ]
        * 5000,
    },
    {"injectionDetected": True, "tacticResults": [{"name": "heuristic", "detected": True}] * 50_000},
    {"guardrails": {"guardrails": {"guardrails": {}}}},
    {"detection": {"detection": {"detection": {}}}},
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_readers_never_raise_and_bound_their_work_on_hostile_input(fmt):
    reader = READERS[fmt]
    for i, value in enumerate(HOSTILE):
        reading, calls = calls_made(reader, value, CFG)
        assert reading.status in ("ok", "error", "unreadable")
        assert len(reading.findings) <= 1000
        assert calls < 500_000, (fmt, i)  # at most ~235k today; the inputs hold 25M spans


@pytest.mark.parametrize("fmt", FORMATS)
def test_readers_refuse_shapes_they_do_not_know(fmt):
    for value in ({"foo": "bar", "baz": [1, 2]}, [1, 2, 3], 3.5):
        assert READERS[fmt](value, CFG).status == "unreadable", (fmt, value)


def counted(reading) -> set[str]:
    return {f.category for f in reading.findings if f.counted}


def test_llm_guard_validity_is_inverted_and_decides_over_scores():
    reading = read(
        ["t", {"Toxicity": False, "Relevance": True}, {"Toxicity": 0.0, "Relevance": 0.4}], "llm_guard"
    )
    assert counted(reading) == {"Toxicity"} and reading.verdict is True


def test_llm_guard_api_valid_true_counts_nothing_and_error_bodies_are_errors():
    assert counted(read({"is_valid": True, "scanners": {"Relevance": 0.3}}, "llm_guard")) == set()
    for body in (
        {"message": "Invalid API key", "details": None},
        {"status": "ready"},
        {"name": "LLM Guard API"},
    ):
        assert read(body, "llm_guard").status == "error"


def test_llm_guard_placeholders_refine_only_with_known_types():
    text = "Hi [REDACTED_PERSON_1], ticket [REDACTED_TICKET_2]"
    reading = read([text, {"Anonymize": False}, {"Anonymize": 1.0}], "llm_guard")
    assert counted(reading) == {"PERSON", "Anonymize"}
    # Sensitive's <ENTITY> placeholders: tags that are no entity type (HTML) are not read
    reading = read(["<B>bold</B> <DIV>", {"Sensitive": False}, {"Sensitive": 0.8}], "llm_guard")
    assert counted(reading) == {"Sensitive"}
    # a passing scanner is never refined
    reading = read(["[REDACTED_PERSON_1]", {"Anonymize": True}, {"Anonymize": -1.0}], "llm_guard")
    assert counted(reading) == set()


def test_guardrails_error_with_fail_summaries_keeps_them_and_error_alone_is_an_error():
    summary = {
        "validatorName": "BanList",
        "validatorStatus": "fail",
        "failureReason": "Output contains banned words",
    }
    reading = read(
        {"validationPassed": False, "validationSummaries": [summary], "error": "boom"}, "guardrails_ai"
    )
    assert reading.status == "ok" and counted(reading) == {"BanList"}
    assert read({"validationPassed": False, "error": "boom"}, "guardrails_ai").status == "error"


def test_guardrails_names_are_matched_without_their_registry_prefix():
    summary = {"validatorName": "hub://guardrails/toxic_language", "validatorStatus": "fail"}
    assert counted(read({"validationSummaries": [summary]}, "guardrails_ai")) == {"toxic_language"}


def test_guardrails_pii_placeholders_must_all_be_known_to_replace_the_validator():
    summary = {"validatorName": "DetectPII", "validatorStatus": "fail", "failureReason": "x"}
    outcome = {
        "validationPassed": True,
        "validationSummaries": [summary],
        "validatedOutput": "<PERSON> at <B>",
    }
    assert counted(read(outcome, "guardrails_ai")) == {"PERSON"}  # <B> is no entity: ignored
    outcome["validatedOutput"] = "no placeholders"
    assert counted(read(outcome, "guardrails_ai")) == {"DetectPII"}


def test_rebuff_flag_decides_over_scores_and_bare_booleans_are_refused():
    body = {
        "heuristicScore": 0.9,
        "maxHeuristicScore": 0.75,
        "runHeuristicCheck": True,
        "injectionDetected": False,
    }
    reading = read(body, "rebuff")
    assert counted(reading) == set() and reading.verdict is False
    assert READERS["rebuff"](True, CFG).status == "unreadable"


def test_tweetnlp_label_decides_and_pipeline_lists_use_the_threshold():
    assert counted(
        read({"label": "sexism", "probability": {"sexism": 0.41, "not_hate": 0.35}}, "tweetnlp")
    ) == {"sexism"}
    assert counted(read([{"label": "sexism", "score": 0.41}], "tweetnlp")) == set()
    assert read({"label": []}, "tweetnlp").verdict is False


def test_reasons_carry_no_content():
    secret = "SECRET-CONTENT-123"
    for fmt, value in (
        ("guardrails_ai", {"detail": secret}),
        ("llm_guard", {"message": secret, "details": None}),
        ("rebuff", {"foo": secret}),
        ("tweetnlp", [{"foo": secret}]),
    ):
        assert secret not in read(value, fmt).reason

"""The AWS and Azure guardrail readers (Bedrock Guardrails, Comprehend toxicity, Prompt Shields,
groundedness, protected material, Azure OpenAI content filter): shapes they must refuse, hostile
input, and behaviour the golden cases do not show (the wrapped Azure OpenAI 400 error, which the
dispatcher catches before any reader but :data:`READS_ERROR_BODIES` readers understand)."""

from __future__ import annotations

import json

import pytest
from conftest import calls_made

from llama_mapper.catalog.base import ReaderConfig
from llama_mapper.catalog.formats.aws_azure import (
    READERS,
    READS_ERROR_BODIES,
    read_aws_comprehend_toxicity,
    read_azure_openai_content_filter,
    read_bedrock_guardrails,
)

CFG = ReaderConfig()


def _deep(depth: int, key: str = "trace") -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {key: value}
    return value


HOSTILE = [
    None,
    0,
    True,
    "text",
    {"foo": 1},
    [1, "a", None, 2.5],
    _deep(5000),
    _deep(5000, "choices"),
    {"assessments": {"a": 1}},
    {"ResultList": [1, "x", None]},
    {"results": {"contentFilter": "x", "promptAttack": {"results": [None, {"category": 5}]}}},
    {"choices": [{"content_filter_results": {"hate": [1], "custom_blocklists": {"details": "x"}}}]},
    {"userPromptAnalysis": [], "documentsAnalysis": {"attackDetected": True}},
    {"protectedMaterialAnalysis": {"detected": "maybe"}},
    {"ungroundedDetected": 1},
    "data: {not json\n\ndata: [DONE]",
]


@pytest.mark.parametrize("name", sorted(READERS))
@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_readers_never_raise(name, value):
    reading = READERS[name](value, CFG)
    assert reading.status in ("ok", "error", "unreadable")


FILTERS = [{"type": "HATE", "detected": True}] * 5000
BLOCK = {f"c{i}": {"detected": True} for i in range(5000)}
HUGE = {
    "bedrock": (read_bedrock_guardrails, {"assessments": [{"contentPolicy": {"filters": FILTERS}}] * 2000}),
    "aoai": (read_azure_openai_content_filter, {"choices": [{"content_filter_results": BLOCK}] * 2000}),
    "comprehend": (
        read_aws_comprehend_toxicity,
        {"ResultList": [{"Labels": [{"Name": "INSULT", "Score": 0.9}] * 5000}] * 2000},
    ),
}


@pytest.mark.parametrize("which", sorted(HUGE))
def test_huge_outputs_are_bounded(which):
    reader, value = HUGE[which]
    reading, calls = calls_made(reader, value, CFG)
    assert calls < 1_000_000  # ~300k today; walking all 10M elements would take tens of millions
    assert reading.status == "ok"
    assert len(reading.findings) <= 20_000


@pytest.mark.parametrize(
    "name,value",
    [
        ("bedrock_guardrails", {"output": {"text": "hi"}, "citations": []}),
        ("bedrock_guardrails", {"action": "MAYBE"}),
        ("aws_comprehend_toxicity", {"Entities": []}),
        ("azure_prompt_shields", {"userPromptAnalysis": {}}),
        ("azure_groundedness", {"ungroundedPercentage": 0.5}),
        ("azure_protected_material", {"protectedMaterialAnalysis": {"codeCitations": []}}),
        ("azure_openai_content_filter", {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {}}]}),
        ("azure_openai_content_filter", "safe"),
    ],
)
def test_shapes_they_do_not_know_are_unreadable(name, value):
    assert READERS[name](value, CFG).status == "unreadable"


def test_bedrock_rest_error_body_is_an_error():
    reading = read_bedrock_guardrails(
        {"message": "The security token included in the request is invalid."}, CFG
    )
    assert reading.status == "error"


def test_bedrock_detected_decides_over_action():
    out = {
        "action": "GUARDRAIL_INTERVENED",
        "assessments": [
            {
                "contentPolicy": {
                    "filters": [
                        {"type": "HATE", "confidence": "HIGH", "action": "BLOCKED", "detected": False}
                    ]
                }
            }
        ],
    }
    reading = read_bedrock_guardrails(out, CFG)
    assert reading.verdict is True
    assert [(f.category, f.counted) for f in reading.findings] == [
        ("HATE", False),
        ("GUARDRAIL_INTERVENED", True),
    ]


def test_comprehend_batch_without_scores_is_an_error():
    assert read_aws_comprehend_toxicity({"ResultList": [{}, {}]}, CFG).status == "error"


CONTENT_FILTER_400 = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {
                "hate": {"filtered": False, "severity": "safe"},
                "jailbreak": {"filtered": True, "detected": True},
                "self_harm": {"filtered": False, "severity": "safe"},
                "sexual": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": False, "severity": "safe"},
            },
        },
    }
}
NO_INNERERROR_400 = {
    "error": {
        "message": "The response was filtered",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
    }
}
RESPONSES_400 = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
        "type": "invalid_request_error",
        "param": "prompt",
        "code": "content_filter",
        "content_filters": [
            {
                "blocked": True,
                "source_type": "prompt",
                "content_filter_results": {
                    "jailbreak": {"detected": False, "filtered": False},
                    "custom_blocklists": {
                        "filtered": True,
                        "details": [{"filtered": True, "id": "CompetitorNames"}],
                    },
                },
            }
        ],
    }
}


def _counted(reading) -> set[str]:
    return {f.category for f in reading.findings if f.counted}


@pytest.mark.parametrize(
    "body,counted",
    [
        (CONTENT_FILTER_400, {"jailbreak"}),
        (NO_INNERERROR_400, {"content_filter"}),
        (RESPONSES_400, {"custom_blocklists"}),
    ],
)
def test_the_reader_reads_the_content_filter_400_error(body, counted):
    """The wrapped body reaches this reader only once the dispatcher hands READS_ERROR_BODIES formats
    their error bodies; the reader is ready for it."""
    assert "azure_openai_content_filter" in READS_ERROR_BODIES <= set(READERS)
    reading = read_azure_openai_content_filter(body, CFG)
    assert reading.status == "ok" and reading.verdict is True
    assert _counted(reading) == counted


@pytest.mark.parametrize(
    "body",
    [
        {
            "error": {
                "code": "429",
                "message": "Requests to the ChatCompletions_Create Operation have exceeded token rate limit.",
            }
        },
        {
            "error": {
                "code": "DeploymentNotFound",
                "message": "The API deployment for this resource does not exist.",
            }
        },
    ],
)
def test_other_azure_openai_errors_stay_errors(body):
    assert read_azure_openai_content_filter(body, CFG).status == "error"


def test_sse_text_is_read_as_a_stream():
    chunks = [
        {
            "choices": [],
            "prompt_filter_results": [
                {
                    "prompt_index": 0,
                    "content_filter_results": {"jailbreak": {"filtered": False, "detected": True}},
                }
            ],
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    text = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
    assert _counted(read_azure_openai_content_filter(text, CFG)) == {"jailbreak"}

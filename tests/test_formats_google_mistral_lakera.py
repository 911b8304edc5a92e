"""The Google (Natural Language, Gemini / Vertex AI, Model Armor), Mistral and Lakera readers on shapes
the golden sets cannot show: bodies the dispatcher treats as errors before the reader sees them,
integer enums, and hostile input (huge, deep, wrong types)."""

from __future__ import annotations

import pytest
from conftest import calls_made

from llama_mapper.catalog.base import ReaderConfig
from llama_mapper.catalog.formats.google_mistral_lakera import (
    READERS,
    read_gemini_safety,
    read_lakera_guard,
    read_mistral_moderation,
    read_model_armor,
)

CFG = ReaderConfig()


def counted(reading):
    return sorted(f.category for f in reading.findings if f.counted)


def test_mistral_guardrail_block_body_is_a_verdict():
    body = {
        "error": {"message": "Content blocked by guardrail", "status": 403},
        "guardrails": {
            "results": {
                "moderation_llm_v2": {
                    "model_name": "mistral-moderation-2603",
                    "decisions": {
                        "sexual": {"threshold": 0.1, "score": 0.3, "violated": True},
                        "selfharm": {"threshold": 0.1, "score": 0.05, "violated": False},
                    },
                    "violated": True,
                    "action": "block",
                }
            }
        },
    }
    reading = read_mistral_moderation(body, CFG)
    assert reading.status == "ok" and reading.verdict is True
    assert counted(reading) == ["sexual"]
    decisions = body["guardrails"]["results"]["moderation_llm_v2"]["decisions"]
    decisions["sexual"]["violated"] = False
    assert counted(read_mistral_moderation(body, CFG)) == ["violated"]  # blocked, no category named


def test_lakera_litellm_wrapper_is_unwrapped():
    inner = {
        "model": "lakera-guard-1",
        "results": [
            {
                "categories": {"prompt_injection": True, "jailbreak": False},
                "category_scores": {"prompt_injection": 1.0, "jailbreak": 0.0},
                "flagged": True,
                "payload": {},
            }
        ],
    }
    body = {
        "error": {
            "message": {"error": "Violated content safety policy", "lakera_ai_response": inner},
            "type": "None",
            "param": "None",
            "code": "400",
        }
    }
    reading = read_lakera_guard(body, CFG)
    assert reading.status == "ok" and reading.verdict is True
    assert counted(reading) == ["prompt_injection"]
    assert read_lakera_guard({"error": {"message": "Lakera API unreachable"}}, CFG).status == "error"


def test_gemini_integer_enums_follow_the_api_family():
    gemini = {"candidates": [{"finish_reason": 1, "safety_ratings": [{"category": 3, "probability": 4}]}]}
    vertex = {
        "candidates": [
            {
                "finish_reason": 1,
                "safety_ratings": [
                    {"category": 3, "probability": 4, "probability_score": 0.9, "severity": 3}
                ],
            }
        ]
    }
    assert counted(read_gemini_safety(gemini, CFG)) == ["HARM_CATEGORY_VIOLENCE"]  # Gemini API (PaLM) 3
    assert counted(read_gemini_safety(vertex, CFG)) == ["HARM_CATEGORY_HARASSMENT"]  # Vertex AI 3


def test_gemini_safety_block_defers_to_its_ratings():
    rated = {
        "candidates": [
            {"finishReason": "SAFETY", "safetyRatings": [{"category": "X", "probability": "HIGH"}]}
        ]
    }
    unrated = {
        "candidates": [{"finishReason": "SAFETY", "safetyRatings": [{"category": "X", "probability": "LOW"}]}]
    }
    assert counted(read_gemini_safety(rated, CFG)) == ["X"]
    assert counted(read_gemini_safety(unrated, CFG)) == ["SAFETY"]  # blocked, no rating says why; not LOW


def test_model_armor_filter_results_as_a_list():
    body = {
        "sanitizationResult": {
            "filterMatchState": "MATCH_FOUND",
            "filterResults": [
                {
                    "csamFilterFilterResult": {
                        "executionState": "EXECUTION_SUCCESS",
                        "matchState": "MATCH_FOUND",
                    }
                },
                {
                    "piAndJailbreakFilterResult": {
                        "executionState": "EXECUTION_SUCCESS",
                        "matchState": "NO_MATCH_FOUND",
                    }
                },
            ],
        }
    }
    assert counted(read_model_armor(body, CFG)) == ["csam"]


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_unknown_shapes_are_unreadable(fmt):
    for value in ({"foo": 1}, [{"foo": 1}], 42, "plain text", True):
        assert READERS[fmt](value, CFG).status in ("unreadable", "error"), value
    assert READERS[fmt]({"foo": 1}, CFG).status == "unreadable"


def _deep(levels: int):
    value: dict = {}
    for _ in range(levels):
        value = {"name": value, "results": [value], "candidates": [value], "breakdown": [value]}
    return value


HOSTILE = [
    None,
    [],
    [[[]]],
    {"results": "x", "categories": 5, "candidates": {"a": 1}, "breakdown": "no"},
    {"sanitizationResult": [], "filterResults": 7},
    {"sanitizationResult": {"filterResults": {"rai": {"raiFilterResult": {"raiFilterTypeResults": []}}}}},
    {"moderationCategories": "x"},
    {"moderationCategories": [{"name": {"name": {"name": "deep"}}, "confidence": "nan"}]},
    {"candidates": [{"safetyRatings": [{"category": [1], "probability": {"x": 1}, "blocked": "maybe"}]}]},
    {"promptFeedback": {"blockReason": 10**30}},
    {"guardrails": {"results": [1, 2]}},
    {"flagged": "yes", "payload": [{"detector_type": {"name": 1}}]},
    _deep(400),
    [{"moderationCategories": [{"name": "Toxic", "confidence": 0.9}] * 5000}] * 3,
    {
        "candidates": [
            {"safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH"}] * 5000}
        ]
        * 3
    },
    {"results": [{"categories": {str(i): True for i in range(20_000)}}]},
    {"flagged": True, "breakdown": [{"detector_type": "pii/name", "detected": True}] * 20_000},
    {"sanitizationResult": {"filterResults": {str(i): {"matchState": "MATCH_FOUND"} for i in range(20_000)}}},
]


@pytest.mark.parametrize("fmt", sorted(READERS))
def test_hostile_input_never_raises_and_is_bounded(fmt):
    for value in HOSTILE:
        reading, calls = calls_made(READERS[fmt], value, CFG)
        assert reading.status in ("ok", "error", "unreadable")
        assert len(reading.findings) <= 25_000
        assert calls < 500_000  # at most ~220k today (a bounded walk of 20,000 entries)

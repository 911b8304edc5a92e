"""Every catalog detector on hand-labelled outputs in the vendor's real format."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest
from conftest import GOLDEN, load_jsonl

from llama_mapper.catalog import load_catalog
from llama_mapper.mapping.schema import is_valid_event

# The detectors users run most (issue 16): every one exact on its golden set.
FIRST = {
    "openai-moderation",
    "llama-guard",
    "presidio",
    "detoxify",
    "deberta-toxicity",
    "regex-pii",
    "azure-content-safety",
    "perspective",
    "aws-comprehend-pii",
    "google-dlp",
    "prompt-guard",
}
ADDED = {
    "bedrock-guardrails",
    "aws-comprehend-toxicity",
    "azure-prompt-shields",
    "azure-groundedness",
    "azure-protected-material",
    "azure-openai-content-filter",
    "google-nl-moderation",
    "gemini-safety",
    "model-armor",
    "mistral-moderation",
    "lakera-guard",
    "llm-guard",
    "nemoguard-content-safety",
    "nemoguard-topic-control",
    "nemoguard-jailbreak-detect",
    "aegis-1",
    "granite-guardian",
    "shieldgemma",
    "shieldgemma-2",
    "llama-guard-1",
    "llama-guard-2",
    "llama-guard-4",
    "llamafirewall",
    "wildguard",
    "cardiff-twitter-roberta-hate",
    "cardiff-twitter-roberta-offensive",
    "patronus-lynx",
    "guardrails-ai",
    "protectai-prompt-injection",
    "rebuff",
    "private-ai",
    "nightfall",
    "microsoft-purview-dlp",
    "hive-text-moderation",
    "openai-legacy-moderation",
}
REQUIRED = FIRST | ADDED
CASES = [(path.stem, case) for path in sorted(GOLDEN.glob("*.jsonl")) for case in load_jsonl(path)]


def test_the_catalog_has_every_required_detector():
    catalog = load_catalog()
    assert len(catalog) >= 40
    assert set(catalog.detectors) >= REQUIRED
    assert {path.stem for path in GOLDEN.glob("*.jsonl")} >= REQUIRED


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_catalog_entries_are_complete(mapper, name):
    det = mapper.catalog.detectors[name]
    assert det.docs.startswith("http"), "every detector names where its format comes from"
    assert det.categories, "a category map"
    assert det.example is not None, "a realistic example output"
    assert det.choices, "the judgement calls, written down"
    event = mapper.map({"detector": name, "output": det.example})
    assert is_valid_event(event)
    assert event["taxonomy"] not in (["OTHER.ModelError"], ["OTHER.Unknown"])
    assert event["provenance"]["detector"] == name


@pytest.mark.parametrize("stem,case", CASES, ids=[c["id"] for _, c in CASES])
def test_golden_case(mapper, stem, case):
    event = mapper.map({"detector": case["detector"], "output": case["output"], "id": case["id"]})
    assert is_valid_event(event)
    assert event["provenance"]["detector"] == stem
    assert sorted(event["taxonomy"]) == sorted(case["expected"])


def test_golden_sets_are_large_enough():
    per_detector = defaultdict(int)
    for stem, _ in CASES:
        per_detector[stem] += 1
    assert all(per_detector[name] >= 25 for name in REQUIRED), dict(per_detector)
    assert set(per_detector) == set(load_catalog().detectors), "every catalog detector has a golden set"


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_golden_sets_are_varied(name):
    """At least 15% benign cases, every case distinct, and the vendor's error body among them."""
    cases = [case for stem, case in CASES if stem == name]
    safe = sum(case["expected"] == ["OTHER.Safe"] for case in cases)
    assert safe >= 0.15 * len(cases), f"{safe} benign of {len(cases)}"
    keys = [json.dumps([case["output"], sorted(case["expected"])], sort_keys=True) for case in cases]
    assert len(set(keys)) == len(keys), "no two cases with the same output and labels"
    assert any(case["expected"] == ["OTHER.ModelError"] for case in cases), "an error body"

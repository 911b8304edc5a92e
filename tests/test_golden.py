"""Every catalog detector on hand-labelled outputs in the vendor's real format."""

from __future__ import annotations

from collections import defaultdict

import pytest
from conftest import GOLDEN, load_jsonl

from llama_mapper.catalog import load_catalog
from llama_mapper.mapping.schema import is_valid_event

REQUIRED = {
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
CASES = [(path.stem, case) for path in sorted(GOLDEN.glob("*.jsonl")) for case in load_jsonl(path)]


def test_the_catalog_has_every_required_detector():
    catalog = load_catalog()
    assert set(catalog.detectors) >= REQUIRED
    assert {path.stem for path in GOLDEN.glob("*.jsonl")} >= REQUIRED


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_catalog_entries_are_complete(mapper, name):
    det = mapper.catalog.detectors[name]
    assert det.docs.startswith("http"), "every detector names where its format comes from"
    assert det.categories, "a category map"
    assert det.example is not None, "a realistic example output"
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
    assert all(per_detector[name] >= 100 for name in REQUIRED), dict(per_detector)

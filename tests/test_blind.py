"""The blind held-out set (tests/fixtures/blind, written without the mapping code): the rules route
stays schema-valid and above its measured floors. The model routes need the trained default adapter;
their figures are in the fixture's README and the project README."""

from __future__ import annotations

import pytest
from conftest import ROOT, load_jsonl

from llama_mapper.schema import is_valid_event

BLIND = ROOT / "tests" / "fixtures" / "blind"


@pytest.mark.parametrize(("name", "floor"), [("catalog", 0.82), ("unknown", 0.57)])
def test_rules_route_on_the_blind_set(mapper, name, floor):
    cases = load_jsonl(BLIND / f"{name}.jsonl")
    assert len(cases) >= 50
    hits, misses = 0, []
    for case in cases:
        event = mapper.map({"detector": case["detector"], "output": case["output"]})
        assert is_valid_event(event), case["id"]
        if sorted(event["taxonomy"]) == sorted(case["expected"]):
            hits += 1
        else:
            misses.append((case["id"], case["expected"], event["taxonomy"]))
    assert hits / len(cases) >= floor, misses

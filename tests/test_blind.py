"""The blind held-out set (tests/fixtures/blind, written without the mapping code): the rules route
stays schema-valid and above its measured floors. The model routes need the trained default adapter;
their figures are in the fixture's README and the project README."""

from __future__ import annotations

import pytest
from conftest import ROOT, load_jsonl, score_cases

BLIND = ROOT / "tests" / "fixtures" / "blind"


@pytest.mark.parametrize(("name", "floor"), [("catalog", 0.82), ("unknown", 0.57)])
def test_rules_route_on_the_blind_set(mapper, name, floor):
    cases = load_jsonl(BLIND / f"{name}.jsonl")
    assert len(cases) >= 50
    accuracy, misses = score_cases(mapper, cases)
    assert accuracy >= floor, [(c["id"], c["expected"], e["taxonomy"]) for c, e in misses]

"""An independent held-out set (written without looking at the golden sets): accuracy floors.

Catalog detectors must reach the product's 95% exact-set line; unknown detectors go through the
generic reader, whose misses must fail safe (OTHER.Unknown with low confidence, for the model route),
never as a confident OTHER.Safe on flagged content.
"""

from __future__ import annotations

from conftest import ROOT, load_jsonl, score_cases

HOLDOUT = ROOT / "tests" / "fixtures" / "holdout"


def test_catalog_detectors_meet_the_95_percent_line(mapper):
    cases = [
        c for path in sorted(HOLDOUT.glob("*.jsonl")) if path.stem != "unknown" for c in load_jsonl(path)
    ]
    assert len(cases) >= 11 * 12
    accuracy, misses = score_cases(mapper, cases)
    assert accuracy >= 0.95, [(c["id"], c["expected"], e["taxonomy"]) for c, e in misses]


def test_unknown_detectors_fail_safe(mapper):
    cases = load_jsonl(HOLDOUT / "unknown.jsonl")
    accuracy, misses = score_cases(mapper, cases)
    assert accuracy >= 0.7
    for case, event in misses:
        if case["expected"] != ["OTHER.Safe"]:
            assert event["taxonomy"] != ["OTHER.Safe"], case["id"]
        # detectors the catalog has since learned (Bedrock, Mistral, Lakera...) keep a miss below the
        # line an auditor trusts; the generic reader's misses stay for the model route (<= 0.6)
        known = mapper.catalog.get(case["detector"]) is not None
        assert event["confidence"] < 0.8 if known else event["confidence"] <= 0.6, case["id"]

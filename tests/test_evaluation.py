"""The task metric, the non-model baselines and sweeps, against hand-computed cases."""

from __future__ import annotations

import pytest

from llama_mapper.evaluation.baselines import CategoryBaseline, rules_reference
from llama_mapper.evaluation.metrics import exact_set
from llama_mapper.evaluation.scoring import flat_metrics, score_predictions
from llama_mapper.mapping.candidates import strip_affixes
from llama_mapper.mapping.prompt import row_fixed_answer


def row(detector, categories, labels, seen=True, source="synthetic", status="ok", verdict=False):
    return {
        "detector": detector,
        "categories": categories,
        "labels": labels,
        "detector_seen": seen,
        "source": source,
        "status": status,
        "verdict": verdict,
    }


def test_exact_set_ignores_order_and_repeats_but_not_extras():
    assert exact_set(["A", "B"], ["B", "A", "A"])
    assert not exact_set(["A", "B"], ["A"])
    assert not exact_set(["A", "B"], ["A", "B", "C"])
    assert not exact_set(["A"], None)


def test_scores_by_slice_match_a_hand_count():
    rows = [
        row("a", ["x"], ["L1"], seen=True, source="catalog"),
        row("b", ["y"], ["L2"], seen=False),
        row("c", ["z"], ["L1", "L2"], seen=False),
        row("d", ["w"], ["L3"], seen=False),
    ]
    preds = [["L1"], ["L2"], ["L1"], None]
    scores = score_predictions(rows, preds)
    assert scores["all"] == {"exact_match": 0.5, "parseable": 0.75, "n": 4}
    assert scores["seen"]["exact_match"] == 1.0 and scores["unseen"]["exact_match"] == pytest.approx(1 / 3)
    assert scores["catalog"]["n"] == 1 and scores["synthetic"]["n"] == 3
    flat = flat_metrics(scores, prefix="test_")
    assert flat["test_exact_match"] == 0.5 and flat["test_unseen_parseable"] == 0.6667 and flat["test_n"] == 4
    assert scores["mapped"]["n"] == 4 and "fixed" not in scores


def test_rows_without_categories_form_the_fixed_slice():
    scores = score_predictions(
        [row("a", [], ["OTHER.Safe"]), row("b", ["x"], ["L1"])], [["OTHER.Safe"], None]
    )
    assert scores["fixed"] == {"exact_match": 1.0, "parseable": 1.0, "n": 1}
    assert scores["mapped"] == {"exact_match": 0.0, "parseable": 0.0, "n": 1}


def test_rows_without_categories_are_decided_like_the_prompt_says():
    assert row_fixed_answer(row("a", [], [], status="error")) == ["OTHER.ModelError"]
    assert row_fixed_answer(row("a", [], [], verdict=True)) == ["OTHER.PolicyViolation"]
    assert row_fixed_answer(row("a", [], [])) == ["OTHER.Safe"]
    assert row_fixed_answer(row("a", ["hate"], [])) is None


def test_affixes_strip_to_the_core_phrase():
    assert strip_affixes("is hate speech detected") == "hate speech"
    assert strip_affixes("category violence v2") == "violence"
    assert strip_affixes("risk") == "risk"


TRAIN = [
    row("acme", ["hate speech"], ["HARM.SPEECH.Hate.Other"]),
    row("acme", ["email address"], ["PII.Contact.Email"]),
    row("vendor-x", ["S1"], ["HARM.SPEECH.Threat"]),
    row("acme", ["a", "b"], ["PII.Contact.Email", "HARM.SPEECH.Hate.Other"]),
]


def test_alias_baseline_knows_only_what_training_showed(taxonomy):
    base = CategoryBaseline(TRAIN, "aliases", taxonomy)
    assert base.predict(row("new", ["Hate_Speech"], [])) == ["HARM.SPEECH.Hate.Other"]
    assert base.predict(row("vendor-x", ["S1"], [])) == ["HARM.SPEECH.Threat"]
    assert base.predict(row("other", ["S1"], [])) == ["HARM.SPEECH.Threat"]  # category alone, as a fallback
    assert base.predict(row("new", ["is_hate_speech_detected"], [])) == ["OTHER.Unknown"]
    assert base.predict(row("new", ["a"], [])) == ["OTHER.Unknown"]  # multi-category rows teach nothing


def test_normalised_baseline_strips_affixes_and_forgives_typos(taxonomy):
    base = CategoryBaseline(TRAIN, "normalised", taxonomy)
    assert base.predict(row("new", ["is_hate_speech_detected"], [])) == ["HARM.SPEECH.Hate.Other"]
    assert base.predict(row("new", ["hate speach"], [])) == ["HARM.SPEECH.Hate.Other"]
    assert base.predict(row("new", ["contains hate speech in it"], [])) == ["HARM.SPEECH.Hate.Other"]
    assert base.predict(row("new", ["gibberish"], [])) == ["OTHER.Unknown"]


def test_embedding_baseline_finds_a_synonym(taxonomy):
    base = CategoryBaseline(TRAIN, "embeddings", taxonomy)
    normalised = CategoryBaseline(TRAIN, "normalised", taxonomy)
    request = row("new", ["hateful slurs", "electronic mailbox"], [])
    assert normalised.predict(request) == ["OTHER.Unknown"]  # no known words: only meaning can help
    assert base.predict(request) == ["PII.Contact.Email", "HARM.SPEECH.Hate.Other"]


def test_rules_reference_uses_the_full_alias_table(taxonomy):
    assert rules_reference(row("new", ["hate speech"], []), taxonomy) == ["HARM.SPEECH.Hate.Other"]
    assert rules_reference(row("new", ["zzqx"], []), taxonomy) == ["OTHER.Unknown"]

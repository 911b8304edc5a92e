"""The route evaluator: metrics against hand-computed cases, the report files, and the printed table."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import pytest
from conftest import GOLDEN, ROOT, load_jsonl, table_rows

from llama_mapper.evaluation import metrics as M
from llama_mapper.evaluation.routes import load_golden, markdown_table

GOLD = [["A"], ["A", "B"], ["C"]]
PRED = [["A"], ["A"], ["B"]]


def test_metrics_match_hand_computed_values():
    assert M.exact_set_accuracy(GOLD, PRED) == pytest.approx(1 / 3)
    # A: tp 2; B: fp 1, fn 1; C: fn 1  ->  micro 2*2 / (2*2 + 1 + 2), macro (1 + 0 + 0) / 3
    assert M.label_counts(GOLD, PRED) == {"A": (2, 0, 0), "B": (0, 1, 1), "C": (0, 0, 1)}
    assert M.micro_f1(GOLD, PRED) == pytest.approx(4 / 7)
    assert M.macro_f1(GOLD, PRED) == pytest.approx(1 / 3)
    assert M.confusions(GOLD, PRED) == [
        {"gold": "B", "predicted": "-", "count": 1},
        {"gold": "C", "predicted": "B", "count": 1},
    ]
    assert M.exact_set_accuracy([["A", "B"]], [["B", "A", "A"]]) == 1.0  # order and repeats ignored
    assert M.percentile(list(range(1, 11)), 50) == 5 and M.percentile(list(range(1, 11)), 95) == 10
    assert math.isnan(M.percentile([], 95)) and math.isnan(M.macro_f1([], []))
    with pytest.raises(ValueError, match="2 gold sets but 1"):
        M.exact_set_accuracy(GOLD[:2], PRED[:1])


def test_summary_counts_fallbacks_failures_and_groups_by_set():
    cases = [{"detector": "x", "expected": g, "set_detector": s} for g, s in zip(GOLD, "ppq", strict=True)]
    events = [
        {"taxonomy": ["A"], "confidence": 0.9, "provenance": {"route": "rules"}},
        {"taxonomy": ["A", "OTHER.NeedsReview"], "confidence": 0.3, "provenance": {"route": "hybrid"}},
        None,  # the request failed: wrong, and not schema-valid
    ]
    s = M.summarise(cases, events, [1.0, 2.0, 30.0], [True, True, False])
    assert s["schema_valid"] == pytest.approx(2 / 3)
    assert s["exact_match"] == pytest.approx(1 / 3)
    assert s["fallback_rate"] == pytest.approx(1 / 3)
    assert s["latency_ms"] == {"p50": 2.0, "p95": 30.0}
    assert s["per_detector"]["p"] == {"n": 2, "exact_match": 0.5, "macro_f1": pytest.approx(1 / 3)}
    assert s["per_detector"]["q"]["exact_match"] == 0.0
    # confidence 0.9 right, 0.3 wrong, 0.0 wrong: bins |1-0.9|, |0-0.3|, |0-0| weighted by 1/3
    assert s["ece"] == pytest.approx((0.1 + 0.3) / 3)
    assert (s["confident_n"], s["confident_wrong"]) == (1, 0)
    events[0] = {"taxonomy": ["B"], "confidence": 0.8, "provenance": {"route": "rules"}}  # sure and wrong
    s = M.summarise(cases, events, [1.0, 2.0, 30.0], [True, True, False])
    assert (s["confident_n"], s["confident_wrong"]) == (1, 1)


def test_load_golden_refuses_a_case_without_labels(tmp_path):
    (tmp_path / "d.jsonl").write_text(json.dumps({"detector": "d", "output": {}}) + "\n")
    with pytest.raises(ValueError, match="d.jsonl case 1 lacks \\['expected'\\]"):
        load_golden(tmp_path)
    with pytest.raises(FileNotFoundError, match="no golden sets"):
        load_golden(tmp_path / "empty")


def test_evaluate_script_writes_the_report_and_prints_what_it_wrote(tmp_path):
    golden = tmp_path / "golden"
    golden.mkdir()
    for name in ("presidio", "openai-moderation"):
        cases = load_jsonl(GOLDEN / f"{name}.jsonl")[:6]
        if name == "presidio":
            cases[0] = {**cases[0], "expected": ["HARM.SPEECH.Toxicity"]}  # a wrong label: 5/6 right
        (golden / f"{name}.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    out = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "scripts/evaluate.py", "--routes", "rules", "--golden", str(golden), "--dataset", "",
         "--output-dir", str(out), "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((out / "eval_results.json").read_text())
    rules = results["sets"]["golden"]["rules"]
    assert rules["n"] == 12 and rules["schema_valid"] == 1.0
    assert rules["exact_match"] == pytest.approx(11 / 12)
    assert rules["per_detector"]["presidio"]["exact_match"] == pytest.approx(5 / 6)
    assert rules["per_detector"]["openai-moderation"]["exact_match"] == 1.0
    assert rules["confusions"][0]["predicted"] != "-" or rules["confusions"][0]["gold"] != "-"
    assert results["versions"]["taxonomy"].startswith("taxonomy@")
    for plot in results["plots"].values():
        assert (out / plot).stat().st_size > 5000  # a real PNG
    printed = table_rows(done.stdout)
    assert printed == table_rows(markdown_table(results)) == table_rows((out / "eval_results.md").read_text())
    n, valid, exact, micro, macro = printed[("golden", "rules")][:5]
    assert (int(n), float(exact), float(macro)) == (
        12,
        round(rules["exact_match"], 3),
        round(rules["macro_f1"], 3),
    )
    assert valid == "100.0%" and float(micro) == round(rules["micro_f1"], 3)


@pytest.mark.slow
def test_model_routes_on_a_trained_adapter_update_its_card(trained, tmp_path):
    import shutil

    adapter = tmp_path / "adapter"
    shutil.copytree(trained[0], adapter)
    done = subprocess.run(
        [sys.executable, "scripts/evaluate.py", "--adapter", str(adapter), "--per-detector", "1", "--dataset", "",
         "--no-progress"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((adapter / "eval_results.json").read_text())
    golden = results["sets"]["golden"]
    assert set(golden) == {"rules", "model", "hybrid"}
    detectors = len(list(GOLDEN.glob("*.jsonl")))  # one case of each
    assert all(m["schema_valid"] == 1.0 and m["n"] == detectors for m in golden.values())
    assert results["versions"]["adapter"] and "model card updated" in done.stdout
    metadata = json.loads((adapter / "llama_mapper.json").read_text())
    assert metadata["evaluation"]["golden"]["hybrid"]["macro_f1"] == golden["hybrid"]["macro_f1"]
    card = (adapter / "README.md").read_text()
    hybrid = golden["hybrid"]
    assert f"| hybrid | 100.0% | {hybrid['exact_match']:.3f} | {hybrid['macro_f1']:.3f} |" in card
    assert re.search(r"type: macro_f1\s+value: [0-9.]+\s+name: macro F1, hybrid route", card), card[:3000]

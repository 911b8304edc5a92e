"""Metrics of a mapping route on labelled requests: pure functions over gold and predicted label sets.

- exact-set accuracy: the predicted labels equal the gold labels (order and repeats ignored);
- micro F1: true/false positives and false negatives pooled over every (request, label);
- macro F1: the mean of per-label F1 over the labels that occur in gold or predictions;
- fallback rate: events whose model answer fell below the confidence threshold, so the hybrid route
  gave the rules' best effort flagged ``OTHER.NeedsReview`` (provenance route ``hybrid``);
- expected calibration error of the events' confidence against exact-set correctness;
- latency percentiles (nearest-rank) and, per detector, exact-set accuracy and macro F1.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from llama_mapper.evaluation.calibration import expected_calibration_error

CONFIDENT = 0.8  # an event at or above this confidence is one an auditor trusts


def exact_set(gold: Iterable[str], predicted: Iterable[str] | None) -> bool:
    """One request: the predicted labels are the gold labels (order and repeats ignored); no
    prediction (an unparseable answer) never matches."""
    return predicted is not None and set(gold) == set(predicted)


def exact_set_accuracy(gold: Sequence[Iterable[str]], predicted: Sequence[Iterable[str]]) -> float:
    """Share of requests whose predicted label set equals the gold set."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sets but {len(predicted)} predictions")
    if not gold:
        return float("nan")
    return sum(exact_set(g, p) for g, p in zip(gold, predicted, strict=True)) / len(gold)


def label_counts(
    gold: Sequence[Iterable[str]], predicted: Sequence[Iterable[str]]
) -> dict[str, tuple[int, int, int]]:
    """Per label: (true positives, false positives, false negatives) over requests."""
    tp: Counter = Counter()
    fp: Counter = Counter()
    fn: Counter = Counter()
    for g, p in zip(gold, predicted, strict=True):
        g, p = set(g), set(p)
        tp.update(g & p)
        fp.update(p - g)
        fn.update(g - p)
    return {label: (tp[label], fp[label], fn[label]) for label in sorted(set(tp) | set(fp) | set(fn))}


def f1(tp: int, fp: int, fn: int) -> float:
    """F1 from counts; 1.0 when there was nothing to find and nothing was found."""
    denominator = 2 * tp + fp + fn
    return 1.0 if denominator == 0 else 2 * tp / denominator


def micro_f1(gold: Sequence[Iterable[str]], predicted: Sequence[Iterable[str]]) -> float:
    counts = label_counts(gold, predicted).values()
    return f1(sum(c[0] for c in counts), sum(c[1] for c in counts), sum(c[2] for c in counts))


def macro_f1(gold: Sequence[Iterable[str]], predicted: Sequence[Iterable[str]]) -> float:
    """Mean per-label F1 over the labels present in gold or predictions (NaN without any)."""
    counts = label_counts(gold, predicted)
    return sum(f1(*c) for c in counts.values()) / len(counts) if counts else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def confusions(
    gold: Sequence[Iterable[str]], predicted: Sequence[Iterable[str]], top: int = 10
) -> list[dict[str, Any]]:
    """The most frequent mistakes: a gold label that was missed, paired with what came instead
    (``"-"`` when nothing extra was predicted); spurious labels pair with ``"-"`` as gold."""
    pairs: Counter = Counter()
    for g, p in zip(gold, predicted, strict=True):
        g, p = set(g), set(p)
        missed, extra = sorted(g - p), sorted(p - g)
        for label in missed:
            for other in extra or ["-"]:
                pairs[(label, other)] += 1
        if not missed:
            for other in extra:
                pairs[("-", other)] += 1
    return [{"gold": g, "predicted": p, "count": n} for (g, p), n in pairs.most_common(top)]


def summarise(
    cases: Sequence[dict[str, Any]],
    events: Sequence[dict[str, Any] | None],
    latencies_ms: Sequence[float],
    valid: Sequence[bool],
) -> dict[str, Any]:
    """The route metrics for ``cases`` (``expected``, ``detector``; ``set_detector`` groups cases by
    the golden set they come from) and their events (None: the request failed)."""
    gold = [case["expected"] for case in cases]
    predicted = [event["taxonomy"] if event else [] for event in events]
    correct = [set(g) == set(p) for g, p in zip(gold, predicted, strict=True)]
    confidence = [event["confidence"] if event else 0.0 for event in events]
    fallbacks = sum(bool(event) and event["provenance"].get("route") == "hybrid" for event in events)
    per_detector: dict[str, list[int]] = defaultdict(list)
    for i, case in enumerate(cases):
        per_detector[case.get("set_detector") or case["detector"]].append(i)
    n = len(cases)
    confident = [i for i in range(n) if confidence[i] >= CONFIDENT]
    return {
        "n": n,
        # answers an auditor would trust (confidence >= 0.8): how many, and how many of them are wrong
        "confident_n": len(confident),
        "confident_wrong": sum(not correct[i] for i in confident),
        "schema_valid": sum(valid) / n if n else float("nan"),
        "exact_match": exact_set_accuracy(gold, predicted),
        "micro_f1": micro_f1(gold, predicted),
        "macro_f1": macro_f1(gold, predicted),
        "fallback_rate": fallbacks / n if n else float("nan"),
        "ece": expected_calibration_error(confidence, correct) if n else float("nan"),
        "latency_ms": {"p50": percentile(latencies_ms, 50), "p95": percentile(latencies_ms, 95)},
        "per_detector": {
            name: {
                "n": len(idx),
                "exact_match": exact_set_accuracy([gold[i] for i in idx], [predicted[i] for i in idx]),
                "macro_f1": macro_f1([gold[i] for i in idx], [predicted[i] for i in idx]),
            }
            for name, idx in sorted(per_detector.items())
        },
        "confusions": confusions(gold, predicted),
        "off_catalog": _off_catalog(cases, correct, confidence),
    }


def _off_catalog(
    cases: Sequence[dict[str, Any]], correct: list[bool], confidence: list[float]
) -> dict[str, Any]:
    """The cases of detectors outside the catalog (``in_catalog`` False): exact-set accuracy, and how
    right the answers at confidence >= 0.8 are (the calibration promise: at least 90%)."""
    idx = [i for i, case in enumerate(cases) if case.get("in_catalog") is False]
    confident = [i for i in idx if confidence[i] >= CONFIDENT]
    return {
        "n": len(idx),
        "exact_match": sum(correct[i] for i in idx) / len(idx) if idx else float("nan"),
        "confident_n": len(confident),
        "confident_right": sum(correct[i] for i in confident),
    }

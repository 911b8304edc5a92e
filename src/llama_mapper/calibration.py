"""Calibrating the model's confidence on the validation split.

The model route's raw confidence is the probability of its whole (grammar-constrained) answer. A
small fine-tuned model is overconfident, so the hybrid route's threshold would mean little. Platt
scaling (a logistic regression on the log-probability) fitted on the validation split's category
prompts maps it to a calibrated probability of being right; the expected calibration error (ECE,
10 equal-width bins) is reported before and after, with a reliability diagram. The result is saved
beside the adapter as ``calibration.json`` and released with it; the mapper applies it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CALIBRATION_FILE = "calibration.json"


def expected_calibration_error(
    probabilities: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> float:
    """Sum over equal-width bins of |accuracy - mean confidence|, weighted by the bin's share."""
    if not probabilities:
        return 0.0
    total = 0.0
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        members = [i for i, p in enumerate(probabilities) if low <= p < high or (b == bins - 1 and p == 1.0)]
        if members:
            accuracy = sum(correct[i] for i in members) / len(members)
            confidence = sum(probabilities[i] for i in members) / len(members)
            total += len(members) / len(probabilities) * abs(accuracy - confidence)
    return total


def log_feature(probability: float) -> float:
    return math.log(min(max(probability, 1e-6), 1.0))


def fit_platt(probabilities: Sequence[float], correct: Sequence[bool]) -> tuple[float, float]:
    """``(a, b)`` of ``sigmoid(a * log p + b)``, by logistic regression (scikit-learn)."""
    from sklearn.linear_model import LogisticRegression

    if len(set(correct)) < 2:  # all right or all wrong: nothing to fit, keep the raw probability
        return 1.0, 0.0
    features = [[log_feature(p)] for p in probabilities]
    model = LogisticRegression(C=100.0).fit(features, [int(c) for c in correct])
    return float(model.coef_[0][0]), float(model.intercept_[0])


def apply_platt(probability: float, a: float, b: float) -> float:
    return 1.0 / (1.0 + math.exp(-(a * log_feature(probability) + b)))


def reliability_plot(
    probabilities: Sequence[float], calibrated: Sequence[float], correct: Sequence[bool], path: str | Path
) -> Path:
    """Accuracy against confidence per bin, raw and calibrated, beside the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect calibration")
    for name, values in (("raw", probabilities), ("calibrated", calibrated)):
        xs, ys = [], []
        for b in range(10):
            members = [i for i, p in enumerate(values) if b / 10 <= p < (b + 1) / 10 or (b == 9 and p == 1.0)]
            if members:
                xs.append(sum(values[i] for i in members) / len(members))
                ys.append(sum(correct[i] for i in members) / len(members))
        ece = expected_calibration_error(values, correct)
        ax.plot(xs, ys, marker="o", label=f"{name} (ECE {ece:.3f})")
    ax.set(
        xlabel="confidence",
        ylabel="accuracy",
        title="Model route: reliability on the validation split",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def calibrate(answers: Sequence[tuple[float, bool]], out_dir: str | Path | None = None) -> dict[str, Any]:
    """Fit on ``(raw probability, answer was right)`` pairs; write ``calibration.json`` and the
    reliability diagram into ``out_dir`` when given."""
    probabilities = [p for p, _ in answers]
    correct = [c for _, c in answers]
    a, b = fit_platt(probabilities, correct)
    calibrated = [apply_platt(p, a, b) for p in probabilities]
    result = {
        "method": "platt-on-log-probability",
        "a": a,
        "b": b,
        "n": len(answers),
        "accuracy": sum(correct) / len(correct) if correct else None,
        "ece_before": expected_calibration_error(probabilities, correct),
        "ece_after": expected_calibration_error(calibrated, correct),
    }
    if out_dir is not None:
        out = Path(out_dir)
        (out / CALIBRATION_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        reliability_plot(probabilities, calibrated, correct, out / "reliability.png")
    return result

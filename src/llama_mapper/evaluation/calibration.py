"""Calibrating the model's confidence on the validation split.

The model route's raw confidence is the probability of its whole (grammar-constrained) answer. A
small fine-tuned model is overconfident, so the hybrid route's threshold would mean little. Platt
scaling (a logistic regression on the log-probability) fitted on the validation split's category
prompts maps it to a calibrated probability of being right; the expected calibration error (ECE,
10 equal-width bins) is reported before and after, with a reliability diagram. The result is saved
beside the adapter as ``calibration.json`` and released with it; the mapper applies it.
"""

from __future__ import annotations

import bisect
import concurrent.futures
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from llama_mapper.data.io import load_splits
from llama_mapper.mapping.confidence import CALIBRATION_FILE, apply_platt, log_feature
from llama_mapper.mapping.prompt import build_prompt, prompt_detector
from llama_mapper.resources.taxonomy import load_taxonomy
from llama_mapper.serving.client import ModelBackend
from llama_mapper.serving.server import ModelServer


def reliability_bins(
    probabilities: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> list[tuple[float, float, int]]:
    """``(mean confidence, accuracy, count)`` of each non-empty equal-width bin (1.0 in the last)."""
    edges = [b / bins for b in range(bins)]  # bin b holds edges[b] <= p < edges[b + 1]
    members: list[list[int]] = [[] for _ in range(bins)]
    for i, p in enumerate(probabilities):
        members[min(max(bisect.bisect_right(edges, p) - 1, 0), bins - 1)].append(i)
    return [
        (sum(probabilities[i] for i in m) / len(m), sum(correct[i] for i in m) / len(m), len(m))
        for m in members
        if m
    ]


def expected_calibration_error(
    probabilities: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> float:
    """Sum over equal-width bins of |accuracy - mean confidence|, weighted by the bin's share."""
    if not probabilities:
        return 0.0
    total = len(probabilities)
    return sum(
        n / total * abs(accuracy - confidence)
        for confidence, accuracy, n in reliability_bins(probabilities, correct, bins)
    )


def fit_platt(probabilities: Sequence[float], correct: Sequence[bool]) -> tuple[float, float]:
    """``(a, b)`` of ``sigmoid(a * log p + b)``, by logistic regression (scikit-learn)."""
    from sklearn.linear_model import LogisticRegression

    if len(set(correct)) < 2:  # all right or all wrong: nothing to fit, keep the raw probability
        return 1.0, 0.0
    features = [[log_feature(p)] for p in probabilities]
    model = LogisticRegression(C=100.0).fit(features, [int(c) for c in correct])
    return float(model.coef_[0][0]), float(model.intercept_[0])


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
        points = reliability_bins(values, correct)
        xs, ys = [x for x, _, _ in points], [y for _, y, _ in points]
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


def category_prompts(rows: Iterable[dict[str, Any]]) -> list[tuple[list[dict[str, str]], set[str]]]:
    """One ``categories``-mode prompt per counted category of each dataset row, with its gold labels."""
    return [
        (build_prompt(prompt_detector(row), category=c, candidates=k), set(gold))
        for row in rows
        for c, gold, k in zip(
            row["categories"],
            row["category_labels"],
            row["candidates"] or [[]] * len(row["categories"]),
            strict=True,
        )
    ]


def calibrate_adapter(
    adapter: str,
    dataset: str | Path,
    split: str = "validation",
    limit: int | None = None,
    progress: bool = True,
    workers: int = 8,
) -> dict[str, Any]:
    """Calibrate a local adapter on a dataset folder's ``split`` (its first ``limit`` category prompts).

    The answers come through the model route's own path: a :class:`ModelServer` serving the adapter
    and a :class:`ModelBackend` (InferenceClient and the label grammar, no answer cache), ``workers``
    requests in flight. Writes ``calibration.json`` and ``reliability.png`` into the adapter folder
    and returns what :func:`calibrate` returns. Raises ValueError when ``adapter`` is not a folder or
    the split has no category to map, FileNotFoundError when the dataset lacks the split.
    """
    if not Path(adapter).is_dir():
        raise ValueError(f"{adapter} is not a local adapter folder")
    items = category_prompts(load_splits(dataset, [split])[split])[:limit]
    if not items:
        raise ValueError(f"the {split} split has no category to map")
    labels = [label.name for label in load_taxonomy().labels]
    with ModelServer(adapters=[adapter]) as server:
        backend = ModelBackend(server.url, adapter, labels, cache_size=0)
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            answers = list(
                tqdm(
                    pool.map(lambda item: backend.answer(item[0]), items),
                    total=len(items),
                    desc="calibrating",
                    disable=not progress,
                )
            )
    pairs = [
        (answer.confidence, set(answer.labels) == gold)
        for answer, (_, gold) in zip(answers, items, strict=True)
    ]
    return calibrate(pairs, adapter)

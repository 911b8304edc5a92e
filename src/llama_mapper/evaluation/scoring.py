"""The task metric: label exact-set accuracy of greedy answers, overall and by slice.

Used during training (a validation sample at each evaluation), at its end (the test split) and by the
comparison with the non-model baselines. Answers are parsed with :func:`llama_mapper.mapping.prompt.parse_answer`;
an answer that does not parse counts as wrong and lowers ``parseable``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from tqdm.auto import tqdm

from llama_mapper.catalog import load_catalog, read
from llama_mapper.evaluation.metrics import exact_set
from llama_mapper.mapping.candidates import CandidateIndex
from llama_mapper.mapping.prompt import (
    build_prompt,
    category_prompts,
    extracted_categories,
    join_labels,
    parse_answer,
    prompt_detector,
    row_fixed_answer,
)
from llama_mapper.resources.taxonomy import Taxonomy, load_taxonomy

STOP = "]"  # every answer is one JSON array: stop at its end instead of generating to the limit


def generate_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[list[dict[str, str]]],
    *,
    batch_size: int = 32,
    max_new_tokens: int = 48,
    progress: bool = False,
) -> list[str]:
    """Greedy answers for chat prompts, batched with left padding (longest prompts first)."""
    import torch

    texts = [tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True) for p in prompts]
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    answers: list[str] = [""] * len(texts)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    try:
        bar = tqdm(total=len(texts), desc="generating", disable=not progress, leave=False)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = tokenizer(
                [texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False
            )
            enc = {k: v.to(device) for k, v in enc.items()}
            with torch.inference_mode():
                out = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=pad,
                    stop_strings=[STOP],
                    tokenizer=tokenizer,
                )
            new = out[:, enc["input_ids"].shape[1] :]
            for i, text in zip(idx, tokenizer.batch_decode(new, skip_special_tokens=True), strict=True):
                answers[i] = text
            bar.update(len(idx))
        bar.close()
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return answers


def slices(row: dict[str, Any]) -> list[str]:
    """The slices a row belongs to: ``all``; ``seen``/``unseen`` detector; its source; and ``mapped``
    (counted categories for a model to map) or ``fixed`` (decided without a model: safe, flagged, error)."""
    fixed = row_fixed_answer(row) is not None
    return [
        "all",
        "seen" if row.get("detector_seen", True) else "unseen",
        row.get("source", "unknown"),
        "fixed" if fixed else "mapped",
    ]


def score_predictions(
    rows: Sequence[dict[str, Any]], predictions: Sequence[Sequence[str] | None]
) -> dict[str, Any]:
    """Exact-set accuracy and parse rate per slice; ``predictions[i]`` is None when unparseable."""
    totals: dict[str, list[int]] = {}
    for row, pred in zip(rows, predictions, strict=True):
        for name in slices(row):
            hit, parsed, n = totals.setdefault(name, [0, 0, 0])
            totals[name] = [hit + exact_set(row["labels"], pred), parsed + (pred is not None), n + 1]
    return {
        name: {"exact_match": hit / n, "parseable": parsed / n, "n": n}
        for name, (hit, parsed, n) in sorted(totals.items())
    }


def row_prompts(row: dict[str, Any], mode: str = "categories") -> list[list[dict[str, str]]] | None:
    """The model prompts one request needs: one per category, one raw prompt, or none (fixed answer)."""
    if mode == "raw":
        return [row["prompt"]]
    if row_fixed_answer(row) is not None:
        return None
    return category_prompts(prompt_detector(row), row["categories"], row.get("candidates"))


def predict_rows(
    model: Any,
    tokenizer: Any,
    rows: Sequence[dict[str, Any]],
    mode: str = "categories",
    taxonomy: Taxonomy | None = None,
    **generate_kwargs: Any,
) -> tuple[list[list[str] | None], list[list[str]]]:
    """The model route's labels for each request (None when an answer does not parse) and the answers.

    ``categories`` mode asks the model once per distinct category prompt and joins the answers;
    requests without counted categories get :func:`llama_mapper.mapping.prompt.fixed_answer`.
    """
    taxonomy = taxonomy or load_taxonomy()
    per_row = [row_prompts(row, mode) for row in rows]
    unique: dict[str, list[dict[str, str]]] = {}
    for prompts in per_row:
        for p in prompts or []:
            unique.setdefault(json.dumps(p), p)
    answers = dict(
        zip(unique, generate_answers(model, tokenizer, list(unique.values()), **generate_kwargs), strict=True)
    )
    predictions: list[list[str] | None] = []
    texts: list[list[str]] = []
    for row, prompts in zip(rows, per_row, strict=True):
        if prompts is None:
            predictions.append(row_fixed_answer(row))
            texts.append([])
            continue
        raw = [answers[json.dumps(p)] for p in prompts]
        parsed = [parse_answer(a, taxonomy) for a in raw]
        predictions.append(None if any(p is None for p in parsed) else join_labels(parsed, taxonomy))
        texts.append(raw)
    return predictions, texts


def evaluate_model(
    model: Any,
    tokenizer: Any,
    rows: Sequence[dict[str, Any]],
    mode: str = "categories",
    taxonomy: Taxonomy | None = None,
    **generate_kwargs: Any,
) -> tuple[dict[str, Any], list[list[str]]]:
    """Greedy answers for ``rows`` (dataset rows) scored by slice, and the raw answers."""
    predictions, answers = predict_rows(model, tokenizer, rows, mode, taxonomy, **generate_kwargs)
    return score_predictions(rows, predictions), answers


def evaluate_baseline(
    predict: Callable[[dict[str, Any]], Sequence[str]], rows: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """Scores of a non-model baseline on the same rows."""
    return score_predictions(rows, [predict(r) for r in rows])


def flat_metrics(scores: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """``{"all": {"exact_match": .9}}`` -> ``{"exact_match": .9, "unseen_exact_match": ...}``."""
    flat = {}
    for name, values in scores.items():
        for key in ("exact_match", "parseable", "n"):
            flat[f"{prefix}{'' if name == 'all' else name + '_'}{key}"] = round(values[key], 4)
    return flat


def request_row(detector: str, output: Any, index: Any = None, catalog: Any = None) -> dict[str, Any]:
    """A raw request as the model route sees it: read, categories extracted, candidates retrieved.

    ``index`` is a :class:`llama_mapper.mapping.candidates.CandidateIndex` (default: every alias of the taxonomy).
    """
    catalog = catalog or load_catalog()
    det = catalog.get(detector)
    reading = det.read(output) if det else read(output)
    categories = extracted_categories(reading)
    index = index or CandidateIndex.from_taxonomy(load_taxonomy(), detectors=catalog)
    return {
        "detector": detector,
        "catalog_name": det.name if det else None,
        "categories": categories,
        "candidates": index.top(categories, detectors=[det.name if det else None] * len(categories)),
        "status": reading.status,
        "verdict": bool(reading.verdict),
        "prompt": build_prompt(detector, output=output, mode="raw"),
    }

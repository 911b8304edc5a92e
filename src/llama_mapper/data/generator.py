"""Training data: realistic raw detector outputs and their canonical labels, as a conversational SFT dataset.

Every row is one mapping request (a detector name and its raw output in the vendor's real format)
with the canonical labels, and the prompt/answer turns built by :mod:`llama_mapper.mapping.prompt`:

- ``catalog`` rows: the catalog detectors' real formats (benign, single-, multi-label, near-threshold,
  errors, extra fields), labelled by the catalog rules (the source of truth for known detectors);
- ``synthetic`` rows: detectors the catalog has never seen, with renamed, recased and respelled
  categories drawn from the taxonomy's aliases and the vendors' category names, in unfamiliar JSON
  shapes and wrappers, labelled by construction.

Splits: ``train``, ``validation`` (same detectors and spellings as train) and ``test``, which holds out
whole detectors (some catalog detectors and every test-only synthetic detector name) and category
spellings (a share of each label's aliases) that train never shows.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from llama_mapper import __version__
from llama_mapper.catalog import Catalog, Detector, load_catalog, read
from llama_mapper.data.io import load_reviewed, save_dataset
from llama_mapper.data.shapes import SHAPES, synth_catalog_output, vocabulary
from llama_mapper.mapping.candidates import NUM_CANDIDATES, CandidateIndex, Embedder, category_candidates
from llama_mapper.mapping.prompt import (
    PROMPT_VERSION,
    build_prompt,
    extracted_categories,
    fixed_answer,
    format_answer,
    join_labels,
)
from llama_mapper.mapping.rules import ERROR, POLICY, SAFE, RulesMapper
from llama_mapper.resources.taxonomy import Taxonomy, load_taxonomy, normalize_text

GENERATOR_VERSION = "1.1"  # 1.1: seeded per row, stable detector and spelling choices
HELD_OUT_DETECTORS = ("perspective", "aws-comprehend-pii")
TEST_ALIAS_SHARE = 0.25  # share of each label's aliases reserved for the test split

TRAIN_VENDORS = (
    "acme-guard",
    "sentinel-moderation",
    "contoso-shield",
    "northwind-pii",
    "fabrikam-safety",
    "initech-filter",
    "globex-trust",
    "umbrella-guardrails",
    "hooli-moderator",
    "stark-content-check",
    "wayne-safety-api",
    "cyberdyne-classifier",
    "tyrell-screen",
    "aperture-guard",
    "soylent-pii-scan",
    "vandelay-moderation",
    "bluth-toxicity",
    "pied-piper-filter",
    "dunder-guard",
    "oscorp-safety",
)
TEST_VENDORS = (
    "kestrel-guard",
    "zephyr-shield",
    "orbit-moderation",
    "quartz-pii",
    "nimbus-safety",
    "helix-filter",
    "atlas-content-guard",
    "vector-trust-api",
)
PREFIXES = ("", "", "", "", "is_", "category_", "cat:", "harm/", "policy.", "risk_", "detected_")
SUFFIXES = ("", "", "", "", "_detected", "_score", "_flag", "_content", "_risk", "/v2")


@dataclass
class Example:
    """One generated request with its ground truth."""

    detector: str
    output: Any
    labels: list[str]
    source: str  # "catalog" | "synthetic"
    kind: str  # benign | single | multi | error | near_threshold | verdict ...
    detector_seen: bool = True  # does train contain this detector
    spellings: list[str] = field(default_factory=list)  # category spellings used (for split hygiene)
    # synthetic: respelled category -> label; reviewed: category -> the reviewer's labels
    category_labels: dict[str, str | list[str]] = field(default_factory=dict)


def stable_unit(key: str) -> float:
    """A number in [0, 1) that depends only on ``key`` (not on Python's per-process string hash)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") / 2**64


def stable_choice(items: list[Detector], key: str) -> Detector:
    """The item with the highest ``stable_unit(key:name)`` (rendezvous hashing): adding or removing
    an item moves only the rows that pick it, so a catalog change does not reshuffle the dataset."""
    return max(items, key=lambda d: stable_unit(f"{key}:{d.name}"))


# Formats that :func:`~llama_mapper.data.shapes.synth_catalog_output` writes; catalog rows come only
# from detectors in these formats (the other detectors' categories still feed the spelling pool).
SYNTH_FORMATS = frozenset(
    {
        "openai_moderation",
        "llama_guard",
        "llama_guard_family",
        "score_dict",
        "label_scores",
        "perspective",
        "azure_content_safety",
        "google_dlp",
        "aws_comprehend_pii",
        "regex_pii",
        "presidio",
    }
)


# ---------------------------------------------------------------------------------------------
# Category spellings
# ---------------------------------------------------------------------------------------------


def respell(phrase: str, rng: random.Random) -> str:
    """Render a lower-case phrase the way some vendor might: case, separators, affixes, typos."""
    words = normalize_text(phrase).split() or [phrase]
    style = rng.randrange(8)
    if style == 0:
        text = "_".join(w.upper() for w in words)
    elif style == 1:
        text = "_".join(words)
    elif style == 2:
        text = "-".join(words)
    elif style == 3:
        text = words[0] + "".join(w.title() for w in words[1:])
    elif style == 4:
        text = "".join(w.title() for w in words)
    elif style == 5:
        text = " ".join(w.title() for w in words)
    elif style == 6:
        text = "/".join(words)
    else:
        text = ".".join(words)
    if rng.random() < 0.25:
        text = rng.choice(PREFIXES) + text + rng.choice(SUFFIXES)
    if rng.random() < 0.06 and len(text) > 6:  # a typo: drop one inner letter
        i = rng.randrange(2, len(text) - 2)
        if text[i].isalpha():
            text = text[:i] + text[i + 1 :]
    return text


@dataclass
class SpellingPool:
    """Category spellings per label, split into train-only and test-only phrases."""

    train: dict[str, list[str]]
    test: dict[str, list[str]]

    @classmethod
    def build(cls, taxonomy: Taxonomy, catalog: Catalog, seed: int) -> SpellingPool:
        phrases: dict[str, set[str]] = {label.name: set() for label in taxonomy.labels}
        pinned: set[str] = set()  # spellings that train shows anyway (categories of train detectors)
        for label in taxonomy.labels:
            phrases[label.name].update(normalize_text(a) for a in label.aliases if normalize_text(a))
        for det in catalog:
            for category, labels in det.categories.items():
                phrase = normalize_text(category)
                if not phrase or re.fullmatch(r"[so]\d+", phrase) or phrase.startswith("label"):
                    continue
                if det.name not in HELD_OUT_DETECTORS:
                    pinned.add(phrase)
                if len(labels) == 1:
                    phrases[labels[0]].add(phrase)
                elif not labels:
                    phrases[SAFE].add(phrase)
        # A phrase that names several labels would teach contradictions: keep it nowhere.
        owner: dict[str, set[str]] = {}
        for label, items in phrases.items():
            for p in items:
                owner.setdefault(p, set()).add(label)
        train: dict[str, list[str]] = {}
        test: dict[str, list[str]] = {}
        for label, items in phrases.items():
            ordered = sorted(p for p in items if len(owner[p]) == 1)
            # each spelling's split depends on the seed and the spelling only: a new alias or catalog
            # category does not move the others
            test[label] = (
                [p for p in ordered if p not in pinned and stable_unit(f"{seed}:{p}") < TEST_ALIAS_SHARE]
                if len(ordered) >= 4
                else []
            )
            train[label] = [p for p in ordered if p not in test[label]]
            if not train[label]:  # every label must be learnable: fall back to its own name
                train[label] = [normalize_text(label.split(".")[-1])]
        return cls(train, test)

    def held_out(self) -> set[str]:
        """Normalised test-only spellings (must never appear in train)."""
        return {p for items in self.test.values() for p in items}


# ---------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------


class TrainingDataGenerator:
    """Generates the conversational SFT dataset from the taxonomy and the detector catalog.

    Deterministic for a seed: the same seed and versions give the same rows.
    """

    def __init__(
        self,
        seed: int = 42,
        taxonomy: Taxonomy | None = None,
        catalog: Catalog | None = None,
        catalog_share: float = 0.45,
        with_candidates: bool = True,
    ) -> None:
        self.seed = seed
        self.taxonomy = taxonomy or load_taxonomy()
        self.catalog = catalog or load_catalog(self.taxonomy.version)
        self.rules = RulesMapper(self.catalog, self.taxonomy)
        self.with_candidates = with_candidates
        self._index: CandidateIndex | None = None
        self.catalog_share = catalog_share
        self.spellings = SpellingPool.build(self.taxonomy, self.catalog, seed)
        self.dropped = 0  # synthetic outputs whose reading disagreed with their construction
        self.reviewed_used = self.reviewed_skipped = 0  # reviewed outputs joined to train / left out
        held = set(HELD_OUT_DETECTORS)
        self.train_detectors = [d for d in self.catalog if d.name not in held and d.format in SYNTH_FORMATS]
        self.test_detectors = [d for d in self.catalog if d.name in held and d.format in SYNTH_FORMATS]
        # labels a synthetic category may carry (not the error/unknown bookkeeping labels)
        self.content_labels = [
            n for n in self.taxonomy.names if n not in (ERROR, "OTHER.Unknown", "OTHER.NeedsReview", SAFE)
        ]

    # -- rows ---------------------------------------------------------------------------------------

    def catalog_example(self, det: Detector, rng: random.Random, seen: bool) -> Example:
        """A realistic output of a catalog detector, labelled by its catalog rules."""
        vocab = vocabulary(det)
        roll = rng.random()
        name = rng.choice([det.name, det.name, det.display_name, *det.aliases]) if det.aliases else det.name
        if roll < 0.04:
            output = rng.choice(
                [
                    None,
                    "",
                    {},
                    {
                        "error": {
                            "message": "The server had an error while processing your request.",
                            "type": "server_error",
                            "code": 500,
                        }
                    },
                    '{"results": [{"flagged": tr',
                    {"error": "rate limit exceeded"},
                ]
            )
            return Example(name, output, [ERROR], "catalog", "error", seen)
        k = 0 if roll < 0.22 else (1 if roll < 0.7 else rng.randint(2, 3))
        chosen = rng.sample(vocab, k=min(k, len(vocab)))
        near = rng.random() < 0.2
        output = synth_catalog_output(det, {c: True for c in chosen}, rng, near)
        if isinstance(output, dict) and rng.random() < 0.15:
            output = {
                **output,
                "x_request_latency_ms": rng.randint(3, 200),
                "x_region": rng.choice(["eu-west-1", "us-east-1"]),
            }
        labels = self.rules.resolve(det.name, output).labels
        kind = "benign" if not chosen else ("multi" if len(chosen) > 1 else "single")
        return Example(name, output, labels, "catalog", "near_threshold" if near else kind, seen)

    def synthetic_example(self, rng: random.Random, split: str) -> Example | None:
        """An unknown detector in an unfamiliar shape with respelled categories, labelled by construction."""
        pool = self.spellings.test if split == "test" else self.spellings.train
        vendors = TEST_VENDORS if split == "test" else TRAIN_VENDORS
        detector = rng.choice(vendors)
        labels_available = [lab for lab in self.content_labels if pool.get(lab)]
        k = 1 if rng.random() < 0.75 else 2
        labels = rng.sample(labels_available, k=k)
        phrases = [rng.choice(pool[lab]) for lab in labels]
        on = list(dict.fromkeys(respell(p, rng) for p in phrases))
        if len(on) != len(phrases):
            return None
        off_pool = [
            p
            for lab in rng.sample(self.content_labels, 3)
            if lab not in labels
            for p in self.spellings.train.get(lab, [])[:1]
        ]
        off = [respell(p, rng) for p in off_pool if p not in phrases][:2]
        shape = rng.choice(SHAPES)
        output = shape(on, off, rng)
        counted = {f.category for f in read(output).findings if f.counted}
        if counted != set(on):
            self.dropped += 1
            return None
        return Example(
            detector,
            output,
            sorted(set(labels), key=self.taxonomy.names.index),
            "synthetic",
            "multi" if k > 1 else "single",
            split != "test",
            phrases,
            dict(zip(on, labels, strict=True)),
        )

    def synthetic_safe_or_verdict(self, rng: random.Random, split: str) -> Example:
        """Unknown detector: a benign output, or a bare unsafe verdict."""
        detector = rng.choice(TEST_VENDORS if split == "test" else TRAIN_VENDORS)
        if rng.random() < 0.5:
            output = rng.choice(
                [{"flagged": True}, {"verdict": "unsafe"}, {"result": "flagged", "categories": []}, "unsafe"]
            )
            return Example(detector, output, [POLICY], "synthetic", "verdict", split != "test")
        off = [
            respell(rng.choice(self.spellings.train[lab]), rng) for lab in rng.sample(self.content_labels, 2)
        ]
        output = rng.choice(SHAPES)([], off, rng)
        return Example(detector, output, [SAFE], "synthetic", "benign", split != "test")

    def examples(self, n: int, split: str) -> Iterator[tuple[int, Example]]:
        """Up to ``n`` examples of one split, each with its index. Row ``i`` has its own random stream
        (seed, split, i), so a change that drops or alters one row leaves every other row as it was."""
        for i in range(n):
            key = f"{self.seed}:{split}:{i}"
            rng = random.Random(key)
            roll = rng.random()
            if roll < self.catalog_share:
                if split == "test" and self.test_detectors and rng.random() < 0.5:
                    ex = self.catalog_example(stable_choice(self.test_detectors, key), rng, seen=False)
                else:
                    ex = self.catalog_example(stable_choice(self.train_detectors, key), rng, seen=True)
            elif roll < self.catalog_share + 0.06:
                ex = self.synthetic_safe_or_verdict(rng, split)
            else:
                ex = self.synthetic_example(rng, split)
            if ex is not None:
                yield i, ex

    def category_labels(
        self, ex: Example, det: Detector | None, categories: list[str]
    ) -> list[list[str]] | None:
        """The labels of each counted category: by construction (synthetic) or by the catalog's rules."""
        out = []
        for category in categories:
            if category in ex.category_labels:
                value = ex.category_labels[category]
                out.append(
                    [value] if isinstance(value, str) else sorted(value, key=self.taxonomy.names.index)
                )
                continue
            mapped = self.rules.label_category(category, det) if det else None
            if mapped is None:
                return None
            out.append(sorted(mapped[0], key=self.taxonomy.names.index) or [SAFE])
        return out

    def to_row(self, ex: Example, split: str, index: int) -> dict[str, Any] | None:
        """A dataset row: request, labels, extracted categories with their labels, the raw-mode turns.

        None when the per-category labels do not add up to the request's labels (never expected).
        """
        det = self.catalog.get(ex.detector)
        reading = det.read(ex.output) if det else read(ex.output)
        categories = extracted_categories(reading)
        labels = sorted(set(ex.labels), key=self.taxonomy.names.index)  # one canonical order to learn
        per_category = self.category_labels(ex, det, categories) if categories else []
        if per_category is None:
            return None
        fixed = fixed_answer(categories, reading.status, reading.verdict)
        if (fixed or join_labels(per_category, self.taxonomy)) != labels:
            return None
        prompt = build_prompt(ex.detector, output=ex.output, mode="raw")
        answer = [{"role": "assistant", "content": format_answer(labels)}]
        return {
            "id": f"{split}-{index:06d}",
            "detector": ex.detector,
            "catalog_name": det.name if det else None,
            "output": json.dumps(ex.output, ensure_ascii=False),
            "labels": labels,
            "categories": categories,
            "category_labels": per_category,
            "candidates": [],  # filled per split, in one batch (see add_candidates)
            "status": reading.status,
            "verdict": bool(reading.verdict),
            "source": ex.source,
            "kind": ex.kind,
            "detector_seen": ex.detector_seen,
            "prompt": prompt,
            "completion": answer,
            "messages": prompt + answer,
        }

    def candidate_index(self, embedder: Embedder | None = None) -> CandidateIndex:
        """Retrieval over what training may see: label descriptions and the train-only spellings
        (with ``embedder``, e.g. a fine-tuned retriever's, instead of the off-the-shelf encoder)."""
        if embedder is not None:
            return CandidateIndex.from_taxonomy(
                self.taxonomy, phrases=self.spellings.train, detectors=self.train_detectors, embedder=embedder
            )
        if self._index is None:
            self._index = CandidateIndex.from_taxonomy(
                self.taxonomy, phrases=self.spellings.train, detectors=self.train_detectors
            )
        return self._index

    def add_candidates(self, rows: list[dict[str, Any]]) -> None:
        """Candidate labels for every category of every row (one embedding batch)."""
        for row, candidates in zip(rows, category_candidates(rows, self.candidate_index()), strict=True):
            row["candidates"] = candidates

    def generate_split(self, split: str, n: int, progress: bool = True) -> list[dict[str, Any]]:
        rows = []
        bar = tqdm(total=n, desc=f"generating {split}", disable=not progress, mininterval=0.5)
        for index, ex in self.examples(n * 2, split):
            row = self.to_row(ex, split, index)
            if row is None:
                self.dropped += 1
                continue
            rows.append(row)
            bar.update()
            if len(rows) == n:
                break
        bar.close()
        if self.with_candidates:
            self.add_candidates(rows)
        return rows

    def reviewed_rows(self, reviewed: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        """Training rows from a person's reviewed outputs (:func:`~llama_mapper.data.io.load_reviewed`),
        and how many could not become one. The reviewer's labels are the truth: a lone counted category
        takes them all; otherwise the labels no rule gives go to the one category no rule maps. An
        output where that cannot be told apart (several unmapped categories, or a reviewer who
        corrected a category the rules map beside others) is left out and counted."""
        rows, skipped = [], 0
        for r in reviewed:
            det = self.catalog.get(r["detector"])
            reading = det.read(r["output"]) if det else read(r["output"])
            categories = extracted_categories(reading)
            assigned: dict[str, str | list[str]] = {}
            if len(categories) == 1:
                assigned[categories[0]] = list(r["labels"])
            elif categories:
                known: set[str] = set()
                unresolved = []
                for category in categories:
                    mapped = self.rules.label_category(category, det)
                    if mapped is None:
                        unresolved.append(category)
                    else:
                        known.update(mapped[0])
                leftover = [label for label in r["labels"] if label not in known]
                if len(unresolved) == 1 and leftover:
                    assigned[unresolved[0]] = leftover
            ex = Example(
                r["detector"], r["output"], list(r["labels"]), "reviewed", "reviewed", True, [], assigned
            )
            row = self.to_row(ex, "reviewed", len(rows))
            if row is None:
                skipped += 1
                continue
            row["id"] = f"reviewed-{r['id']}"
            rows.append(row)
        if self.with_candidates and rows:
            self.add_candidates(rows)
        return rows, skipped

    def generate_dataset(
        self,
        size: int = 6000,
        eval_size: int | None = None,
        progress: bool = False,
        reviewed: list[dict[str, Any]] | None = None,
        reviewed_repeat: int = 1,
    ):
        """A ``datasets.DatasetDict`` with ``size`` train rows (and the reviewed rows, which join
        train only, each ``reviewed_repeat`` times) and validation/test splits."""
        from datasets import Dataset, DatasetDict

        eval_size = eval_size if eval_size is not None else max(200, size // 10)
        splits = {
            split: self.generate_split(split, n, progress)
            for split, n in (("train", size), ("validation", eval_size), ("test", eval_size))
        }
        if reviewed:
            extra, self.reviewed_skipped = self.reviewed_rows(reviewed)
            splits["train"] += extra + [
                {**row, "id": f"{row['id']}#{k}"} for k in range(2, reviewed_repeat + 1) for row in extra
            ]
            self.reviewed_used = len(extra)
        return DatasetDict({split: Dataset.from_list(rows) for split, rows in splits.items()})

    def metadata(self, size: int, eval_size: int) -> dict[str, Any]:
        """What produced the dataset: versions, seed, held-out detectors."""
        return {
            "generator_version": GENERATOR_VERSION,
            "llama_mapper_version": __version__,
            "prompt_version": PROMPT_VERSION,
            "candidates": NUM_CANDIDATES if self.with_candidates else 0,
            "taxonomy": self.taxonomy.id,
            "seed": self.seed,
            "size": size,
            "eval_size": eval_size,
            "held_out_detectors": list(HELD_OUT_DETECTORS) + list(TEST_VENDORS),
            "held_out_spellings": len(self.spellings.held_out()),
        }


def make_dataset(
    output_dir: str | Path,
    size: int = 6000,
    eval_size: int | None = None,
    seed: int = 42,
    with_candidates: bool = True,
    progress: bool = True,
    reviewed: str | Path | None = None,
    reviewed_repeat: int = 1,
):
    """Generate the dataset (``eval_size`` validation and test rows each; default size/10, at least
    200) and write it into ``output_dir`` (:func:`~llama_mapper.data.io.save_dataset`). ``reviewed``:
    a review file whose reviewed rows join the train split, each ``reviewed_repeat`` times (a few
    dozen reviewed rows among thousands of generated ones otherwise barely move an adapter); the card
    and ``generation.json`` record which file (its SHA-256), how many rows and the repeat.

    Returns the folder and the ``datasets.DatasetDict``.
    """
    generator = TrainingDataGenerator(seed=seed, with_candidates=with_candidates)
    eval_size = eval_size if eval_size is not None else max(200, size // 10)
    if reviewed_repeat < 1:
        raise ValueError(f"the reviewed rows' repeat must be at least 1, not {reviewed_repeat}")
    rows, lineage = load_reviewed(reviewed, generator.taxonomy) if reviewed else (None, None)
    dataset = generator.generate_dataset(
        size=size, eval_size=eval_size, progress=progress, reviewed=rows, reviewed_repeat=reviewed_repeat
    )
    metadata = generator.metadata(size, eval_size)
    if lineage is not None:
        metadata["reviewed"] = lineage | {
            "used": generator.reviewed_used if rows else 0,
            "left_out": generator.reviewed_skipped if rows else 0,
            "repeat": reviewed_repeat,
        }
    return save_dataset(dataset, output_dir, metadata), dataset

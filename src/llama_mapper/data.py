"""Training data: realistic raw detector outputs and their canonical labels, as a conversational SFT dataset.

Every row is one mapping request (a detector name and its raw output in the vendor's real format)
with the canonical labels, and the prompt/answer turns built by :mod:`llama_mapper.prompt`:

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

import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from llama_mapper import __version__
from llama_mapper.candidates import NUM_CANDIDATES, CandidateIndex, Embedder, category_candidates
from llama_mapper.catalog import Catalog, Detector, load_catalog, read
from llama_mapper.prompt import (
    PROMPT_VERSION,
    build_prompt,
    extracted_categories,
    fixed_answer,
    format_answer,
    join_labels,
)
from llama_mapper.rules import ERROR, POLICY, SAFE, RulesMapper
from llama_mapper.taxonomy import Taxonomy, load_taxonomy, normalize_text

GENERATOR_VERSION = "1.0"
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
    "lakera-like-guard",
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
    category_labels: dict[str, str] = field(default_factory=dict)  # synthetic: respelled category -> label


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
        rng = random.Random(seed * 7 + 1)
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
            rng.shuffle(ordered)
            free = [p for p in ordered if p not in pinned]
            k = int(len(ordered) * TEST_ALIAS_SHARE) if len(ordered) >= 4 else 0
            test[label] = free[:k]
            train[label] = [p for p in ordered if p not in test[label]]
            if not train[label]:  # every label must be learnable: fall back to its own name
                train[label] = [normalize_text(label.split(".")[-1])]
        return cls(train, test)

    def held_out(self) -> set[str]:
        """Normalised test-only spellings (must never appear in train)."""
        return {p for items in self.test.values() for p in items}


# ---------------------------------------------------------------------------------------------
# Output synthesizers: one per catalog format, and unfamiliar shapes for unknown detectors
# ---------------------------------------------------------------------------------------------


def _score(rng: random.Random, counted: bool, threshold: float, near: bool) -> float:
    if counted:
        return round(
            rng.uniform(threshold, threshold + 0.08) if near else rng.uniform(max(threshold, 0.62), 0.999), 4
        )
    return round(
        rng.uniform(threshold - 0.08, threshold - 0.001)
        if near
        else rng.uniform(0.0001, min(0.3, threshold)),
        4,
    )


def vocabulary(det: Detector) -> list[str]:
    """The vendor's own category names (the spelling its real outputs use)."""
    names = [c for c, labels in det.categories.items() if labels]
    if det.format == "llama_guard":
        return [c for c in names if re.fullmatch(r"S\d+", c)] or names
    if det.format == "openai_moderation" and isinstance(det.example, dict):
        results = det.example.get("results") or [{}]
        keys = list((results[0] or {}).get("categories") or {})
        return keys or names
    if det.format in ("perspective", "google_dlp", "aws_comprehend_pii", "presidio"):
        return [c for c in names if re.fullmatch(r"[A-Z0-9_]+", c)] or names
    if det.format == "azure_content_safety":
        return [c for c in names if c in ("Hate", "SelfHarm", "Sexual", "Violence")] or names
    if det.format == "score_dict" and isinstance(det.example, dict):
        keys = [k for k, v in det.example.items() if isinstance(v, (int, float, list))]
        return keys or names
    return names


def benign_names(det: Detector) -> list[str]:
    return [c for c, labels in det.categories.items() if not labels]


def synth_catalog_output(det: Detector, flags: dict[str, bool], rng: random.Random, near: bool) -> Any:
    """A realistic raw output of a catalog detector with the given categories flagged."""
    t = det.threshold
    fmt = det.format
    if fmt == "openai_moderation":
        cats = {c: bool(flags.get(c)) for c in vocabulary(det)}
        scores = {c: _score(rng, cats[c], t, near) for c in cats}
        result: dict[str, Any] = {
            "flagged": any(cats.values()),
            "categories": cats,
            "category_scores": scores,
        }
        if rng.random() < 0.5:
            result["category_applied_input_types"] = {c: (["text"] if cats[c] else []) for c in cats}
        return {"id": f"modr-{rng.getrandbits(40):x}", "model": "omni-moderation-latest", "results": [result]}
    if fmt == "llama_guard":
        on = [c for c, v in flags.items() if v]
        if not on:
            return rng.choice(["safe", "safe", "\n\nsafe", "safe\n"])
        text = "unsafe\n" + ",".join(on)
        return text if rng.random() < 0.8 else {"generated_text": text}
    if fmt == "score_dict":
        out = {c: _score(rng, bool(flags.get(c)), t, near) for c in vocabulary(det)}
        return {k: [v] for k, v in out.items()} if rng.random() < 0.2 else out
    if fmt == "label_scores":
        names = vocabulary(det) + benign_names(det)
        items = []
        on = [c for c, v in flags.items() if v]
        if not on and benign_names(det):
            items.append({"label": rng.choice(benign_names(det)), "score": round(rng.uniform(0.7, 0.999), 4)})
        for c in on:
            items.append({"label": c, "score": _score(rng, True, t, near)})
        if rng.random() < 0.5:  # top_k=None: every label
            for c in names:
                if all(i["label"] != c for i in items):
                    items.append({"label": c, "score": _score(rng, False, t, near)})
        items.sort(key=lambda i: -i["score"])
        return [items] if rng.random() < 0.2 else items
    if fmt == "perspective":
        attrs = {
            c: {
                "spanScores": [],
                "summaryScore": {"value": _score(rng, bool(flags.get(c)), t, near), "type": "PROBABILITY"},
            }
            for c in rng.sample(vocabulary(det), k=min(len(vocabulary(det)), rng.randint(3, 7)))
            if not flags.get(c)
        }
        for c, v in flags.items():
            if v:
                attrs[c] = {
                    "spanScores": [
                        {
                            "begin": 0,
                            "end": rng.randint(10, 90),
                            "score": {"value": _score(rng, True, t, near), "type": "PROBABILITY"},
                        }
                    ],
                    "summaryScore": {"value": _score(rng, True, t, near), "type": "PROBABILITY"},
                }
        return {"attributeScores": attrs, "languages": ["en"], "detectedLanguages": ["en"]}
    if fmt == "azure_content_safety":
        analyses = [
            {"category": c, "severity": (rng.choice([2, 4, 6]) if flags.get(c) else rng.choice([0, 0, 0, 1]))}
            for c in vocabulary(det)
        ]
        return {"blocklistsMatch": [], "categoriesAnalysis": analyses}
    if fmt == "google_dlp":
        findings = []
        for c, v in flags.items():
            if v:
                for _ in range(rng.randint(1, 2)):
                    findings.append(
                        {
                            "infoType": {"name": c},
                            "likelihood": rng.choice(["LIKELY", "VERY_LIKELY"]),
                            "location": {
                                "byteRange": {
                                    "start": str(rng.randint(0, 200)),
                                    "end": str(rng.randint(201, 400)),
                                }
                            },
                            "createTime": "2025-09-18T10:12:31.412Z",
                        }
                    )
        if near or rng.random() < 0.3:
            c = rng.choice(vocabulary(det))
            findings.append(
                {
                    "infoType": {"name": c},
                    "likelihood": rng.choice(["POSSIBLE", "UNLIKELY"]),
                    "createTime": "2025-09-18T10:12:31.412Z",
                }
            )
        return {"result": {"findings": findings}} if findings else {"result": {}}
    # entity lists: presidio, regex-pii, aws comprehend
    entities = []
    pos = 0
    for c, v in flags.items():
        if v:
            for _ in range(rng.randint(1, 2)):
                start = pos + rng.randint(0, 40)
                end = start + rng.randint(5, 30)
                pos = end
                score = round(rng.uniform(0.4, 1.0), 2)
                if fmt == "aws_comprehend_pii":
                    entities.append({"Score": score, "Type": c, "BeginOffset": start, "EndOffset": end})
                elif fmt == "regex_pii":
                    entities.append({"type": c, "start": start, "end": end})
                else:
                    entities.append({"entity_type": c, "start": start, "end": end, "score": score})
    if fmt == "aws_comprehend_pii":
        return {"Entities": entities}
    if fmt == "regex_pii":
        return {"matches": entities, "pii_detected": bool(entities)}
    return entities


def _entity(rng: random.Random, key: str, name: str) -> dict[str, Any]:
    start = rng.randint(0, 300)
    return {
        key: name,
        "start": start,
        "end": start + rng.randint(4, 30),
        "confidence": round(rng.uniform(0.55, 0.99), 3),
    }


# Unfamiliar shapes: (counted categories, benign categories, rng, threshold) -> output
Shape = Callable[[list[str], list[str], random.Random], Any]


def _shape_bool_map(on, off, rng):
    cats = {c: True for c in on} | {c: False for c in off}
    return {"flagged": bool(on), "categories": cats, "model": "guard-v2"}


def _shape_score_map(on, off, rng):
    return {
        "scores": {c: round(rng.uniform(0.7, 0.99), 3) for c in on}
        | {c: round(rng.uniform(0.01, 0.3), 3) for c in off}
    }


def _shape_label_list(on, off, rng):
    items = [{"label": c, "score": round(rng.uniform(0.66, 0.99), 3)} for c in on]
    items += [{"label": c, "score": round(rng.uniform(0.01, 0.3), 3)} for c in off]
    return {"results": items, "request_id": f"req_{rng.getrandbits(32):08x}"}


def _shape_entities(on, off, rng):
    return {"detections": [_entity(rng, "type", c) for c in on], "count": len(on)}


def _shape_verdict(on, off, rng):
    return {"verdict": "unsafe" if on else "safe", "violations": list(on), "latency_ms": rng.randint(5, 90)}


def _shape_inverted(on, off, rng):
    return {"checks": {c: {"is_valid": False} for c in on} | {c: {"is_valid": True} for c in off}}


def _shape_severity(on, off, rng):
    items = [{"category": c, "severity": rng.choice(["medium", "high"])} for c in on]
    items += [{"category": c, "severity": rng.choice(["none", "low"])} for c in off]
    return {"analysis": items}


def _shape_wrapped(on, off, rng):
    return {
        "data": {
            "moderation": {
                "flagged": bool(on),
                "results": {c: {"detected": True, "score": round(rng.uniform(0.6, 0.99), 2)} for c in on}
                | {c: {"detected": False, "score": round(rng.uniform(0.0, 0.3), 2)} for c in off},
            }
        },
        "status": "ok",
    }


def _shape_likelihood(on, off, rng):
    items = [{"infoType": c, "likelihood": rng.choice(["LIKELY", "VERY_LIKELY"])} for c in on]
    items += [{"infoType": c, "likelihood": rng.choice(["UNLIKELY", "POSSIBLE"])} for c in off]
    return {"findings": items}


SHAPES: tuple[Shape, ...] = (
    _shape_bool_map,
    _shape_score_map,
    _shape_label_list,
    _shape_entities,
    _shape_verdict,
    _shape_inverted,
    _shape_severity,
    _shape_wrapped,
    _shape_likelihood,
)


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
        held = set(HELD_OUT_DETECTORS)
        self.train_detectors = [d for d in self.catalog if d.name not in held]
        self.test_detectors = [d for d in self.catalog if d.name in held]
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

    def examples(self, n: int, split: str, seed: int) -> Iterator[Example]:
        """``n`` examples of one split."""
        rng = random.Random(seed)
        made = 0
        while made < n:
            roll = rng.random()
            if roll < self.catalog_share:
                if split == "test" and self.test_detectors and rng.random() < 0.5:
                    ex = self.catalog_example(rng.choice(self.test_detectors), rng, seen=False)
                else:
                    ex = self.catalog_example(rng.choice(self.train_detectors), rng, seen=True)
            elif roll < self.catalog_share + 0.06:
                ex = self.synthetic_safe_or_verdict(rng, split)
            else:
                ex = self.synthetic_example(rng, split)
            if ex is None:
                continue
            made += 1
            yield ex

    def category_labels(
        self, ex: Example, det: Detector | None, categories: list[str]
    ) -> list[list[str]] | None:
        """The labels of each counted category: by construction (synthetic) or by the catalog's rules."""
        out = []
        for category in categories:
            if category in ex.category_labels:
                out.append([ex.category_labels[category]])
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
        offset = {"train": 0, "validation": 1, "test": 2}[split]
        rows = []
        bar = tqdm(total=n, desc=f"generating {split}", disable=not progress, mininterval=0.5)
        for ex in self.examples(n * 2, split, self.seed * 1000 + offset):
            row = self.to_row(ex, split, len(rows))
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

    def generate_dataset(self, size: int = 6000, eval_size: int | None = None, progress: bool = False):
        """A ``datasets.DatasetDict`` with ``size`` train rows and validation/test splits."""
        from datasets import Dataset, DatasetDict

        eval_size = eval_size if eval_size is not None else max(200, size // 10)
        return DatasetDict(
            {
                split: Dataset.from_list(self.generate_split(split, n, progress))
                for split, n in (("train", size), ("validation", eval_size), ("test", eval_size))
            }
        )

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


def save_dataset(dataset, output_dir: str | Path, metadata: dict[str, Any]) -> Path:
    """Write each split as parquet under ``data/`` plus a dataset card (README.md with YAML metadata)."""
    out = Path(output_dir)
    (out / "data").mkdir(parents=True, exist_ok=True)
    for split, ds in dataset.items():
        ds.to_parquet(str(out / "data" / f"{split}-00000-of-00001.parquet"))
    (out / "README.md").write_text(dataset_card(dataset, metadata), encoding="utf-8")
    (out / "generation.json").write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return out


def dataset_card(dataset, metadata: dict[str, Any]) -> str:
    """The dataset card: YAML metadata (splits, sizes, versions) and a short description."""
    import yaml

    header = {
        "license": "apache-2.0",
        "task_categories": ["text-generation"],
        "language": ["en"],
        "tags": ["llama-mapper", "ai-safety", "compliance", "sft"],
        "pretty_name": "Llama Mapper SFT data",
        "configs": [
            {"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*"} for s in dataset]}
        ],
        "dataset_info": {
            "splits": [
                {"name": s, "num_bytes": ds.data.nbytes, "num_examples": len(ds)} for s, ds in dataset.items()
            ]
        },
        "llama_mapper": metadata,
    }
    sizes = "\n".join(f"| {s} | {len(ds)} |" for s, ds in dataset.items())
    return f"""---
{yaml.safe_dump(header, sort_keys=False).strip()}
---

# Llama Mapper SFT data ({metadata["taxonomy"]})

Raw AI-safety detector outputs in the vendors' real formats, each with its canonical labels.
Generated by `llama_mapper.data.TrainingDataGenerator` (generator {metadata["generator_version"]},
seed {metadata["seed"]}, prompt version {metadata["prompt_version"]}). All outputs are synthetic: no
real user content.

- `prompt`, `completion`, `messages`: one conversation per request in `raw` mode (the model reads the
  compacted output), for large models; TRL trains on them as they are.
- `categories`, `category_labels`, `candidates`: the counted category strings that the deterministic
  reader extracts, the labels of each, and the candidate labels retrieved for each by embedding
  similarity. Small models train on one conversation per category, built by
  `llama_mapper.prompt.category_examples(row)` (`categories` mode).
- `status`, `verdict`: what the reader made of the output; rows without counted categories are
  decided by `llama_mapper.prompt.fixed_answer` (safe, flagged or error), not by a model.

| split | rows |
|---|---|
{sizes}

The `test` split holds out whole detectors ({", ".join(metadata["held_out_detectors"])}) and
{metadata["held_out_spellings"]} category spellings that `train` never shows, so it measures
generalisation honestly. `detector_seen` marks rows whose detector train knows.
"""

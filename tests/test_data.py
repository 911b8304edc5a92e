"""Training data: determinism, split hygiene, labels and prompts, the saved dataset and its card."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml

from llama_mapper.catalog import Catalog, load_catalog, read
from llama_mapper.data import HELD_OUT_DETECTORS, TEST_VENDORS, TrainingDataGenerator, save_dataset
from llama_mapper.mapping.prompt import category_examples, fixed_answer, join_labels, parse_answer
from llama_mapper.resources.taxonomy import normalize_text

pytestmark = pytest.mark.slow  # generating thousands of rows with retrieved candidates (a minute or more)


@pytest.fixture(scope="module")
def dataset():
    return TrainingDataGenerator(seed=7).generate_dataset(size=1500, eval_size=400)


def test_generation_is_deterministic_for_a_seed():
    a = TrainingDataGenerator(seed=3, with_candidates=False).generate_split("train", 200, progress=False)
    b = TrainingDataGenerator(seed=3, with_candidates=False).generate_split("train", 200, progress=False)
    c = TrainingDataGenerator(seed=4, with_candidates=False).generate_split("train", 200, progress=False)
    assert a == b
    assert [r["output"] for r in a] != [r["output"] for r in c]


def test_a_catalog_change_moves_only_the_rows_it_touches():
    """Rows are seeded one by one and pick their detector by rendezvous hashing: a new catalog
    detector takes some rows over and leaves every other row exactly as it was."""
    catalog = load_catalog()
    copy = dataclasses.replace(
        catalog.detectors["detoxify"], name="detoxify-copy", display_name="Detoxify copy", aliases=()
    )
    before = TrainingDataGenerator(seed=3, with_candidates=False).generate_split("train", 400, progress=False)
    after = TrainingDataGenerator(
        seed=3, catalog=Catalog([*catalog, copy]), with_candidates=False
    ).generate_split("train", 400, progress=False)
    old, new = {r["id"]: r for r in before}, {r["id"]: r for r in after}
    taken = {i for i, r in new.items() if r["catalog_name"] == "detoxify-copy"}
    assert taken, "the new detector gets rows"
    assert {i for i in old.keys() & new.keys() if old[i] != new[i]} == taken & old.keys()
    assert len(taken) < 0.1 * len(new)


def test_rows_are_valid_conversations_with_taxonomy_answers(dataset, taxonomy):
    for split in dataset.values():
        for row in split:
            assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
            assert row["messages"] == row["prompt"] + row["completion"]
            assert parse_answer(row["completion"][0]["content"], taxonomy) == row["labels"]
            assert row["labels"] and all(label in taxonomy for label in row["labels"])
            assert len(row["prompt"][1]["content"]) < 700 + 100  # raw output capped at 700 characters
            # categories mode: one short prompt per counted category; the answers add up to the labels
            assert len(row["category_labels"]) == len(row["categories"]) == len(row["candidates"])
            fixed = fixed_answer(row["categories"], row["status"], row["verdict"])
            assert (fixed or join_labels(row["category_labels"], taxonomy)) == row["labels"]
            for example, labels in zip(category_examples(row), row["category_labels"], strict=True):
                assert len(example["prompt"][1]["content"]) < 300
                assert parse_answer(example["completion"][0]["content"], taxonomy) == labels


def test_the_mix_covers_formats_kinds_and_sources(dataset):
    train = dataset["train"]
    kinds = set(train["kind"])
    assert {"benign", "single", "multi", "error", "near_threshold", "verdict"} <= kinds
    assert {"catalog", "synthetic"} == set(train["source"])
    labels = {label for row in train["labels"] for label in row}
    assert len(labels) >= 40, sorted(labels)


def test_test_split_holds_out_detectors(dataset):
    train_detectors = {d.lower() for d in dataset["train"]["detector"]}
    for held in (*HELD_OUT_DETECTORS, *TEST_VENDORS):
        assert held not in train_detectors
    test = dataset["test"]
    unseen = [row for row in test if not row["detector_seen"]]
    assert len(unseen) > len(test) * 0.4
    assert any(row["detector"] in TEST_VENDORS for row in unseen)


def test_synthetic_vendors_are_unknown_to_the_catalog():
    """The made-up detectors stand for ones nobody wrote a rule for: no catalog entry may claim
    them (a growing catalog once did: "lakera-like-guard" became Lakera Guard)."""
    from llama_mapper.data.generator import TRAIN_VENDORS

    catalog = load_catalog()
    assert [name for name in (*TRAIN_VENDORS, *TEST_VENDORS) if catalog.get(name)] == []


AFFIXES = {"is", "category", "cat", "harm", "policy", "risk", "detected", "score", "flag", "content", "v2"}


def _strip_affixes(phrase: str) -> str:
    words = phrase.split()
    while len(words) > 1 and words[0] in AFFIXES:
        words = words[1:]
    while len(words) > 1 and words[-1] in AFFIXES:
        words = words[:-1]
    return " ".join(words)


def test_no_held_out_spelling_leaks_into_train(dataset):
    gen = TrainingDataGenerator(seed=7)
    held = gen.spellings.held_out()
    train_pool = {p for items in gen.spellings.train.values() for p in items}
    assert len(held) > 50
    assert not held & train_pool
    train_phrases = {normalize_text(c) for row in dataset["train"] for c in row["categories"]}
    for phrase in train_phrases:
        assert phrase not in held, phrase
        if phrase not in train_pool:
            assert _strip_affixes(phrase) not in held, phrase
    test_phrases = {
        normalize_text(c)
        for row in dataset["test"]
        if row["source"] == "synthetic"
        for c in row["categories"]
    }
    assert len(test_phrases - train_phrases) > 30


def test_categories_in_prompts_are_what_the_reader_extracts(dataset):
    for row in list(dataset["train"])[:300]:
        output = json.loads(row["output"])
        counted = (
            [f.category for f in read(output).findings if f.counted] if row["source"] == "synthetic" else None
        )
        if counted is not None:
            assert row["categories"] == counted


def test_saved_dataset_loads_back_with_its_card(dataset, tmp_path):
    from datasets import load_dataset

    meta = TrainingDataGenerator(seed=7).metadata(1500, 400)
    out = save_dataset(dataset, tmp_path / "ds", meta)
    card = (out / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert header["llama_mapper"]["seed"] == 7
    assert header["llama_mapper"]["taxonomy"] == "taxonomy@2025.09"
    assert {s["name"]: s["num_examples"] for s in header["dataset_info"]["splits"]} == {
        "train": 1500,
        "validation": 400,
        "test": 400,
    }
    loaded = load_dataset(str(out))
    assert loaded["train"].num_rows == 1500
    assert loaded["test"][0]["id"] == dataset["test"][0]["id"]

"""Shared fixtures. No test downloads anything."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def mapper():
    from llama_mapper.rules import RulesMapper

    return RulesMapper()


@pytest.fixture(scope="session")
def taxonomy():
    from llama_mapper.taxonomy import load_taxonomy

    return load_taxonomy()


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A small generated dataset folder (as `make data` writes it) for training tests."""
    from llama_mapper.data import TrainingDataGenerator, save_dataset

    generator = TrainingDataGenerator(seed=5)
    out = tmp_path_factory.mktemp("data") / "mapper-dataset"
    save_dataset(generator.generate_dataset(size=64, eval_size=32), out, generator.metadata(64, 32))
    return out

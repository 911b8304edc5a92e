"""Shared fixtures. No test downloads anything: the Hub is a local one on 127.0.0.1.

``HF_ENDPOINT`` is read when huggingface_hub and datasets are imported, so it is set here, before
any test imports them; the server itself starts with the session (``local_hub``). The Hugging Face
cache is a fresh temporary folder, so that no test sees (or leaves) a user's cached files.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


HUB_TOKEN = "hf_local_test_write_token"
HUB_PORT = free_port()
os.environ.update(
    HF_ENDPOINT=f"http://127.0.0.1:{HUB_PORT}",
    HF_TOKEN=HUB_TOKEN,
    HF_HOME=tempfile.mkdtemp(prefix="llama-mapper-hf-home-"),
    HF_HUB_DISABLE_XET="1",
    HF_HUB_DISABLE_TELEMETRY="1",
    HF_HUB_DISABLE_UPDATE_CHECK="1",
)
os.environ.pop("HF_HUB_OFFLINE", None)

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
TINY_RECIPE = ROOT / "recipes" / "tiny-random" / "sft" / "config_test.yaml"
TRAIN = ROOT / "scripts" / "train.py"
QUICK = ("--max_steps", "2", "--eval_strategy", "no", "--test_eval_samples", "4")  # seconds, no evaluation


@pytest.fixture(scope="session", autouse=True)
def local_hub(tmp_path_factory):
    """The local Hub at ``HF_ENDPOINT`` for the whole session (only HUB_TOKEN may write)."""
    from llama_mapper.hub.local_server import LocalHub

    hub = LocalHub(tmp_path_factory.mktemp("hub"), HUB_PORT, tokens=[HUB_TOKEN]).start()
    yield hub
    hub.stop()


def train(*args: str, env: dict | None = None, launcher: list[str] | None = None, timeout: int = 300):
    """Run scripts/train.py with the tiny recipe in its own process, as `make train` does."""
    cmd = [*(launcher or [sys.executable]), str(TRAIN), "--config", str(TINY_RECIPE), *args]
    return subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )


def train_ok(dataset, out, *args: str, **kwargs):
    """Train the tiny recipe on ``dataset`` into ``out`` and require success."""
    done = train("--dataset_name", str(dataset), "--output_dir", str(out), *args, **kwargs)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def load_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def score_cases(mapper, cases: list[dict]) -> tuple[float, list[tuple[dict, dict]]]:
    """Exact-set accuracy of a mapper on labelled cases (every event must be schema-valid), and
    the (case, event) pairs it missed."""
    from llama_mapper.mapping.schema import is_valid_event

    hits, misses = 0, []
    for case in cases:
        event = mapper.map({"detector": case["detector"], "output": case["output"]})
        assert is_valid_event(event), case["id"]
        if sorted(event["taxonomy"]) == sorted(case["expected"]):
            hits += 1
        else:
            misses.append((case, event))
    return hits / len(cases), misses


def calls_made(fn, *args):
    """``fn(*args)`` and how many Python and C function calls it made: a measure of work that, unlike
    a clock, does not depend on the machine (bounded readers make a bounded number of calls however
    large their input is)."""
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(count)
    try:
        result = fn(*args)
    finally:
        sys.setprofile(None)
    return result, calls


def table_rows(text: str) -> dict[tuple[str, str], list[str]]:
    """The rows of an evaluation table (route_eval.markdown_table), keyed by (set, route)."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 12 and cells[0] not in ("set", "---"):
            rows[(cells[0], cells[1])] = cells[2:]
    return rows


@pytest.fixture(scope="session")
def mapper():
    from llama_mapper.mapping.rules import RulesMapper

    return RulesMapper()


@pytest.fixture(scope="session")
def taxonomy():
    from llama_mapper.resources.taxonomy import load_taxonomy

    return load_taxonomy()


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """A small generated dataset folder (as `make data` writes it) for training tests."""
    from llama_mapper.data import TrainingDataGenerator, save_dataset

    generator = TrainingDataGenerator(seed=5)
    out = tmp_path_factory.mktemp("data") / "mapper-dataset"
    save_dataset(generator.generate_dataset(size=64, eval_size=32), out, generator.metadata(64, 32))
    return out


@pytest.fixture(scope="session")
def trained(tiny_dataset, tmp_path_factory):
    """A tiny adapter trained with the full tiny recipe (evaluation included), and its run."""
    out = tmp_path_factory.mktemp("tiny") / "tiny-lora@v0.0.1"
    return out, train_ok(tiny_dataset, out, "--retriever_epochs", "1")  # with a fine-tuned retriever


@pytest.fixture(scope="session")
def candidate_index():
    """The serving side's candidate index over the taxonomy and the catalog (built once: it embeds
    the taxonomy)."""
    from llama_mapper.mapping.candidates import CandidateIndex
    from llama_mapper.mapping.rules import RulesMapper

    rules = RulesMapper()
    return CandidateIndex.from_taxonomy(rules.taxonomy, detectors=rules.catalog)

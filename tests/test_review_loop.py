"""One turn of the review loop, end to end, offline, on the local Hub (issue 17): events mapped by a
served adapter -> the export of those that need a person -> a reviewed file -> a dataset revision ->
an adapter trained on it with the tiny recipe -> the release gates -> a new tag -> that tag served,
answering the reviewed category as the person did."""

from __future__ import annotations

import importlib
import json

import pytest
from conftest import train_ok

pytestmark = pytest.mark.slow  # training, a release and two servers

DETECTOR = "acme-guard"  # outside the catalog
CATEGORY = "zq-77"  # a code nothing in the taxonomy or the catalog knows
REQUESTS = [
    {"id": f"t{i}", "detector": DETECTOR, "output": {"flagged": True, "labels": [CATEGORY], "text": f"message {i}"}}
    for i in range(6)
] + [{"id": "hate", "detector": "openai-moderation",
      "output": {"results": [{"flagged": True, "categories": {"hate": True}, "category_scores": {"hate": 0.9}}]}}]  # fmt: skip
CHOICES = ("HARM.VIOLENCE.Physical", "PII.Contact.Email", "SECURITY.PromptInjection.Direct")


def command(module: str, *args, capsys) -> str:
    """``scripts/<module>.py ARGS`` run in this process (the scripts are one call each to these
    ``main`` functions; imports and the model server are not paid again), its stdout."""
    main = importlib.import_module(f"llama_mapper.commands.{module}").main
    capsys.readouterr()
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    assert code == 0, out.out[-2000:] + out.err[-3000:]
    return out.out


def map_requests(ref: str, path) -> dict[str, dict[str, dict]]:
    """The model route's and the hybrid route's events for REQUESTS (by route, then id), served from
    ``ref``; the hybrid events are written to ``path`` as scripts/map.py writes them."""
    from llama_mapper.serving.server import open_routes

    with open_routes(["model", "hybrid"], ref) as routes:
        events = {
            route: [{"id": r["id"], **routes.mappers[route].map(r)} for r in REQUESTS]
            for route in routes.mappers
        }
    path.write_text("".join(json.dumps(e) + "\n" for e in events["hybrid"]))
    return {route: {e["id"]: e for e in found} for route, found in events.items()}


def test_reviewed_answers_reach_a_new_release_that_serves_them(trained, tmp_path, capsys):
    from llama_mapper.hub.client import release_tags
    from llama_mapper.hub.release import push_adapter, push_dataset

    push_adapter(trained[0], "loop/mapper", "v1.0.0")
    requests = tmp_path / "requests.jsonl"
    requests.write_text("".join(json.dumps(r) + "\n" for r in REQUESTS))
    before = map_requests("loop/mapper@v1.0.0", tmp_path / "events.jsonl")
    answered = {tuple(before["model"][r["id"]]["taxonomy"]) for r in REQUESTS[:6]}
    truth = next(label for label in CHOICES if (label,) not in answered)  # what v1.0.0 does not answer

    # export what needs a person; the person labels the flagged code
    command("review", "export", "--events", tmp_path / "events.jsonl", "--requests", requests,
            "--include-output", "--out", tmp_path / "review", capsys=capsys)  # fmt: skip
    rows = [json.loads(line) for line in (tmp_path / "review.jsonl").read_text().splitlines()]
    flagged = [r for r in rows if r["detector"] == DETECTOR]
    assert len(flagged) == 6 and "hate" not in {r["id"] for r in rows}  # the catalog hit needs no one
    for row in flagged:
        row["reviewed_labels"] = [truth]
    (tmp_path / "reviewed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    # a dataset revision with the reviewed rows, released by tag, and an adapter trained on it
    done = command("data", "--output-dir", tmp_path / "ds", "--size", 24, "--eval-size", 8,
                   "--reviewed", tmp_path / "reviewed.jsonl", "--reviewed-repeat", 8, capsys=capsys)  # fmt: skip
    assert "reviewed: 6 rows joined train" in done and "each 8 times" in done
    push_dataset(tmp_path / "ds", "loop/mapper-data", "v1.1.0")
    adapter = tmp_path / "v1.1.0"
    train_ok("loop/mapper-data@v1.1.0", adapter, "--max_steps", "30", "--learning_rate", "1e-2",
             "--eval_strategy", "no", "--save_strategy", "no", "--test_eval_samples", "4")  # fmt: skip
    assert json.loads((adapter / "llama_mapper.json").read_text())["dataset"]["revision"] == "v1.1.0"

    # the release gates judge it; it is tagged beside v1.0.0
    released = command("release", "--checkpoint", adapter, "--repo", "loop/mapper", "--version", "v1.1.0",
                       "--per-detector", 1, "--no-progress", capsys=capsys)  # fmt: skip
    assert "PASS" in released and "FAIL" not in released
    assert sorted(t for t, _ in release_tags("loop/mapper")) == ["v1.0.0", "v1.1.0"]

    # serving picks the new tag up by reference and answers the reviewed category as the person did
    after = map_requests("loop/mapper@v1.1.0", tmp_path / "events-after.jsonl")
    assert all(after["model"][r["id"]]["taxonomy"] == [truth] for r in REQUESTS[:6])
    assert after["model"]["t0"]["provenance"]["model"].startswith("loop/mapper@v1.1.0#")
    hate = before["hybrid"]["hate"], after["hybrid"]["hate"]  # a catalog hit stays the rules' answer
    assert hate[0]["taxonomy"] == hate[1]["taxonomy"] == ["HARM.SPEECH.Hate.Other"]
    assert hate[0]["provenance"]["route"] == hate[1]["provenance"]["route"] == "rules"

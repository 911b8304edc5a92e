"""The review loop's files: the export of events that need a person (metadata only unless asked), and
reviewed rows joining the training split with their lineage (issue 17)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest
from conftest import ROOT

from llama_mapper.data.io import load_reviewed
from llama_mapper.mapping.rules import RulesMapper
from llama_mapper.resources.taxonomy import load_taxonomy

SECRET = "jane.doe@example.com"  # a value inside an output: it must not reach a file unless asked
REQUESTS = [
    {"id": "r1", "detector": "openai-moderation",
     "output": {"results": [{"flagged": True, "categories": {"hate": True}, "category_scores": {"hate": 0.97}}]}},
    {"id": "r2", "detector": "acme-guard", "output": {"flagged": True, "labels": ["zq-77"], "text": SECRET}},
    {"id": "r3", "detector": "acme-guard", "output": {"flagged": True, "labels": ["toxicity"], "text": SECRET}},
    {"id": "r4", "detector": "acme-guard", "output": {"flagged": True, "labels": ["quux-risk"]}},
]  # fmt: skip


@pytest.fixture
def mapped(tmp_path):
    requests = tmp_path / "requests.jsonl"
    requests.write_text("".join(json.dumps(r) + "\n" for r in REQUESTS))
    rules = RulesMapper()
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps({"id": r["id"], **rules.map(r)}) + "\n" for r in REQUESTS))
    return requests, events


def review(*args):
    return subprocess.run(
        [sys.executable, "scripts/review.py", "export", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_export_selects_what_needs_a_person_and_carries_metadata_only(mapped, tmp_path):
    requests, events = mapped
    done = review("--events", events, "--requests", requests, "--out", tmp_path / "review" / "batch")
    assert done.returncode == 0, done.stderr
    assert "of 4 events need a person" in done.stdout
    rows = [json.loads(line) for line in (tmp_path / "review" / "batch.jsonl").read_text().splitlines()]
    by_id = {r["id"]: r for r in rows}
    assert "r1" not in by_id  # a catalog decision at 1.0
    assert "OTHER.Unknown" in by_id["r2"]["reasons"] and by_id["r2"]["reviewed_labels"] == []
    assert any("confidence below" in reason for reason in by_id["r3"]["reasons"])  # a generic reading
    text = (tmp_path / "review" / "batch.jsonl").read_text() + (tmp_path / "review" / "batch.csv").read_text()
    assert SECRET not in text and "output" not in rows[0]
    header = next(csv.reader((tmp_path / "review" / "batch.csv").open()))
    assert header[-1] == "reviewed_labels" and "output" not in header


def test_include_output_needs_the_requests_and_then_writes_them(mapped, tmp_path):
    requests, events = mapped
    refused = review("--events", events, "--include-output", "--out", tmp_path / "x")
    assert refused.returncode == 2 and "needs the requests" in refused.stderr
    done = review("--events", events, "--requests", requests, "--include-output", "--out", tmp_path / "b")
    assert done.returncode == 0
    rows = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    assert all("output" in r for r in rows) and SECRET in (tmp_path / "b.csv").read_text()


def test_reviewed_rows_join_train_with_their_lineage(mapped, tmp_path):
    requests, events = mapped
    review("--events", events, "--requests", requests, "--include-output", "--out", tmp_path / "b")
    rows = [json.loads(line) for line in (tmp_path / "b.jsonl").read_text().splitlines()]
    for row in rows:  # a person labels two of them; the rest waits
        if row["id"] == "r2":
            row["reviewed_labels"] = ["HARM.VIOLENCE.Physical"]
        if row["id"] == "r4":
            row["reviewed_labels"] = ["OTHER.LowQuality"]
    reviewed = tmp_path / "reviewed.jsonl"
    reviewed.write_text("".join(json.dumps(r) + "\n" for r in rows))

    from llama_mapper.data import make_dataset

    out, dataset = make_dataset(
        tmp_path / "ds", 12, 6, seed=1, with_candidates=False, progress=False, reviewed=reviewed
    )
    train = dataset["train"].to_list()
    added = {r["id"]: r for r in train if r["id"].startswith("reviewed-")}
    assert set(added) == {"reviewed-r2", "reviewed-r4"}
    assert added["reviewed-r2"]["labels"] == ["HARM.VIOLENCE.Physical"]
    assert added["reviewed-r2"]["categories"] == ["zq-77"]
    assert added["reviewed-r2"]["category_labels"] == [["HARM.VIOLENCE.Physical"]]
    assert not any(
        r["id"].startswith("reviewed-") for s in ("validation", "test") for r in dataset[s].to_list()
    )
    lineage = json.loads((out / "generation.json").read_text())["reviewed"]
    assert (
        lineage["used"] == 2 and lineage["not_yet_reviewed"] == len(rows) - 2 and len(lineage["sha256"]) == 64
    )
    assert "includes 2 outputs a person reviewed" in (out / "README.md").read_text()


def test_reviewed_rows_can_weigh_more_than_generated_ones(tmp_path):
    from llama_mapper.data import make_dataset

    reviewed = tmp_path / "reviewed.jsonl"
    reviewed.write_text(
        json.dumps({**REQUESTS[1], "reviewed_labels": ["HARM.VIOLENCE.Physical"]})
        + "\n"
        + json.dumps({**REQUESTS[3], "reviewed_labels": []})
        + "\n"
    )
    with pytest.raises(ValueError, match="at least 1"):
        make_dataset(
            tmp_path / "no", 4, 2, with_candidates=False, progress=False, reviewed=reviewed, reviewed_repeat=0
        )
    out, dataset = make_dataset(
        tmp_path / "ds", 4, 2, with_candidates=False, progress=False, reviewed=reviewed, reviewed_repeat=3
    )
    added = [r for r in dataset["train"].to_list() if r["id"].startswith("reviewed-")]
    assert [r["id"] for r in added] == ["reviewed-r2", "reviewed-r2#2", "reviewed-r2#3"]
    assert len({json.dumps(r["messages"]) for r in added}) == 1 and len(dataset["train"]) == 7
    lineage = json.loads((out / "generation.json").read_text())["reviewed"]
    assert lineage["used"] == 1 and lineage["repeat"] == 3 and lineage["not_yet_reviewed"] == 1
    assert (
        "includes 1 outputs a person reviewed (ids `reviewed-*`, each 3 times"
        in (out / "README.md").read_text()
    )


def test_a_bad_review_file_is_refused_naming_the_row(tmp_path):
    taxonomy = load_taxonomy()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"id": "r9", "detector": "x", "output": {}, "reviewed_labels": ["NOT.A_LABEL"]}) + "\n"
    )
    with pytest.raises(ValueError, match=r"row 1 \(r9\).*NOT.A_LABEL"):
        load_reviewed(bad, taxonomy)
    bare = tmp_path / "bare.csv"
    bare.write_text("id,detector,reviewed_labels\nr1,acme,HARM.SPEECH.Toxicity\n")
    with pytest.raises(ValueError, match="export with --include-output"):
        load_reviewed(bare, taxonomy)
    ok = tmp_path / "ok.csv"
    ok.write_text(
        'id,detector,output,reviewed_labels\nr1,acme,"{""labels"": [""x""]}",HARM.SPEECH.Toxicity|PII.Other\n'
    )
    rows, lineage = load_reviewed(ok, taxonomy)
    assert rows == [
        {
            "id": "r1",
            "detector": "acme",
            "output": {"labels": ["x"]},
            "labels": ["HARM.SPEECH.Toxicity", "PII.Other"],
        }
    ]
    assert lineage["reviewed"] == 1

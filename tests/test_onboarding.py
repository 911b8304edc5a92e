"""Onboarding a detector outside the catalog: the draft entry, its golden stub, the review report,
and ``--check`` on an edited draft (issue 17)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT

from llama_mapper.onboarding import check_draft, draft_entry, find_format, load_samples, write_draft

SAMPLES = ROOT / "src" / "llama_mapper" / "resources" / "samples" / "onboarding" / "walled-protect.jsonl"


@pytest.fixture(scope="module")
def index(candidate_index):
    return candidate_index


@pytest.fixture(scope="module")
def drafted(index, tmp_path_factory):
    out = tmp_path_factory.mktemp("draft")
    draft = draft_entry("walled-protect", load_samples(SAMPLES), index=index)
    return draft, write_draft(draft, out)


def by_name(draft):
    return {p.category: p for p in draft.proposals}


def test_the_bundled_samples_give_a_draft_a_golden_stub_and_a_report(drafted):
    draft, paths = drafted
    assert draft.format == "generic" and draft.errors == 1  # the 401 body
    found = by_name(draft)
    assert found["Email Id"].proposed == ["PII.Contact.Email"] and found["Email Id"].source.startswith(
        "aliases"
    )
    assert found["Contact No"].proposed == ["PII.Contact.Phone"]
    assert found["Email Id"].counted == 2 and found["Email Id"].seen == 11  # isPresent decides
    assert len(found["Email Id"].retrieval) == 3
    # what it cannot decide goes to a person
    assert any("metadata" in r for r in found["models_used"].review)
    assert any("outside the taxonomy" in r for r in found["Casual & Friendly"].review)
    entry = yaml.safe_load(paths["draft"].read_text())
    assert entry["categories"]["Email Id"] == ["PII.Contact.Email"]
    assert set(entry["choices"]) == set(entry["categories"])
    assert {item["category"] for item in entry["review"]} >= {"models_used", "Casual & Friendly"}
    rows = [json.loads(line) for line in paths["golden"].read_text().splitlines()]
    assert len(rows) == 12 and all(r["status"] == "unreviewed" for r in rows)
    assert rows[10]["expected"] == ["OTHER.ModelError"]
    report = paths["report"].read_text()
    assert "| `models_used` |" in report and report.index("`models_used`") < report.index("`Email Id`")


def test_a_known_format_under_a_new_name_is_read_by_its_catalog_reader():
    """A catalog reader is chosen only where it finds what the generic reader does not (WildGuard's
    three-line verdict); where both read the samples, the generic reader stays."""
    wildguard = [f"Harmful request: {a}\nResponse refusal: no\nHarmful response: {b}" for a, b in
                 (("yes", "yes"), ("no", "no"), ("yes", "no"), ("no", "yes"))]  # fmt: skip
    fmt, fits = find_format(wildguard)
    assert fmt == "wildguard" and fits[fmt] == 1.0
    moderation = [
        {"results": [{"flagged": True, "categories": {"hate": True}, "category_scores": {"hate": 0.9}}]}
    ] * 3
    assert find_format(moderation)[0] == "generic"


def test_short_codes_inverted_maps_and_a_disagreeing_adapter_are_flagged(index):
    samples = [
        {"checks_valid": {"Toxicity": False, "BanCode": True}},
        {"checks_valid": {"Toxicity": True, "BanCode": False}},
        {"checks_valid": {"Toxicity": True, "BanCode": True}},
        {"flagged": True, "categories": ["H2"]},
        {"flagged": True, "categories": ["H2"]},
    ]
    asked = []

    def ask(categories, candidates):
        asked.extend(categories)
        return [(["HARM.SPEECH.Toxicity"], 0.4) for _ in categories]

    found = by_name(draft_entry("acme-suite", samples, index=index, ask_model=ask, adapter="stand-in@v0"))
    assert set(asked) == set(found) and found["H2"].model == (["HARM.SPEECH.Toxicity"], 0.4)
    assert any("short code" in r for r in found["H2"].review)
    assert any("inverted" in r for r in found["Toxicity"].review)
    assert any("inverted" in r for r in found["BanCode"].review)
    assert any("adapter answers HARM.SPEECH.Toxicity (0.40)" in r for r in found["H2"].review)
    assert all("adapter" not in p.source for p in found.values())  # it advises, never proposes


def test_check_refuses_the_raw_draft_and_passes_the_corrected_one(drafted, tmp_path):
    _, paths = drafted
    raw = check_draft(paths["draft"])
    assert (
        not raw.ok
        and any("review item" in p for p in raw.problems)
        and any("fill in" in p for p in raw.problems)
    )
    entry = yaml.safe_load(paths["draft"].read_text())
    entry.update(vendor="Walled AI", docs="https://docs.walled.ai")
    del entry["review"]
    entry["categories"].update({"models_used": [], "Casual & Friendly": [], "Finance": ["OTHER.OffTopic"]})
    entry["categories"]["processing_time"] = []
    draft = tmp_path / "walled-protect.yaml"
    draft.write_text(yaml.safe_dump(entry, sort_keys=False))
    rows = [json.loads(line) for line in paths["golden"].read_text().splitlines()]
    rows[3] |= {"expected": ["PII.Contact.Address", "PII.Contact.Phone"], "status": "reviewed"}
    (tmp_path / "walled-protect.golden.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = subprocess.run(
        [sys.executable, "scripts/onboard.py", "--check", str(draft)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "draft OK" in done.stdout and "1 reviewed samples agree" in done.stdout
    assert "map differently with the draft" in done.stdout
    entry["categories"]["Email Id"] = ["NOT.A_LABEL"]
    draft.write_text(yaml.safe_dump(entry, sort_keys=False))
    bad = check_draft(draft)
    assert not bad.ok and "unknown label" in bad.problems[0]


def test_onboarding_refuses_a_catalog_detector_and_a_missing_file(tmp_path):
    from llama_mapper.onboarding import onboard

    with pytest.raises(ValueError, match="already in the catalog"):
        onboard("openai-moderation", SAMPLES, tmp_path)
    with pytest.raises(FileNotFoundError, match="no such samples file"):
        load_samples(tmp_path / "absent.jsonl")

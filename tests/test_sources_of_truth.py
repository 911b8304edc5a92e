"""The taxonomy, frameworks and schema files agree with each other and with the public contract."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
from conftest import ROOT

from llama_mapper.mapping.schema import (
    EventSchemaError,
    is_valid_event,
    label_enum,
    load_schema,
    validate_event,
)
from llama_mapper.resources.frameworks import load_frameworks
from llama_mapper.resources.taxonomy import load_taxonomy, normalize_text

CONTRACT = [
    "PII.Identifier.SSN",
    "PII.Identifier.CreditCard",
    "PII.Identifier.BankAccount",
    "PII.Identifier.Passport",
    "PII.Contact.Email",
    "PII.Contact.Phone",
    "PII.Contact.Address",
    "PII.Health.HIPAA",
    "PII.Person.Name",
    "PII.Person.DateOfBirth",
    "PII.Person.Age",
    "PII.Identifier.Other",
    "PII.Contact.URL",
    "PII.Other",
    "JAILBREAK.Attempt",
    "PROMPT_INJECTION.ToolRequest",
    "PROMPT_INJECTION.DataExfiltration",
    "PROMPT_INJECTION.PolicyOverride",
    "PROMPT_INJECTION.Other",
    "HARM.SPEECH.Toxicity",
    "HARM.SPEECH.Obscenity",
    "HARM.SPEECH.Insult",
    "HARM.SPEECH.Threat",
    "HARM.SPEECH.Hate.Race",
    "HARM.SPEECH.Hate.Gender",
    "HARM.SPEECH.Hate.Religion",
    "HARM.SPEECH.Hate.SexualOrientation",
    "HARM.SPEECH.Hate.Other",
    "HARM.VIOLENCE.SelfHarm",
    "HARM.VIOLENCE.Suicide",
    "HARM.VIOLENCE.Physical",
    "HARM.VIOLENCE.Sexual",
    "HARM.VIOLENCE.ChildSexualAbuse",
    "HARM.VIOLENCE.Other",
    "BIAS.Gender",
    "BIAS.Race",
    "BIAS.Religion",
    "BIAS.Other",
    "OTHER.Unknown",
    "OTHER.ModelError",
    "OTHER.Safe",
    "OTHER.PolicyViolation",
    "OTHER.ContentFiltered",
    "OTHER.OffTopic",
    "OTHER.LowRisk",
    "OTHER.NeedsReview",
    "OTHER.Misinformation",
    "OTHER.Hallucination",
    "OTHER.FactualError",
    "OTHER.LowQuality",
]


def test_taxonomy_is_the_public_contract():
    tax = load_taxonomy()
    assert tax.version == "2025.09" and tax.id == "taxonomy@2025.09"
    assert tax.names == CONTRACT
    assert all(label.description.strip() for label in tax.labels)
    assert all(label.aliases for label in tax.labels)


def test_aliases_are_unique_normalised_phrases():
    tax = load_taxonomy()
    seen: dict[str, str] = {}
    for label in tax.labels:
        for alias in label.aliases:
            assert alias == normalize_text(alias), f"{label.name}: alias {alias!r} is not normalised"
            assert alias not in seen, f"alias {alias!r} on both {seen.get(alias)} and {label.name}"
            seen[alias] = label.name


@pytest.mark.parametrize(
    "text,label",
    [
        ("EMAIL_ADDRESS", "PII.Contact.Email"),
        ("US_SOCIAL_SECURITY_NUMBER", "PII.Identifier.SSN"),
        ("selfHarm", "HARM.VIOLENCE.SelfHarm"),
        ("HARM.SPEECH.Insult", "HARM.SPEECH.Insult"),
        ("profanity", "HARM.SPEECH.Obscenity"),
    ],
)
def test_alias_matching(text, label):
    assert load_taxonomy().match_alias(text)[0] == label


def test_alias_matching_has_no_answer_for_noise():
    tax = load_taxonomy()
    assert tax.match_alias("") is None
    assert tax.match_alias("zzqx") is None


def test_unknown_versions_fail_clearly():
    with pytest.raises(ValueError, match="unknown taxonomy version"):
        load_taxonomy("1999.01")
    with pytest.raises(ValueError, match="unknown frameworks version"):
        load_frameworks("v0")


def test_frameworks_cover_every_label_with_defined_controls():
    tax, fw = load_taxonomy(), load_frameworks()
    assert fw.version == "v1.0" and fw.taxonomy_version == tax.version
    assert set(fw.mappings) == set(tax.names)
    for label, controls in fw.mappings.items():
        for control in controls:
            assert control in fw.controls, f"{label}: {control} is not defined"
            assert re.fullmatch(r"[A-Za-z0-9]+:\S+", control)
    for needed in ("SOC2:CC7.2", "ISO27001:A.12.4.1", "HIPAA:164.308(a)"):
        assert needed in fw.controls
    assert "HIPAA:164.308(a)" in fw.mappings["PII.Health.HIPAA"]
    assert "SOC2:CC7.2" in fw.mappings["HARM.SPEECH.Toxicity"]
    assert fw.controls_for(["PII.Contact.Email", "PII.Contact.Email"]) == sorted(
        set(fw.mappings["PII.Contact.Email"])
    )


def test_schema_enum_is_the_taxonomy():
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert label_enum() == load_taxonomy().names
    assert set(schema["required"]) == {"taxonomy", "scores", "confidence"}


def _event(**over):
    event = {
        "taxonomy": ["HARM.SPEECH.Insult"],
        "scores": {"HARM.SPEECH.Insult": 0.9},
        "confidence": 0.95,
        "notes": "catalog openai-moderation",
        "provenance": {
            "detector": "openai-moderation",
            "route": "rules",
            "taxonomy": "taxonomy@2025.09",
            "frameworks": "frameworks@v1.0",
            "ts": "2025-09-18T10:00:00.000Z",
        },
        "controls": ["SOC2:CC7.2"],
    }
    event.update(over)
    return event


BAD_EVENTS = [
    {"taxonomy": []},
    {"taxonomy": ["HARM.SPEECH.Nope"]},
    {"taxonomy": ["OTHER.Safe", "OTHER.Safe"]},
    {"scores": {"HARM.SPEECH.Insult": 1.5}},
    {"scores": {"NOT.A.Label": 0.5}},
    {"confidence": -0.1},
    {"confidence": "high"},
    {"notes": "x" * 501},
    {
        "provenance": {
            "detector": "x",
            "route": "llm",
            "taxonomy": "taxonomy@2025.09",
            "frameworks": "frameworks@v1.0",
        }
    },
    {
        "provenance": {
            "detector": "x",
            "route": "rules",
            "taxonomy": "taxonomy@2025.09",
            "frameworks": "frameworks@v1.0",
            "raw": "...",
        }
    },
    {"controls": ["no colon"]},
]


@pytest.mark.parametrize("override", BAD_EVENTS, ids=lambda o: next(iter(o)))
def test_compiled_validator_agrees_with_reference_on_bad_events(override):
    event = _event(**override)
    reference = jsonschema.Draft202012Validator(load_schema())
    assert not reference.is_valid(event)
    assert not is_valid_event(event)
    with pytest.raises(EventSchemaError):
        validate_event(event)


def test_a_good_event_validates_both_ways():
    event = _event()
    jsonschema.Draft202012Validator(load_schema()).validate(event)
    assert validate_event(event) is event
    for missing in ("taxonomy", "scores", "confidence"):
        broken = {k: v for k, v in event.items() if k != missing}
        assert not is_valid_event(broken)
    assert json.loads(json.dumps(event)) == event


def test_the_readme_limits_table_is_the_code_s():
    """Each limit of the server, its default and what a client sees past it: one fact, in
    llama_mapper.serving.limits.Limits; the README's table must hold every row of it."""
    from llama_mapper.serving.limits import Limits

    readme = (ROOT / "README.md").read_text()
    rows = Limits.table().splitlines()
    assert len(rows) >= 7
    missing = [row for row in rows if row not in readme]
    assert not missing, missing


def test_the_catalog_docs_name_every_detector_and_reader():
    """docs/CATALOG.md lists every detector with its reader and golden-case count, and
    docs/CATALOG_FORMAT.md names every format reader: the code is the source, the docs follow it."""
    from llama_mapper.catalog import load_catalog
    from llama_mapper.catalog.readers import READERS

    rows = {}
    for line in (ROOT / "docs" / "CATALOG.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and cells[1].startswith("`"):
            rows[cells[1].strip("`")] = (cells[3].strip("`"), int(cells[4]))
    catalog = load_catalog()
    golden = ROOT / "tests" / "fixtures" / "golden"
    assert rows == {
        d.name: (d.format, sum(1 for line in (golden / f"{d.name}.jsonl").open() if line.strip()))
        for d in catalog
    }
    assert f"{len(catalog)} detectors" in (ROOT / "docs" / "CATALOG.md").read_text(encoding="utf-8")
    assert f"holds {len(catalog)} detectors" in (ROOT / "README.md").read_text(encoding="utf-8")
    spec = (ROOT / "docs" / "CATALOG_FORMAT.md").read_text(encoding="utf-8")
    assert [name for name in READERS if f"`{name}`" not in spec] == []

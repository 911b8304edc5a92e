"""The DLP and text-moderation readers (Private AI, Nightfall, Purview DLP, Hive): shapes they must
refuse, hostile input, and behaviour the golden cases do not show."""

from __future__ import annotations

import pytest
from conftest import calls_made

from llama_mapper.catalog.base import ReaderConfig
from llama_mapper.catalog.formats.dlp_moderation import (
    READERS,
    read_hive,
    read_nightfall,
    read_private_ai,
    read_purview_dlp,
)

CFG = ReaderConfig()


def _deep(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


HOSTILE = [
    None,
    0,
    True,
    "text",
    {"foo": 1},
    [1, "a", None, 2.5],
    _deep(5000),
    [[[[[[{"best_label": "NAME"}]]]]]],
    {"findings": {"a": 1}},
    {"status": "ok", "output": "x"},
    {"value": [1, 2, {"x": []}]},
    [{"entities": "not a list"}] * 3,
    {"PolicyDetails": [{"Rules": [{"ConditionsMatched": {"SensitiveInformation": "{not json"}}]}]},
    {
        "status": [
            {"status": {"code": "0"}, "response": {"output": [{"classes": [{"class": 5, "score": "x"}]}]}}
        ]
    },
]


@pytest.mark.parametrize("name", sorted(READERS))
@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_readers_never_raise_on_hostile_input(name, value):
    reading = READERS[name](value, CFG)
    assert reading.status in ("ok", "error", "unreadable")


@pytest.mark.parametrize("name", sorted(READERS))
def test_readers_bound_their_work_on_huge_input(name):
    big = [[{"detector": {"name": "X"}, "best_label": "NAME", "class": "hate", "score": 3}] * 1000] * 20
    wide = {
        "findings": big,
        "status": [{"response": {"output": [{"classes": big[0]}] * 50}}],
        "value": big[0] * 20,
    }
    for value in (big, wide):
        reading, calls = calls_made(READERS[name], value, CFG)
        assert len(reading.findings) <= 5000
        assert calls < 300_000  # at most ~140k today


@pytest.mark.parametrize("name", sorted(READERS))
def test_unknown_shapes_are_unreadable(name):
    assert READERS[name]({"foo": {"bar": [1, 2]}}, CFG).status == "unreadable"


def test_private_ai_markers_only_without_entities():
    reading = read_private_ai([{"processed_text": "Hi [NAME_1]", "entities": []}], CFG)
    assert reading.status == "ok" and not reading.findings
    reading = read_private_ai([{"processed_text": "Hi [NAME_1] [CREDIT_CARD_2]"}], CFG)
    assert [f.category for f in reading.findings] == ["NAME", "CREDIT_CARD"]


def test_private_ai_keeps_no_matched_text():
    reading = read_private_ai(
        [
            {
                "entities": [
                    {"text": "Jane Roe", "processed_text": "NAME_1", "best_label": "NAME", "labels": {}}
                ]
            }
        ],
        CFG,
    )
    assert [f.category for f in reading.findings] == ["NAME"]
    assert "Jane" not in repr(reading)


def test_nightfall_sdk_tuple_is_not_confused_with_two_empty_payloads():
    assert read_nightfall([[], []], CFG).status == "ok"
    assert read_nightfall([[], []], CFG).findings == []
    tuple_shape = [[[{"detector_name": "Email Address", "finding": "a@b.example"}]], [""]]
    assert [f.category for f in read_nightfall(tuple_shape, CFG).findings] == ["Email Address"]
    assert "a@b.example" not in repr(read_nightfall(tuple_shape, CFG))


def test_nightfall_confidence_is_only_a_score():
    reading = read_nightfall(
        {"findings": [[{"detector": {"name": "X"}, "confidence": "VERY_UNLIKELY"}]]}, CFG
    )
    assert reading.findings[0].counted and reading.findings[0].score == pytest.approx(0.2)


def test_purview_detected_values_never_reach_the_reading():
    record = {
        "Operation": "DlpRuleMatch",
        "PolicyDetails": [
            {
                "Rules": [
                    {
                        "ConditionsMatched": {
                            "SensitiveInformation": [
                                {
                                    "SensitiveInformationTypeName": "Credit Card Number",
                                    "Count": 1,
                                    "SensitiveInformationDetections": {
                                        "DetectedValues": [{"Name": "4111111111111111", "Value": "ctx"}]
                                    },
                                }
                            ]
                        }
                    }
                ]
            }
        ],
    }
    reading = read_purview_dlp(record, CFG)
    assert [f.category for f in reading.findings] == ["Credit Card Number"]
    assert reading.verdict is True
    assert "4111" not in repr(reading)


def test_purview_is_match_and_zero_count_do_not_count():
    item = {"SensitiveInfoTypeName": "X", "Count": 0}
    assert not read_purview_dlp({"SensitiveInfoTypeData": [item]}, CFG).findings[0].counted
    item = {
        "SensitiveInfoTypeName": "X",
        "SensitiveInformationDetailedClassificationAttributes": [{"IsMatch": False}],
    }
    assert not read_purview_dlp({"SensitiveInfoTypeData": [item]}, CFG).findings[0].counted


def test_hive_levels():
    response = {
        "output": [
            {
                "classes": [
                    {"class": "hate", "score": 3},
                    {"class": "sexual", "score": 1},
                    {"class": "spam", "score": 0},
                    {"class": "violence", "score": -1},
                    {"class": "drugs", "score": 0.7},  # not a level: ignored
                    {"class": "bullying", "score": 7},  # out of range: ignored
                ]
            }
        ]
    }
    reading = read_hive(response, CFG)
    counted = sorted(f.category for f in reading.findings if f.counted)
    assert counted == ["hate", "sexual (level 1)"]
    assert {f.category for f in reading.findings} == {"hate", "sexual (level 1)", "spam", "violence"}


def test_hive_errors():
    assert read_hive({"code": 503, "status": []}, CFG).status == "error"
    assert read_hive({"code": 200, "status": []}, CFG).status == "error"
    failed = {"status": [{"status": {"code": "500", "message": "x"}, "response": None}]}
    assert read_hive(failed, CFG).status == "error"
    unsupported = {
        "language": "UNSUPPORTED",
        "moderated_classes": [],
        "output": [{"classes": [{"class": "hate", "score": -1}]}],
    }
    assert read_hive(unsupported, CFG).status == "error"
    assert read_hive([], CFG).status == "error"

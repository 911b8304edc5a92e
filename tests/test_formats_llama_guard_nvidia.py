"""The Llama Guard family and NVIDIA NemoGuard readers: hostile input, shapes they must refuse, and
behaviour the golden cases do not show."""

from __future__ import annotations

import pytest
from conftest import calls_made

from llama_mapper.catalog.base import ReaderConfig
from llama_mapper.catalog.formats.llama_guard_nvidia import (
    READERS,
    read_llama_guard_family,
    read_nemoguard_content_safety,
    read_nemoguard_jailbreak_detect,
    read_nemoguard_topic_control,
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
    {"violation": "yes"},
    {"violation": {"metadata": "S1"}},
    {"responses": "S1"},
    {"results": [{"flagged": "sometimes"}]},
    {"User Safety": ["unsafe"]},
    {"User Safety": "unsafe", "Safety Categories": {"a": 1}},
    [False, 1, 2],
    {"jailbreak": [True]},
    {"on_topic": "perhaps"},
    {"detection": None},
    [{"detection": "unsafe", "metadata": {"categories": "S1"}}] * 3,
]


@pytest.mark.parametrize("name", sorted(READERS))
@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_readers_never_raise_on_hostile_input(name, value):
    reading = READERS[name](value, CFG)
    assert reading.status in ("ok", "error", "unreadable")


@pytest.mark.parametrize("name", sorted(READERS))
def test_readers_bound_their_work_on_huge_input(name):
    codes = ",".join(f"S{i % 30}" for i in range(200_000))
    values = [
        "unsafe\n" + codes,
        '{"User Safety": "unsafe", "Safety Categories": "' + codes + '"}',
        [{"detection": "unsafe\n" + codes, "metadata": {"categories": ["Hate"] * 10_000}}] * 5_000,
        [{"jailbreak": True, "score": 0.9}] * 100_000,
        {"results": [{"flagged": True, "flagged_categories": ["S1"] * 10_000}] * 10_000},
        [False, *(["Violence"] * 100_000)],
    ]
    for value in values:
        reading, calls = calls_made(READERS[name], value, CFG)
        assert len(reading.findings) <= 10_000
        assert calls < 250_000  # at most ~110k today; the inputs hold up to 50M category strings


@pytest.mark.parametrize("name", sorted(READERS))
def test_unknown_shapes_are_unreadable(name):
    assert READERS[name]({"foo": {"bar": [1, 2]}}, CFG).status == "unreadable"


def test_llama_guard_codes_with_names_read_as_codes():
    reading = read_llama_guard_family("unsafe\nS1: Violent Crimes, s9. Indiscriminate Weapons", CFG)
    assert [f.category for f in reading.findings] == ["S1", "S9"] and reading.verdict


def test_llama_guard_batch_of_texts_is_not_joined_as_lines():
    reading = read_llama_guard_family(["safe", "unsafe\nS10"], CFG)
    assert reading.verdict and [f.category for f in reading.findings] == ["S10"]
    assert read_llama_guard_family(["safe", "safe"], CFG).verdict is False


def test_llama_guard_moderation_object_ignores_the_openai_booleans():
    out = {
        "results": [
            {"flagged": True, "categories": {"harassment": True}, "metadata": {"violation_type": ["S4"]}}
        ]
    }
    assert [f.category for f in read_llama_guard_family(out, CFG).findings] == ["S4"]


def test_llama_guard_error_body_without_text_is_an_error():
    assert read_llama_guard_family({"title": "Bad Gateway", "status": 502}, CFG).status == "error"


def test_content_safety_both_safe_ignores_stray_categories():
    reading = read_nemoguard_content_safety({"User Safety": "safe", "Safety Categories": "Violence"}, CFG)
    assert reading.verdict is False and not reading.findings


def test_content_safety_json_followed_by_text():
    reading = read_nemoguard_content_safety('{"User Safety": "unsafe"} The user asks about weapons.', CFG)
    assert reading.verdict is True and not reading.findings


def test_content_safety_keeps_the_name_of_a_numbered_category():
    reading = read_nemoguard_content_safety(
        {"User Safety": "unsafe", "Safety Categories": "S7: Sexual (minor)."}, CFG
    )
    assert [f.category for f in reading.findings] == ["Sexual (minor)"]


def test_topic_control_reads_only_the_first_line():
    assert read_nemoguard_topic_control("on-topic\noff-topic", CFG).verdict is False
    assert read_nemoguard_topic_control("the answer is off-topic", CFG).status == "error"


def test_jailbreak_flag_wins_over_the_score():
    reading = read_nemoguard_jailbreak_detect({"jailbreak": False, "score": 0.7}, CFG)
    assert reading.verdict is False and not any(f.counted for f in reading.findings)
    reading = read_nemoguard_jailbreak_detect({"jailbreak": True, "score": -0.2}, CFG)
    assert reading.verdict is True and reading.findings[0].score is None


def test_jailbreak_score_outside_its_range_is_ignored():
    assert read_nemoguard_jailbreak_detect({"score": 7.5}, CFG).status == "error"


@pytest.mark.parametrize("name", sorted(READERS))
def test_deep_batches_do_not_recurse(name):
    value: list = [{"User Safety": "safe"}, 0]
    for _ in range(5000):
        value = [value, 0]
    assert READERS[name](value, CFG).status in ("ok", "error", "unreadable")


@pytest.mark.parametrize("name", sorted(READERS))
def test_deep_wrappers_do_not_recurse(name):
    value: dict = {"jailbreak": True}
    for key in ["result", "response", "output", "data"] * 1500:
        value = {key: value}
    assert READERS[name](value, CFG).status in ("ok", "error", "unreadable")

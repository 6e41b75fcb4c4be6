"""Hostile text never crashes the matcher and never takes long."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keywords import load_matcher
from keywords.matcher import KeywordMatcher
from keywords.normalise import normalise, normalise_fast
from keywords.settings import MatchingSettings

REPO_ROOT = Path(__file__).resolve().parents[1]
LIMIT_S = 1.0

_MATCHER: KeywordMatcher | None = None


def matcher() -> KeywordMatcher:
    global _MATCHER
    if _MATCHER is None:
        _MATCHER = load_matcher(MatchingSettings(), REPO_ROOT)
        _MATCHER.match("链接钱包多少钱")  # initialise jieba outside the timed examples
    return _MATCHER


def check(text: str) -> None:
    m = matcher()
    started = time.perf_counter()
    result = m.match(text)
    elapsed = time.perf_counter() - started
    assert elapsed < LIMIT_S, f"{elapsed:.2f}s for {len(text)} chars"
    for hit in result.hits:
        assert 0 <= hit.span[0] <= hit.span[1] <= len(text)
        assert text[hit.span[0] : hit.span[1]] == hit.matched


KEYWORDISH = st.sampled_from(["多少钱", "链接", "不要", "3号", "有货吗", "已拍", "how much", "钱包", "[捂脸]", "#"])
ZALGO = st.text(alphabet=st.characters(min_codepoint=0x300, max_codepoint=0x36F), max_size=20)
HOSTILE = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(KEYWORDISH, st.text(max_size=5), ZALGO, st.sampled_from(["\u200b", "\ud800", "\udfff", "😀", "\u202e"])), max_size=40).map("".join),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HOSTILE)
def test_any_text_is_matched_quickly_and_spans_point_into_it(text: str) -> None:
    check(text)


@settings(max_examples=150, deadline=None)
@given(HOSTILE)
def test_the_fast_and_the_explaining_normalisation_agree(text: str) -> None:
    norm = normalise(text)
    assert norm.text == normalise_fast(text)
    assert len(norm.offsets) == len(norm.text)
    assert all(0 <= o < len(text) for o in norm.offsets)
    assert list(norm.offsets) == sorted(norm.offsets)


@pytest.mark.parametrize(
    "text",
    [
        "多少钱" * 34_000,  # ~100 KB of keywords
        "链\u200b接" * 30_000,
        "\ud800" * 1000 + "多少钱",
        "😀" * 10_000,
        "[表情]" * 10_000,
        "z\u0336\u0337\u0338a\u0335l\u0334g\u0333o" * 5_000 + "多少钱",
        "哈" * 100_000,
        "3号" * 20_000,
        "how much " * 10_000,
        "a\x00 b\x00链\x00接" * 5_000,
        "好评" * 100 + "多少钱？" + "😀" * 10_000,
        "有货么" * 30_000,
    ],
    ids=["100k-keywords", "zero-width", "lone-surrogates", "10k-emoji", "emote-codes", "zalgo", "repeats", "numbers", "english",
         "nul-bytes", "long-review-then-emoji", "particles"],
)
def test_huge_and_hostile_messages_are_bounded(text: str) -> None:
    check(text)


SHOPPING = st.sampled_from(
    ["多少钱", "有货么", "包邮嘛", "不要", "前几天", "送", "吗", "吧", "把", "我要", "这段", "3号", "收到的", "发中通", "，", "？", " ",
     # the rules of the chat-objects and review families: subjects, stream things, encores, rhetoric
     "你", "他也", "拍了", "来一个", "会员", "动捕", "可以发", "8块", "多大", "太", "难道", "还没吃", "结果", "都几天了",
     "多伦多大学", "就买", "囤货", "区别"]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(SHOPPING, st.text(max_size=3)), max_size=25).map("".join))
def test_the_fast_decision_never_differs_from_the_explained_one(text: str) -> None:
    m = matcher()
    assert m.match(text).intents == m.explain(text).intents

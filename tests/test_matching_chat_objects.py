"""Live chat talks about the streamer, the platform and other viewers as much as about goods.

Each rule below came from a false lead on the shared Douyin / Bilibili chat (none of it a selling
stream, so every lead there is wrong) and is written as a family, with the look-alike that must
stay ``none`` next to the ask that must stay a lead: a thing of the stream (会员, 动捕, 真爱团) is
not goods; a purchase or wish said of someone else (你抢到了吗) is not the viewer's; "X来一个"
asks the streamer for a performance; 可以发 is about goods only with a particle or a courier;
8块腹肌 counts muscles, not yuan; 多大 inside 这么多大哥 / 多伦多|大学 asks nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from keywords import load_matcher
from keywords.lists import validate_list_text
from keywords.matcher import KeywordMatcher
from keywords.settings import MatchingSettings
from tests.matching_checks import assert_decision


@pytest.mark.parametrize(
    ("text", "thing"),
    [
        ("这动捕多少钱啊", "动捕"),
        ("会员有什么用", "会员"),
        ("我以为借他10元去别的主播加个真爱团呢", "真爱团"),
        ("上舰的什么成分？", "上舰"),
    ],
)
def test_a_thing_of_the_stream_in_the_clause_is_not_goods(matcher: KeywordMatcher, text: str, thing: str) -> None:
    result = matcher.explain(text)
    assert not result.is_lead
    assert any(h.rejected_because and repr(thing) in h.rejected_because for h in result.hits), result.hits


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("会员价多少", "price"),  # the keyword names it on purpose
        ("这个多少钱？我送你灯牌", "price"),  # another clause
        ("这个适合送礼物吗", "spec"),  # a gift for someone, not the platform's gifts
    ],
)
def test_goods_asks_next_to_stream_words_stay_leads(matcher: KeywordMatcher, text: str, intent: str) -> None:
    assert intent in matcher.match(text).intents


@pytest.mark.parametrize("text", ["你抢到了吗", "他也拍了", "你们都买了吗", "你想买吗", "你想拍吗"])
def test_a_purchase_or_wish_of_someone_else_is_not_a_lead(matcher: KeywordMatcher, text: str) -> None:
    result = matcher.explain(text)
    assert not result.is_lead, result.hits
    assert any(h.rejected_because and "someone else" in h.rejected_because for h in result.hits)


@pytest.mark.parametrize(
    ("text", "intent"),
    [("我抢到了", "ordered"), ("我拍了，你拍了吗", "ordered"), ("我想买", "want"), ("我要这个，你要吗", "want")],
)
def test_the_viewers_own_purchase_or_wish_stays_a_lead(matcher: KeywordMatcher, text: str, intent: str) -> None:
    assert intent in matcher.match(text).intents


@pytest.mark.parametrize(
    ("text", "lead"),
    [
        ("来一个", True),
        ("给我来一个", True),
        ("3号来一个", True),
        ("红色的来一个", True),
        ("那就来一个吧", True),
        ("土拨鼠来一个", False),
        ("转扇子来一个", False),
        ("kda来一个", False),
        ("可以来一个空中劈叉吗", False),
        ("那你来一个", False),
    ],
)
def test_lai_yi_ge_orders_goods_only_after_the_buyer_or_a_product(matcher: KeywordMatcher, text: str, lead: bool) -> None:
    assert matcher.match(text).is_lead is lead
    assert ("want" in matcher.match(text).intents) is lead or text == "3号来一个"


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("可以发视频吗", None),
        ("可以发个红包吗", None),
        ("今天可以发吗", "shipping"),
        ("下午可以发货么", "shipping"),
        ("可不可以发其他的快递啊", "shipping"),
        ("老师有8块腹肌吗", None),
        ("50块一包吗", "price"),
        ("30块吗", "price"),
        ("100个100连？", None),
        ("2斤198是吧", "price"),
        ("那人家直播间为什么有这么多大哥呢", None),
        ("这里很多大马的哦？", None),
        ("多伦多大学的诶", None),
        ("这个多大", "spec"),
        ("保质期多久", "spec"),
        ("你今年多大", None),
        ("鞋子多大", "spec"),
        ("为什么用reol的歌", None),
        # attributes a parent or a snack buyer asks about, and the same words said of goods in hand
        ("会过敏吗", "spec"),
        ("枣子有核吗", "spec"),
        ("这个有酒精吗", "spec"),
        ("宝宝用了过敏了", None),
        ("香味很好闻", None),
    ],
)
def test_look_alikes_of_shipping_price_and_size_asks(matcher: KeywordMatcher, text: str, intent: str | None) -> None:
    assert_decision(matcher, text, intent)


def test_a_word_across_two_words_is_explained(matcher: KeywordMatcher) -> None:
    hit = next(h for h in matcher.explain("多伦多大学的诶").hits if h.keyword == "多大")
    assert hit.rejected_because is not None and "多伦多|大学" in hit.rejected_because


def test_match_and_explain_agree_on_these_rules(matcher: KeywordMatcher) -> None:
    texts = ["这动捕多少钱啊", "你抢到了吗", "土拨鼠来一个", "可以发视频吗", "多伦多大学的诶", "我拍了，你拍了吗"]
    for text in texts:
        matcher.clear_cache()
        assert matcher.match(text).intents == matcher.explain(text).intents, text


def test_not_goods_must_be_a_list_of_words_with_its_line() -> None:
    problems = validate_list_text('[meta]\nname = "x"\n\n[negation]\nnot_goods = "会员"\n', "mine.toml")
    assert problems and problems[0].line == 5 and "not_goods" in problems[0].reason


def test_lint_names_not_goods_words_listed_twice_or_also_as_keywords(tmp_path: Path) -> None:
    from keywords.lint import lint_matcher

    (tmp_path / "mine.toml").write_text(
        '[negation]\nnot_goods = ["灯牌", "链接"]\n\n[price]\nkeywords = ["灯牌价"]\n', encoding="utf-8"
    )
    report = lint_matcher(load_matcher(MatchingSettings(extra_lists=["mine.toml"], products=None), tmp_path))
    assert any("not_goods word '灯牌' in mine.toml" in w and "duplicate" in w for w in report.warnings)
    assert any(w.startswith("contradiction: '链接'") for w in report.warnings)  # a default link keyword
    assert any("'灯牌价' names the not_goods word '灯牌'" in i for i in report.info)
    clean = lint_matcher(load_matcher(MatchingSettings(products=None), tmp_path))
    assert not [w for w in clean.warnings if "not_goods" in w]

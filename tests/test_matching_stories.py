"""What a host sees the matcher decide, told as viewers' messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from keywords import load_matcher
from keywords.api import Matcher, MatchResult
from keywords.matcher import KeywordMatcher
from keywords.settings import MatchingSettings

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def matcher() -> KeywordMatcher:
    # The sample products.toml at the repo root is the catalogue.
    return load_matcher(MatchingSettings(), REPO_ROOT)


def accepted(result: MatchResult) -> list[str]:
    return [h.keyword for h in result.hits if h.accepted]


def test_the_matcher_fulfils_the_public_protocol(matcher: KeywordMatcher) -> None:
    assert isinstance(matcher, Matcher)
    assert len(matcher.version) == 12
    assert [r.intents for r in matcher.match_many(["多少钱", "哈哈哈"])] == [("price",), ()]


def test_a_viewer_asks_the_price(matcher: KeywordMatcher) -> None:
    result = matcher.match("多少钱")
    assert result.intents == ("price",)
    assert result.is_question
    hit = result.hits[0]
    assert (hit.keyword, hit.rule, hit.span, hit.matched) == ("多少钱", "exact", (0, 3), "多少钱")


def test_asking_the_price_of_a_wallet_is_a_lead_but_losing_one_is_not(matcher: KeywordMatcher) -> None:
    assert matcher.match("钱包多少钱").intents == ("price",)
    lost = matcher.explain("我的钱包丢了")
    assert not lost.is_lead
    assert all(not h.accepted for h in lost.hits)


@pytest.mark.parametrize(
    ("text", "reason_word"),
    [("不要链接", "不要链接"), ("不想买", "不想买"), ("买不起", "买不起"), ("我不要链接了", "不要")],
)
def test_negated_asks_are_not_leads_and_say_why(matcher: KeywordMatcher, text: str, reason_word: str) -> None:
    assert not matcher.match(text).is_lead
    result = matcher.explain(text)
    assert not result.is_lead
    rejected = [h for h in result.hits if not h.accepted]
    assert rejected, "the explanation must show the rejected hit"
    assert any(reason_word in (h.rejected_because or "") for h in rejected)
    assert all(h.negation_checked for h in result.hits)


def test_a_question_of_the_form_a_not_a_is_not_a_negation(matcher: KeywordMatcher) -> None:
    assert matcher.match("要不要链接").intents == ("link",)
    assert matcher.match("有没有货").intents == ("stock",)


@pytest.mark.parametrize(
    ("text", "rule", "span"),
    [("链 接", "normalised", (0, 3)), ("鏈接", "traditional", (0, 2)), ("链\u200b接", "normalised", (0, 3)),
     ("求链.接", "exact", None)],
)
def test_spaced_traditional_and_zero_width_links_are_found(
    matcher: KeywordMatcher, text: str, rule: str, span: tuple[int, int] | None
) -> None:
    result = matcher.match(text)
    assert "link" in result.intents
    hit = next(h for h in result.hits if h.accepted)
    if span is not None:
        assert hit.rule == rule
        assert hit.span == span
    assert text[hit.span[0] : hit.span[1]] == hit.matched


def test_a_full_width_link_number_points_into_the_original_text(matcher: KeywordMatcher) -> None:
    text = "主播，３号链接！"
    result = matcher.match(text)
    assert result.intents == ("link",)
    assert result.link_number == 3
    hit = next(h for h in result.hits if h.accepted)
    assert text[hit.span[0] : hit.span[1]] == "３号链接"


@pytest.mark.parametrize("text", ["#3", "3号", "三号", "要3号"])
def test_a_bare_product_number_is_captured(matcher: KeywordMatcher, text: str) -> None:
    result = matcher.match(text)
    assert result.link_number == 3
    assert "link" in result.intents


def test_a_date_is_not_a_product_number(matcher: KeywordMatcher) -> None:
    result = matcher.match("老板8月1号生日")
    assert result.link_number is None
    assert not result.is_lead


def test_price_of_link_three_resolves_the_product_from_the_catalogue(matcher: KeywordMatcher) -> None:
    result = matcher.match("三号链接多少钱")
    assert set(result.intents) == {"price", "link"}
    assert result.link_number == 3
    assert result.product is not None
    assert (result.product.product_id, result.product.via) == ("hoodie-grey", "number")


def test_a_product_named_by_its_alias_is_resolved(matcher: KeywordMatcher) -> None:
    result = matcher.match("牛肉干有货吗")
    assert result.intents == ("stock",)
    assert result.product is not None and result.product.via == "alias"


@pytest.mark.parametrize("text", ["已拍", "拍了", "已经下单了", "刚下单"])
def test_a_viewer_says_they_ordered(matcher: KeywordMatcher, text: str) -> None:
    assert matcher.match(text).primary_intent == "ordered"


def test_pat_pat_is_not_an_order(matcher: KeywordMatcher) -> None:
    assert not matcher.match("拍了拍主播").is_lead


def test_a_remark_about_the_price_is_not_a_question(matcher: KeywordMatcher) -> None:
    assert not matcher.match("这么便宜").is_lead
    remark = matcher.explain("这么便宜")  # the full explanation keeps the rejected hit
    assert not remark.is_lead
    assert remark.hits[0].rejected_because == "remark, not a question"
    assert matcher.match("便宜吗").intents == ("price",)


def test_a_review_praising_fast_delivery_is_not_a_shipping_question(matcher: KeywordMatcher) -> None:
    assert not matcher.match("发货速度很快，价格实惠").is_lead
    assert matcher.match("什么时候发货").intents == ("shipping",)


def test_a_size_question_with_height(matcher: KeywordMatcher) -> None:
    assert matcher.match("165穿什么码？").intents == ("spec",)


@pytest.mark.parametrize(
    ("text", "intent", "rule"),
    [("how much is it", "price", "exact"), ("link pls", "link", "exact"), ("hwo much", "price", "fuzzy_en"),
     ("Link please!!", "link", "normalised")],
)
def test_english_asks_including_typos(matcher: KeywordMatcher, text: str, intent: str, rule: str) -> None:
    result = matcher.match(text)
    assert result.primary_intent == intent
    assert result.hits[0].rule == rule


def test_english_keywords_respect_word_boundaries(matcher: KeywordMatcher) -> None:
    assert not matcher.match("linkedin profile").is_lead
    assert not matcher.match("the prince arrived").is_lead


def test_homophones_and_abbreviations_of_curated_keywords(matcher: KeywordMatcher) -> None:
    pinyin = matcher.match("包幽吗")
    assert pinyin.intents == ("price",) and pinyin.hits[0].rule == "pinyin"
    assert matcher.match("lj").intents == ("link",)
    assert matcher.match("链截").intents == ("link",)
    # 连接 ("connect") is an everyday word: no pinyin variant for 链接.
    assert not matcher.match("网络连接不上").is_lead


def test_emotes_and_repeats_do_not_hide_a_keyword(matcher: KeywordMatcher) -> None:
    text = "多[捂脸]少钱钱钱"
    result = matcher.match(text)
    assert result.intents == ("price",)
    hit = result.hits[0]
    assert hit.span[0] == 0


def test_everyday_chat_is_not_a_lead(matcher: KeywordMatcher) -> None:
    for text in ["哈哈哈哈", "主播好可爱", "我要睡了", "晚安", "666666", "[赞][赞]"]:
        assert not matcher.match(text).is_lead, text


# ---------------------------------------------------------------- grammar, not single phrases


@pytest.mark.parametrize(("text", "intent"), [("有货么", "stock"), ("包邮嘛", "price"), ("能发货么", "shipping")])
def test_any_question_particle_asks_the_same_question(matcher: KeywordMatcher, text: str, intent: str) -> None:
    result = matcher.match(text)
    assert result.intents == (intent,)
    assert result.hits[0].rule == "particle"


def test_a_request_ending_in_ba_is_not_a_question_but_a_confirmation_is(matcher: KeywordMatcher) -> None:
    assert not matcher.match("把颜色不一样的揭开吧").is_lead
    assert matcher.match("日子新鲜吧").intents == ("spec",)


@pytest.mark.parametrize("text", ["前几天发了货，价格实惠", "没什么好挑剔的，价格实惠", "这几天价格实惠"])
def test_indefinite_ji_and_shenme_do_not_make_a_question(matcher: KeywordMatcher, text: str) -> None:
    assert not matcher.match(text).is_lead
    assert not matcher.explain(text).is_lead


@pytest.mark.parametrize("text", ["收到的颜色不对", "少发了一包什么时候补", "东西烂了能退钱吗", "已经收到了怎么用"])
def test_after_sales_context_turns_a_shopping_word_into_none(matcher: KeywordMatcher, text: str) -> None:
    result = matcher.explain(text)
    assert not result.is_lead
    assert not matcher.match(text).is_lead


def test_encore_is_not_a_want_but_a_numbered_item_is(matcher: KeywordMatcher) -> None:
    assert not matcher.match("再来一个").is_lead
    assert not matcher.match("来一首孤勇者").is_lead
    assert matcher.match("3号来一个").is_lead


def test_a_gift_with_purchase_is_asked_but_a_platform_gift_is_not(matcher: KeywordMatcher) -> None:
    result = matcher.match("送夹子吗")
    assert result.intents == ("price",)
    hit = next(h for h in result.hits if h.accepted)
    assert (hit.rule, hit.keyword) == ("pattern", "赠品问句")  # a readable name, not the regex
    assert not matcher.match("送灯牌吗").is_lead


def test_i_want_this_needs_a_measure_word_of_goods(matcher: KeywordMatcher) -> None:
    assert matcher.match("我要这个").intents == ("want",)
    assert not matcher.match("我要这段的切片").is_lead


def test_a_long_review_is_decided_without_scanning_all_of_it_and_explained_the_same(matcher: KeywordMatcher) -> None:
    review = "这家店的东西真的很好，" * 30 + "多少钱？"
    assert not matcher.match(review).is_lead
    explained = matcher.explain(review)
    assert not explained.is_lead
    assert any("long statement" in note for note in explained.notes)


@pytest.mark.parametrize(
    "text",
    ["多少钱", "三号链接多少钱", "不要链接", "这么便宜", "包幽吗", "165穿什么码？", "我要两件", "收到的货坏了多少钱",
     "how much is it", "发中通可以吗", "2斤198是吧", "前几天发了", "送夹子吗", "我也要", "哈哈哈哈", "link pls"],
)
def test_the_fast_decision_equals_the_explained_one(matcher: KeywordMatcher, text: str) -> None:
    assert matcher.match(text).intents == matcher.explain(text).intents


def test_a_repeated_message_gets_the_same_decision_from_the_cache_and_the_cache_stays_bounded() -> None:
    from keywords.matcher import CACHE_SIZE

    matcher = load_matcher(MatchingSettings(), REPO_ROOT)
    first = matcher.match("扣1多少钱")
    assert matcher.match("扣1多少钱") is first  # the spam copy costs a dict lookup
    assert first.intents == matcher.explain("扣1多少钱").intents == ("price", "want")
    for i in range(CACHE_SIZE + 10):
        matcher.match(f"弹幕{i}")
    assert len(matcher._cache) <= CACHE_SIZE


def test_a_negator_of_another_verb_does_not_negate_a_question_word(matcher: KeywordMatcher) -> None:
    assert matcher.match("在家不太穿怎么用").intents == ("spec",)
    assert not matcher.match("不怎么用").is_lead  # right before the question word it does negate


def test_isnt_there_questions_ask_but_statements_with_mei_you_do_not(matcher: KeywordMatcher) -> None:
    assert matcher.match("没有优惠吗").intents == ("price",)
    assert matcher.match("没有链接吗").intents == ("link",)
    assert not matcher.match("没有链接").is_lead


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("男生一般用大号茶针还是小号的呢", "spec"),  # a choice between two variants
        ("拍2盒还是3盒", "spec"),
        ("有没有小一点的", "spec"),
        ("这两款有什么不同", "spec"),
        ("申请一下再给一张10元卷", "price"),  # a coupon asked for (卷 for 券)
        ("发个优惠券呗", "price"),
        ("准备给宝宝囤棉柔巾", "want"),  # stocking up is wanting
        ("可以买画？", "link"),  # asking whether (and so how) it can be bought
        ("这个能不能买", "link"),
        ("多贵", "price"),
    ],
)
def test_buyer_phrasings_beyond_the_keywords(matcher: KeywordMatcher, text: str, intent: str) -> None:
    assert intent in matcher.match(text).intents, matcher.explain(text)


@pytest.mark.parametrize(
    "text",
    ["你是男的还是女的", "你56789个我还是2个", "我能买得起吗", "我可以买", "能买房吗", "味道还是很新鲜的", "卷发好看", "囤货了好多", "小的了。味道还是很新鲜的口感好"],
)
def test_look_alikes_of_those_phrasings_are_not_leads(matcher: KeywordMatcher, text: str) -> None:
    assert not matcher.match(text).is_lead, matcher.explain(text)


@pytest.mark.parametrize("text", ["我的快递到哪了", "快递单号多少", "能帮我查一下物流吗", "这个怎么退"])
def test_tracking_and_returns_come_after_the_purchase(matcher: KeywordMatcher, text: str) -> None:
    result = matcher.explain(text)
    assert not result.is_lead
    assert not matcher.match(text).is_lead
    assert any("after-sales" in (h.rejected_because or "") for h in result.hits) or not result.hits


def test_stocking_up_needs_a_plan_not_a_neighbouring_word(matcher: KeywordMatcher) -> None:
    # punctuation is gone in the normalised text: "优惠多多，囤货" must not read as "多囤"
    assert "准备囤" not in [h.keyword for h in matcher.explain("优惠多多，囤货").hits]
    assert "准备囤" in accepted(matcher.explain("打算给爸妈囤点"))


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        # live-commerce asks that the labelled corpora hardly contain (their README says so)
        ("这个是几号", "link"),  # which link number the item on screen has
        ("现在能拍吗", "link"),
        ("拍不了怎么办", "link"),  # a buyer who tries to order and cannot needs the way to buy
        ("怎么付不了款", "link"),
        ("可以用花呗吗", "link"),  # how to pay is how to buy
        ("到手多少", "price"),
        ("这件多少", "price"),
        ("多少一罐", "price"),
        ("几块一个", "price"),
        ("可以抹零吗", "price"),
        ("几点开抢", "stock"),
        ("还有几件", "stock"),
        ("能一起发吗", "shipping"),
        ("新疆发吗", "shipping"),
        ("这个几号发货", "shipping"),  # a shipping date, not a link number
        ("这个质量怎么样", "spec"),
        ("好不好吃", "spec"),
        ("孕妇能吃吗", "spec"),
        ("一斤几个", "spec"),
        ("甜的还是咸的", "spec"),
        ("有质保吗", "spec"),
        ("付完款了", "ordered"),
        ("来三盒", "want"),
        ("要两箱", "want"),
    ],
)
def test_everyday_live_commerce_asks_in_many_words(matcher: KeywordMatcher, text: str, intent: str) -> None:
    assert matcher.match(text).intents[:1] == (intent,), matcher.explain(text)


@pytest.mark.parametrize(
    "text",
    [
        "今天几号",  # a date, not a link number
        "这几号都有空",  # "these dates"
        "能拍照吗",
        "这个多少度",
        "苹果收到，不知道味道如何",  # a review waits to find out; it does not ask
        "用一段时间看看质量如何，再来追评！",
        "物流服务态度挺好，就是给送到乡镇，送不到地址信息位置",
        "你们发的什么快递",  # the parcel is already on its way: after-sales
        "我的快递呢",
        "然然改一下粉丝牌子吧",  # the fan badge, not a brand
    ],
)
def test_look_alikes_of_the_live_commerce_asks_are_not_new_leads(matcher: KeywordMatcher, text: str) -> None:
    assert not matcher.match(text).is_lead, matcher.explain(text)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("does it come in blue", "spec"),
        ("do you have it in black?", "spec"),
        ("can I get one", "want"),
        ("purchased!", "ordered"),
        ("just checked out", "ordered"),
        ("shout out to mom, how much is it?", "price"),  # the shout-out is its own clause
    ],
)
def test_english_variant_want_and_order_phrasings(matcher: KeywordMatcher, text: str, intent: str) -> None:
    assert matcher.match(text).intents[:1] == (intent,), matcher.explain(text)


@pytest.mark.parametrize(
    "text",
    ["how much do you weigh", "what's the link to your discord", "how much is membership", "how much time left",
     "can i get a shoutout", "can i get a hi", "I purchased a house lol"],
)
def test_english_chat_about_the_streamer_or_the_stream_is_not_a_lead(matcher: KeywordMatcher, text: str) -> None:
    assert not matcher.match(text).is_lead, matcher.explain(text)

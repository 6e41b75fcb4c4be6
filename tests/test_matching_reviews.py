"""Reviews of goods already received are not leads, however many keywords they hold.

A buyer asks before the parcel comes ("包邮吗", "什么时候发货") and judges after ("物流很快，
质量不错，已经买第二次了"). The brief files post-purchase reviews under `none`; on the shared
review corpus every keyword hit is therefore a false positive. The ``[review]`` section of a list
names the words of a verdict; those in remarks add up, and at the threshold every hit of the
message is rejected with the markers named.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from keywords import load_matcher
from keywords.lists import parse_list_text, validate_list_text
from keywords.matcher import KeywordMatcher
from keywords.settings import MatchingSettings
from tests.matching_checks import assert_decision


@pytest.mark.parametrize(
    ("text", "marker"),
    [
        ("已经买两个了，用着还不错", "用着"),  # ordered + want keywords, told after use
        ("活动价买的划算，囤货中，以前用过，比较好用！", "以前用过"),
        ("很好吃，与介绍相符！已买几次了！还会再买的！", "还会再"),
        ("衣服很好哦，穿上很酷，物流也很快，喜欢的亲可以下单了哦。好评。", "好评"),
    ],
)
def test_a_review_with_purchase_words_is_not_a_lead_and_names_its_markers(
    matcher: KeywordMatcher, text: str, marker: str
) -> None:
    assert not matcher.match(text).is_lead
    result = matcher.explain(text)
    assert not result.is_lead
    reasons = [h.rejected_because or "" for h in result.hits if h.intent != "none"]
    assert reasons, "the explanation must show the keyword hits it rejected"
    assert not any(h.accepted for h in result.hits)
    assert any("reads like a review" in r and repr(marker) in r for r in reasons)
    assert any("reads like a review" in n for n in result.notes)


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("质量好吗？好用吗？多少钱", "price"),  # verdict words asked about are questions, not a verdict
        ("好看，要一件", "want"),  # plain praise of the goods on screen, then an order
        ("快递发哪家", "shipping"),  # one delivery word alone is not a review
        ("年前能收到吗", "shipping"),
        ("上次买的很好吃，还有货吗", "stock"),  # a returning buyer asks again
        ("已拍，快递发顺丰吧", "ordered"),
        ("快递发顺丰包装好一点", "shipping"),  # customer-service chat has no punctuation: one clause
        ("客服推荐哪个好", "spec"),
    ],
)
def test_pre_purchase_asks_with_a_verdict_word_stay_leads(matcher: KeywordMatcher, text: str, intent: str) -> None:
    result = matcher.match(text)
    assert intent in result.intents, matcher.explain(text)
    assert matcher.explain(text).intents == result.intents


def test_a_marker_in_a_question_clause_does_not_count(matcher: KeywordMatcher) -> None:
    asked = matcher.explain("用着效果好吗？多少钱一盒")
    assert asked.intents == ("price",)
    told = matcher.explain("用着效果不错，多少钱一盒都值")
    assert not told.is_lead
    assert "reads like a review" in (told.hits[-1].rejected_because or "")


def test_overlapping_markers_count_once_as_the_longest() -> None:
    lists = [
        parse_list_text(
            '[price]\nkeywords = ["多少钱"]\n[review]\nmarkers = ["很好", "好吃", "很好吃"]\n'
            '[review.weights]\n"很好" = 0.5\n"好吃" = 0.5\n"很好吃" = 0.5\n',
            "t.toml",
        )
    ]
    matcher = KeywordMatcher(lists, use_jieba=False)
    assert matcher.match("很好吃，多少钱").is_lead  # 很好吃 = 0.5, not 很好 + 好吃 = 1.0
    assert not matcher.match("很好，好吃，多少钱").is_lead


def test_a_merchant_list_sets_the_threshold_over_the_defaults(tmp_path: Path) -> None:
    text = "已拍，快递发顺丰"  # one delivery word (0.35) under the default threshold
    default = load_matcher(MatchingSettings(products=None), tmp_path)
    assert "ordered" in default.match(text).intents
    (tmp_path / "mine.toml").write_text("[review]\nthreshold = 0.3\n", encoding="utf-8")
    strict = load_matcher(MatchingSettings(extra_lists=["mine.toml"], products=None), tmp_path)
    assert not strict.match(text).is_lead
    (tmp_path / "off.toml").write_text('[review]\nmarkers = ["已拍"]\nthreshold = 10\n', encoding="utf-8")
    lenient = load_matcher(MatchingSettings(extra_lists=["off.toml"], products=None), tmp_path)
    assert lenient.match("已经买两个了，用着还不错").is_lead


def test_a_bad_review_section_is_refused_with_lines() -> None:
    text = "\n".join(
        [
            "[review]",
            'markers = ["好评", ""]',
            "threshold = 0",
            "colour = 1",
            "[review.weights]",
            '"差评" = 0.5',
            '"好评" = 2',
        ]
    )
    reasons = {p.line: p.reason for p in validate_list_text(text, "upload.toml")}
    assert "empty keyword" in reasons[2]
    assert "review.threshold = 0" in reasons[3]
    assert "unknown key review.colour" in reasons[4]
    assert "'差评' is not in review.markers" in reasons[6]
    assert "review.weights.好评 = 2" in reasons[7]


@pytest.mark.parametrize(
    ("text", "lead"),
    [
        ("物美价廉 发货超快 买给妈妈用的 她很喜欢呢", False),  # spaces between phrases end clauses
        ("价 格 多 少", True),  # spaced-out letters are one word, not clauses
        ("价格 多少", True),
        ("这个价格也就这样吧。给孩子放儿歌可以了", False),  # 吧 softening a verdict asks nothing
        ("包邮吧", True),  # 吧 asking for confirmation still asks
        ("任务做满8个月吗", False),  # 满 + months is not a spend threshold
        ("满48减5吗", True),
        ("包装可以更差点么！！！！！", False),  # a question particle under an exclamation is rhetoric
        ("说好的赠品呢？！", False),
        ("包装好吗？", True),
        ("价格呢!", True),  # an impatient ask is still an ask
        ("尺码怎么选！", True),
    ],
)
def test_clauses_and_particles_of_reviews(matcher: KeywordMatcher, text: str, lead: bool) -> None:
    assert matcher.match(text).is_lead is lead, matcher.explain(text)
    assert matcher.explain(text).is_lead is lead


def test_lint_reports_review_markers_that_never_decide(tmp_path: Path) -> None:
    from keywords.lint import lint_matcher

    (tmp_path / "mine.toml").write_text('[review]\nmarkers = ["好评", "退款了"]\n', encoding="utf-8")
    matcher = load_matcher(MatchingSettings(extra_lists=["mine.toml"], products=None), tmp_path)
    report = lint_matcher(matcher)
    assert any("review marker '好评'" in w and "duplicate" in w for w in report.warnings)
    assert any("'退款了' contains the complaint '退款'" in i for i in report.info)
    clean = lint_matcher(load_matcher(MatchingSettings(products=None), tmp_path))
    assert not [line for line in clean.warnings + clean.info if "review marker" in line]


def test_a_returning_buyer_who_praises_the_last_parcel_and_orders_again_is_a_lead(matcher: KeywordMatcher) -> None:
    # 买的 + 很好 add up to 0.5, under the threshold: praise of a past purchase alone is not a review
    assert "want" in matcher.match("上次买的很好用，再来两瓶").intents


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        # told, not asked: stocking up, a habit, a difference seen, material described
        ("一直用清扬，搞活动囤货，相信清扬", None),
        ("买了多次了，真的很好，很甜，买苹果就买潘苹果啦", None),
        ("颜色和图片有区别。。。", None),
        ("居家穿非常舒适的，是纯棉的，质量还可以。", None),
        ("好难过，怎么买了这样的裤子", None),
        ("在逗我吗？你们发货难道不检查的？", None),
        ("帮别人买的，说好的赠品没有?不开心呀", None),
        ("环境不错，设施也很齐全，价格能优惠点就更好了", None),
        ("物流也太慢了吧", None),  # 太…吧 exclaims
        ("最失败的一次购物，这种苹果还能吃吗？", None),
        ("还没吃，看着有点小，不知道甜不甜，结果一尝是酸的", None),
        ("看的时候二十多，下单是时候居然变成59，59买三个火龙果！", None),
        ("不是有赠送的水晶兔子的么？冲着这个才买的套盒！结果什么都没", None),
        ("什么时候发货啊都好几天了", None),  # waiting for a parcel paid for
        ("物流一直不动", None),
        # ... and the asks they resemble
        ("能早点发吗我这离预产期没几天了发晚了就用不上了", "shipping"),
        ("新鲜吧", "spec"),
        ("我还没用过这个牌子，好用吗", "spec"),
        ("这个能吃吗", "spec"),
        ("我买两盒", "want"),
        ("包邮没", "price"),
        ("我要囤货", "want"),
        ("我就买这个", "want"),
        ("就买它了", "want"),
        ("那我就买吧没得吃总不行的", "want"),
        ("请问这两款有啥区别", "spec"),
        ("是纯棉的吗", "spec"),
        ("怎么买", "link"),
        ("有赠品吗", "price"),
        ("能便宜点吗", "price"),
    ],
)
def test_reviews_tell_what_asks_ask(matcher: KeywordMatcher, text: str, intent: str | None) -> None:
    assert_decision(matcher, text, intent)

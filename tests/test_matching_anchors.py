"""List regexes are gated by the literals they cannot match without; unknown shapes run always."""

from __future__ import annotations

from keywords.anchors import anchors
from keywords.lists import parse_list_text
from keywords.matcher import KeywordMatcher


def test_required_literals_are_found() -> None:
    assert anchors("(?:发|走)(?:个)?(?:顺丰|中通)") == {"顺丰", "中通"}
    assert anchors(r"\d+(?:元|块)") == {"元", "块"}
    assert anchors("想要(?:$|[一两])") == {"想要"}
    assert anchors("a|bc") == {"a", "bc"}


def test_patterns_without_a_provable_literal_get_no_anchor() -> None:
    for pattern in ["x?", r"\d+", "(?i)abc", "(?:a|b?)?", ".{2}", "(?:$|x)"]:
        assert anchors(pattern) is None, pattern


def test_a_pattern_without_anchor_still_matches_and_shows_its_name() -> None:
    text = '[want]\npatterns = { "三位数" = \'\\d{3}\' }\n'
    matcher = KeywordMatcher([parse_list_text(text, "t.toml")], use_jieba=False)
    result = matcher.match("要123")
    assert result.intents == ("want",)
    assert result.hits[0].keyword == "三位数"
    assert matcher.match("要12").intents == ()


def test_an_anchored_pattern_matches_only_where_its_literal_is() -> None:
    text = '[shipping]\npatterns = { "指定快递" = \'(?:发|走)(?:顺丰|中通)\' }\n'
    matcher = KeywordMatcher([parse_list_text(text, "t.toml")], use_jieba=False)
    assert matcher.match("走顺丰").intents == ("shipping",)
    assert matcher.match("走路").intents == ()


def test_named_patterns_are_validated() -> None:
    from keywords.lists import validate_list_text

    problems = validate_list_text('[want]\npatterns = { "坏" = \'(\' }\n', "t.toml")
    assert problems and "bad regex" in problems[0].reason
    problems = validate_list_text('[want]\npatterns = { "x" = 3 }\n', "t.toml")
    assert problems and "must be a regex string" in problems[0].reason

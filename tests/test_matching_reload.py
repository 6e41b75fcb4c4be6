"""Support edits a keyword list while the agent runs: good edits apply, broken ones are refused."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from keywords import KeywordListError, load_matcher, validate_list_text
from keywords.catalogue import validate_catalogue_text
from keywords.reload import MatcherHolder
from keywords.settings import MatchingSettings

GOOD = """
[want]
keywords = ["蹲一个"]
"""

BROKEN_TOML = """
[want]
keywords = ["蹲一个"
"""

BAD_WEIGHT = """
[price]
keywords = ["几个钱"]
weights = { "几个钱" = 7 }
"""


def _bump(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))  # coarse file systems


@pytest.fixture
def shop(tmp_path: Path) -> tuple[MatchingSettings, Path]:
    (tmp_path / "mine.toml").write_text(GOOD, encoding="utf-8")
    return MatchingSettings(extra_lists=["mine.toml"], products=None), tmp_path


def test_a_merchant_list_is_layered_over_the_defaults(shop: tuple[MatchingSettings, Path]) -> None:
    settings, base = shop
    matcher = load_matcher(settings, base)
    assert matcher.match("蹲一个").intents == ("want",)
    assert matcher.match("多少钱").intents == ("price",)  # defaults still there
    hit = matcher.match("蹲一个").hits[0]
    assert hit.list_name.endswith("mine.toml")


def test_a_merchant_list_can_remove_a_default_keyword(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text('[price]\nremove = ["多少钱"]\n', encoding="utf-8")
    matcher = load_matcher(MatchingSettings(extra_lists=["mine.toml"], products=None), tmp_path)
    assert "price" not in matcher.match("多少钱").intents


async def test_an_edited_list_takes_effect_within_seconds(shop: tuple[MatchingSettings, Path]) -> None:
    settings, base = shop
    holder = MatcherHolder.load(settings, base)
    assert not holder.current.match("来一打").is_lead
    task = asyncio.create_task(holder.watch(interval=0.05))
    try:
        _bump(base / "mine.toml", GOOD.replace('"蹲一个"', '"蹲一个", "来一打"'))
        for _ in range(100):
            if holder.current.match("来一打").is_lead:
                break
            await asyncio.sleep(0.05)
        assert holder.current.match("来一打").intents == ("want",)
        assert holder.reloads == 1
    finally:
        task.cancel()


async def test_a_broken_list_is_refused_with_its_line_and_the_old_lists_stay(
    shop: tuple[MatchingSettings, Path],
) -> None:
    settings, base = shop
    holder = MatcherHolder.load(settings, base)
    before = holder.current
    _bump(base / "mine.toml", BROKEN_TOML)
    assert await holder.check() is False
    assert holder.current is before
    assert holder.current.match("蹲一个").intents == ("want",)
    error = holder.last_error
    assert error is not None
    assert error.file.endswith("mine.toml")
    assert error.line == 3
    assert "invalid TOML" in error.reason


async def test_a_list_that_parses_but_does_not_validate_names_the_offending_line(
    shop: tuple[MatchingSettings, Path],
) -> None:
    settings, base = shop
    holder = MatcherHolder.load(settings, base)
    _bump(base / "mine.toml", BAD_WEIGHT)
    assert await holder.check() is False
    assert holder.last_error is not None
    assert holder.last_error.line == 4
    assert "must be a number in (0, 1]" in holder.last_error.reason


def test_loading_a_broken_list_at_startup_raises_a_typed_error(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text('[prise]\nkeywords = ["多少钱"]\n', encoding="utf-8")
    with pytest.raises(KeywordListError) as caught:
        load_matcher(MatchingSettings(extra_lists=["mine.toml"], products=None), tmp_path)
    assert caught.value.line == 1
    assert "unknown section [prise]" in caught.value.reason


def test_validate_list_text_reports_every_problem_with_lines() -> None:
    text = "\n".join(
        [
            "[price]",
            'keywords = ["多少钱", "多少钱"]',
            'weights = { "不存在" = 0.5 }',
            'patterns = ["([unclosed"]',
            "surprise = 1",
        ]
    )
    problems = validate_list_text(text, "upload.toml")
    reasons = {p.line: p.reason for p in problems}
    assert "duplicate keyword" in reasons[2]
    assert "not in price.keywords" in reasons[3]
    assert "bad regex" in reasons[4]
    assert "unknown key price.surprise" in reasons[5]
    assert validate_list_text(GOOD, "ok.toml") == []


def test_the_default_lists_and_sample_catalogue_are_valid() -> None:
    root = Path(__file__).resolve().parents[1]
    for name in ("zh.toml", "en.toml"):
        path = root / "keywords" / "lists" / name
        assert validate_list_text(path.read_text(encoding="utf-8"), name) == []
    assert validate_catalogue_text((root / "products.toml").read_text(encoding="utf-8"), "products.toml") == []


def test_a_catalogue_with_a_reused_link_number_is_refused_with_its_line() -> None:
    text = '[[product]]\nid = "a"\nname = "卫衣"\nlink_number = 1\n\n[[product]]\nid = "b"\nname = "裤子"\nlink_number = 1\n'
    problems = validate_catalogue_text(text, "products.toml")
    assert len(problems) == 1
    assert problems[0].line == 9
    assert "already used" in problems[0].reason

"""Replies: product-aware, rotated, sized to the platform, and never crashing on hostile input."""

from __future__ import annotations

from pathlib import Path

import pytest

from replies.render import (
    Candidate,
    NoReply,
    ProductFacts,
    RecentTexts,
    Rendered,
    ReplyBook,
    ReplyContext,
    TemplateFileError,
    choose_variant,
    default_template_paths,
    format_live_time,
    format_price,
)
from replies.settings import RepliesSettings

HOODIE = ProductFacts(name="加绒连帽卫衣", link_number=3, price=89.0, stock=120)


@pytest.fixture(scope="module")
def book() -> ReplyBook:
    return ReplyBook.load(default_template_paths("zh"))


def write(tmp_path: Path, text: str, name: str = "mine.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_two_viewers_ask_the_price_of_link_3_and_get_that_price_in_different_variants(book: ReplyBook) -> None:
    first = book.render("price", "live_chat", "bilibili", ReplyContext("小明", HOODIE), key="bilibili:msg:1")
    assert isinstance(first, Rendered)
    second = book.render(
        "price", "live_chat", "bilibili", ReplyContext("阿花", HOODIE), avoid=[first.text, first.variant_id], key="bilibili:msg:2"
    )
    assert isinstance(second, Rendered)
    for reply in (first, second):
        assert "¥89" in reply.text and "3" in reply.text
        assert len(reply.text) <= 20
    assert "小明" in first.text and "阿花" in second.text
    assert first.variant_id != second.variant_id


def test_a_retry_with_the_same_key_renders_the_same_text(book: ReplyBook) -> None:
    context = ReplyContext("小明", HOODIE)
    texts = {book.render("price", "public_reply", "douyin", context, key="k-42") for _ in range(5)}
    assert len(texts) == 1


def test_different_keys_spread_over_the_variants(book: ReplyBook) -> None:
    context = ReplyContext("小明", HOODIE)
    seen = {
        r.variant_id
        for i in range(60)
        if isinstance(r := book.render("price", "public_reply", "douyin", context, key=f"k{i}"), Rendered)
    }
    assert len(seen) >= 2


def test_without_a_catalogue_price_the_reply_falls_back_to_a_variant_without_price(book: ReplyBook) -> None:
    no_price = ProductFacts(name="卫衣", link_number=3, price=None)
    result = book.render("price", "live_chat", "bilibili", ReplyContext("小明", no_price), key="x")
    assert isinstance(result, Rendered)
    assert "¥" not in result.text and "{" not in result.text


def test_with_nothing_known_about_the_product_the_generic_variant_is_used(book: ReplyBook) -> None:
    result = book.render("link", "public_reply", "douyin_open", ReplyContext("小明"), key="x")
    assert isinstance(result, Rendered)
    assert "号链接" not in result.text


def test_a_long_nickname_is_cut_before_giving_up_on_the_bilibili_20_char_limit(tmp_path: Path) -> None:
    path = write(tmp_path, '[price]\nlive_chat = ["{nickname} {link_number}号链接现价{price}快拍"]\n')
    book = ReplyBook.load([path], RepliesSettings(nickname_max_chars=16))
    result = book.render("price", "live_chat", "bilibili", ReplyContext("一个非常非常长的昵称啊啊啊", HOODIE))
    assert isinstance(result, Rendered)
    assert result.nickname_cut and len(result.text) <= 20
    assert result.text.endswith("3号链接现价¥89快拍")


def test_nothing_fits_gives_a_typed_reason(tmp_path: Path) -> None:
    path = write(tmp_path, '[spec]\nlive_chat = ["尺码请看商品详情页里的尺码表，拿不准的话可以私信客服帮你推荐哦"]\n')
    result = ReplyBook.load([path]).render("spec", "live_chat", "bilibili", ReplyContext("小明"))
    assert isinstance(result, NoReply) and result.reason == "too_long"
    assert "20" in result.detail


def test_the_bilibili_limit_can_be_raised_up_to_40_but_not_beyond() -> None:
    book = ReplyBook.load(default_template_paths("zh"), RepliesSettings(max_chars={"bilibili.live_chat": 40}))
    assert book.max_chars("bilibili", "live_chat") == 40
    assert book.max_chars("youtube", "live_chat") == 200
    assert book.max_chars("kuaishou", "live_chat") == 50  # fallback for any platform
    with pytest.raises(ValueError, match="at most 40"):
        RepliesSettings(max_chars={"bilibili.live_chat": 41})


def test_rotation_never_repeats_the_last_text_to_the_same_room() -> None:
    candidates = [Candidate("a", "A"), Candidate("b", "B")]
    for seed in map(str, range(50)):
        assert choose_variant(candidates, ["B"], seed) == candidates[0]
        assert choose_variant(candidates, ["A", "B"], seed) == candidates[0]  # all recent: avoid the newest
    assert choose_variant([Candidate("a", "A")], ["A"], "s") is None


def test_the_only_variant_equal_to_the_last_message_is_refused_as_a_repeat(tmp_path: Path) -> None:
    book = ReplyBook.load([write(tmp_path, '[greeting_batch]\nlive_chat = ["欢迎 {names}！"]\n')])
    first = book.render("greeting_batch", "live_chat", "bilibili", ReplyContext(names=["A", "B"]))
    assert isinstance(first, Rendered)
    again = book.render("greeting_batch", "live_chat", "bilibili", ReplyContext(names=["A", "B"]), avoid=[first.text])
    assert isinstance(again, NoReply) and again.reason == "repeat"


def test_batched_greeting_joins_the_names(book: ReplyBook) -> None:
    result = book.render("greeting_batch", "live_chat", "douyin", ReplyContext(names=["小红", "小蓝", "阿强"]), key="g")
    assert isinstance(result, Rendered)
    assert "小红、小蓝、阿强" in result.text


def test_an_empty_variant_list_switches_a_reply_off(tmp_path: Path) -> None:
    paths = [*default_template_paths("zh"), write(tmp_path, "[ordered]\nlive_chat = []\n")]
    book = ReplyBook.load(paths)
    result = book.render("ordered", "live_chat", "douyin", ReplyContext("小明"))
    assert isinstance(result, NoReply) and result.reason == "disabled"
    assert isinstance(book.render("ordered", "public_reply", "douyin", ReplyContext("小明")), Rendered)


def test_a_later_file_replaces_the_variants_of_an_earlier_one(tmp_path: Path) -> None:
    paths = [*default_template_paths("zh"), write(tmp_path, '[link]\nlive_chat = ["{nickname} 点8号"]\n')]
    result = ReplyBook.load(paths).render("link", "live_chat", "douyin", ReplyContext("小明", HOODIE))
    assert isinstance(result, Rendered) and result.text == "小明 点8号"


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{nickname.__class__}", "attribute access"),
        ("{names[0]}", "index access"),
        ("{price!r}", "conversions"),
        ("{price:>10}", "format specs"),
        ("{password}", "unknown variable"),
        ("价格 {price", "unclosed"),
        ("价格 price}", "stray"),
        ("{}", "empty placeholder"),
    ],
)
def test_bad_templates_are_refused_at_load_time_with_file_and_line(tmp_path: Path, template: str, problem: str) -> None:
    text = '# my templates\n[price]\npublic_reply = [\n  "ok {nickname}",\n  "' + template + '",\n]\n'
    path = write(tmp_path, text)
    with pytest.raises(TemplateFileError) as caught:
        ReplyBook.load([path])
    assert problem in str(caught.value)
    assert f"{path}:5:" in str(caught.value)


def test_unknown_kinds_and_channels_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path, '[prcie]\nlive_chat = ["x"]\n\n[price]\ndanmu = ["x"]\n')
    with pytest.raises(TemplateFileError) as caught:
        ReplyBook.load([path])
    assert f"{path}:1: unknown kind [prcie]" in str(caught.value)
    assert "price.danmu: unknown channel" in str(caught.value)


def test_literal_braces_are_allowed_with_doubling(tmp_path: Path) -> None:
    book = ReplyBook.load([write(tmp_path, '[want]\npublic_reply = ["{{限时}} {nickname} 快拍"]\n')])
    assert book.render("want", "public_reply", "douyin", ReplyContext("小明")) == Rendered(
        "{限时} 小明 快拍", "want.public_reply#0", "want", "public_reply"
    )


def test_hostile_nicknames_are_cleaned(book: ReplyBook) -> None:
    values = book.values(ReplyContext("@所有人\n\u200b{price}张三\u202e http://evil.cn/x 李四"))
    assert values["nickname"] == "price张三"  # cut to 8 characters, nothing executable left
    # Nothing left of the nickname: the template file's neutral address is used instead.
    assert book.values(ReplyContext("@everyone http://x.cn"))["nickname"] == "亲"
    assert "nickname" not in ReplyBook.load([]).values(ReplyContext("@everyone"))


def test_a_viewer_with_an_unusable_nickname_still_gets_a_natural_reply(book: ReplyBook) -> None:
    result = book.render("link", "live_chat", "bilibili", ReplyContext("\u200b\u200b", HOODIE), key="k")
    assert isinstance(result, Rendered) and result.text.startswith("亲")


def test_recent_texts_feed_rotation_per_target(book: ReplyBook) -> None:
    recent = RecentTexts(keep=3)
    seen = []
    for _ in range(4):
        result = book.render("price", "live_chat", "douyin", ReplyContext("小明", HOODIE), avoid=recent.get("room1"), key="same")
        assert isinstance(result, Rendered)
        recent.add("room1", result)
        seen.append(result.variant_id)
    assert all(a != b for a, b in zip(seen, seen[1:], strict=False))
    assert recent.get("room2") == []


def test_the_book_is_built_from_settings_with_extra_files(tmp_path: Path) -> None:
    write(tmp_path, '[link]\nlive_chat = ["{nickname} 点8号"]\n', name="extra.toml")
    book = ReplyBook.from_settings(RepliesSettings(extra_templates=["extra.toml"]), base_dir=tmp_path)
    assert book.render("link", "live_chat", "douyin", ReplyContext("小明")) == Rendered("小明 点8号", "link.live_chat#0", "link", "live_chat")


def test_prices_and_times_are_formatted_for_viewers() -> None:
    assert format_price(89.0) == "¥89"
    assert format_price(5.5) == "¥5.5"
    assert format_price(5.99, "USD") == "$5.99"
    now = 1_795_420_800.0  # 2026-11-23 16:00 Asia/Shanghai
    assert format_live_time(now + 4 * 3600, now, "Asia/Shanghai") == "今晚 20:00"
    assert format_live_time(now + 28 * 3600, now, "Asia/Shanghai") == "明天 20:00"
    assert format_live_time(now + 28 * 3600, now, "Asia/Shanghai", "en") == "tomorrow 20:00"


def test_english_templates_load_and_render() -> None:
    book = ReplyBook.load(default_template_paths("en"), RepliesSettings(language="en"))
    result = book.render("price", "live_chat", "youtube", ReplyContext("Sam", ProductFacts("Hoodie", 3, 29.9, currency="USD")))
    assert isinstance(result, Rendered) and "$29.9" in result.text


def test_every_builtin_live_chat_variant_fits_the_bilibili_default_with_a_short_name() -> None:
    for language in ("zh",):
        book = ReplyBook.load(default_template_paths(language))
        context = ReplyContext("小明", HOODIE, names=["小红"], next_live="明天 20:00", title="秋冬上新", minutes=10, store="小店")
        for (_kind, channel), variants in book._variants.items():
            if channel != "live_chat":
                continue
            for variant in variants:
                text = variant.template.fill(book.values(context))
                assert len(text) <= 20, (variant.variant_id, text)

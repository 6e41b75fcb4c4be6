"""Property: the renderer never crashes on hostile values and never leaks placeholders."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replies.render import (
    KINDS,
    NoReply,
    ProductFacts,
    Rendered,
    ReplyBook,
    ReplyContext,
    default_template_paths,
)
from replies.settings import CHANNELS
from replies.template import KNOWN_VARIABLES, TemplateSyntaxError, parse_template

BOOK = ReplyBook.load(default_template_paths("zh"))
PLACEHOLDER = re.compile(r"\{[^{}]*\}")

hostile_text = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.sampled_from("{}[]!:.@#\n\r\t\u200b\u202e\ud800\udfff\x00\x1b 价格abc"), max_size=200),
    st.sampled_from(["{price}", "{nickname.__class__}", "{{nickname}}", "@all", "http://x.cn", "\ud83d", "x" * 100_000]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nickname=hostile_text,
    product=hostile_text,
    names=st.lists(hostile_text, max_size=5),
    kind=st.sampled_from(KINDS),
    channel=st.sampled_from(CHANNELS),
    platform=st.sampled_from(["bilibili", "douyin", "youtube", "x"]),
    price=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    stock=st.one_of(st.none(), st.integers()),
    link=st.one_of(st.none(), st.integers()),
    key=hostile_text,
)
def test_rendering_never_crashes_and_never_leaks_placeholders(
    nickname: str, product: str, names: list[str], kind: str, channel: str, platform: str,
    price: float | None, stock: int | None, link: int | None, key: str,
) -> None:
    context = ReplyContext(
        nickname, ProductFacts(product, link, price, stock), names=names, next_live=product, title=nickname, minutes=stock
    )
    result = BOOK.render(kind, channel, platform, context, avoid=[nickname], key=key)
    assert isinstance(result, Rendered | NoReply)
    if isinstance(result, Rendered):
        assert not PLACEHOLDER.search(result.text)
        assert len(result.text) <= BOOK.max_chars(platform, channel)
        assert "\n" not in result.text and "\x00" not in result.text and "\u200b" not in result.text
        result.text.encode("utf-8")  # no lone surrogates


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_the_template_parser_either_parses_or_raises_its_own_error(text: str) -> None:
    try:
        template = parse_template(text)
    except TemplateSyntaxError:
        return
    assert template.variables <= KNOWN_VARIABLES
    # Round trip: the text is exactly literals (braces doubled) and known placeholders.
    rebuilt = "".join(
        seg.replace("{", "{{").replace("}", "}}") if isinstance(seg, str) else "{" + seg.name + "}"
        for seg in template.segments
    )
    assert rebuilt == text

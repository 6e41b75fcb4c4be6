"""Cleaning hostile values (nicknames, product names) before they go into a reply.

A nickname is data chosen by a stranger: it may hold newlines, control or zero-width
characters, bidi overrides, lone surrogates, ``@everyone`` mentions, URLs, template braces
or 100 KB of text. ``clean_value`` keeps only what is safe to show on one line; the
renderer then caps its length.
"""

from __future__ import annotations

import re
import unicodedata

# Unicode categories removed outright: controls, format chars (zero-width, bidi overrides),
# surrogates, private use, unassigned.
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
# Bounded repetitions keep these linear on long runs of letters (no quadratic backtracking).
_SCHEME_URL = re.compile(r"\b[a-z][a-z0-9+.-]{0,15}://\S*", re.IGNORECASE)
_WWW_URL = re.compile(r"\bwww\.\S*", re.IGNORECASE)
_DOMAIN = re.compile(
    r"(?<![\w-])[\w-]{1,63}(?:\.[\w-]{1,63}){0,4}\.(?:com|cn|net|org|io|cc|top|xyz|me|tv|co|info|biz|link|shop|app)\b\S*",
    re.IGNORECASE,
)
_MENTION = re.compile(r"[@＠]\S*")
_LINE_BREAKS = frozenset("\r\n\t\v\f\u2028\u2029\x85")
_SPACE = re.compile(r"\s+")
# Characters that mean something in our templates or in platform markup: replaced, not kept.
_MEANINGFUL = str.maketrans({"{": "", "}": "", "<": "", ">": "", "[": "", "]": "", "#": ""})
# Work on a bounded prefix: nothing longer than this can end up in a reply anyway.
_SCAN_LIMIT = 256


def clean_value(value: str, max_chars: int | None = None) -> str:
    """One safe line from hostile text; '' when nothing printable is left.

    Removes control/format/surrogate characters, newlines, @-mentions, URLs and template or
    markup brackets, collapses whitespace, and cuts to ``max_chars`` code points.
    """
    if not value:
        return ""
    kept: list[str] = []
    for ch in value[:_SCAN_LIMIT]:
        if ch in _LINE_BREAKS:
            kept.append(" ")
        elif ch.isprintable() or ch == " " or unicodedata.category(ch) not in _DROP_CATEGORIES:
            kept.append(ch)
    text = unicodedata.normalize("NFKC", "".join(kept))
    if "://" in text:
        text = _SCHEME_URL.sub(" ", text)
    if "." in text:
        text = _WWW_URL.sub(" ", text)
        text = _DOMAIN.sub(" ", text)
    text = _MENTION.sub(" ", text)
    text = text.translate(_MEANINGFUL)
    text = _SPACE.sub(" ", text).strip()
    if max_chars is not None and len(text) > max_chars:
        text = text[:max_chars].rstrip()
    return text

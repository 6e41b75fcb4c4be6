"""Text normalisation for matching, with a map back to the original text.

One definition, two implementations:

* ``normalise_fast(text)`` — the hot path, run on every message (``str.translate`` with a lazily
  filled per-character table plus three regexes, ~2–4 µs for a chat line);
* ``normalise(text)`` — the same result plus ``offsets``: for every character of the normalised
  text, the index of the original character it came from. Only run on messages that have a
  candidate hit, so that every span we report points into the text the viewer wrote.

Steps: remove emote markup (``[捂脸]``, ``[doge]``, ``[tv_微笑]``) → per character: NFKC
(full-width → ASCII), lower case, traditional → simplified (OpenCC t2s), drop combining marks,
zero-width/format characters, emoji and punctuation (they become a separator) → separators vanish
except a single space between two ASCII letters/digits (so "link pls" keeps its word boundary
while "链 接", "链.接", "链\\u200b接" become 链接) → runs of 3+ identical non-digit characters
collapse to one (多少钱钱钱 → 多少钱, 哈哈哈 → 哈; 宝宝 and 1000 stay).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

_SEP = " "
# Douyin "[捂脸]", Bilibili "[doge]", "[tv_微笑]", "[妙啊]"; short, no spaces or digits inside.
EMOTE_RE = re.compile(r"\[[^\[\]\s\d]{1,12}\]")
_REPEAT_RE = re.compile(r"(\D)\1{2,}")
_REPEAT_PRECHECK_RE = re.compile(r"(.)\1\1")  # cheaper; digits are filtered by _REPEAT_RE
_ASCII_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_MAX_CACHE = 200_000


@lru_cache(maxsize=1)
def _t2s() -> object:
    import opencc

    return opencc.OpenCC("t2s")


class _CharTable(dict[int, str]):
    """``str.translate`` table that computes (and caches) the mapping of a character on first use."""

    def __missing__(self, code: int) -> str:
        value = _map_char(chr(code))
        if len(value) != 1:
            _NOT_ONE_TO_ONE.add(chr(code))
        if len(self) < _MAX_CACHE:
            self[code] = value
        return value


_NOT_ONE_TO_ONE: set[str] = set()  # characters that vanish or expand (zero-width, ㍿ ...)


def _map_char(char: str) -> str:
    out = []
    for piece in unicodedata.normalize("NFKC", char).lower():
        category = unicodedata.category(piece)
        if category[0] in "LN":
            out.append(piece)
        elif piece == "#":
            out.append(piece)
        elif category in ("Mn", "Me", "Cf"):
            continue  # combining marks (zalgo), zero-width joiners/spaces: vanish without a trace
        else:
            out.append(_SEP)
    text = "".join(out)
    if text and any("\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" for c in text):
        converter = _t2s()
        converted = converter.convert(text)  # type: ignore[attr-defined]
        if len(converted) == len(text):
            text = converted
    # Lone surrogates and other unencodable code points are separators, never a crash.
    return "".join(c if not ("\ud800" <= c <= "\udfff") else _SEP for c in text)


_TABLE = _CharTable()


def normalise_fast(text: str) -> str:
    """The normalised text only (hot path). Equal to ``normalise(text).text``."""
    if "[" in text:
        text = EMOTE_RE.sub(" ", text)
    text = text.translate(_TABLE)
    if " " in text:
        text = _squeeze_spaces(text)
    if _REPEAT_PRECHECK_RE.search(text) is None:
        return text
    return _REPEAT_RE.sub(_first_group, text)


# After the table there is no NUL in the text (control characters become separators), so NUL can
# mark the one space kept between two ASCII letters/digits while every other separator is dropped.
_KEEP_SPACE_RE = re.compile(r"([a-z0-9]) +(?=[a-z0-9])")


def _squeeze_spaces(text: str) -> str:
    """Drop separators, keeping one space only between two ASCII letters/digits."""
    if _KEEP_SPACE_RE.search(text) is None:
        return text.replace(" ", "")
    return _KEEP_SPACE_RE.sub("\\1\x00", text).replace(" ", "").replace("\x00", " ")


def _first_group(m: re.Match[str]) -> str:
    return m.group(1)


@dataclass(frozen=True, slots=True)
class Normalised:
    original: str
    text: str
    offsets: tuple[int, ...]  # offsets[i] = index in ``original`` of normalised char i

    def span(self, start: int, end: int) -> tuple[int, int]:
        """Map a ``[start, end)`` span of the normalised text to the original text."""
        if not self.offsets or start >= end:
            return (0, 0)
        first = self.offsets[start]
        last = self.offsets[end - 1]
        # extend to the end of the last original character (a surrogate-free str: one code point)
        return (first, last + 1)


def normalise(text: str) -> Normalised:
    """Normalise and keep, for each output character, the index of its source character."""
    # 1. emote markup → one separator at the markup's position
    if "[" in text and EMOTE_RE.search(text):
        chars: list[str] = []
        offs: list[int] = []
        pos = 0
        for m in EMOTE_RE.finditer(text):
            _map_range(text, pos, m.start(), chars, offs)
            chars.append(" ")
            offs.append(m.start())
            pos = m.end()
        _map_range(text, pos, len(text), chars, offs)
        mapped = "".join(chars)
    else:
        # 2. per-character table; the common case maps every character to exactly one
        mapped = text.translate(_TABLE)
        if len(mapped) == len(text) and _one_to_one(text, mapped):
            offs = list(range(len(text)))
        else:
            chars = []
            offs = []
            _map_range(text, 0, len(text), chars, offs)
            mapped = "".join(chars)
    # 3. spaces: collapse runs, keep one only between ASCII letters/digits
    if " " in mapped:
        drop: set[int] = set()
        for m in _SPACE_RUN_RE.finditer(mapped):
            a, b = m.start(), m.end()
            keep_one = a > 0 and b < len(mapped) and _ascii_alnum(mapped[a - 1]) and _ascii_alnum(mapped[b])
            drop.update(range(a + 1 if keep_one else a, b))
        mapped, offs = _delete(mapped, offs, drop)
    # 4. collapse 3+ repeats of a non-digit character
    if _REPEAT_RE.search(mapped) is not None:
        drop = set()
        for m in _REPEAT_RE.finditer(mapped):
            drop.update(range(m.start() + 1, m.end()))
        mapped, offs = _delete(mapped, offs, drop)
    return Normalised(text, mapped, tuple(offs))


_SPACE_RUN_RE = re.compile(r" +")


def _one_to_one(text: str, mapped: str) -> bool:
    """Same length is not enough when one character expands and another vanishes (rare)."""
    if len(_TABLE) >= _MAX_CACHE:  # the table stopped caching: check each character
        return all(len(_TABLE[ord(ch)]) == 1 for ch in set(text))
    return _NOT_ONE_TO_ONE.isdisjoint(text)


def _map_range(text: str, start: int, end: int, chars: list[str], offs: list[int]) -> None:
    table = _TABLE
    for index in range(start, end):
        out = table[ord(text[index])]
        if len(out) == 1:
            chars.append(out)
            offs.append(index)
        else:
            for c in out:
                chars.append(c)
                offs.append(index)


def _delete(text: str, offs: list[int], drop: set[int]) -> tuple[str, list[int]]:
    keep = [i for i in range(len(text)) if i not in drop]
    return "".join(text[i] for i in keep), [offs[i] for i in keep]


def _ascii_alnum(c: str) -> bool:
    return len(c) == 1 and ("a" <= c <= "z" or "0" <= c <= "9")

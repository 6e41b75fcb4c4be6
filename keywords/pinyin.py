"""Syllable-delimited pinyin, for homophone variants of a few curated keywords.

A per-character table (first reading, tones stripped) is built once from pypinyin's data;
``lazy_pinyin`` per message would cost ~166 µs. Text becomes ``|qian|pai|`` — every syllable
delimited — so a keyword pattern ``|an|pai|`` can never match across syllables (the 前排/安排
pitfall of concatenated pinyin). Characters without a reading become ``#`` and break any match.

Only the 6,763 characters of GB2312 get a reading: homophone typos come from pinyin input methods,
which offer common characters, and the small table keeps the gate below cheap. The table is read
from pypinyin's plain data module directly (~0.15 s) instead of importing pypinyin (~1 s).

``pair_literals(patterns)`` gives, for each pinyin pattern, every two-character string whose
readings are its most selective pair of adjacent syllables: the matcher puts them into its one
Aho–Corasick automaton, so the pinyin pass only runs on messages where such a pair occurs.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import unicodedata
from functools import lru_cache
from typing import Any

NO_READING = "#"


def _strip_tone(syllable: str) -> str:
    decomposed = unicodedata.normalize("NFD", syllable.replace("ü", "v"))
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


class _PinyinTable(dict[int, str]):
    def __missing__(self, code: int) -> str:
        return NO_READING + "|"


def _pinyin_dict() -> dict[int, str]:
    """pypinyin's ``pinyin_dict`` without importing the package (its phrase data takes ~1 s)."""
    try:
        spec = importlib.util.find_spec("pypinyin")
        if spec is not None and spec.origin:
            path = os.path.join(os.path.dirname(spec.origin), "pinyin_dict.py")
            data_spec = importlib.util.spec_from_file_location("_leadbot_pinyin_dict", path)
            if data_spec is not None and data_spec.loader is not None:
                module = importlib.util.module_from_spec(data_spec)
                data_spec.loader.exec_module(module)
                table: dict[int, str] = module.pinyin_dict
                return table
    except (OSError, SyntaxError, AttributeError, ImportError):
        pass
    module_any: Any = importlib.import_module("pypinyin.pinyin_dict")
    fallback: dict[int, str] = module_any.pinyin_dict
    return fallback


def _gb2312_chars() -> list[str]:
    chars = []
    for high in range(0xB0, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                chars.append(bytes((high, low)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return chars


@lru_cache(maxsize=1)
def pinyin_table() -> dict[int, str]:
    """``str.translate`` table: common CJK character → ``"syllable|"``; anything else → ``"#|"``."""
    readings = _pinyin_dict()
    table = _PinyinTable()
    for char in _gb2312_chars():
        reading = readings.get(ord(char))
        if reading:
            table[ord(char)] = _strip_tone(reading.split(",")[0]) + "|"
    return table


def to_pinyin(text: str) -> str:
    """``"链接"`` → ``"|lian|jie|"``; one ``|``-terminated token per input character."""
    return "|" + text.translate(pinyin_table())


def char_span(pinyin_text: str, start: int, end: int) -> tuple[int, int]:
    """Map a match ``[start, end)`` in ``to_pinyin(text)`` (pattern starts and ends with ``|``) to chars."""
    first = pinyin_text.count("|", 0, start)
    last = pinyin_text.count("|", 0, end) - 1
    return first, last


@lru_cache(maxsize=1)
def _homophones() -> dict[str, list[str]]:
    by_syllable: dict[str, list[str]] = {}
    for code, reading in pinyin_table().items():
        by_syllable.setdefault(reading[:-1], []).append(chr(code))
    return by_syllable


def pair_literals(pattern: str) -> set[str]:
    """Two-character strings one of which every match of ``pattern`` (``|a|b|c|``) contains."""
    syllables = [s for s in pattern.split("|") if s]
    by_syllable = _homophones()
    if len(syllables) == 1:
        return set(by_syllable.get(syllables[0], ()))
    best = min(
        range(len(syllables) - 1),
        key=lambda i: len(by_syllable.get(syllables[i], ())) * len(by_syllable.get(syllables[i + 1], ())),
    )
    firsts = by_syllable.get(syllables[best], ())
    seconds = by_syllable.get(syllables[best + 1], ())
    return {a + b for a in firsts for b in seconds}

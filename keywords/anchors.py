"""Required literals ("anchors") of list regexes, so one Aho–Corasick pass can gate them.

A list pattern such as ``(?:发|走)(?:个)?(?:顺丰|中通|圆通)`` can only match where one of
``顺丰 / 中通 / 圆通`` occurs. ``anchors(pattern)`` finds such a set of literal strings — every
match of the pattern contains at least one of them — by walking the parsed regex: a run of
literal characters, a character class of literals, or an alternation of literal strings that
the pattern cannot skip. When several are required it keeps the most selective (longest
shortest string, then fewest alternatives). It returns ``None`` when it cannot prove a
required literal (``.``, ``\\d+元|x?``, look-arounds only ...); such patterns simply run on
every message, as before. Being wrong in the other direction (an anchor that is not really
required) would lose matches, so anything not understood gives ``None``.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

try:  # Python 3.11+: the parser lives in re._parser
    _p: Any = importlib.import_module("re._parser")
    _c: Any = importlib.import_module("re._constants")
except ImportError:  # pragma: no cover - older Pythons
    _p = importlib.import_module("sre_parse")
    _c = importlib.import_module("sre_constants")

MAX_ALTERNATIVES = 40


def anchors(pattern: str) -> frozenset[str] | None:
    """Literal strings one of which every match of ``pattern`` contains, or ``None``."""
    try:
        parsed = _p.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None
    if parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
        return None
    try:
        best = _sequence(list(parsed))
    except RecursionError:
        return None
    if not best or any(not s for s in best) or len(best) > MAX_ALTERNATIVES:
        return None
    return frozenset(best)


def _better(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None:
        return b
    if b is None:
        return a
    key_a = (min(map(len, a)), -len(a))
    key_b = (min(map(len, b)), -len(b))
    return a if key_a >= key_b else b


def _sequence(items: list[tuple[Any, Any]]) -> frozenset[str] | None:
    """Best required literal set of a concatenation."""
    best: frozenset[str] | None = None
    run = ""
    for op, av in items:
        if op is _c.LITERAL:
            run += chr(av)
            continue
        if run:
            best = _better(best, frozenset({run}))
            run = ""
        best = _better(best, _element(op, av))
    if run:
        best = _better(best, frozenset({run}))
    return best


def _element(op: Any, av: Any) -> frozenset[str] | None:
    """Required literal set of one element (it always occurs in a match), or None."""
    if op is _c.SUBPATTERN:
        return _sequence(list(av[-1]))
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
        low, _high, body = av
        return _sequence(list(body)) if low >= 1 else None
    if op is _c.IN:
        chars: set[str] = set()
        for sub_op, sub_av in av:
            if sub_op is _c.LITERAL:
                chars.add(chr(sub_av))
            elif sub_op is _c.RANGE and sub_av[1] - sub_av[0] < MAX_ALTERNATIVES:
                chars.update(chr(c) for c in range(sub_av[0], sub_av[1] + 1))
            else:
                return None  # negated sets, categories (\d), big ranges
        return frozenset(chars) if 0 < len(chars) <= MAX_ALTERNATIVES else None
    if op is _c.BRANCH:
        out: set[str] = set()
        for branch in av[1]:
            alt = _literal_union(list(branch))
            if alt is None:
                return None
            out |= alt
        return frozenset(out)
    return None


def _literal_union(items: list[tuple[Any, Any]]) -> frozenset[str] | None:
    """For an alternative of a branch: its best required literal set (every match of it has one)."""
    best = _sequence(items)
    return best if best else None

"""Keyword list files: parsing and validation with file + line + reason for every problem.

A list is a TOML file. One section per intent (``[price]``, ``[link]`` ... see ``api.INTENTS``),
plus optional ``[meta]``, ``[negation]`` and ``[question]`` sections::

    [price]
    weight = 1.0                          # default weight of this section's keywords
    keywords = ["多少钱", "怎么卖"]
    weights = { "优惠" = 0.5 }             # per-keyword weight (0 < w <= 1)
    question_only = ["价格", "包邮"]       # count only when the message is a question
    exclude = ["钱包"]                     # phrases that reject this intent's hits they overlap
    variants = { "多少钱" = ["多少q", "dsq"] }   # curated spellings/abbreviations
    pinyin = ["多少钱"]                    # also match homophones (syllable-delimited pinyin)
    remove = ["价钱"]                      # (merchant lists) drop a keyword of the lists below
    patterns = ["我要(?:$|[一两\\d])"]     # regexes over the normalised text (rule "pattern")
    question_patterns = ['\\d+元']         # regexes that count only in a question
    # ... or, better, named: the name (not the regex) is what explanations and reports show
    patterns = { "我要+数量" = "我要(?:$|[一两\\d])" }

    [negation]
    before = ["不要", "不想"]               # a negator shortly before a hit rejects it
    after = ["不要了"]                      # ... or right after it
    not_negators = ["不错"]                 # words containing a negator that do not negate
    phrases = ["买不起", "不想买"]           # objections: reject every hit they overlap
    complaints = ["退款", "还没发货"]        # after-sales: reject every hit in the message
    not_goods = ["会员", "动捕"]            # things of the stream or platform, not goods for sale:
                                            # reject every hit in the same clause
    window = 4                              # how many characters before a hit are looked at

    [question]
    markers = ["吗", "多少", "?"]
    not_markers = ["差不多"]                # contain a marker but ask nothing

    [review]
    markers = ["不错", "好评", "物流"]      # what a buyer says after the parcel came, not before
    weights = { "物流" = 0.5 }              # per-marker weight (0 < w <= 1; default 1)
    threshold = 1.0                         # markers in remarks adding up to this reject every hit

``parse_list_text`` returns a ``KeywordList`` or raises ``KeywordListError(file, line, reason)``;
``validate_list_text`` returns every problem found (for the dashboard's upload form).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keywords.api import INTENTS

SECTION_KEYS: dict[str, set[str]] = {
    "intent": {
        "weight", "keywords", "weights", "question_only", "exclude", "variants", "pinyin", "remove", "patterns",
        "question_patterns",
    },
    "meta": {"name", "language", "description", "version"},
    "negation": {"before", "after", "not_negators", "phrases", "complaints", "not_goods", "window"},
    "question": {"markers", "not_markers"},
    "review": {"markers", "weights", "threshold"},
}
MAX_KEYWORD_LEN = 40
MAX_PATTERN_LEN = 300


@dataclass(frozen=True)
class ListProblem:
    file: str
    line: int  # 1-based; 0 when unknown
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}" if self.line else f"{self.file}: {self.reason}"


class KeywordListError(Exception):
    """A keyword list (or catalogue) cannot be used; the previous lists stay active."""

    def __init__(self, file: str, line: int, reason: str, problems: list[ListProblem] | None = None) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        self.problems = problems or [ListProblem(file, line, reason)]
        extra = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"{file}:{line}: {reason}{extra}")


@dataclass
class IntentSection:
    intent: str
    weight: float = 1.0
    keywords: list[str] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    question_only: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    variants: dict[str, list[str]] = field(default_factory=dict)
    pinyin: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    question_patterns: list[str] = field(default_factory=list)
    pattern_names: dict[str, str] = field(default_factory=dict)  # regex -> readable name


@dataclass
class NegationSection:
    before: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)
    not_negators: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    complaints: list[str] = field(default_factory=list)
    not_goods: list[str] = field(default_factory=list)
    window: int | None = None


@dataclass
class ReviewSection:
    """Words of a verdict on goods already received: enough of them in remarks make a review."""

    markers: list[str] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    threshold: float | None = None


@dataclass
class KeywordList:
    name: str  # file name (or upload name), used in explanations
    sections: dict[str, IntentSection] = field(default_factory=dict)
    negation: NegationSection = field(default_factory=NegationSection)
    question_markers: list[str] = field(default_factory=list)
    not_question_markers: list[str] = field(default_factory=list)
    review: ReviewSection = field(default_factory=ReviewSection)
    text: str = ""


_TOML_LINE_RE = re.compile(r"line (\d+)")


def _decode_error_line(error: tomllib.TOMLDecodeError, text: str = "") -> int:
    lineno = getattr(error, "lineno", None)
    if isinstance(lineno, int):
        return lineno
    m = _TOML_LINE_RE.search(str(error))
    if m:
        return int(m.group(1))
    if "end of document" in str(error) and text:
        lines = text.splitlines()
        last = max((i for i, line in enumerate(lines, 1) if line.strip()), default=len(lines))
        return last  # e.g. an array left open: the last line that has content
    return 0


class _Locator:
    """Find the line of a section, key or value in the raw TOML text (for validation errors)."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()

    def section(self, name: str) -> int:
        pattern = re.compile(r"^\s*\[\s*" + re.escape(name) + r"\s*\]")
        for number, line in enumerate(self.lines, 1):
            if pattern.match(line):
                return number
        dotted = re.compile(r"^\s*" + re.escape(name) + r"\s*\.")
        for number, line in enumerate(self.lines, 1):
            if dotted.match(line):
                return number
        return 0

    def find(self, section: str, needle: str, key: str | None = None) -> int:
        """Line of ``needle`` (a key or a quoted value) inside ``section`` (first after its header)."""
        start = self.section(section)
        end = len(self.lines)
        for number in range(start + 1 if start else 1, len(self.lines) + 1):
            if re.match(r"^\s*\[", self.lines[number - 1]) and number != start:
                end = number - 1
                break
        candidates = [f'"{needle}"', f"'{needle}'", needle] if needle else []
        key_line = 0
        if key:
            key_re = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
            for number in range(max(start, 1), end + 1):
                if key_re.match(self.lines[number - 1]):
                    key_line = number
                    break
        first = key_line or max(start, 1)
        for cand in candidates:
            for number in range(first, end + 1):
                if cand in self.lines[number - 1]:
                    return number
        return key_line or start


def _str_list(value: Any, where: str, problems: list[tuple[str, str | None, str, str]], section: str) -> list[str]:
    if not isinstance(value, list):
        problems.append((section, where, "", f"{section}.{where} must be a list of strings"))
        return []
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            problems.append((section, where, str(item), f"{section}.{where}: {item!r} is not a string"))
            continue
        if not item.strip():
            problems.append((section, where, item, f"{section}.{where}: empty keyword"))
            continue
        limit = MAX_PATTERN_LEN if where.endswith("patterns") else MAX_KEYWORD_LEN
        if len(item) > limit:
            problems.append((section, where, item, f"{section}.{where}: {item!r} is longer than {limit} chars"))
            continue
        out.append(item)
    return out


def _check(text: str, name: str) -> tuple[KeywordList | None, list[ListProblem]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return None, [ListProblem(name, _decode_error_line(error, text), f"invalid TOML: {error}")]
    from keywords.normalise import normalise_fast

    loc = _Locator(text)
    raw: list[tuple[str, str | None, str, str]] = []  # (section, key, needle, reason)
    result = KeywordList(name=name, text=text)
    for section, body in data.items():
        if section in INTENTS:
            kind = "intent"
        elif section in SECTION_KEYS:
            kind = section
        elif section == "none":
            raw.append((section, None, "", "[none] is not a list section; put negated phrases in [negation] phrases"))
            continue
        else:
            allowed = ", ".join([*INTENTS, *(kind for kind in SECTION_KEYS if kind != "intent")])
            raw.append((section, None, "", f"unknown section [{section}]; allowed: {allowed}"))
            continue
        if not isinstance(body, dict):
            raw.append((section, section, "", f"{section} must be a table ([{section}])"))
            continue
        for key in body:
            if key not in SECTION_KEYS[kind]:
                allowed = ", ".join(sorted(SECTION_KEYS[kind]))
                raw.append((section, key, key, f"unknown key {section}.{key}; allowed: {allowed}"))
        if kind == "intent":
            sec = IntentSection(intent=section)
            weight = body.get("weight", 1.0)
            if not isinstance(weight, int | float) or isinstance(weight, bool) or not 0 < weight <= 1:
                raw.append((section, "weight", "", f"{section}.weight = {weight!r}: must be a number in (0, 1]"))
            else:
                sec.weight = float(weight)
            for key in ("keywords", "question_only", "exclude", "pinyin", "remove"):
                if key in body:
                    setattr(sec, key, _str_list(body[key], key, raw, section))
            for key in ("patterns", "question_patterns"):
                value = body.get(key)
                if isinstance(value, dict):  # named patterns: { "name" = 'regex' }
                    named: list[str] = []
                    for pattern_name, regex in value.items():
                        if not isinstance(regex, str):
                            raw.append((section, key, pattern_name, f"{section}.{key}.{pattern_name}: must be a regex string"))
                            continue
                        checked = _str_list([regex], key, raw, section)
                        if not pattern_name.strip() or len(pattern_name) > MAX_KEYWORD_LEN:
                            raw.append((section, key, pattern_name, f"{section}.{key}: name {pattern_name!r} must be 1..{MAX_KEYWORD_LEN} chars"))
                            continue
                        named.extend(checked)
                        for regex_text in checked:
                            sec.pattern_names[regex_text] = pattern_name
                    setattr(sec, key, named)
                elif value is not None:
                    setattr(sec, key, _str_list(value, key, raw, section))
            for pattern in sec.patterns + sec.question_patterns:
                try:
                    re.compile(pattern)
                except re.error as error:
                    raw.append((section, "patterns", pattern, f"{section}.patterns: bad regex {pattern!r}: {error}"))
            seen: set[str] = set()
            for kw in sec.keywords:
                norm = normalise_fast(kw)
                if not norm.strip():
                    raw.append((section, "keywords", kw, f"{section}.keywords: {kw!r} is empty after normalisation"))
                elif norm in seen:
                    raw.append((section, "keywords", kw, f"{section}.keywords: duplicate keyword {kw!r}"))
                seen.add(norm)
            known = set(sec.keywords) | set(sec.question_only)
            sec.weights = _weights_table(body, raw, section, known, "keywords")
            for kw in sec.pinyin:
                if kw not in known:
                    raw.append((section, "pinyin", kw, f"{section}.pinyin: {kw!r} is not in {section}.keywords"))
                elif not all("\u4e00" <= c <= "\u9fff" for c in kw) or len(kw) < 2:
                    raw.append((section, "pinyin", kw, f"{section}.pinyin: {kw!r} must be 2+ Chinese characters"))
            variants = body.get("variants", {})
            if not isinstance(variants, dict):
                raw.append((section, "variants", "", f"{section}.variants must be a table of keyword = [variants]"))
            else:
                for kw, vs in variants.items():
                    if kw not in known:
                        raw.append((section, "variants", kw, f"{section}.variants: {kw!r} is not in {section}.keywords"))
                        continue
                    sec.variants[kw] = _str_list(vs, f"variants.{kw}", raw, section)
            for kw in sec.question_only:
                norm = normalise_fast(kw)
                if norm in seen:
                    raw.append((section, "question_only", kw, f"{section}.question_only: {kw!r} is also in keywords"))
                seen.add(norm)
            result.sections[section] = sec
        elif kind == "negation":
            neg = NegationSection()
            for key in ("before", "after", "not_negators", "phrases", "complaints", "not_goods"):
                if key in body:
                    setattr(neg, key, _str_list(body[key], key, raw, section))
            if "window" in body:
                window = body["window"]
                if not isinstance(window, int) or isinstance(window, bool) or not 1 <= window <= 12:
                    raw.append((section, "window", "", f"negation.window = {window!r}: must be a whole number 1..12"))
                else:
                    neg.window = window
            result.negation = neg
        elif kind == "question":
            if "markers" in body:
                result.question_markers = _str_list(body["markers"], "markers", raw, section)
            if "not_markers" in body:
                result.not_question_markers = _str_list(body["not_markers"], "not_markers", raw, section)
        elif kind == "review":
            result.review = _review_section(body, raw, section)
    problems = [ListProblem(name, _problem_line(loc, section, key, needle), reason) for section, key, needle, reason in raw]
    problems.sort(key=lambda p: p.line)
    return (None if problems else result), problems


def _problem_line(loc: _Locator, section: str, key: str | None, needle: str) -> int:
    """Where a problem is: under ``[section]``, or in a ``[section.key]`` sub-table when the
    file writes a table that way (``[review.weights]`` instead of ``weights = { ... }``)."""
    if not key:
        return loc.section(section)
    if needle and loc.section(f"{section}.{key}"):
        return loc.find(f"{section}.{key}", needle)
    return loc.find(section, needle, key)


def _weights_table(
    body: dict[str, Any], raw: list[tuple[str, str | None, str, str]], section: str, known: set[str], owner: str
) -> dict[str, float]:
    """``weights = { word = w }`` of a section: each word must be one of ``known`` (its ``owner``
    key, e.g. ``keywords``), each weight a number in (0, 1]."""
    weights = body.get("weights", {})
    if not isinstance(weights, dict):
        raw.append((section, "weights", "", f"{section}.weights must be a table of word = weight"))
        return {}
    out: dict[str, float] = {}
    for word, w in weights.items():
        if not isinstance(w, int | float) or isinstance(w, bool) or not 0 < w <= 1:
            raw.append((section, "weights", word, f"{section}.weights.{word} = {w!r}: must be a number in (0, 1]"))
        elif word not in known:
            raw.append((section, "weights", word, f"{section}.weights: {word!r} is not in {section}.{owner}"))
        else:
            out[word] = float(w)
    return out


def _review_section(body: dict[str, Any], raw: list[tuple[str, str | None, str, str]], section: str) -> ReviewSection:
    review = ReviewSection()
    if "markers" in body:
        review.markers = _str_list(body["markers"], "markers", raw, section)
    review.weights = _weights_table(body, raw, section, set(review.markers), "markers")
    if "threshold" in body:
        threshold = body["threshold"]
        if not isinstance(threshold, int | float) or isinstance(threshold, bool) or not 0 < threshold <= 10:
            raw.append((section, "threshold", "", f"{section}.threshold = {threshold!r}: must be a number in (0, 10]"))
        else:
            review.threshold = float(threshold)
    return review


def validate_list_text(text: str, name: str) -> list[ListProblem]:
    """Every problem of a keyword list (empty list: the list is valid). Pure; never raises."""
    try:
        _, problems = _check(text, name)
    except Exception as error:  # a validator must report, not crash
        return [ListProblem(name, 0, f"cannot validate: {type(error).__name__}: {error}")]
    return problems


def parse_list_text(text: str, name: str) -> KeywordList:
    """Parse a list or raise ``KeywordListError`` naming the first problem's line."""
    result, problems = _check(text, name)
    if result is None:
        first = problems[0]
        raise KeywordListError(first.file, first.line, first.reason, problems)
    return result


def load_list_file(path: Path) -> KeywordList:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise KeywordListError(str(path), 0, f"cannot read: {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise KeywordListError(str(path), line, f"not UTF-8 text (byte {error.start})") from None
    return parse_list_text(text, str(path))

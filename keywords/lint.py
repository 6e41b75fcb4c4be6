"""Checks on a compiled matcher: dead, duplicate, redundant and noisy keywords.

* dead — a keyword that contains one of its intent's exclusion phrases (or an objection phrase)
  is rejected every time it matches;
* duplicate — the same (normalised) keyword in two intents, or twice in the layered lists;
* redundant — a keyword that contains a shorter keyword of the same intent with at least its
  weight: wherever it matches the shorter one does too (kept only for explanations);
* review markers — a marker listed twice, or inside an after-sales complaint phrase (the
  complaint already rejects the message, so the marker never decides anything);
* not_goods — a word listed twice, or one that is also a keyword (listed as a thing of the
  stream and as a purchase word at once); and, for information, the keywords that contain a
  not_goods word and are therefore never rejected by it (会员价 stays a price ask);
* noisy — accepted hits on text known to contain no purchase intent (reviews, a non-shopping
  stream), per 1,000 messages.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from keywords.matcher import KeywordMatcher
from keywords.normalise import normalise_fast


@dataclass
class LintReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    info: list[str] = field(default_factory=list)
    noisy: list[tuple[str, str, int, float]] = field(default_factory=list)  # intent, keyword, hits, per 1k
    negatives: int = 0

    def lines(self) -> list[str]:
        out = [f"error: {e}" for e in self.errors] + [f"warning: {w}" for w in self.warnings]
        out += [f"info: {i}" for i in self.info]
        if self.negatives:
            out.append(f"noisy keywords on {self.negatives} negative messages (accepted lead hits per 1,000):")
            out += [f"  {rate:6.2f}/1k  {hits:5d}  {intent:<8} {kw!r}" for intent, kw, hits, rate in self.noisy]
            if not self.noisy:
                out.append("  none above the threshold")
        if not (self.errors or self.warnings):
            out.append("ok: no dead or duplicate keywords")
        return out


def lint_matcher(matcher: KeywordMatcher, negatives: Iterable[str] = (), *, max_rate_per_1k: float = 1.0) -> LintReport:
    report = LintReport()
    by_norm: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for (intent, keyword), spec in matcher.specs.items():
        by_norm[normalise_fast(keyword)].append((intent, f"{keyword} ({spec.list_name.rsplit('/', 1)[-1]})"))
    for norm, owners in sorted(by_norm.items()):
        intents = {i for i, _ in owners}
        if len(intents) > 1:
            report.warnings.append(f"duplicate: {norm!r} is a keyword of {', '.join(sorted(intents))}")
        elif len(owners) > 1:
            report.warnings.append(f"duplicate: {norm!r} appears {len(owners)} times in {owners[0][0]}")
    excl: dict[str, list[str]] = defaultdict(list)
    for intent, phrase, _ in matcher.exclusions:
        excl[intent].append(normalise_fast(phrase))
    objections = [normalise_fast(p) for p, _ in matcher.objections]
    for (intent, keyword), spec in matcher.specs.items():
        norm = normalise_fast(keyword)
        for phrase in excl[intent]:
            if phrase and phrase in norm:
                report.errors.append(f"dead: {intent} keyword {keyword!r} always contains its exclusion {phrase!r}")
        for phrase in objections:
            if phrase and phrase in norm:
                report.errors.append(f"dead: {intent} keyword {keyword!r} always contains the objection {phrase!r}")
        for (o_intent, other), o_spec in matcher.specs.items():
            o_norm = normalise_fast(other)
            if o_intent == intent and o_norm != norm and o_norm in norm and o_spec.weight >= spec.weight:
                if spec.question_only or not o_spec.question_only:
                    report.info.append(f"redundant: {intent} {keyword!r} contains {other!r} (same or higher weight)")
                    break
    _lint_review_markers(matcher, report)
    _lint_not_goods(matcher, report)
    counts: Counter[tuple[str, str]] = Counter()
    total = 0
    for text in negatives:
        total += 1
        result = matcher.match(text)
        if result.is_lead:
            for hit in result.hits:
                if hit.accepted and hit.intent in result.intents:
                    counts[(hit.intent, hit.keyword)] += 1
    report.negatives = total
    if total:
        for (intent, keyword), hits in counts.most_common():
            rate = 1000 * hits / total
            if rate > max_rate_per_1k:
                report.noisy.append((intent, keyword, hits, round(rate, 2)))
                report.warnings.append(f"noisy: {intent} {keyword!r} hits {rate:.2f} per 1,000 negative messages")
    return report


def _unique_words(entries: Iterable[tuple[str, str]], what: str, report: LintReport) -> Iterator[tuple[str, str, str]]:
    """(word, normalised, list file) for each word's first listing; later ones are duplicates."""
    seen: dict[str, str] = {}
    for word, list_name in entries:
        norm = normalise_fast(word)
        where = list_name.rsplit("/", 1)[-1]
        if norm in seen:
            report.warnings.append(f"duplicate: {what} {word!r} in {where} (also in {seen[norm]})")
            continue
        seen[norm] = where
        yield word, norm, where


def _lint_review_markers(matcher: KeywordMatcher, report: LintReport) -> None:
    complaints = [normalise_fast(p) for p, _ in matcher.complaints]
    markers = ((marker, list_name) for marker, _, list_name in matcher.review_markers)
    for marker, norm, _ in _unique_words(markers, "review marker", report):
        for phrase in complaints:
            if phrase and phrase in norm:
                report.info.append(f"redundant: review marker {marker!r} contains the complaint {phrase!r}")
                break


def _lint_not_goods(matcher: KeywordMatcher, report: LintReport) -> None:
    keywords = sorted({(normalise_fast(keyword), intent, keyword) for intent, keyword in matcher.specs})
    for word, norm, where in _unique_words(matcher.not_goods, "not_goods word", report):
        for keyword_norm, intent, keyword in keywords:
            if keyword_norm == norm:
                report.warnings.append(
                    f"contradiction: {word!r} is a not_goods word ({where}) and a {intent} keyword: "
                    "hits on the keyword are never rejected by it"
                )
            elif norm and norm in keyword_norm:
                report.info.append(f"exempt: {intent} keyword {keyword!r} names the not_goods word {word!r} on purpose")

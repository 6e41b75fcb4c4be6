"""Test doubles that follow the real contracts (keywords.api.Matcher)."""

from __future__ import annotations

from collections.abc import Sequence

from keywords.api import Hit, MatchResult


class SubstringMatcher:
    """A deliberately simple matcher for pipeline tests: substring → intent."""

    version = "test-substring"

    def __init__(self, keywords: dict[str, str] | None = None) -> None:
        self.keywords = keywords or {"多少钱": "price", "链接": "link", "有货": "stock", "已拍": "ordered"}

    def match(self, text: str) -> MatchResult:
        hits = []
        for keyword, intent in self.keywords.items():
            start = text.find(keyword)
            if start >= 0:
                hits.append(Hit(intent, keyword, "exact", (start, start + len(keyword)), keyword))
        intents = tuple(dict.fromkeys(hit.intent for hit in hits))
        return MatchResult(text, intents, tuple(hits), score=0.9 if hits else 0.0, is_question=True)

    def match_many(self, texts: Sequence[str]) -> list[MatchResult]:
        return [self.match(text) for text in texts]

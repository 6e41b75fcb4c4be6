"""One assertion for the matching tables: a text is a lead of ``intent``, or no lead (``None``).

A failure shows the explanation's hits, so the rule that fired (or was missing) is in the report.
"""

from __future__ import annotations

from keywords.matcher import KeywordMatcher


def assert_decision(matcher: KeywordMatcher, text: str, intent: str | None) -> None:
    result = matcher.match(text)
    if intent is None:
        assert not result.is_lead, matcher.explain(text).hits
    else:
        assert intent in result.intents, matcher.explain(text).hits

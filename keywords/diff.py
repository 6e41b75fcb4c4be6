"""What a list change would do: the same messages matched before and after.

Shared by the dashboard's preview (the last hour of chat) and ``leadbot replay --candidate``
(a recorded stream), so both report change the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keywords.api import Matcher


def diff_matches(texts: Sequence[str], before: Matcher, after: Matcher, limit: int = 200) -> dict[str, Any]:
    """Re-match ``texts`` with both matchers: which messages change intent, and how many leads come/go."""
    old = before.match_many(list(texts))
    new = after.match_many(list(texts))
    changes: list[dict[str, Any]] = []
    gained = lost = changed = 0
    for text, a, b in zip(texts, old, new, strict=True):
        if a.intents == b.intents:
            continue
        if not a.is_lead and b.is_lead:
            gained += 1
        elif a.is_lead and not b.is_lead:
            lost += 1
        else:
            changed += 1
        if len(changes) < limit:
            changes.append({"text": text, "before": list(a.intents) or ["none"], "after": list(b.intents) or ["none"]})
    return {
        "messages": len(texts),
        "leads_before": sum(r.is_lead for r in old),
        "leads_after": sum(r.is_lead for r in new),
        "gained": gained,
        "lost": lost,
        "changed": changed,
        "changes": changes,
    }

"""What a list change would do: the same messages matched before and after.

Shared by the dashboard's preview (the last hour of chat, the messages the team labelled) and
``leadbot replay | keywords eval --candidate`` (a recorded stream, a labelled file), so both
report change the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from keywords.api import NONE_INTENT, Matcher
from keywords.evaluation import LabelledRow, evaluate


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


def compare_on_labelled(rows: Sequence[LabelledRow], before: Matcher, after: Matcher, limit: int = 50) -> dict[str, Any]:
    """Labelled messages matched by both matchers: the metrics of each, and the rows the change
    fixes (now right about lead vs none) and breaks (now wrong), with both decisions."""
    current = evaluate(rows, before.match)
    candidate = evaluate(rows, after.match)
    flips: dict[str, list[dict[str, Any]]] = {"fixed": [], "broken": []}
    for row, a, b in zip(rows, current.predictions, candidate.predictions, strict=True):
        truth = bool(row.gold)  # a lead, as the metrics count it
        if (bool(a) == truth) == (bool(b) == truth):
            continue
        flips["fixed" if bool(b) == truth else "broken"].append(
            {
                "line": row.line,
                "label": row.label,
                "note": row.note,
                "text": row.text,
                "before": list(a) or [NONE_INTENT],
                "after": list(b) or [NONE_INTENT],
            }
        )
    return {
        "rows": len(rows),
        "current": current.summary,
        "candidate": candidate.summary,
        "fixed_count": len(flips["fixed"]),
        "broken_count": len(flips["broken"]),
        "fixed": flips["fixed"][:limit],
        "broken": flips["broken"][:limit],
    }

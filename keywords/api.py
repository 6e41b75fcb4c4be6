"""The matcher's public contract: what a match is and how to ask for one.

Everything outside ``keywords`` (handlers, CLI, dashboard) depends only on this module.
A ``MatchResult`` always explains itself: every keyword hit, accepted or rejected, carries the
rule that fired, the span in the *original* text and the reason it was rejected (negation, an
exclusion phrase, a remark instead of a question ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Protocol, runtime_checkable

INTENTS: tuple[str, ...] = ("price", "link", "stock", "spec", "shipping", "ordered", "want")
NONE_INTENT = "none"


@dataclass(frozen=True, slots=True)
class ProductRef:
    """A product of the merchant's catalogue that the message is about."""

    product_id: str
    name: str
    link_number: int | None = None
    via: str = "number"  # "number" (3号链接) | "alias" | "fuzzy"
    score: float = 100.0


@dataclass(frozen=True, slots=True)
class Hit:
    """One keyword (or variant) found in the message, with why it counts or does not."""

    intent: str
    keyword: str  # the canonical keyword of the list
    rule: str  # which variant rule fired: exact | normalised | traditional | variant | particle | pinyin | abbreviation
    #            | fuzzy_en | pattern | number | weak_number | objection | complaint
    span: tuple[int, int]  # [start, end) in the original text
    matched: str  # the original text under the span
    weight: float = 1.0
    accepted: bool = True
    rejected_because: str | None = None  # e.g. "negated by 不要", "exclusion 钱包", "remark, not a question"
    list_name: str = ""  # which list file contributed the keyword
    negation_checked: bool = False  # the negation / exclusion / question rules were applied
    norm_span: tuple[int, int] = (0, 0)  # [start, end) in the normalised text (for debugging)


@dataclass(frozen=True, slots=True)
class MatchResult:
    text: str
    intents: tuple[str, ...] = ()  # accepted intents, strongest first; () means "none"
    hits: tuple[Hit, ...] = ()
    product: ProductRef | None = None
    link_number: int | None = None  # "3号链接", "三号", "#3"
    is_question: bool = False
    score: float = 0.0  # 0..1 confidence that this is a purchase-intent lead
    notes: tuple[str, ...] = field(default=())

    @property
    def is_lead(self) -> bool:
        return bool(self.intents)

    @property
    def primary_intent(self) -> str:
        return self.intents[0] if self.intents else NONE_INTENT


@runtime_checkable
class Matcher(Protocol):
    """A loaded, immutable set of keyword lists. Thread-safe; cheap to call per message."""

    version: str  # identifies the loaded lists (hash), recorded with every match

    def match(self, text: str) -> MatchResult: ...

    def match_many(self, texts: Sequence[str]) -> list[MatchResult]: ...


def explanation_dict(result: MatchResult) -> dict[str, Any]:
    """A match with its full explanation as plain data: the one shape the CLI (``--json``) and
    the dashboard show. List files appear by name only, never by their path on this machine."""
    product = result.product
    return {
        "text": result.text,
        "lead": result.is_lead,
        "intents": list(result.intents),
        "primary_intent": result.primary_intent,
        "score": round(result.score, 3),
        "is_question": result.is_question,
        "link_number": result.link_number,
        "product": None
        if product is None
        else {
            "id": product.product_id,
            "name": product.name,
            "link_number": product.link_number,
            "via": product.via,
            "score": product.score,
        },
        "hits": [
            {
                "intent": hit.intent,
                "keyword": hit.keyword,
                "rule": hit.rule,
                "span": list(hit.span),
                "matched": hit.matched,
                "weight": hit.weight,
                "accepted": hit.accepted,
                "rejected_because": hit.rejected_because,
                "list": PurePath(hit.list_name).name if hit.list_name else "",
            }
            for hit in result.hits
        ],
        "notes": list(result.notes),
    }


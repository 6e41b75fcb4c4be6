"""What a handler may consult while deciding: the match, the clock, reply texts and caps.

Handlers receive this context instead of reaching for globals, so they stay pure and a test
can hand them their own reply book, caps settings and catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from handlers.caps import Deferred, Refused, Touch, gate, plan_claims
from handlers.settings import CapsSettings, GreetingsSettings, RemindersSettings
from keywords.api import MatchResult
from keywords.catalogue import Catalogue
from replies.render import ProductFacts, RecentTexts, ReplyBook
from storage.records import CounterClaim

PRIORITY = {"reply": 0, "greeting": 10, "reminder": 20}  # lower goes first when budget is short


@dataclass(frozen=True, slots=True)
class CapPlan:
    """What the caps engine says before the database applies the counters."""

    claims: tuple[CounterClaim, ...] = ()
    not_before: float = 0.0  # deferred (e.g. quiet hours for private messages)
    refused: str | None = None  # refused outright (type disabled ...): recorded, never sent


class CapsPolicy:
    """Plans every touch's counter claims from ``[caps]``; shadow decisions use separate counters."""

    def __init__(self, settings: CapsSettings) -> None:
        self.settings = settings

    def plan(
        self, touch: Touch, now: float, *, shadow: bool, extra: Sequence[CounterClaim] = ()
    ) -> CapPlan:
        verdict = gate(touch, self.settings, now)
        if isinstance(verdict, Refused):
            return CapPlan(refused=verdict.reason)
        not_before = verdict.until if isinstance(verdict, Deferred) else 0.0
        claims = [*extra, *plan_claims(touch, self.settings, max(now, not_before))]
        # All-or-nothing, so the order only matters for speed: shared room/video windows and
        # quotas are the ones a busy room exhausts, so they go first and a refusal costs one
        # statement instead of several claims plus their give-back.
        claims.sort(key=lambda claim: 0 if claim.key[:2] in ("r:", "v:", "q:") else 1)
        if shadow:
            claims = [replace(claim, key=f"shadow:{claim.key}") for claim in claims]
        return CapPlan(tuple(claims), not_before)


def product_facts(match: MatchResult | None, catalogue: Catalogue | None) -> ProductFacts | None:
    """Price and stock of the product asked about, when the catalogue knows it."""
    if match is None:
        return None
    product = None
    if catalogue is not None and match.product is not None:
        product = next((p for p in catalogue.products if p.product_id == match.product.product_id), None)
    if product is None and catalogue is not None and match.link_number is not None:
        product = catalogue.by_number(match.link_number)
    if product is not None:
        return ProductFacts(product.name, product.link_number, product.price, product.stock)
    if match.link_number is not None:
        return ProductFacts(link_number=match.link_number)
    return None


@dataclass(frozen=True)
class DecisionContext:
    now: float
    shadow: bool
    book: ReplyBook
    caps: CapsPolicy
    recent: RecentTexts = field(default_factory=RecentTexts)
    catalogue: Catalogue | None = None
    match: MatchResult | None = None
    echo_channels: frozenset[tuple[str, str]] = frozenset()  # (platform, channel) that echo our sends
    replies_enabled: bool = True
    store_name: str | None = None
    greetings: GreetingsSettings | None = None  # None: follows are recorded, never greeted
    reminders: RemindersSettings | None = None  # None: nobody subscribes to live reminders
    # Open private-message reply windows of the people in this batch: (platform, account, user id)
    # -> until (unix s). Looked up by the pipeline only for follows on platforms with windows.
    dm_windows: Mapping[tuple[str, str, str], float] = field(default_factory=dict)

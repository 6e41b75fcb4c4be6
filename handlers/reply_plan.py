"""Which lead messages get a reply, on which channel, under which key (pure).

Wiring, per ``ChatMessage`` with its ``MatchResult``:

1. ``plan_reply(message, match, replies_enabled)`` → ``ReplyPlan`` or ``Skipped(reason)``.
2. ``caps.decide(plan.touch, caps, now, store)`` → ``Granted`` / ``Suppressed(reason)`` / ``Deferred``.
3. ``book.render(plan.touch.subtype, plan.touch.channel, platform, plan.context(product),
   avoid=recent_texts_for(plan.touch.target), key=plan.key)`` → ``Rendered`` / ``NoReply``.
   Render once and store the text in the outbox: a retry sends the stored text.
"""

from __future__ import annotations

from dataclasses import dataclass

from handlers.caps import Touch
from handlers.events import ChatMessage, DirectMessage
from keywords.api import MatchResult
from replies.render import ProductFacts, ReplyContext

CHANNEL_FOR_ORIGIN = {"live": "live_chat", "video": "public_reply", "dm": "private_message"}


@dataclass(frozen=True, slots=True)
class Skipped:
    reason: str


@dataclass(frozen=True, slots=True)
class ReplyPlan:
    touch: Touch
    key: str  # idempotency key: reply:{platform}:{message event id}
    nickname: str
    reply_to: str  # the platform message id answered

    def context(self, product: ProductFacts | None = None, store: str | None = None) -> ReplyContext:
        return ReplyContext(nickname=self.nickname, product=product, store=store)


def plan_reply(
    message: ChatMessage | DirectMessage, match: MatchResult | None, replies_enabled: bool = True
) -> ReplyPlan | Skipped:
    """Reply to the strongest intent of a lead message, on the channel where it was asked (a
    private message is answered privately)."""
    if not replies_enabled:
        return Skipped("replies.enabled=false")
    if getattr(message, "is_self", False):
        return Skipped("our own message")
    if match is None or not match.is_lead:
        return Skipped("no purchase intent")
    if message.viewer.is_anonymous and message.origin.kind != "live":
        return Skipped("anonymous author (cannot be capped per person)")
    origin = message.origin
    channel = CHANNEL_FOR_ORIGIN[origin.kind]
    user = message.viewer.user_id if not message.viewer.is_anonymous else f"anon:{message.viewer.nickname}"
    person = f"{message.viewer.platform or origin.platform}:{user}"
    target = message.viewer.user_id if channel == "private_message" else origin.key
    touch = Touch("reply", match.primary_intent, person, origin.platform, origin.account, channel, target)
    return ReplyPlan(touch, f"reply:{origin.platform}:{message.event_id}", message.viewer.nickname, message.event_id)

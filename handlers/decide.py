"""Turn a batch of events and their matches into one storage ``Batch`` (pure).

This is the "decide" step of source → normalise → match → decide → outbox → send: it
records every event (messages, interactions, echoes), converts match explanations into
rows, asks the router's handlers which actions to propose, and notes each source's cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from handlers.context import DecisionContext
from handlers.events import (
    ChatMessage,
    DirectMessage,
    Follow,
    Gift,
    Like,
    LiveEnded,
    LiveScheduled,
    LiveStarted,
    MemberJoined,
    SendEcho,
    SourceItem,
    Viewer,
)
from handlers.reminders import broadcast_from_event, subscription_reason
from handlers.router import Router
from keywords.api import MatchResult
from storage.records import (
    Batch,
    BroadcastRecord,
    CursorUpdate,
    DmWindowRecord,
    EchoRecord,
    InteractionRecord,
    MatchRecord,
    MessageRecord,
    PersonRef,
    SubscriptionRecord,
)

INTERACTION_KINDS: dict[type, str] = {
    Follow: "follow",
    MemberJoined: "enter",
    Like: "like",
    Gift: "gift",
    LiveStarted: "live_start",
    LiveEnded: "live_end",
    LiveScheduled: "scheduled",
}


def person(viewer: Viewer) -> PersonRef:
    user_id = viewer.user_id if not viewer.is_anonymous else f"anon:{viewer.nickname}"
    return PersonRef(viewer.platform, user_id, viewer.nickname, viewer.fan_level, viewer.badge, viewer.region)


def match_records(result: MatchResult) -> tuple[MatchRecord, ...]:
    product = result.product.product_id if result.product else None
    return tuple(
        MatchRecord(
            intent=hit.intent,
            keyword=hit.keyword,
            rule=hit.rule,
            span_start=hit.span[0],
            span_end=hit.span[1],
            matched=hit.matched,
            accepted=hit.accepted,
            rejected_because=hit.rejected_because,
            product=product,
            link_number=result.link_number,
        )
        for hit in result.hits
    )


def products_of(result: MatchResult) -> tuple[str, ...]:
    if result.product is not None:
        return (result.product.product_id,)
    if result.link_number is not None:
        return (f"#{result.link_number}",)
    return ()


WINDOW_PLATFORMS = frozenset({"douyin_open"})  # private messages only inside a reply window


def window_keys_to_look_up(items: Sequence[tuple[str, SourceItem]]) -> list[tuple[str, str, str]]:
    """(platform, account, user id) of the followers whose DM greeting depends on a stored window."""
    return sorted({
        (event.origin.platform, event.origin.account, event.viewer.user_id)
        for _, item in items
        if isinstance(event := item.event, Follow) and event.origin.platform in WINDOW_PLATFORMS
    })  # fmt: skip


def windows_in(items: Sequence[tuple[str, SourceItem]]) -> dict[tuple[str, str, str], float]:
    """Windows opened by private messages in this very batch (not in the database yet)."""
    found: dict[tuple[str, str, str], float] = {}
    for _, item in items:
        window = reply_window(item.event) if isinstance(item.event, DirectMessage) else None
        if window is not None:
            key = (window.platform, window.account, window.user_id)
            found[key] = max(found.get(key, 0.0), window.until)
    return found


def reply_window(event: ChatMessage | DirectMessage) -> DmWindowRecord | None:
    """The private-message reply window an inbound DM opened, to be stored for every sender."""
    if not isinstance(event, DirectMessage) or event.reply_window_until is None:
        return None
    if not (event.conversation_id and event.reply_scene and event.viewer.user_id):
        return None
    return DmWindowRecord(
        event.origin.platform,
        event.origin.account,
        event.viewer.user_id,
        event.event_id,
        event.conversation_id,
        event.reply_scene,
        event.reply_window_until,
    )


@dataclass
class Decider:
    router: Router
    matcher_version: str = ""

    @staticmethod
    def subscription(
        event: ChatMessage | DirectMessage, intents: Sequence[str], context: DecisionContext
    ) -> SubscriptionRecord | None:
        """Subscribe the author to live reminders when they asked for the next live or showed intent."""
        if context.reminders is None or getattr(event, "is_self", False) or event.viewer.is_anonymous:
            return None
        reason = subscription_reason(intents, event.text, context.reminders)
        if reason is None:
            return None
        origin = event.origin
        on_video = origin.kind == "video"
        return SubscriptionRecord(
            person(event.viewer),
            origin.account,
            reason,
            event.ts or context.now,
            video=origin.key if on_video else None,
            comment_id=event.event_id if on_video else None,
        )

    def decide(
        self,
        items: Sequence[tuple[str, SourceItem]],
        matches: Sequence[MatchResult | None],
        base_context: DecisionContext,
    ) -> Batch:
        batch = Batch()
        for (source_key, item), result in zip(items, matches, strict=True):
            event = item.event
            context = replace(base_context, match=result)
            if isinstance(event, ChatMessage | DirectMessage):
                intents = result.intents if (result is not None and not getattr(event, "is_self", False)) else ()
                batch.messages.append(
                    MessageRecord(
                        platform=event.origin.platform,
                        platform_msg_id=event.event_id,
                        person=person(event.viewer),
                        origin=event.origin.label,
                        kind="chat" if isinstance(event, ChatMessage) else "dm",
                        text=event.text,
                        ts=event.ts,
                        received_at=item.received_at or base_context.now,
                        is_self=getattr(event, "is_self", False),
                        primary_intent=intents[0] if intents else "none",
                        intents=intents,
                        products=products_of(result) if (result is not None and intents) else (),
                        score=result.score if result is not None else 0.0,
                        matcher_version=self.matcher_version,
                        matches=match_records(result) if result is not None else (),
                    )
                )
                subscription = self.subscription(event, intents, base_context)
                if subscription is not None:
                    batch.subscriptions.append(subscription)
                window = reply_window(event)
                if window is not None:
                    batch.dm_windows.append(window)
            elif isinstance(event, SendEcho):
                batch.echoes.append(EchoRecord(event.idempotency_key, event.origin.key, event.text, event.ts))
            else:
                kind = INTERACTION_KINDS.get(type(event), type(event).__name__.lower())
                viewer = getattr(event, "viewer", None)
                data: dict[str, object] = {}
                if isinstance(event, Gift):
                    data = {"gift": event.gift_name, "count": event.count, "value": event.value}
                elif isinstance(event, Like):
                    data = {"count": event.count}
                elif isinstance(event, LiveScheduled):
                    data = {"starts_at": event.starts_at, "title": event.title}
                    b = broadcast_from_event(event)
                    batch.broadcasts.append(BroadcastRecord(b.broadcast_id, b.starts_at, b.title, b.platform, b.account, b.room))
                batch.interactions.append(
                    InteractionRecord(
                        platform=event.origin.platform,
                        event_id=event.event_id,
                        kind=kind,
                        origin=event.origin.label,
                        ts=event.ts,
                        person=person(viewer) if viewer is not None else None,
                        data=data,
                    )
                )
            batch.actions.extend(self.router.dispatch(event, context))
            previous = batch.cursors.get(source_key)
            cursor = item.cursor if item.cursor is not None else (previous.cursor if previous else None)
            batch.cursors[source_key] = CursorUpdate(source_key, cursor, (previous.events if previous else 0) + 1)
        return batch

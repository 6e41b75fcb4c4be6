"""The periodic reminder job's decisions (pure): due reminders → outbox actions, within caps.

The worker loads the schedule and the subscribers from the database, then calls
``reminder_actions``; every reminder becomes one action keyed ``reminder:{broadcast}:{person}``
(a unique index, so never twice, whatever the number of workers), with the broadcast start
as its deadline (the sender never sends it later), and a subscriber without a usable channel
becomes a ``skipped`` action with the reason (public live chat is not a reminder channel).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from handlers.context import PRIORITY, CapsPolicy
from handlers.dm_rules import DmState
from handlers.reminders import Broadcast, Subscriber, minutes_until, plan_reminders, reminder_key
from handlers.settings import RemindersSettings
from replies.render import NoReply, ReplyBook, ReplyContext, format_live_time
from storage.records import ActionRecord, PersonRef


def broadcast_of(row: Mapping[str, Any]) -> Broadcast:
    return Broadcast(
        str(row["broadcast_id"]), float(row["starts_at"]), str(row["title"] or ""), str(row["platform"] or ""),
        str(row["account"] or ""), str(row["room"] or ""), row.get("started_at"),
    )


def subscriber_of(row: Mapping[str, Any]) -> Subscriber:
    return Subscriber(
        person_key=f"{row['platform']}:{row['user_id']}",
        user_id=str(row["user_id"]),
        platform=str(row["platform"]),
        account=str(row["account"]),
        nickname=str(row["nickname"] or ""),
        subscribed_at=float(row["subscribed_at"]),
        reason=str(row["reason"] or ""),
        comment_target=row.get("video") or None,
        dm=DmState(window_until=row.get("dm_window_until")),  # Douyin Open: DM allowed inside it
    )


def reminder_actions(
    broadcasts: Sequence[Broadcast],
    subscribers: Sequence[Subscriber],
    already_sent: Collection[str],
    now: float,
    *,
    settings: RemindersSettings,
    caps: CapsPolicy,
    book: ReplyBook,
    shadow: bool,
    echo_channels: frozenset[tuple[str, str]] = frozenset(),
    comment_ids: Mapping[str, str] | None = None,  # person key -> the comment to reply under
    store_name: str | None = None,
) -> list[ActionRecord]:
    due, skipped = plan_reminders(broadcasts, subscribers, already_sent, now, settings)
    actions: list[ActionRecord] = []
    for item in due:
        b, sub, touch = item.broadcast, item.subscriber, item.touch
        context = ReplyContext(
            nickname=sub.nickname,
            title=b.title or None,
            minutes=minutes_until(b, now),
            next_live=format_live_time(b.starts_at, now, caps.settings.timezone, book.language),
            store=store_name,
        )
        rendered = book.render("reminder", touch.channel, touch.platform, context, key=item.key)
        status, reason, text = ("shadow" if shadow else "pending"), "", ""
        cap_plan = None
        if isinstance(rendered, NoReply):
            status, reason = "skipped", f"skipped: {rendered}"
        else:
            text = rendered.text
            cap_plan = caps.plan(touch, now, shadow=shadow, extra=item.claims)
            if cap_plan.refused is not None:
                status, reason = "suppressed", cap_plan.refused
        granted = cap_plan is not None and cap_plan.refused is None
        actions.append(
            ActionRecord(
                kind="reminder",
                subtype=b.broadcast_id[:32],
                channel=touch.channel,
                platform=touch.platform,
                account=touch.account,
                target=touch.target,
                text=text,
                idempotency_key=item.key,
                origin=f"schedule:{b.broadcast_id}",
                person=PersonRef(sub.platform, sub.user_id, sub.nickname),
                reply_to=(comment_ids or {}).get(sub.person_key) if touch.channel == "public_reply" else None,
                recipient=sub.user_id if touch.channel == "private_message" else None,
                priority=PRIORITY["reminder"],
                claims=cap_plan.claims if granted and cap_plan is not None else (),
                status=status,
                reason=reason or item.why,
                echo_expected=(touch.platform, touch.channel) in echo_channels,
                not_before=cap_plan.not_before if cap_plan is not None else 0.0,
                deadline=item.deadline,
            )
        )
    for skip in skipped:
        sub = skip.subscriber
        actions.append(
            ActionRecord(
                kind="reminder",
                subtype=skip.broadcast.broadcast_id[:32],
                channel=settings.channels[0] if settings.channels else "private_message",
                platform=sub.platform,
                account=sub.account,
                target=sub.user_id,
                text="",
                idempotency_key=reminder_key(skip.broadcast, sub),
                origin=f"schedule:{skip.broadcast.broadcast_id}",
                person=PersonRef(sub.platform, sub.user_id, sub.nickname),
                priority=PRIORITY["reminder"],
                status="skipped",
                reason=f"skipped: {skip.reason}",
            )
        )
    return actions

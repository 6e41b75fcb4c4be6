"""Reaction to a new follower: a greeting, once per person per period, within caps (pure).

- In a live room the greeting is batched: at follow time the person's own claims ("greeted on
  this account within ``greetings.period_days``", per-person caps) are recorded as a
  claim-only action with status ``batched``; the repository grants or refuses them in the
  batch's transaction and reports the granted keys, which the worker feeds to the room's
  ``GreetingBatcher``. A person refused there is never named. When a batch is due,
  ``batch_action`` turns it into ONE chat message with the room-level claims (room budget,
  quota) that settles the named people's rows (``included``, or the room refusal's reason).
- As a private message only where ``handlers.dm_rules`` allows it; otherwise the follow is
  recorded as ``skipped`` with the platform rule that forbids it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

from handlers.context import PRIORITY, CapsPolicy, DecisionContext
from handlers.dm_rules import DmState
from handlers.events import Follow
from handlers.greetings import GreetingBatch, GreetingPlan, Skipped, person_key, plan_greeting
from handlers.router import Router
from replies.render import NoReply, RecentTexts, ReplyBook, ReplyContext
from storage.records import ActionRecord, CounterClaim, PersonRef

router = Router()


def follower(event: Follow) -> PersonRef:
    v = event.viewer
    user_id = v.user_id if not v.is_anonymous else f"anon:{v.nickname}"
    return PersonRef(v.platform or event.origin.platform, user_id, v.nickname, v.fan_level, v.badge, v.region)


def greeting_key(event: Follow) -> str:
    """One key per follow event: the once-per-period claim, not the key, prevents a second greeting."""
    o = event.origin
    return f"greet:{o.platform}:{o.account}:{person_key(event)}:{event.event_id}"


def wants_greeting(event: Follow, context: DecisionContext) -> bool:
    return context.greetings is not None and context.greetings.enabled


@router.on(Follow, wants_greeting)
def greet_follower(event: Follow, context: DecisionContext) -> Iterator[ActionRecord]:
    assert context.greetings is not None
    settings = context.greetings
    o = event.origin
    window = context.dm_windows.get((o.platform, o.account, event.viewer.user_id))
    plan = plan_greeting(event, settings, context.now, DmState(window_until=window))
    record = ActionRecord(
        kind="greeting",
        subtype="follow",
        channel=settings.channels[0] if settings.channels else "live_chat",
        platform=o.platform,
        account=o.account,
        target=o.key,
        text="",
        idempotency_key=greeting_key(event),
        origin=o.label,
        person=follower(event),
        source_event=(o.platform, event.event_id),
        priority=PRIORITY["greeting"],
    )
    if isinstance(plan, Skipped):
        yield replace(record, status="skipped", reason=f"skipped: {plan.reason}")
        return
    yield _planned(event, plan, context, record)


def _planned(event: Follow, plan: GreetingPlan, context: DecisionContext, record: ActionRecord) -> ActionRecord:
    touch = plan.touch
    record = replace(record, channel=touch.channel, target=touch.target)
    cap_plan = context.caps.plan(touch, context.now, shadow=context.shadow, extra=plan.claims)
    refused = cap_plan.refused
    if plan.batched:
        # Claim-only: the person's own caps now; the room message comes from the batcher.
        if refused:
            return replace(record, status="suppressed", reason=refused)
        return replace(record, status="batched", reason=plan.why, claims=cap_plan.claims)
    rendered = context.book.render(
        "greeting",
        touch.channel,
        touch.platform,
        ReplyContext(nickname=event.viewer.nickname, store=context.store_name),
        avoid=context.recent.get(touch.target),
        key=record.idempotency_key,
    )
    if isinstance(rendered, NoReply):
        return replace(record, status="skipped", reason=f"skipped: {rendered}")
    if refused:
        return replace(record, status="suppressed", reason=refused, text=rendered.text)
    return replace(
        record,
        status="shadow" if context.shadow else "pending",
        text=rendered.text,
        recipient=event.viewer.user_id,
        claims=cap_plan.claims,
        echo_expected=(touch.platform, touch.channel) in context.echo_channels,
        not_before=cap_plan.not_before,
    )


def batch_action(
    batch: GreetingBatch,
    settles: Sequence[str],
    *,
    book: ReplyBook,
    caps: CapsPolicy,
    now: float,
    shadow: bool,
    recent: RecentTexts,
    echo_channels: frozenset[tuple[str, str]],
) -> ActionRecord:
    """One live-chat message greeting a room's batch of followers, with the room-level claims.

    ``settles``: the claim-only keys of the people named (settled in the same transaction).
    """
    touch = batch.touch()
    rendered = book.render("greeting_batch", "live_chat", batch.platform, batch.context(), avoid=recent.get(batch.room), key=batch.key)
    status, reason, text = ("shadow" if shadow else "pending"), "", ""
    claims: tuple[CounterClaim, ...] = ()
    not_before = 0.0
    if isinstance(rendered, NoReply):
        status, reason = "skipped", f"skipped: {rendered}"
    else:
        text = rendered.text
        plan = caps.plan(touch, now, shadow=shadow)
        if plan.refused is not None:
            status, reason = "suppressed", plan.refused
        else:
            claims, not_before = plan.claims, plan.not_before
            recent.add(batch.room, rendered)
    return ActionRecord(
        kind="greeting",
        subtype="batch",
        channel="live_chat",
        platform=batch.platform,
        account=batch.account,
        target=batch.room,
        origin=f"{batch.platform}:live:{batch.room}",
        text=text,
        idempotency_key=batch.key,
        priority=PRIORITY["greeting"],
        claims=claims,
        status=status,
        reason=reason,
        echo_expected=(batch.platform, "live_chat") in echo_channels,
        not_before=not_before,
        settles=tuple(settles),
    )

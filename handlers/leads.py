"""Reaction to a purchase-intent chat message: answer it, within caps, exactly once.

The filter in front (``is_purchase_ask``) and the caps after (claims applied by the
repository) decide whether anything is sent; this function only decides *what*: the
channel where the ask was made, a product-aware text that does not repeat the room's last
message, the idempotency key derived from the platform message id (so a replayed message can
never produce a second reply), and the claims to consume.
"""

from __future__ import annotations

from collections.abc import Iterator

from handlers.context import PRIORITY, DecisionContext, product_facts
from handlers.events import ChatMessage, DirectMessage
from handlers.reply_plan import ReplyPlan, plan_reply
from handlers.router import Router
from replies.render import NoReply
from storage.records import ActionRecord, PersonRef

router = Router()


def person_of(event: ChatMessage | DirectMessage) -> PersonRef:
    viewer = event.viewer
    user_id = viewer.user_id if not viewer.is_anonymous else f"anon:{viewer.nickname}"
    return PersonRef(viewer.platform, user_id, viewer.nickname, viewer.fan_level, viewer.badge, viewer.region)


def is_purchase_ask(event: ChatMessage | DirectMessage, context: DecisionContext) -> bool:
    is_self = getattr(event, "is_self", False)
    return context.replies_enabled and not is_self and context.match is not None and context.match.is_lead


@router.on(DirectMessage, is_purchase_ask)  # answered privately, inside the platform's reply window
@router.on(ChatMessage, is_purchase_ask)
def reply_to_ask(event: ChatMessage | DirectMessage, context: DecisionContext) -> Iterator[ActionRecord]:
    plan = plan_reply(event, context.match, context.replies_enabled)
    if not isinstance(plan, ReplyPlan):
        return
    touch = plan.touch
    rendered = context.book.render(
        touch.subtype,  # templates are per intent
        touch.channel,
        touch.platform,
        plan.context(product_facts(context.match, context.catalogue), context.store_name),
        avoid=context.recent.get(touch.target),
        key=plan.key,
    )
    status, reason, text = ("shadow" if context.shadow else "pending"), "", ""
    cap_plan = None
    if isinstance(rendered, NoReply):
        status, reason = "skipped", f"skipped: {rendered.reason}: {rendered.detail}"
    else:
        text = rendered.text
        cap_plan = context.caps.plan(touch, context.now, shadow=context.shadow)
        if cap_plan.refused is not None:
            status, reason = "suppressed", cap_plan.refused
        else:
            context.recent.add(touch.target, rendered)
    yield ActionRecord(
        kind=touch.kind,
        subtype=touch.subtype,
        channel=touch.channel,
        platform=touch.platform,
        account=touch.account,
        target=touch.target,
        origin=event.origin.label,
        text=text,
        idempotency_key=plan.key,
        person=person_of(event),
        source_event=(event.origin.platform, event.event_id),
        reply_to=plan.reply_to if touch.channel == "public_reply" else None,
        recipient=event.viewer.user_id if touch.channel == "private_message" else None,
        priority=PRIORITY["reply"],
        claims=cap_plan.claims if cap_plan is not None and cap_plan.refused is None else (),
        status=status,
        reason=reason,
        echo_expected=(touch.platform, touch.channel) in context.echo_channels,
        not_before=cap_plan.not_before if cap_plan is not None else 0.0,
    )

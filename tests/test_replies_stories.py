"""End-to-end decision stories: match → plan → caps → render, all pure."""

from __future__ import annotations

from handlers.caps import Granted, MemoryCounterStore, Suppressed, decide
from handlers.events import ChatMessage, Origin, Viewer
from handlers.reply_plan import ReplyPlan, Skipped, plan_reply
from handlers.settings import CapsSettings
from keywords.api import MatchResult
from replies.render import ProductFacts, Rendered, ReplyBook, default_template_paths

T0 = 1_795_420_800.0
ROOM = Origin("bilibili", "shop", "live", "21452505")
BOOK = ReplyBook.load(default_template_paths("zh"))
CATALOGUE = {3: ProductFacts("加绒连帽卫衣", 3, 89.0, 120)}


def ask(event_id: str, user: str, nickname: str, text: str, intent: str, ts: float) -> tuple[ChatMessage, MatchResult]:
    message = ChatMessage(ROOM, event_id, Viewer("bilibili", user, nickname), text, ts)
    return message, MatchResult(text, intents=(intent,), link_number=3 if "3号" in text else None, score=0.9)


def handle(
    asks: list[tuple[ChatMessage, MatchResult]], caps: CapsSettings, store: MemoryCounterStore
) -> tuple[list[str], list[str]]:
    sent: list[str] = []
    reasons: list[str] = []
    for message, match in asks:
        plan = plan_reply(message, match)
        if isinstance(plan, Skipped):
            reasons.append(plan.reason)
            continue
        assert isinstance(plan, ReplyPlan)
        verdict = decide(plan.touch, caps, message.ts, store)
        if isinstance(verdict, Suppressed):
            reasons.append(verdict.reason)
            continue
        assert isinstance(verdict, Granted)
        product = CATALOGUE.get(match.link_number) if match.link_number else None
        result = BOOK.render(plan.touch.subtype, plan.touch.channel, "bilibili", plan.context(product), avoid=sent[-5:], key=plan.key)
        if isinstance(result, Rendered):
            sent.append(result.text)
        else:
            reasons.append(str(result))
    return sent, reasons


def test_a_viewer_asks_three_questions_in_a_minute_and_gets_one_reply_with_reasons_for_the_others() -> None:
    asks = [
        ask("m1", "42", "小明", "3号链接多少钱", "price", T0),
        ask("m2", "42", "小明", "有货吗", "stock", T0 + 20),
        ask("m3", "42", "小明", "165穿什么码", "spec", T0 + 40),
    ]
    sent, reasons = handle(asks, CapsSettings(), MemoryCounterStore())
    assert len(sent) == 1 and "¥89" in sent[0] and "小明" in sent[0]
    assert len(reasons) == 2 and all("reply.cooldown_s=300" in r for r in reasons)


def test_two_viewers_ask_the_price_of_link_3_and_both_get_it_in_different_words() -> None:
    asks = [ask("m1", "42", "小明", "3号链接多少钱", "price", T0), ask("m2", "43", "阿花", "3号链接多少钱", "price", T0 + 2)]
    sent, reasons = handle(asks, CapsSettings(), MemoryCounterStore())
    assert reasons == [] and len(sent) == 2
    assert all("¥89" in text for text in sent)
    assert sent[0].replace("小明", "") != sent[1].replace("阿花", "")


def test_messages_without_intent_and_our_own_echoes_are_skipped() -> None:
    message, _ = ask("m1", "42", "小明", "主播好", "price", T0)
    assert plan_reply(message, MatchResult("主播好")) == Skipped("no purchase intent")
    own = ChatMessage(ROOM, "m2", Viewer("bilibili", "1", "店铺"), "3号¥89", T0, is_self=True)
    assert plan_reply(own, MatchResult("x", intents=("price",))) == Skipped("our own message")

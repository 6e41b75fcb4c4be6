"""How fast is the dashboard's leads page on 100k leads? (a measurement, not a test)

    python bench/leads_page.py [--leads 100000] [--db /tmp/leads100k.db]

Builds an SQLite database with N leads (authors, one message each, intents, products),
then times ``storage.leads_query.list_leads`` — the exact query behind /leads and
/api/leads — for typical views, and the first rows of a streamed export. Each figure is the
median of 5 runs; the baseline is a plain ``SELECT count(*) FROM leads`` in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert, select

from storage import migrate
from storage.db import create_engine
from storage.leads_query import LeadFilter, iter_leads, list_leads
from storage.models import Author, Lead, LeadIntent, LeadProduct, Message, Store

INTENTS = ("price", "link", "stock", "spec", "shipping", "ordered", "want")
STATUSES = ("new", "contacted", "won", "lost", "ignored")
TEXTS = ("多少钱", "3号链接有货吗", "什么时候发货", "165穿什么码", "已拍", "我要", "上链接")


async def build(url: str, n: int) -> None:
    engine = create_engine(url)
    await migrate.upgrade(engine)
    rng = random.Random(7)
    now = time.time()
    async with engine.begin() as conn:
        await conn.execute(insert(Store).values(id=1, name="bench"))
        for start in range(0, n, 5000):
            ids = range(start + 1, min(n, start + 5000) + 1)
            authors, leads, messages, intents, products = [], [], [], [], []
            for i in ids:
                ts = now - rng.random() * 30 * 86400
                text = rng.choice(TEXTS)
                authors.append(
                    {"id": i, "store_id": 1, "platform": "sim", "platform_user_id": f"u{i}", "nickname": f"观众{i}",
                     "first_seen_at": ts, "last_seen_at": ts, "message_count": 1, "first_source": "sim:live:room-1"}
                )
                leads.append(
                    {"id": i, "store_id": 1, "author_id": i, "status": rng.choice(STATUSES), "score": rng.random(),
                     "first_seen_at": ts, "last_seen_at": ts, "message_count": 1,
                     "first_origin": f"sim:live:room-{i % 20}", "last_text": text, "notes": ""}
                )
                messages.append(
                    {"id": i, "store_id": 1, "platform": "sim", "platform_msg_id": f"m{i}", "author_id": i,
                     "origin": f"sim:live:room-{i % 20}", "kind": "chat", "text": text, "ts": ts, "received_at": ts,
                     "decided_at": ts, "is_self": False, "primary_intent": "price", "score": 0.9, "matcher_version": "b"}
                )
                for intent in rng.sample(INTENTS, 2):
                    intents.append({"lead_id": i, "intent": intent, "count": 1, "first_at": ts, "last_at": ts})
                products.append({"lead_id": i, "product": f"#{rng.randint(1, 30)}", "count": 1, "last_at": ts})
            for model, rows in ((Author, authors), (Lead, leads), (Message, messages), (LeadIntent, intents), (LeadProduct, products)):
                await conn.execute(insert(model), rows)
    await engine.dispose()


async def timed(label: str, make: object, runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        await make()  # type: ignore[operator]
        samples.append(time.perf_counter() - started)
    median = statistics.median(samples) * 1000
    print(f"{label:<55} {median:8.1f} ms")
    return median


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--db", default="/tmp/leadbot-bench-leads.db")
    args = parser.parse_args()
    path = Path(args.db)
    url = f"sqlite+aiosqlite:///{path}"
    if not await asyncio.to_thread(path.exists):
        started = time.perf_counter()
        await build(url, args.leads)
        print(f"built {args.leads} leads in {time.perf_counter() - started:.1f}s at {path}")
    engine = create_engine(url)

    async def count() -> None:
        async with engine.connect() as conn:
            await conn.execute(select(func.count()).select_from(Lead))

    async def page(lead_filter: LeadFilter, offset: int = 0) -> None:
        await list_leads(engine, lead_filter, limit=50, offset=offset)

    async def export_first_1000() -> None:
        seen = 0
        async for _ in iter_leads(engine, LeadFilter(intents=("price",))):
            seen += 1
            if seen >= 1000:
                break

    base = await timed("baseline: SELECT count(*) FROM leads", count)
    figures = {
        "page 1, newest first (the default view)": lambda: page(LeadFilter()),
        "page 1000 (offset 49,950)": lambda: page(LeadFilter(), 49_950),
        "intent = price, page 1": lambda: page(LeadFilter(intents=("price",))),
        "status = won, sort by score, page 1": lambda: page(LeadFilter(statuses=("won",), sort="score")),
        "product = #3 + score >= 0.5, page 1": lambda: page(LeadFilter(product="#3", min_score=0.5)),
        "last 7 days, page 1": lambda: page(LeadFilter(since=time.time() - 7 * 86400)),
        "search '观众4242' (nickname or message text)": lambda: page(LeadFilter(search="观众4242")),
        "export: first 1000 rows of intent = price": export_first_1000,
    }
    for label, make in figures.items():
        value = await timed(label, make)
        print(f"{'':<55} ({value / base:.1f}x the count baseline)")
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())

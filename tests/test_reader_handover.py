"""A source changing hands (lease lost, regained, restarted from the stored cursor) loses nothing.

Found by the three-worker kill test: on Python 3.11 ``asyncio.wait_for`` swallows a cancel that
lands just as the awaited item arrives, so a reader told to stop could keep tailing the room;
it shared the source's duplicate memory with the reader that replaced it, which then dropped
the room's last messages as "already seen" — and the zombie's own copies were discarded as
stale. Each of the three layers is checked here on its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from bot.app import build_app
from bot.connectors.base import ConnectorHealth, SourceItem
from bot.connectors.common import EchoTracker, ReconnectPolicy, reconnecting
from bot.connectors.sim.client import SimRoomSource
from handlers.events import ChatMessage, Origin, Viewer
from tests.fakes import SubstringMatcher
from tests.helpers import chat, make_config, start_sim


async def _endless(cursor: str | None) -> AsyncIterator[SourceItem]:
    """A busy room: an item is always ready, so every await completes at once."""
    origin = Origin("sim", "default", "live", "busy")
    n = int(cursor or 0)
    while True:
        n += 1
        await asyncio.sleep(0)
        yield SourceItem(ChatMessage(origin, f"m{n}", Viewer("sim", "u", "u"), "hi", 0.0), str(n))


async def test_a_cancelled_reader_stops_even_while_items_keep_arriving() -> None:
    stuck = 0
    for attempt in range(300):
        stream = reconnecting(
            _endless, None, policy=ReconnectPolicy(), health=ConnectorHealth(), name="busy", silence_s=5.0
        )

        async def consume(stream: AsyncIterator[SourceItem] = stream) -> None:
            async for _ in stream:
                pass

        task = asyncio.create_task(consume())
        for _ in range(attempt % 7 + 1):  # cancel at varying points of the item cycle
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=1.0)
        if not done:
            stuck += 1
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
    assert stuck == 0, f"{stuck} of 300 cancelled readers kept running"


async def test_a_new_stream_of_a_source_yields_what_an_older_stream_already_saw(tmp_path: Path) -> None:
    lines = [chat(f"u{n}", f"第{n}条 多少钱", mid=f"m{n}") for n in range(30)]
    sim = await start_sim(lines, rate=0.0)
    try:
        source = SimRoomSource(
            sim.base_url, "room-1", "default", ConnectorHealth(), EchoTracker(), ReconnectPolicy(), silence_s=None
        )
        old = [item.event.event_id async for item in source.stream(None) if isinstance(item.event, ChatMessage)]
        new = [item.event.event_id async for item in source.stream(None) if isinstance(item.event, ChatMessage)]
    finally:
        await sim.close()
    assert old == [f"m{n}" for n in range(30)]
    assert new == old, "the second stream must not treat the first stream's ids as duplicates"


class _Source:
    """A source whose reader must stop once its epoch is no longer current."""

    key = "fake:room:1"

    def __init__(self) -> None:
        self.yielded = 0

    async def stream(self, cursor: str | None) -> AsyncIterator[SourceItem]:
        origin = Origin("sim", "default", "live", "1")
        while True:
            self.yielded += 1
            yield SourceItem(ChatMessage(origin, f"e{self.yielded}", Viewer("sim", "u", "u"), "hi", 0.0), None)
            await asyncio.sleep(0)


async def test_a_superseded_reader_stops_by_itself_when_its_cancel_never_arrives(db_url: str, tmp_path: Path) -> None:
    app = await build_app(make_config(db_url, tmp_path), connectors=[], matcher=SubstringMatcher())
    try:
        worker = app.worker
        source = _Source()
        worker.assigner.sources[source.key] = source  # type: ignore[assignment]
        worker.assigner.reading.add(source.key)
        worker.assigner.epochs[source.key] = 1
        reader = asyncio.create_task(worker._read(source, 1))  # type: ignore[arg-type]
        while source.yielded < 5:  # noqa: ASYNC110 - yield to the reader until the fake source has been read 5 times
            await asyncio.sleep(0)
        worker.assigner.epochs[source.key] = 2  # a newer reader owns the source now; no cancel sent
        await asyncio.wait_for(reader, timeout=2.0)
        assert source.yielded < 10, "the old reader noticed within one item"
    finally:
        await app.engine.dispose()

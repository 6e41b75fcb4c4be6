"""Douyin connector ↔ simulator on 127.0.0.1: viewers' chat in, replies out, faults survived."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.connectors.base import Connector, OutgoingMessage, Source
from bot.connectors.douyin import build_connector
from bot.connectors.douyin.client import DouyinRoomSource, unpack_cursor
from bot.connectors.douyin.settings import DouyinSettings
from bot.connectors.douyin.simulator import (
    DOUYIN_SIM,
    SIM_SELF_USER_ID,
    DouyinSimulator,
    create_simulator,
    simulator_connector_config,
)
from bot.connectors.errors import AuthExpired, RateLimited, TransientError
from bot.connectors.replay.formats import RecordedLine
from bot.connectors.simkit import SimState, start_app
from handlers.events import ChatMessage, Event, Follow, LiveEnded, SendEcho, SourceItem

ROOM = "646454278948"
pytestmark = pytest.mark.timeout(30)


def settings_for(base_url: str, rooms: list[str]) -> DouyinSettings:
    entry = simulator_connector_config(base_url, rooms)
    return DouyinSettings.model_validate({k: v for k, v in entry.items() if k != "type"})


def chat(text: str, user: str = "1001", nick: str = "小红") -> RecordedLine:
    return RecordedLine(kind="chat", text=text, user_id=user, nickname=nick, room=ROOM)


@dataclass
class Rig:
    connector: Connector
    sim: DouyinSimulator
    state: SimState
    base_url: str

    @property
    def source(self) -> DouyinRoomSource:
        source = self.connector.sources[0]
        assert isinstance(source, DouyinRoomSource)
        return source

    def say(self, text: str, user: str = "1001", **extra: Any) -> None:
        self.sim.add(self.sim.rooms[ROOM], extra.pop("kind", "chat"), user_id=user, nickname=f"viewer{user}", text=text, **extra)

    async def connected(self, count: int = 1, within_s: float = 10.0) -> None:
        """Wait until the simulator has seen ``count`` push connections (live edge is fixed then)."""
        for _ in range(int(within_s / 0.01)):
            if len(self.sim.stats.connections) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"no push connection #{count} within {within_s}s")

    async def listen(self, cursor: str | None = None) -> Listener:
        listener = Listener(self.source, cursor)
        await self.connected(len(self.sim.stats.connections) + 1)
        return listener

    async def fault(self, **body: Any) -> None:
        async with aiohttp.ClientSession() as http, http.post(f"{self.base_url}/_sim/faults", json=body) as resp:
            assert resp.status == 200


@pytest.fixture
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    options: dict[str, Any] = getattr(request, "param", {})
    script = options.pop("script", [])
    app, state = create_simulator(script, rooms=[ROOM], rate=0, **options.pop("sim", {}))
    runner, port = await start_app(app)
    base = f"http://127.0.0.1:{port}"
    settings = settings_for(base, [ROOM]).model_copy(
        update={"heartbeat_s": 0.1, "silence_s": 1.0, "reconnect_initial_s": 0.05, "reconnect_max_s": 0.2, **options}
    )
    connector = build_connector(settings, "shop")
    try:
        yield Rig(connector, app[DOUYIN_SIM], state, base)
    finally:
        await connector.aclose()
        await runner.cleanup()


class Listener:
    """Runs a source's stream in the background, like the pipeline does."""

    def __init__(self, source: Source, cursor: str | None = None) -> None:
        self.queue: asyncio.Queue[SourceItem | None] = asyncio.Queue()
        self.task = asyncio.create_task(self._run(source.stream(cursor)))

    async def _run(self, stream: AsyncIterator[SourceItem]) -> None:
        try:
            async for item in stream:
                await self.queue.put(item)
        finally:
            await self.queue.put(None)

    async def take(self, n: int, within_s: float = 10.0) -> list[SourceItem]:
        items: list[SourceItem] = []
        while len(items) < n:
            item = await asyncio.wait_for(self.queue.get(), within_s)
            if item is None:
                break
            items.append(item)
        return items

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def texts(items: list[SourceItem]) -> list[str]:
    return [i.event.text for i in items if isinstance(i.event, ChatMessage)]


@pytest.mark.parametrize("rig", [{"script": [chat("多少钱"), chat("几号链接", "1002"), RecordedLine("follow", "", "1003", "阿强", ROOM)]}], indirect=True)
async def test_scripted_danmaku_arrive_as_typed_events_and_every_frame_is_acked(rig: Rig) -> None:
    listener = await rig.listen()  # the script starts playing when the first viewer joins
    items = await listener.take(3)
    first, second, follow = (i.event for i in items)
    assert isinstance(first, ChatMessage) and first.text == "多少钱" and first.viewer.user_id == "1001"
    assert first.origin.label == f"douyin:live:{ROOM}" and first.origin.account == "shop"
    assert isinstance(second, ChatMessage) and second.text == "几号链接"
    assert isinstance(follow, Follow) and follow.viewer.nickname == "阿强"
    cursor = unpack_cursor(items[-1].cursor)
    assert cursor is not None and cursor[0].startswith("t-") and cursor[1].startswith("internal_src:pushserver")
    await asyncio.sleep(0.35)
    await listener.close()
    stats = rig.sim.stats
    assert stats.acks_ok == stats.frames_sent >= 1 and stats.bad_acks == 0
    assert stats.heartbeats >= 2  # 0.1 s heartbeat interval
    assert rig.connector.health.extra["acks_sent"] == stats.frames_sent


async def test_live_end_ends_the_stream(rig: Rig) -> None:
    listener = await rig.listen()
    rig.say("还有货吗")
    rig.say("", kind="live_pause")
    rig.say("", kind="live_end")
    events = [i.event for i in await listener.take(5)]
    assert [type(e) for e in events] == [ChatMessage, LiveEnded]
    await listener.task
    assert rig.connector.health.state == "offline"
    assert rig.connector.health.extra["live_paused"] == 1


async def test_a_restart_mid_frame_replays_that_frame_and_skips_nothing(rig: Rig) -> None:
    rig.sim.batch = 2
    listener = await rig.listen()
    for n in range(5):
        rig.say(f"q{n}")
    first = await listener.take(3)  # q0 q1 (frame one), q2 (first of frame two)
    await listener.close()
    stored = first[-1].cursor  # what the pipeline committed with q2
    assert stored == first[-2].cursor  # q2 still carries the position *before* its frame
    rig.say("q5")
    fresh = build_connector(rig.source.settings, "shop")  # a new process: no in-memory de-dup
    resumed = Listener(fresh.sources[0], stored)
    got = await resumed.take(4)
    await resumed.close()
    await fresh.aclose()
    # frame two (q2, q3) is replayed; the pipeline's stored event ids drop the second q2
    assert texts(first) == ["q0", "q1", "q2"] and texts(got) == ["q2", "q3", "q4", "q5"]
    last = rig.sim.stats.connections[-1]
    assert unpack_cursor(stored) == (last["cursor"], last["internal_ext"])


async def test_a_restart_after_a_whole_frame_resumes_right_after_it(rig: Rig) -> None:
    rig.sim.batch = 2
    listener = await rig.listen()
    for n in range(4):
        rig.say(f"q{n}")
    first = await listener.take(2)  # exactly frame one
    await listener.close()
    rig.say("q4")
    fresh = build_connector(rig.source.settings, "shop")
    resumed = Listener(fresh.sources[0], first[-1].cursor)
    got = await resumed.take(3)
    await resumed.close()
    await fresh.aclose()
    assert texts(first) + texts(got) == ["q0", "q1", "q2", "q3", "q4"]


async def test_a_connection_dropped_mid_frame_reconnects_and_loses_nothing(rig: Rig) -> None:
    listener = await rig.listen()
    rig.say("first")
    assert texts(await listener.take(1)) == ["first"]
    await rig.fault(kind="drop")
    for n in range(3):
        rig.say(f"after-drop-{n}")
    rest = await listener.take(3)
    await listener.close()
    assert texts(rest) == ["after-drop-0", "after-drop-1", "after-drop-2"]
    assert rig.connector.health.reconnects == 1
    assert len(rig.sim.stats.connections) == 2
    assert rig.sim.stats.connections[1]["cursor"].startswith("t-")  # resumed, not from the live edge


async def test_a_silent_server_trips_the_watchdog_and_the_client_reconnects(rig: Rig) -> None:
    listener = await rig.listen()
    rig.say("hello")
    await listener.take(1)
    await rig.fault(kind="silence")
    rig.say("during silence")
    later = await listener.take(1, within_s=8)
    await listener.close()
    assert texts(later) == ["during silence"]
    assert rig.connector.health.reconnects >= 1
    assert "watchdog" in (rig.connector.health.last_error or "")


@pytest.mark.parametrize("rig", [{"heartbeat_s": 5.0, "silence_s": 3.0, "sim": {"heartbeat_timeout_s": 0.3}}], indirect=True)
async def test_the_server_drops_a_client_that_stops_heartbeating(rig: Rig) -> None:
    # the client's first heartbeat goes out on connect, the next only after 5 s
    listener = await rig.listen()
    rig.say("one")
    await listener.take(1)
    await asyncio.sleep(0.6)
    rig.say("two")
    later = await listener.take(1)
    await listener.close()
    assert texts(later) == ["two"]
    assert rig.sim.stats.heartbeat_timeouts >= 1
    assert rig.connector.health.reconnects >= 1


@pytest.mark.parametrize("kind", ["garbage", "truncate"])
async def test_garbage_and_truncated_frames_are_counted_and_the_connection_survives(rig: Rig, kind: str) -> None:
    rig.sim.batch = 1  # one message per frame: the two faults hit two frames
    listener = await rig.listen()
    rig.say("before")
    await listener.take(1)
    await rig.fault(kind=kind, count=2)
    for n in range(3):
        rig.say(f"m{n}")
    rest = await listener.take(3)
    await listener.close()
    assert texts(rest) == ["m0", "m1", "m2"]
    assert rig.connector.health.malformed_frames == 2
    assert rig.connector.health.reconnects == 0


async def test_a_rate_limited_room_page_waits_for_retry_after_then_connects(rig: Rig) -> None:
    await rig.fault(kind="status", status=429, retry_after=0.4)
    loop = asyncio.get_running_loop()
    started = loop.time()
    listener = await rig.listen()
    assert loop.time() - started >= 0.4
    rig.say("after the wait")
    items = await listener.take(1)
    await listener.close()
    assert texts(items) == ["after the wait"]
    assert rig.connector.health.reconnects == 1
    assert "RateLimited" in (rig.connector.health.last_error or "")


async def test_a_5xx_burst_is_retried_until_the_room_connects(rig: Rig) -> None:
    await rig.fault(kind="status", status=503, count=3)  # page, page, page (each attempt fails early)
    listener = await rig.listen()
    rig.say("still here")
    items = await listener.take(1)
    await listener.close()
    assert texts(items) == ["still here"]
    assert rig.connector.health.reconnects == 3
    assert "503" in (rig.connector.health.last_error or "")


async def test_a_5xx_on_the_push_handshake_is_retried(rig: Rig) -> None:
    listener = await rig.listen()
    rig.say("one")
    await listener.take(1)
    await rig.fault(kind="status", status=502, count=2)  # the room page is cached: both hit the handshake
    await rig.fault(kind="drop")
    rig.say("two")
    items = await listener.take(1)
    await listener.close()
    assert texts(items) == ["two"]
    assert rig.connector.health.reconnects == 3  # the drop, then two refused handshakes
    assert "502" in (rig.connector.health.last_error or "")
    assert len(rig.sim.stats.connections) == 2


def outgoing(text: str, key: str = "idem-1") -> OutgoingMessage:
    return OutgoingMessage(idempotency_key=key, platform="douyin", account="shop", channel="live_chat", target=ROOM, text=text)


async def test_a_reply_is_recorded_echoed_back_and_recognised_as_our_own(rig: Rig) -> None:
    listener = await rig.listen()
    rig.say("多少钱")
    await listener.take(1)
    assert rig.connector.sender is not None
    receipt = await rig.connector.sender.send(outgoing("亲，99元，3号链接"))
    again = await rig.connector.sender.send(outgoing("亲，99元，3号链接"))  # the outbox retried
    assert receipt.echo_expected and receipt.platform_message_id == again.platform_message_id
    assert rig.state.sends.duplicates == 1 and len(rig.state.sends.sends) == 1
    assert rig.state.sends.sends[0].text == "亲，99元，3号链接" and rig.state.sends.sends[0].target == ROOM
    items = await listener.take(2)
    await listener.close()
    echoed, confirmation = (i.event for i in items)
    assert isinstance(echoed, ChatMessage) and echoed.is_self and echoed.viewer.user_id == SIM_SELF_USER_ID
    assert isinstance(confirmation, SendEcho) and confirmation.idempotency_key == "idem-1"
    assert confirmation.platform_message_id == receipt.platform_message_id


async def test_a_viewer_repeating_our_words_is_not_taken_for_our_echo(rig: Rig) -> None:
    assert rig.connector.sender is not None
    listener = await rig.listen()
    rig.say("warmup")
    await listener.take(1)
    rig.say("3号链接")  # a viewer, before our echo arrives
    await rig.connector.sender.send(outgoing("3号链接"))
    items = await listener.take(3)
    await listener.close()
    events: list[Event] = [i.event for i in items]
    viewer, ours = events[0], events[1]
    assert isinstance(viewer, ChatMessage) and not viewer.is_self
    assert isinstance(ours, ChatMessage) and ours.is_self
    assert isinstance(events[2], SendEcho)


@pytest.mark.parametrize(
    "fault, error",
    [
        ({"kind": "status", "status": 429, "retry_after": 7}, RateLimited),
        ({"kind": "status", "status": 502}, TransientError),
        ({"kind": "status", "status": 401}, AuthExpired),
    ],
)
async def test_send_errors_are_typed(rig: Rig, fault: dict[str, Any], error: type[Exception]) -> None:
    assert rig.connector.sender is not None
    await rig.connector.sender.send(outgoing("warm up the room id", "k0"))
    await rig.fault(**fault)
    with pytest.raises(error) as caught:
        await rig.connector.sender.send(outgoing("hello", "k1"))
    if isinstance(caught.value, RateLimited):
        assert caught.value.retry_after == 7
    await rig.connector.sender.send(outgoing("hello", "k1"))  # the retry goes through, once
    assert [s.idempotency_key for s in rig.state.sends.sends] == ["k0", "k1"]


@pytest.mark.parametrize("rig", [{"sim": {"valid_sessionids": {"someone-else"}}}], indirect=True)
async def test_an_expired_sessionid_is_auth_expired(rig: Rig) -> None:
    assert rig.connector.sender is not None
    with pytest.raises(AuthExpired):
        await rig.connector.sender.send(outgoing("hi"))
    assert rig.state.sends.sends == []


async def test_inject_endpoint_feeds_the_room(rig: Rig) -> None:
    listener = await rig.listen()
    async with aiohttp.ClientSession() as http:
        body = {"type": "chat", "room": ROOM, "user_id": "42", "nickname": "n", "text": "有货吗"}
        async with http.post(f"{rig.base_url}/_sim/inject", json=body) as resp:
            assert resp.status == 200
    items = await listener.take(1)
    await listener.close()
    assert texts(items) == ["有货吗"]


def test_the_simulator_config_entry_loads_through_config_toml(tmp_path: Path) -> None:
    from bot.config import load_config
    from bot.connectors.registry import connector_specs

    entry = simulator_connector_config("http://127.0.0.1:9", ["a1"])
    lines = ["[[connectors]]"] + [f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in entry.items()]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (_, settings), = load_config(path).connectors
    assert isinstance(settings, DouyinSettings) and settings.ws_base_url == "ws://127.0.0.1:9"
    assert settings.sessionid is not None and "sim-sessionid" not in repr(settings)
    connector = connector_specs()["douyin"].build(settings, "shop")
    assert [s.key for s in connector.sources] == ["douyin:room:a1"]


def test_a_bad_room_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    from bot.config import ConfigError, load_config

    path = tmp_path / "config.toml"
    path.write_text('[[connectors]]\ntype = "douyin"\nrooms = ["live.douyin.com/1"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"connectors\[0\]\.rooms = .*web_rid"):
        load_config(path)


@pytest.mark.optional
def test_a_public_douyin_client_library_could_connect() -> None:
    """No maintained, importable Douyin web client exists on PyPI; checked names are listed."""
    for module in ("douyin_live", "douyinlive", "DouyinLiveWebFetcher", "dycast"):
        if importlib.util.find_spec(module) is not None:
            pytest.fail(f"{module} is importable: write the interop test for it")
    pytest.skip("no public Douyin web client library is installed (checked douyin_live, douyinlive, DouyinLiveWebFetcher, dycast)")


async def test_unknown_rooms_are_a_permanent_error() -> None:
    app, _ = create_simulator([], rooms=[ROOM], rate=0)
    runner, port = await start_app(app)
    try:
        connector = build_connector(settings_for(f"http://127.0.0.1:{port}", ["999"]), "shop")
        events = [i async for i in connector.sources[0].stream(None)]
        assert events == [] and connector.health.state == "failed"
        assert "404" in (connector.health.last_error or "")
    finally:
        await runner.cleanup()


_ = web  # aiohttp.web is the simulator's framework; imported for type context


async def test_two_rooms_each_get_their_own_script_lines() -> None:
    script = [
        RecordedLine("chat", "A号多少钱", "1", "a", room="111"),
        RecordedLine("chat", "B有货吗", "2", "b", room="222"),
        RecordedLine("chat", "A还有吗", "3", "c", room="111"),
    ]
    app, _ = create_simulator(script, rooms=["111", "222"], rate=50)
    runner, port = await start_app(app)
    connector = build_connector(settings_for(f"http://127.0.0.1:{port}", ["111", "222"]), "shop")
    sim = app[DOUYIN_SIM]
    try:
        first, second = Listener(connector.sources[0]), Listener(connector.sources[1])
        a_items, b_items = await first.take(2), await second.take(1)
        await first.close()
        await second.close()
        assert texts(a_items) == ["A号多少钱", "A还有吗"] and texts(b_items) == ["B有货吗"]
        assert {i.event.origin.key for i in a_items} == {"111"}
        assert len(sim.stats.connections) == 2
    finally:
        await connector.aclose()
        await runner.cleanup()

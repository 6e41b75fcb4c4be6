"""The Bilibili connector when the platform misbehaves: the client recovers, loses nothing it
had received, yields no duplicate; the sender maps every failure to a typed error."""

from __future__ import annotations

import aiohttp
import pytest

from bot.connectors.base import OutgoingMessage
from bot.connectors.bilibili import frames
from bot.connectors.bilibili.simulator import SIM_SESSDATA, BilibiliSimConfig
from bot.connectors.errors import AuthExpired, PermanentError, RateLimited, TransientError
from handlers.events import ChatMessage
from tests.bilibili_sim import Running, running

pytestmark = pytest.mark.timeout(30)


def texts(run: Running) -> list[str]:
    return [m.text for m in run.of(ChatMessage)]


async def say(run: Running, text: str, uid: str = "7001") -> None:
    await run.control("/_sim/inject", {"type": "chat", "user_id": uid, "nickname": "观众", "text": text})


async def test_connection_dropped_mid_frame_reconnects_without_loss_or_duplicates() -> None:
    async with running(sim_config=BilibiliSimConfig(replay_recent=10)) as run:
        await run.subscribed()
        await say(run, "第一条")
        await run.until(lambda: texts(run) == ["第一条"])
        connections = run.sim.connections
        await run.control("/_sim/faults", {"kind": "drop"})
        await run.until(lambda: run.sim.connections > connections, what="reconnect")
        await run.subscribed()
        await say(run, "第二条")
        await run.until(lambda: "第二条" in texts(run))
        assert texts(run) == ["第一条", "第二条"]  # the replayed 第一条 was dropped as a duplicate
        assert run.connector.health.reconnects >= 1
        assert run.connector.health.duplicates_dropped >= 1


async def test_a_server_that_stops_heartbeating_is_left_for_a_new_connection() -> None:
    async with running() as run:
        await run.subscribed()
        connections = run.sim.connections
        await run.control("/_sim/faults", {"kind": "silence", "seconds": 3})
        await run.until(lambda: run.sim.connections > connections, within_s=6, what="watchdog reconnect")
        await run.subscribed()
        assert "no data" in (run.connector.health.last_error or "")
        await say(run, "恢复了吗")
        await run.until(lambda: texts(run) == ["恢复了吗"])


async def test_garbage_and_truncated_frames_are_counted_and_the_connection_survives() -> None:
    async with running() as run:
        await run.subscribed()
        connections = run.sim.connections
        await run.control("/_sim/faults", {"kind": "garbage"})
        await run.control("/_sim/faults", {"kind": "truncate"})
        await run.until(lambda: run.connector.health.malformed_frames >= 2, what="malformed frames counted")
        await say(run, "还在")
        await run.until(lambda: texts(run) == ["还在"])
        assert run.sim.connections == connections and run.connector.health.reconnects == 0


async def test_bootstrap_5xx_burst_is_retried_until_the_room_connects() -> None:
    async with running(watch=False) as run:
        await run.control("/_sim/faults", {"kind": "status", "status": 503, "count": 3})
        run.watch(run.connector.sources[0])
        await run.subscribed()
        await say(run, "好了")
        await run.until(lambda: texts(run) == ["好了"])
        assert run.connector.health.reconnects >= 1 and "503" in (run.connector.health.last_error or "")


async def test_expired_cookies_stop_the_source_with_auth_expired() -> None:
    async with running(watch=False, client={"sessdata": "expired%2C1%2Cx", "uid": None}) as run:
        run.watch(run.connector.sources[0])
        await run.until(lambda: run.connector.health.state == "auth_expired", what="auth_expired")


def msg(text: str, key: str = "k", channel: str = "live_chat", target: str = "21452505", **kw: str) -> OutgoingMessage:
    return OutgoingMessage(key, "bilibili", "shop", channel, target, text, **kw)  # type: ignore[arg-type]


async def test_send_429_with_retry_after_is_rate_limited() -> None:
    async with running(watch=False) as run:
        sender = run.connector.sender
        assert sender is not None
        await sender.send(msg("预热", key="warm"))  # room id resolved before the fault is queued
        await run.control("/_sim/faults", {"kind": "status", "status": 429, "retry_after": 7})
        with pytest.raises(RateLimited) as caught:
            await sender.send(msg("多少钱都有"))
        assert caught.value.retry_after == 7
        await sender.send(msg("多少钱都有"))  # the outbox's retry goes through, once
        assert [s.text for s in run.state.sends.sends] == ["预热", "多少钱都有"]


async def test_send_412_risk_control_and_code_10031_are_rate_limited() -> None:
    async with running(watch=False, client={"blocked_retry_s": 90, "rate_limited_retry_s": 3}) as run:
        sender = run.connector.sender
        assert sender is not None
        await sender.send(msg("预热", key="warm"))
        await run.control("/_sim/faults", {"kind": "status", "status": 412})
        with pytest.raises(RateLimited) as blocked:
            await sender.send(msg("一"))
        assert blocked.value.retry_after == 90
        body = '{"code":10031,"message":"您发送弹幕的频率过快","msg":"您发送弹幕的频率过快","data":[]}'
        await run.control("/_sim/faults", {"kind": "status", "status": 200, "body": body})
        with pytest.raises(RateLimited) as fast:
            await sender.send(msg("一"))
        assert fast.value.retry_after == 3


async def test_sending_too_fast_gets_the_real_10031_from_the_simulator() -> None:
    async with running(watch=False, sim_config=BilibiliSimConfig(send_min_interval_s=5)) as run:
        sender = run.connector.sender
        assert sender is not None
        await sender.send(msg("一", key="a"))
        with pytest.raises(RateLimited):
            await sender.send(msg("二", key="b"))
        await sender.send(msg("一", key="a"))  # a retry of the accepted one is not "too fast"


async def test_send_5xx_burst_is_transient() -> None:
    async with running(watch=False) as run:
        sender = run.connector.sender
        assert sender is not None
        await sender.send(msg("预热", key="warm"))
        await run.control("/_sim/faults", {"kind": "status", "status": 502, "count": 2})
        for _ in range(2):
            with pytest.raises(TransientError):
                await sender.send(msg("稍等"))
        await sender.send(msg("稍等"))
        assert len(run.state.sends.sends) == 2


async def test_expired_sessdata_and_stale_csrf_are_auth_expired() -> None:
    async with running(watch=False, client={"sessdata": "expired%2C1%2Cx", "uid": 10001}) as run:
        sender = run.connector.sender
        assert sender is not None
        with pytest.raises(AuthExpired):
            await sender.send(msg("你好"))
    async with running(watch=False, client={"bili_jct": "stale"}) as run:
        sender = run.connector.sender
        assert sender is not None
        with pytest.raises(AuthExpired, match="csrf"):
            await sender.send(msg("你好"))
        assert run.state.sends.sends == []


async def test_too_long_danmaku_is_permanent_locally_and_from_the_platform() -> None:
    async with running(watch=False, client={"danmaku_max_chars": 40}) as run:
        sender = run.connector.sender
        assert sender is not None
        with pytest.raises(PermanentError, match="at most 40"):
            await sender.send(msg("长" * 41))
        with pytest.raises(PermanentError) as caught:  # the simulated account is only allowed 20
            await sender.send(msg("长" * 25))
        assert caught.value.code == 1003212
        assert run.state.sends.sends == []


async def test_one_private_message_per_stranger_until_they_follow() -> None:
    config = BilibiliSimConfig(blocked_dm={"4444"})
    async with running(watch=False, sim_config=config) as run:
        sender = run.connector.sender
        assert sender is not None
        dm = msg("谢谢关注，有问题随时问我", key="dm-1", channel="private_message", target="3333")
        receipt = await sender.send(dm)
        assert receipt.platform_message_id and not receipt.echo_expected
        await sender.send(dm)  # retry of the same message: fine, still one
        with pytest.raises(PermanentError, match="one private message") as caught:
            await sender.send(msg("再问一下", key="dm-2", channel="private_message", target="3333"))
        assert caught.value.code == 21047
        with pytest.raises(PermanentError, match="privacy") as blocked:
            await sender.send(msg("你好", key="dm-3", channel="private_message", target="4444"))
        assert blocked.value.code == 25003
        await run.control("/_sim/inject", {"type": "follow", "user_id": "5555", "nickname": "粉丝"})
        await sender.send(msg("欢迎", key="dm-4", channel="private_message", target="5555"))
        await sender.send(msg("上新了", key="dm-5", channel="private_message", target="5555"))
        assert [s.recipient for s in run.state.sends.sends] == ["3333", "5555", "5555"]
        assert run.state.sends.duplicates == 1


async def test_dm_rate_codes_are_rate_limited() -> None:
    async with running(watch=False) as run:
        sender = run.connector.sender
        assert sender is not None
        await sender.send(msg("你好", key="warm", channel="private_message", target="3333"))  # uid looked up
        for code in (21020, 21046):
            await run.control("/_sim/faults", {"kind": "status", "status": 200, "body": f'{{"code":{code},"message":"x"}}'})
            with pytest.raises(RateLimited):
                await sender.send(msg("嗨", key=f"r{code}", channel="private_message", target="3333"))


async def _raw_ws(base: str) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse]:
    http = aiohttp.ClientSession()
    return http, await http.ws_connect(f"{base}/sub")


async def test_simulator_drops_a_client_that_does_not_authenticate_in_time() -> None:
    async with running(watch=False, sim_config=BilibiliSimConfig(auth_timeout_s=0.3)) as run:
        http, ws = await _raw_ws(run.base_url)
        try:
            message = await ws.receive(timeout=3)
            assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
            assert run.sim.auth_failures == 1
        finally:
            await ws.close()
            await http.close()


async def test_simulator_refuses_a_token_it_did_not_issue_and_drops_silent_clients() -> None:
    async with running(watch=False, sim_config=BilibiliSimConfig(heartbeat_timeout_s=0.5)) as run:
        http, ws = await _raw_ws(run.base_url)
        try:
            await ws.send_bytes(frames.encode_packet(frames.Op.AUTH, frames.auth_body(uid=0, roomid=21452505, token="forged")))
            reply = frames.decode_message((await ws.receive(timeout=3)).data)[0]
            assert frames.json_body(reply) == {"code": -101}
        finally:
            await ws.close()
        async with http.get(
            f"{run.base_url}/xlive/web-room/v1/index/getDanmuInfo", params={"id": "21452505"}, headers={"Cookie": f"SESSDATA={SIM_SESSDATA}"}
        ) as response:
            token = (await response.json())["data"]["token"]
        ws = await http.ws_connect(f"{run.base_url}/sub")
        try:
            await ws.send_bytes(frames.encode_packet(frames.Op.AUTH, frames.auth_body(uid=10001, roomid=21452505, token=token)))
            reply = frames.decode_message((await ws.receive(timeout=3)).data)[0]
            assert frames.json_body(reply) == {"code": 0}
            await ws.send_bytes(frames.encode_packet(frames.Op.HEARTBEAT, "[object Object]"))
            beat = await ws.receive(timeout=3)
            assert beat.data.endswith(b"[object Object]") and frames.popularity(frames.decode_message(beat.data)[0]) >= 1
            closed = await ws.receive(timeout=3)  # no further heartbeat → the server hangs up
            assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        finally:
            await ws.close()
            await http.close()

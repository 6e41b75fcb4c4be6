"""A Douyin web live simulator on 127.0.0.1, speaking the real wire protocol.

- ``GET /`` sets ``ttwid``; ``GET /{web_rid}`` is a room page with the numeric ``roomId`` in
  escaped JSON (what the real page has); unknown rooms → 404.
- ``GET /webcast/im/fetch/`` → protobuf ``Response`` with a live-edge ``cursor``/``internal_ext``.
- ``GET /webcast/im/push/v2/`` (WebSocket): gzip ``Response``s in ``msg`` PushFrames with
  ``needAck``; checks every ACK (logId + internal_ext), answers heartbeats with an ``hb``
  frame, closes the socket after ``heartbeat_timeout_s`` without one, and resumes after the
  ``cursor`` in the query (``t-<ms>_r-<seq>_...``; anything else = live edge). Any signature
  is accepted, but the parameter must be present.
- ``POST /webcast/room/chat/`` (form ``room_id``, ``content``, cookie ``sessionid``,
  header ``Idempotency-Key``): recorded in ``SimState.sends`` and echoed into the room as a
  ``WebcastChatMessage`` from ``SIM_SELF_USER_ID``; a missing/unknown sessionid answers
  ``status_code`` 20003 (our convention, see sender.py).
- Faults (``/_sim/faults``): ``status`` hits the next HTTP call (page, fetch, push handshake,
  send); ``drop`` cuts the TCP connection in the middle of the next frame; ``garbage`` sends
  a non-protobuf frame; ``truncate`` sends half of the next frame (then the whole one, as an
  un-acked frame is redelivered); ``silence`` stops all output (heartbeat replies included)
  for ``seconds`` (0 = until the client reconnects).
Messages of a frame that was dropped or not acknowledged are never skipped: a reconnect
resumes from the client's cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import re
import struct
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.connectors.douyin import frames
from bot.connectors.douyin import messages as m
from bot.connectors.errors import ProtocolError
from bot.connectors.replay.formats import RecordedLine
from bot.connectors.simkit import SimState, add_control_routes, run_while_serving

SIM_SELF_USER_ID = "7000000000000000001"
NOT_LOGGED_IN = 20003
_CURSOR_RE = re.compile(r"^t-\d+_r-(\d+)_")


@dataclass
class SimRoom:
    web_rid: str
    room_id: int
    log: list[frames.Message] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    first_viewer: asyncio.Event = field(default_factory=asyncio.Event)

    def append(self, message: frames.Message) -> None:
        self.log.append(message)
        self.changed.set()


@dataclass
class DouyinSimStats:
    """Protocol-level facts tests assert on (``GET /_sim/douyin``)."""

    connections: list[dict[str, str]] = field(default_factory=list)  # cursor/internal_ext of each push connect
    frames_sent: int = 0
    acks_ok: int = 0
    bad_acks: int = 0
    heartbeats: int = 0
    heartbeat_timeouts: int = 0
    client_garbage: int = 0
    unacked_at_close: int = 0


class DouyinSimulator:
    def __init__(
        self,
        rooms: list[str],
        *,
        heartbeat_timeout_s: float = 30.0,
        batch: int = 5,
        valid_sessionids: set[str] | None = None,
    ) -> None:
        self.rooms = {rid: SimRoom(rid, 7_394_369_720_813_816_630 + i) for i, rid in enumerate(rooms)}
        self.by_room_id = {str(r.room_id): r for r in self.rooms.values()}
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.batch = batch
        self.valid_sessionids = valid_sessionids
        self.stats = DouyinSimStats()
        self.state = SimState(platform="douyin")
        self._ids = itertools.count(7_400_000_000_000_000_001)
        self._log_ids = itertools.count(1)
        self._echo_ids: dict[str, int] = {}

    # --- feeding rooms ---------------------------------------------------------------

    def room_for(self, name: str, index: int = 0) -> SimRoom:
        if name in self.rooms:
            return self.rooms[name]
        if name in self.by_room_id:
            return self.by_room_id[name]
        return list(self.rooms.values())[index % len(self.rooms)]

    def add(self, room: SimRoom, kind: str, *, user_id: str = "", nickname: str = "", text: str = "", **extra: Any) -> int:
        """Append one event to a room; returns its msgId. ``kind`` as in /_sim/inject."""
        msg_id = next(self._ids)
        common = m.Common(method="", msg_id=msg_id, room_id=room.room_id, create_time=int(time.time() * 1000))
        user = m.User(id=int(user_id) if user_id.isdigit() else 0, nickname=nickname, id_str=user_id)
        business: m.Business
        if kind == "chat":
            business = m.ChatMessage(common, user, text, event_time=int(time.time()))
        elif kind == "emoji":
            business = m.EmojiChatMessage(common, user, emoji_id=int(extra.get("emoji_id", 1)), default_content=text)
        elif kind == "follow":
            business = m.SocialMessage(common, user, action=1, follow_count=int(extra.get("follow_count", 1)))
        elif kind == "share":
            business = m.SocialMessage(common, user, action=3, share_type=1, share_target="wechat")
        elif kind == "member":
            business = m.MemberMessage(common, user, member_count=int(extra.get("member_count", 1)), action=1)
        elif kind == "like":
            business = m.LikeMessage(common, count=int(extra.get("count", 1)), total=int(extra.get("total", 1)), user=user)
        elif kind == "gift":
            gift = m.GiftStruct(id=1, name=str(extra.get("gift_name", "小心心")), diamond_count=int(extra.get("diamonds", 1)), combo=bool(extra.get("combo", False)))
            business = m.GiftMessage(common, gift_id=1, repeat_count=int(extra.get("count", 1)), user=user, repeat_end=int(extra.get("repeat_end", 1)), gift=gift)
        elif kind == "live_end":
            business = m.ControlMessage(common, action=3)
        elif kind == "live_pause":
            business = m.ControlMessage(common, action=1)
        elif kind == "live_start":
            return 0  # the push stream has no "started" message; a live room simply streams
        else:
            raise ValueError(f"unknown event type {kind!r}")
        method = type(business).METHOD
        business = _with_method(business, method)
        room.append(frames.Message(method=method, payload=business.encode(), msg_id=msg_id))
        return msg_id

    async def feed(self, script: list[RecordedLine], rate: float) -> None:
        """Play the script into the rooms. A line waits until its room has had a client (a live
        room only streams what happens after you join, so an earlier line would go unseen)."""
        for index, line in enumerate(script):
            room = self.room_for(line.room, index)
            await room.first_viewer.wait()
            self.add(room, line.kind, user_id=line.user_id, nickname=line.nickname, text=line.text)
            if rate > 0:
                await asyncio.sleep(1.0 / rate)

    async def inject(self, body: dict[str, Any]) -> None:
        kind = str(body.get("type", "chat"))
        room = self.room_for(str(body.get("room", "")))
        extra = {k: v for k, v in body.items() if k not in {"type", "room", "user_id", "nickname", "text"}}
        try:
            self.add(
                room, kind, user_id=str(body.get("user_id", "")), nickname=str(body.get("nickname", "")), text=str(body.get("text", "")), **extra
            )
        except ValueError as error:
            raise web.HTTPBadRequest(text=str(error)) from None

    # --- HTTP --------------------------------------------------------------------------

    def _fault_response(self) -> web.Response | None:
        fault = self.state.faults.next_http()
        return self.state.faults.http_response(fault) if fault is not None else None

    async def home(self, _: web.Request) -> web.Response:
        response = web.Response(text="<html><body>live.douyin.com (simulated)</body></html>", content_type="text/html")
        response.set_cookie("ttwid", "1%7Csimulated-ttwid", httponly=True)
        return response

    async def room_page(self, request: web.Request) -> web.Response:
        if (fault := self._fault_response()) is not None:
            return fault
        room = self.rooms.get(request.match_info["web_rid"])
        if room is None:
            raise web.HTTPNotFound(text="room not found")
        state = f'{{\\"roomId\\":\\"{room.room_id}\\",\\"user_unique_id\\":\\"7390000000000000001\\",\\"status\\":2}}'
        html = f'<html><head></head><body><script>self.__pace_f.push([1,"{state}"])</script></body></html>'
        return web.Response(text=html, content_type="text/html")

    def _cursor(self, seq: int) -> tuple[str, str]:
        ms = int(time.time() * 1000)
        return (
            f"t-{ms}_r-{seq}_d-1_u-1_h-1",
            f"internal_src:pushserver|first_req_ms:{ms}|wss_msg_type:r|wrds_v:{seq}",
        )

    async def fetch(self, request: web.Request) -> web.Response:
        if (fault := self._fault_response()) is not None:
            return fault
        room = self.by_room_id.get(request.query.get("room_id", ""))
        if room is None:
            raise web.HTTPNotFound(text="room not found")
        cursor, ext = self._cursor(len(room.log))
        body = frames.encode_response(
            frames.Response(cursor=cursor, internal_ext=ext, fetch_interval=1000, now=int(time.time() * 1000), heartbeat_duration=10000)
        )
        return web.Response(body=body, content_type="application/protobuffer")

    async def chat(self, request: web.Request) -> web.Response:
        if (fault := self._fault_response()) is not None:
            return fault
        form = await request.post()
        sessionid = request.cookies.get("sessionid", "")
        if not sessionid or (self.valid_sessionids is not None and sessionid not in self.valid_sessionids):
            return web.json_response({"status_code": NOT_LOGGED_IN, "status_msg": "用户未登录"})
        room = self.by_room_id.get(str(form.get("room_id", "")))
        if room is None:
            return web.json_response({"status_code": 10011, "status_msg": "room not found"})
        content = str(form.get("content", "")).strip()
        if not content:
            return web.json_response({"status_code": 10001, "status_msg": "content is empty"})
        send, duplicate = self.state.sends.record(
            idempotency_key=request.headers.get("Idempotency-Key", ""),
            platform="douyin",
            channel="live_chat",
            target=room.web_rid,
            text=content,
        )
        if not duplicate:
            self._echo_ids[send.platform_message_id] = self.add(
                room, "chat", user_id=SIM_SELF_USER_ID, nickname="leadbot", text=content
            )
        msg_id = self._echo_ids.get(send.platform_message_id, 0)
        return web.json_response({"status_code": 0, "data": {"msg_id": str(msg_id), "user": {"id_str": SIM_SELF_USER_ID}}})

    async def stats_view(self, _: web.Request) -> web.Response:
        return web.json_response(self.stats.__dict__)

    # --- the push WebSocket ---------------------------------------------------------------

    async def push(self, request: web.Request) -> web.StreamResponse:
        if (fault := self._fault_response()) is not None:
            return fault
        query = request.query
        room = self.by_room_id.get(query.get("room_id", ""))
        if room is None:
            raise web.HTTPNotFound(text="room not found")
        if "signature" not in query:
            raise web.HTTPForbidden(text="signature missing")
        cursor = query.get("cursor", "")
        self.stats.connections.append({"cursor": cursor, "internal_ext": query.get("internal_ext", "")})
        found = _CURSOR_RE.match(cursor)
        position = int(found.group(1)) if found and int(found.group(1)) <= len(room.log) else len(room.log)
        ws = web.WebSocketResponse(autoping=True, max_msg_size=4 * 1024 * 1024)
        await ws.prepare(request)
        conn = _Conn(last_hb=time.monotonic())
        room.first_viewer.set()
        reader = asyncio.create_task(self._read(ws, conn))
        try:
            await self._write(request, ws, room, conn, position)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            self.stats.unacked_at_close += len(conn.pending)
            await ws.close()
        return ws

    async def _read(self, ws: web.WebSocketResponse, conn: _Conn) -> None:
        async for msg in ws:
            if msg.type != web.WSMsgType.BINARY:
                self.stats.client_garbage += 1
                continue
            try:
                frame = frames.decode_frame(msg.data)
            except ProtocolError:
                self.stats.client_garbage += 1
                continue
            if frame.payload_type == "hb":
                conn.last_hb = time.monotonic()
                self.stats.heartbeats += 1
                if time.monotonic() >= conn.silent_until:
                    await ws.send_bytes(frames.HEARTBEAT)
            elif frame.payload_type == "ack":
                expected = conn.pending.pop(frame.log_id, None)
                if expected is not None and frame.payload == expected.encode():
                    self.stats.acks_ok += 1
                else:
                    self.stats.bad_acks += 1

    async def _write(self, request: web.Request, ws: web.WebSocketResponse, room: SimRoom, conn: _Conn, position: int) -> None:
        while not ws.closed:
            if time.monotonic() - conn.last_hb > self.heartbeat_timeout_s:
                self.stats.heartbeat_timeouts += 1
                await ws.close(code=1001, message=b"heartbeat timeout")
                return
            if position >= len(room.log) or time.monotonic() < conn.silent_until:
                room.changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await room.changed.wait()
                continue
            batch = room.log[position : position + self.batch]
            cursor, ext = self._cursor(position + len(batch))
            log_id = next(self._log_ids)
            response = frames.Response(
                messages=tuple(batch), cursor=cursor, internal_ext=ext, now=int(time.time() * 1000), heartbeat_duration=10000, need_ack=True
            )
            data = frames.msg_frame(response, seq_id=log_id, log_id=log_id)
            fault = self.state.faults.next_stream()
            if fault is not None and fault.kind == "drop":
                _cut_mid_frame(request, data)
                return
            if fault is not None and fault.kind == "garbage":
                await ws.send_bytes(b"\xff\xfe\xfd not a push frame \x00")
            elif fault is not None and fault.kind == "truncate":
                await ws.send_bytes(data[: len(data) // 2])
            elif fault is not None and fault.kind == "silence":
                conn.silent_until = time.monotonic() + (fault.seconds or 1e9)
                continue
            conn.pending[log_id] = ext
            await ws.send_bytes(data)
            self.stats.frames_sent += 1
            position += len(batch)


DOUYIN_SIM = web.AppKey("douyin_sim", DouyinSimulator)


@dataclass
class _Conn:
    last_hb: float
    silent_until: float = 0.0
    pending: dict[int, str] = field(default_factory=dict)  # logId → internal_ext awaiting ACK


def _with_method(business: m.Business, method: str) -> m.Business:
    return dataclasses.replace(business, common=dataclasses.replace(business.common, method=method))


def _cut_mid_frame(request: web.Request, data: bytes) -> None:
    """Write the WebSocket header and half the payload of a binary frame, then cut TCP."""
    transport = request.transport
    if transport is None:
        return
    length = len(data)
    header = b"\x82" + (bytes([length]) if length < 126 else b"\x7e" + struct.pack(">H", length) if length < 65536 else b"\x7f" + struct.pack(">Q", length))
    transport.write(header + data[: length // 2])
    transport.abort()


def create_simulator(
    script: list[RecordedLine],
    *,
    rooms: list[str],
    rate: float,
    heartbeat_timeout_s: float = 30.0,
    batch: int = 5,
    valid_sessionids: set[str] | None = None,
) -> tuple[web.Application, SimState]:
    """The simulator app (not started) and its state; ``app[DOUYIN_SIM]`` has the protocol stats."""
    if not rooms:
        raise ValueError("the douyin simulator needs at least one room")
    sim = DouyinSimulator(rooms, heartbeat_timeout_s=heartbeat_timeout_s, batch=batch, valid_sessionids=valid_sessionids)
    sim.state.inject = sim.inject
    app = web.Application()
    app[DOUYIN_SIM] = sim
    add_control_routes(app, sim.state)
    app.router.add_get("/_sim/douyin", sim.stats_view)
    app.router.add_get("/", sim.home)
    app.router.add_get("/webcast/im/fetch/", sim.fetch)
    app.router.add_get("/webcast/im/push/v2/", sim.push)
    app.router.add_post("/webcast/room/chat/", sim.chat)
    app.router.add_get("/{web_rid}", sim.room_page)

    run_while_serving(app, lambda: sim.feed(script, rate))
    return app, sim.state


def simulator_connector_config(base_url: str, rooms: list[str]) -> dict[str, Any]:
    """The ``[[connectors]]`` entry pointing a real config at a running simulator."""
    base = base_url.rstrip("/")
    return {
        "type": "douyin",
        "name": "douyin-sim",
        "rooms": list(rooms),
        "live_base_url": base,
        "ws_base_url": "ws" + base[len("http") :] if base.startswith("http") else base,
        "sessionid": "sim-sessionid",
        "own_user_id": SIM_SELF_USER_ID,
    }




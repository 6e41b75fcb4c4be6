"""A local Bilibili live stand-in on 127.0.0.1 that speaks the real protocol.

HTTP: ``/x/web-interface/nav`` (uid + wbi_img), ``/`` (sets buvid3), ``/room/v1/Room/get_info``
and ``/xlive/web-room/v1/index/getInfoByRoom`` (short → real room id), ``/xlive/web-room/v1/index/getDanmuInfo`` (token + host list pointing
back here; the WBI signature is accepted unchecked), ``/msg/send`` and
``/web_im/v1/web_im/send_msg`` with the platform's real error codes.
WebSocket ``/sub``: 16-byte headers; auth (op 7) must arrive within ``auth_timeout_s`` and carry
a token issued by getDanmuInfo for that room; heartbeats (op 2) get op-3 replies with a
popularity value; commands go out as brotli (ver 3) batches of several packets; a connection
that sends no heartbeat for ``heartbeat_timeout_s`` is closed.

Rooms are fed from a script (``RecordedLine``s, paced at ``rate`` lines/s per room, starting
when the first client joins the room) and from ``POST /_sim/inject``. Accepted danmaku are
echoed back into the room as ``DANMU_MSG`` from the sending account. Faults from the shared
``FaultPlan``: HTTP ``status`` (any platform endpoint), and on the socket ``drop`` (half a frame,
then the TCP connection is cut), ``garbage``, ``truncate`` (a packet shorter than its header
says) and ``silence`` (nothing at all, heartbeat replies included, for ``seconds`` or until the
client gives up).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import os
import secrets
import struct
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from bot.connectors import protowire
from bot.connectors.bilibili import frames
from bot.connectors.errors import ProtocolError
from bot.connectors.replay.formats import RecordedLine
from bot.connectors.simkit import Fault, SimState, add_control_routes

log = logging.getLogger(__name__)

SIM_UID = 10001
SIM_UNAME = "模拟店铺"
SIM_SESSDATA = "5d1c0a7e%2C4102444800%2Csim01*11"  # <hash>,<expiry 2100-01-01>,<sig>, like the real cookie
SIM_BILI_JCT = "0123456789abcdef0123456789abcdef"
WBI_IMG = "https://i0.hdslb.com/bfs/wbi/7cd084941338484aae1ad9425b84077c.png"
WBI_SUB = "https://i0.hdslb.com/bfs/wbi/4932caff0ff746eab6f01bf08b70ac45.png"


@dataclass
class SimAccount:
    uid: int
    uname: str
    bili_jct: str
    followers: set[str] = field(default_factory=set)  # may DM these freely
    dm_counts: dict[str, int] = field(default_factory=dict)
    last_send_at: float = 0.0


@dataclass
class SimRoom:
    real_id: int
    short_id: int = 0
    subscribers: set[asyncio.Queue[Any]] = field(default_factory=set)
    recent: list[dict[str, Any]] = field(default_factory=list)
    script: list[RecordedLine] = field(default_factory=list)
    feeding: asyncio.Task[None] | None = None
    popularity: int = 1


@dataclass
class BilibiliSimConfig:
    rate: float = 5.0  # script lines per second per room
    auth_timeout_s: float = 5.0
    heartbeat_timeout_s: float = 60.0
    batch_window_s: float = 0.05  # commands within this window share one brotli batch
    danmaku_max_chars: int = 20
    send_min_interval_s: float = 0.0  # > 0: sends closer together than this get code 10031
    replay_recent: int = 0  # > 0: a (re)connecting client first gets this many recent commands
    blocked_dm: set[str] = field(default_factory=set)  # recipients whose privacy settings refuse DMs


class BilibiliSim:
    """State and handlers of one simulator app."""

    def __init__(self, state: SimState, rooms: list[str], script: list[RecordedLine], config: BilibiliSimConfig) -> None:
        self.state = state
        self.config = config
        self.rooms: dict[int, SimRoom] = {}
        for room in rooms:
            real = int(room)
            self.rooms[real] = SimRoom(real_id=real)
        order = list(self.rooms)
        for index, line in enumerate(script):
            target = int(line.room) if line.room.isdigit() and int(line.room) in self.rooms else order[index % len(order)]
            self.rooms[target].script.append(line)
        self.accounts: dict[str, SimAccount] = {SIM_SESSDATA: SimAccount(SIM_UID, SIM_UNAME, SIM_BILI_JCT)}
        self.tokens: dict[str, tuple[int, int]] = {}  # token -> (real room id, uid that fetched it)
        self.connections = 0
        self.accepted_keys: set[str] = set()
        self.auth_failures = 0
        self._dm_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- helpers -------------------------------------------------------------------------

    def room(self, value: object) -> SimRoom | None:
        try:
            number = int(str(value))
        except ValueError:
            return None
        if number in self.rooms:
            return self.rooms[number]
        return next((r for r in self.rooms.values() if r.short_id and r.short_id == number), None)

    def account(self, request: web.Request) -> SimAccount | None:
        return self.accounts.get(request.cookies.get("SESSDATA", ""))

    def http_fault(self) -> web.Response | None:
        fault = self.state.faults.next_http()
        return self.state.faults.http_response(fault) if fault is not None else None

    def broadcast(self, room: SimRoom, commands: list[dict[str, Any]]) -> None:
        room.recent.extend(commands)
        del room.recent[: max(0, len(room.recent) - max(self.config.replay_recent, 0))]
        for queue in list(room.subscribers):
            queue.put_nowait(("cmds", commands))

    def danmu_command(self, room: SimRoom, *, uid: int, uname: str, text: str, dm_id: str = "") -> dict[str, Any]:
        """A DANMU_MSG laid out like the real one (info[0][15] mode_info with extra id_str …)."""
        ts_ms = int(time.time() * 1000)
        dm_id = dm_id or f"sim{secrets.token_hex(15)}"
        extra = {"send_from_me": False, "mode": 0, "color": 16777215, "dm_type": 0, "font_size": 25,
                 "content": text, "id_str": dm_id, "reply_mid": 0, "reply_uname": "", "emots": None}
        mode_info = {
            "extra": json.dumps(extra, ensure_ascii=False),
            "mode": 0,
            "show_player_type": 0,
            "user": {"uid": uid, "base": {"name": uname, "face": "", "is_mystery": False, "name_color": 0},
                     "medal": None, "guard": None, "title": {"old_title_css_id": "", "title_css_id": ""}},
        }
        meta = [0, 1, 25, 16777215, ts_ms, int(ts_ms / 1000) & 0x7FFFFFFF, 0,
                f"{zlib.crc32(str(uid).encode()):08x}", 0, 0, 0, "", 0, "{}", "{}", mode_info,
                {"activity_identity": "", "activity_source": 0, "not_show": 0}, 0]
        medal: list[Any] = [3, "粉丝团", "主播", room.real_id, 6067854, "", 0, 6067854, 6067854, 6067854, 0, 1, 1]
        info = [meta, text, [uid, uname, 0, 0, 0, 10000, 1, ""], medal if uid % 2 else [],
                [10, 0, 9868950, ">50000", 0], ["", ""], 0, 0, None, {"ts": ts_ms // 1000, "ct": "00000000"},
                0, 0, None, None, 0, 0, [0], None]
        return {"cmd": "DANMU_MSG", "dm_v2": "", "info": info}

    def interact_command(self, room: SimRoom, *, uid: int, uname: str, msg_type: int) -> dict[str, Any]:
        now = time.time()
        pb = protowire.join([
            protowire.enc_int(1, uid), protowire.enc_str(2, uname), protowire.enc_int(5, msg_type),
            protowire.enc_int(6, room.real_id), protowire.enc_int(7, int(now)),
            protowire.enc_int(8, int(now * 1000)), protowire.enc_int(15, int(now * 1e9)),
        ])  # fmt: skip
        return {"cmd": "INTERACT_WORD_V2", "data": {"dmscore": 3, "pb": base64.b64encode(pb).decode("ascii")}}

    def command_for(self, room: SimRoom, line: RecordedLine) -> dict[str, Any] | None:
        uid = int(line.user_id) if line.user_id.isdigit() else 1_000_000 + zlib.crc32(line.user_id.encode()) % 9_000_000
        nickname = line.nickname or f"viewer{uid}"
        if line.kind == "chat":
            return self.danmu_command(room, uid=uid, uname=nickname, text=line.text, dm_id=line.message_id)
        if line.kind == "follow":
            for account in self.accounts.values():
                account.followers.add(str(uid))
            return self.interact_command(room, uid=uid, uname=nickname, msg_type=2)
        if line.kind == "live_start":
            return {"cmd": "LIVE", "live_key": str(int(time.time() * 1000)), "live_platform": "pc",
                    "live_model": 0, "live_time": int(time.time()), "roomid": room.real_id}
        if line.kind == "live_end":
            return {"cmd": "PREPARING", "msg_id": f"{secrets.randbits(50)}:1000:1000", "p_is_ack": True,
                    "p_msg_type": 1, "roomid": str(room.real_id), "send_time": int(time.time() * 1000)}
        return None

    async def inject(self, body: dict[str, Any]) -> None:
        room = self.room(body.get("room") or next(iter(self.rooms)))
        if room is None:
            raise web.HTTPNotFound(text=f"no room {body.get('room')!r}")
        kind = {"chat": "chat", "follow": "follow", "live_start": "live_start", "live_end": "live_end"}.get(
            str(body.get("type", "chat"))
        )
        if kind is None:
            raise web.HTTPBadRequest(text="type must be chat, follow, live_start or live_end")
        line = RecordedLine(kind=kind, text=str(body.get("text", "")), user_id=str(body.get("user_id", "")),
                            nickname=str(body.get("nickname", "")), message_id=str(body.get("id", "")))
        command = self.command_for(room, line)
        if command is not None:
            self.broadcast(room, [command])

    async def _feed(self, room: SimRoom) -> None:
        interval = 1.0 / self.config.rate if self.config.rate > 0 else 0.0
        for line in room.script:
            command = self.command_for(room, line)
            if command is not None:
                self.broadcast(room, [command])
            await asyncio.sleep(interval)

    # ---- HTTP ------------------------------------------------------------------------------

    async def nav(self, request: web.Request) -> web.Response:
        if (fault := self.http_fault()) is not None:
            return fault
        account = self.account(request)
        wbi = {"img_url": WBI_IMG, "sub_url": WBI_SUB}
        if account is None:
            return web.json_response({"code": -101, "message": "账号未登录", "ttl": 1,
                                      "data": {"isLogin": False, "wbi_img": wbi}})
        return web.json_response({"code": 0, "message": "0", "ttl": 1,
                                  "data": {"isLogin": True, "mid": account.uid, "uname": account.uname, "wbi_img": wbi}})

    async def home(self, request: web.Request) -> web.Response:
        response = web.Response(text="<!DOCTYPE html><title>bilibili simulator</title>", content_type="text/html")
        response.set_cookie("buvid3", f"{secrets.token_hex(16).upper()}infoc", path="/")
        return response

    async def room_init(self, request: web.Request) -> web.Response:
        if (fault := self.http_fault()) is not None:
            return fault
        room = self.room(request.query.get("room_id", ""))
        if room is None:
            return web.json_response({"code": 1, "msg": "房间不存在", "message": "房间不存在", "data": []})
        return web.json_response({"code": 0, "msg": "ok", "message": "ok", "data": {
            "uid": 20000 + room.real_id % 1000, "room_id": room.real_id, "short_id": room.short_id,
            "live_status": 1, "title": "模拟直播间"}})

    async def room_info_by_room(self, request: web.Request) -> web.Response:
        """``getInfoByRoom``: the richer room-init older clients (blivedm 0.1.x) use."""
        if (fault := self.http_fault()) is not None:
            return fault
        room = self.room(request.query.get("room_id", ""))
        if room is None:
            return web.json_response({"code": 19002000, "message": "获取初始化数据失败", "ttl": 1, "data": None})
        return web.json_response({"code": 0, "message": "0", "ttl": 1, "data": {"room_info": {
            "uid": 20000 + room.real_id % 1000, "room_id": room.real_id, "short_id": room.short_id,
            "live_status": 1, "title": "模拟直播间"}}})

    async def danmu_info(self, request: web.Request) -> web.Response:
        if (fault := self.http_fault()) is not None:
            return fault
        room = self.room(request.query.get("id", ""))
        if room is None:
            return web.json_response({"code": 1002, "message": "房间不存在", "ttl": 1})
        account = self.account(request)
        token = secrets.token_urlsafe(96)
        self.tokens[token] = (room.real_id, account.uid if account else 0)
        host = request.url.host or "127.0.0.1"
        port = request.url.port or 80
        entry = {"host": host, "port": port, "wss_port": port, "ws_port": port}
        return web.json_response({"code": 0, "message": "0", "ttl": 1, "data": {
            "group": "live", "business_id": 0, "refresh_row_factor": 0.125, "refresh_rate": 100,
            "max_delay": 5000, "token": token, "host_list": [entry]}})

    async def _form(self, request: web.Request) -> dict[str, str]:
        data = await request.post()
        return {k: str(v) for k, v in data.items()}

    async def msg_send(self, request: web.Request) -> web.Response:
        if (fault := self.http_fault()) is not None:
            return fault
        form = await self._form(request)
        account = self.account(request)
        if account is None:
            return web.json_response({"code": -101, "message": "账号未登录", "msg": "账号未登录", "data": []})
        if form.get("csrf") != account.bili_jct:
            return web.json_response({"code": -111, "message": "csrf 校验失败", "msg": "csrf 校验失败", "data": []})
        room = self.room(form.get("roomid", ""))
        text = form.get("msg", "")
        if room is None or not text:
            return web.json_response({"code": -400, "message": "请求错误", "msg": "请求错误", "data": []})
        if len(text) > self.config.danmaku_max_chars:
            return web.json_response({"code": 1003212, "message": "超出限制长度", "msg": "超出限制长度", "data": []})
        key = request.headers.get("Idempotency-Key") or f"rnd:{form.get('rnd', '')}:{text}"
        now = time.time()
        known = key in self.accepted_keys
        if not known and self.config.send_min_interval_s and now - account.last_send_at < self.config.send_min_interval_s:
            return web.json_response({"code": 10031, "message": "您发送弹幕的频率过快", "msg": "您发送弹幕的频率过快", "data": []})
        self.accepted_keys.add(key)
        sent, duplicate = self.state.sends.record(
            idempotency_key=key, platform="bilibili", channel="live_chat", target=str(room.real_id), text=text
        )
        dm_id = f"sim{sent.platform_message_id.rsplit('-', 1)[-1]:0>30}"
        if not duplicate:
            account.last_send_at = now
            self.broadcast(room, [self.danmu_command(room, uid=account.uid, uname=account.uname, text=text, dm_id=dm_id)])
        extra = json.dumps({"id_str": dm_id, "content": text, "send_from_me": True}, ensure_ascii=False)
        return web.json_response({"code": 0, "data": {"mode_info": {"mode": 0, "show_player_type": 0, "extra": extra},
                                                       "dm_v2": ""}, "message": "", "msg": ""})

    async def dm_send(self, request: web.Request) -> web.Response:
        if (fault := self.http_fault()) is not None:
            return fault
        form = await self._form(request)
        account = self.account(request)
        if account is None:
            return web.json_response({"code": -101, "message": "账号未登录", "ttl": 1})
        if form.get("csrf") != account.bili_jct:
            return web.json_response({"code": -111, "message": "csrf 校验失败", "ttl": 1})
        receiver = form.get("msg[receiver_id]", "")
        try:
            content = json.loads(form.get("msg[content]", ""))["content"]
        except (json.JSONDecodeError, KeyError, TypeError):
            return web.json_response({"code": -400, "message": "请求错误", "ttl": 1})
        if not receiver.isdigit() or form.get("msg[sender_uid]") != str(account.uid):
            return web.json_response({"code": -400, "message": "请求错误", "ttl": 1})
        if receiver in self.config.blocked_dm:
            return web.json_response({"code": 25003, "message": "由于对方的隐私设置，你无法发送消息", "ttl": 1})
        if len(form.get("msg[content]", "").encode("utf-8")) > 2000:
            return web.json_response({"code": 21007, "message": "消息过长", "ttl": 1})
        key = request.headers.get("Idempotency-Key") or form.get("msg[dev_id]", "")
        known = key in self.accepted_keys
        if not known and receiver not in account.followers and account.dm_counts.get(receiver, 0) >= 1:
            return web.json_response({"code": 21047, "message": "对方主动回复或关注你前，最多发送1条消息~", "ttl": 1})
        self.accepted_keys.add(key)
        sent, duplicate = self.state.sends.record(
            idempotency_key=key, platform="bilibili", channel="private_message", target=receiver,
            text=str(content), recipient=receiver,
        )
        if not duplicate:
            account.dm_counts[receiver] = account.dm_counts.get(receiver, 0) + 1
        return web.json_response({"code": 0, "message": "0", "ttl": 1, "data": {
            "msg_key": 7_000_000_000_000_000_000 + next(self._dm_ids), "msg_content": json.dumps({"content": content})}})

    # ---- WebSocket -------------------------------------------------------------------------

    async def sub(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1024 * 1024)
        await ws.prepare(request)
        self.connections += 1
        room = await self._authenticate(ws)
        if room is None:
            self.auth_failures += 1
            await ws.close()
            return ws
        queue: asyncio.Queue[Any] = asyncio.Queue()
        if self.config.replay_recent and room.recent:
            queue.put_nowait(("cmds", list(room.recent[-self.config.replay_recent :])))
        room.subscribers.add(queue)
        if room.feeding is None and room.script:
            room.feeding = asyncio.create_task(self._feed(room))
        writer = asyncio.create_task(self._write(request, ws, room, queue))
        try:
            while not ws.closed:
                try:
                    message = await ws.receive(timeout=self.config.heartbeat_timeout_s)
                except TimeoutError:
                    log.info("bilibili sim: no heartbeat for %.1fs, closing", self.config.heartbeat_timeout_s)
                    break
                if message.type != WSMsgType.BINARY:
                    if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                        break
                    continue
                try:
                    packets = frames.decode_message(bytes(message.data))
                except ProtocolError:
                    break  # the real server drops clients that send junk
                for packet in packets:
                    if packet.op == frames.Op.HEARTBEAT:
                        queue.put_nowait(("hb", packet.body))
        finally:
            room.subscribers.discard(queue)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
            if not ws.closed:
                await ws.close()
        return ws

    async def _authenticate(self, ws: web.WebSocketResponse) -> SimRoom | None:
        try:
            message = await ws.receive(timeout=self.config.auth_timeout_s)
        except TimeoutError:
            log.info("bilibili sim: no auth within %.1fs, closing", self.config.auth_timeout_s)
            return None
        if message.type != WSMsgType.BINARY:
            return None
        try:
            [packet] = frames.decode_message(bytes(message.data))[:1]
            body = frames.json_body(packet) if packet.op == frames.Op.AUTH else {}
        except (ProtocolError, ValueError):
            return None
        issued = self.tokens.get(str(body.get("key", "")))
        uid = body.get("uid", 0)
        room = self.room(body.get("roomid", ""))
        ok = (
            issued is not None
            and room is not None
            and issued[0] == room.real_id
            and isinstance(uid, int)
            and (uid == 0 or uid == issued[1])
        )
        await ws.send_bytes(frames.encode_packet(frames.Op.AUTH_REPLY, {"code": 0 if ok else -101}, seq=1))
        return room if ok else None

    async def _write(self, request: web.Request, ws: web.WebSocketResponse, room: SimRoom, queue: asyncio.Queue[Any]) -> None:
        silent_until = 0.0
        while not ws.closed:
            fault = self.state.faults.next_stream()
            if fault is not None:
                if fault.kind == "silence":
                    silent_until = time.monotonic() + (fault.seconds or 1e9)
                elif await self._stream_fault(request, ws, fault):
                    return
            try:
                async with asyncio.timeout(0.05):
                    kind, payload = await queue.get()
            except TimeoutError:
                continue
            if time.monotonic() < silent_until:
                continue  # a dead server: nothing goes out, heartbeat replies included
            if kind == "hb":
                room.popularity += 1
                await ws.send_bytes(frames.encode_heartbeat_reply(room.popularity, payload))
                continue
            commands: list[dict[str, Any]] = list(payload)
            deadline = time.monotonic() + self.config.batch_window_s
            while len(commands) < 50 and (left := deadline - time.monotonic()) > 0:
                try:
                    async with asyncio.timeout(left):
                        more_kind, more = await queue.get()
                except TimeoutError:
                    break
                if more_kind == "hb":
                    queue.put_nowait((more_kind, more))
                    break
                commands.extend(more)
            await ws.send_bytes(frames.encode_batch(commands))

    async def _stream_fault(self, request: web.Request, ws: web.WebSocketResponse, fault: Fault) -> bool:
        """Apply a socket fault; True when the connection is gone."""
        if fault.kind == "garbage":
            await ws.send_bytes(fault.body.encode() if fault.body else os.urandom(48))
            return False
        if fault.kind == "truncate":
            whole = frames.encode_batch([{"cmd": "WATCHED_CHANGE", "data": {"num": 1}}] * 3)
            await ws.send_bytes(whole[: len(whole) // 2])
            return False
        if fault.kind == "drop":
            # Half of a WebSocket binary frame straight onto the socket, then cut the connection.
            payload = frames.encode_batch([{"cmd": "WATCHED_CHANGE", "data": {"num": 2}}] * 3)
            head = struct.pack("!BB", 0x82, len(payload)) if len(payload) < 126 else struct.pack("!BBH", 0x82, 126, len(payload))
            transport = request.transport
            if transport is not None:
                transport.write(head + payload[: len(payload) // 2])
                transport.abort()
            return True
        return False


SIM_KEY = web.AppKey("bilibili_sim", BilibiliSim)


def create_simulator(
    script: list[RecordedLine],
    *,
    rooms: list[str],
    rate: float,
    config: BilibiliSimConfig | None = None,
    short_ids: dict[str, str] | None = None,
) -> tuple[web.Application, SimState]:
    """An aiohttp app serving ``rooms`` (real ids); ``short_ids`` maps short → real for get_info."""
    if not rooms:
        raise ValueError("the simulator needs at least one room")
    cfg = config or BilibiliSimConfig()
    cfg.rate = rate
    state = SimState(platform="bilibili")
    sim = BilibiliSim(state, rooms, script, cfg)
    for short, real in (short_ids or {}).items():
        sim.rooms[int(real)].short_id = int(short)
    state.inject = sim.inject
    app = web.Application()
    app[SIM_KEY] = sim
    app.router.add_get("/", sim.home)
    app.router.add_get("/x/web-interface/nav", sim.nav)
    app.router.add_get("/room/v1/Room/get_info", sim.room_init)
    app.router.add_get("/xlive/web-room/v1/index/getInfoByRoom", sim.room_info_by_room)
    app.router.add_get("/xlive/web-room/v1/index/getDanmuInfo", sim.danmu_info)
    app.router.add_get("/sub", sim.sub)
    app.router.add_post("/msg/send", sim.msg_send)
    app.router.add_post("/web_im/v1/web_im/send_msg", sim.dm_send)
    add_control_routes(app, state)

    async def stop_feeds(_: web.Application) -> None:
        for room in sim.rooms.values():
            if room.feeding is not None:
                room.feeding.cancel()

    app.on_cleanup.append(stop_feeds)
    return app, state


def simulator_connector_config(base_url: str, rooms: list[str]) -> dict[str, Any]:
    """The ``[[connectors]]`` entry that points a real config at a running simulator."""
    base = base_url.rstrip("/")
    return {
        "type": "bilibili",
        "name": "bilibili-sim",
        "account": "default",
        "rooms": list(rooms),
        "sessdata": SIM_SESSDATA,
        "bili_jct": SIM_BILI_JCT,
        "api_base": base,
        "live_api_base": base,
        "vc_api_base": base,
        "www_base": base,
        "ws_scheme": "ws",
        "wbi_sign": True,
    }

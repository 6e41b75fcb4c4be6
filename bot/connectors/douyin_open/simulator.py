"""A Douyin Open Platform stand-in on 127.0.0.1: real paths, real JSON envelopes.

- ``POST /oauth/access_token/``, ``/oauth/refresh_token/``: tokens with configurable lifetimes
  (15 d / 30 d by default); an expired refresh token answers 10010, an expired access token
  28001008 on every API call.
- ``GET /item/comment/list/``: per video, oldest first, ``cursor``/``count``/``has_more``.
- ``POST /item/comment/reply/`` and ``POST /im/send/msg/`` are recorded in the SendLog
  (``Idempotency-Key`` de-duplicated); a DM is accepted only with a ``msg_id`` the simulator
  itself sent in a webhook less than 24 h (simulated clock) earlier.
- Webhooks: ``post_signed_webhook`` signs a body like the platform does; scripted/injected
  follows and DMs are POSTed to ``sim.webhook_url`` when one is set.
- ``/_sim/*`` from simkit (faults: status, garbage, truncate, silence, drop; inject types
  chat → a comment on ``room``, follow / dm / dm_enter → a signed webhook), plus
  ``POST /_sim/clock {"advance_s": …}`` to move simulated time.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bot.connectors.douyin_open.codec import webhook_signature
from bot.connectors.replay.formats import RecordedLine
from bot.connectors.simkit import SimState, add_control_routes, run_while_serving

DM_WINDOW_S = 24 * 3600.0
SEED_REFRESH_TOKEN = "rft.sim-seed"


def envelope(data: dict[str, Any], code: int = 0, description: str = "") -> dict[str, Any]:
    data = {**data, "error_code": code, "description": description}
    extra = {"error_code": code, "description": description, "sub_error_code": 0, "sub_description": "",
             "logid": "sim", "now": int(time.time() * 1000)}
    return {"data": data, "extra": extra}


async def post_signed_webhook(
    url: str, client_secret: str, body: dict[str, Any] | bytes, *, msg_id: str = "", signature: str | None = None
) -> int:
    """POST a webhook the way Douyin does (``X-Douyin-Signature``, ``Msg-Id``); returns the status."""
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "X-Douyin-Signature": signature if signature is not None else webhook_signature(client_secret, raw),
    }
    if msg_id:
        headers["Msg-Id"] = msg_id
    async with aiohttp.ClientSession() as session, session.post(url, data=raw, headers=headers) as response:
        await response.read()
        return response.status


@dataclass
class DouyinOpenSim:
    """The simulator's world; tests may reach in (``sim.webhook_url``, ``sim.advance``)."""

    client_key: str = "sim_client_key"
    client_secret: str = "sim_client_secret"
    open_id: str = "sim-merchant-open-id"
    access_ttl_s: float = 15 * 86400.0
    refresh_ttl_s: float = 30 * 86400.0
    webhook_url: str | None = None
    offset_s: float = 0.0
    access_tokens: dict[str, float] = field(default_factory=dict)
    refresh_tokens: dict[str, float] = field(default_factory=dict)
    comments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    dm_windows: dict[str, tuple[str, str, float]] = field(default_factory=dict)  # msg_id → (user, conv, ts)
    calls: dict[str, int] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        # A pre-authorised refresh token so a config can start without the browser OAuth step.
        self.refresh_tokens.setdefault(SEED_REFRESH_TOKEN, self.now() + self.refresh_ttl_s)

    def now(self) -> float:
        return time.time() + self.offset_s

    def advance(self, seconds: float) -> None:
        self.offset_s += seconds

    def issue_tokens(self, *, refresh: str | None = None) -> dict[str, Any]:
        n = next(self._ids)
        access = f"act.sim{n:06d}"
        self.access_tokens[access] = self.now() + self.access_ttl_s
        if refresh is None:
            refresh = f"rft.sim{n:06d}"
            self.refresh_tokens[refresh] = self.now() + self.refresh_ttl_s
        return {
            "access_token": access,
            "expires_in": int(self.access_ttl_s),
            "refresh_token": refresh,
            "refresh_expires_in": max(0, int(self.refresh_tokens[refresh] - self.now())),
            "open_id": self.open_id,
            "scope": "item.comment,im.direct_message,user.intention",
        }

    def add_comment(self, item_id: str, user_id: str, nickname: str, text: str, comment_id: str = "") -> str:
        comment_id = comment_id or f"@sim-comment-{next(self._ids)}"
        self.comments.setdefault(item_id, []).append(
            {
                "comment_id": comment_id,
                "comment_user_id": user_id,
                "content": text,
                "create_time": int(self.now()),
                "digg_count": 0,
                "reply_comment_total": 0,
                "top": False,
                "avatar": "",
                "nick_name": nickname,
            }
        )
        return comment_id

    def dm_body(self, user_id: str, nickname: str, text: str, *, enter: bool = False) -> tuple[dict[str, Any], str]:
        n = next(self._ids)
        server_id, conversation = f"@sim-msg-{n}", f"@sim-conv-{user_id}"
        created = self.now()
        self.dm_windows[server_id] = (user_id, conversation, created)
        content = {
            "conversation_short_id": conversation,
            "server_message_id": server_id,
            "conversation_type": 1,
            "create_time": int(created * 1000),
            "message_type": "text",
            "text": text,
            "user_infos": [{"open_id": user_id, "nick_name": nickname, "avatar": ""}],
        }
        event = "im_enter_direct_msg" if enter else "im_receive_msg"
        body = {
            "event": event,
            "client_key": self.client_key,
            "from_user_id": user_id,
            "to_user_id": self.open_id,
            "content": json.dumps(content, ensure_ascii=False) if enter else content,
        }
        return body, server_id

    def follow_body(self, user_id: str) -> dict[str, Any]:
        content = json.dumps({"action_type": 1, "action_time": int(self.now())})
        return {"event": "new_follow_action", "client_key": self.client_key, "from_user_id": user_id,
                "to_user_id": self.open_id, "content": content}

    async def push(self, body: dict[str, Any]) -> int | None:
        if not self.webhook_url:
            return None
        return await post_signed_webhook(
            self.webhook_url, self.client_secret, body, msg_id=f"sim-hook-{next(self._ids)}"
        )


SIM = web.AppKey("douyin_open_sim", DouyinOpenSim)


def create_simulator(
    script: list[RecordedLine],
    *,
    rooms: list[str],
    rate: float,
    sim: DouyinOpenSim | None = None,
) -> tuple[web.Application, SimState]:
    """Rooms are video item ids; scripted chat lines become comments on them at ``rate``/s."""
    world = sim or DouyinOpenSim()
    state = SimState(platform="douyin_open")
    app = web.Application()
    app[SIM] = world
    add_control_routes(app, state)
    rooms = rooms or ["@sim-item-1"]
    for room in rooms:
        world.comments.setdefault(room, [])

    async def inject(body: dict[str, Any]) -> None:
        kind = str(body.get("type", "chat"))
        user_id, nickname = str(body.get("user_id", "sim-user")), str(body.get("nickname", "viewer"))
        if kind == "chat":
            world.add_comment(str(body.get("room") or rooms[0]), user_id, nickname, str(body.get("text", "")))
        elif kind == "follow":
            await world.push(world.follow_body(user_id))
        elif kind in {"dm", "dm_enter"}:
            dm, _ = world.dm_body(user_id, nickname, str(body.get("text", "")), enter=kind == "dm_enter")
            await world.push(dm)

    state.inject = inject

    async def fault_response(request: web.Request) -> web.StreamResponse | None:
        world.calls[request.path] = world.calls.get(request.path, 0) + 1
        fault = state.faults.next_http()
        if fault is not None:
            return state.faults.http_response(fault)
        stream_fault = state.faults.next_stream()
        if stream_fault is not None:
            if stream_fault.kind == "silence":
                await asyncio.sleep(stream_fault.seconds or 30.0)
            if stream_fault.kind == "garbage":
                return web.Response(status=200, body=b"\x00\xffgarbage{", content_type="application/json")
            if stream_fault.kind == "truncate":
                return web.Response(status=200, text='{"data": {"list": [', content_type="application/json")
            if stream_fault.kind == "drop" and request.transport is not None:
                request.transport.close()
                return web.Response(status=500)
        return None

    def token_error(request: web.Request) -> web.Response | None:
        token = request.headers.get("access-token", "")
        expires = world.access_tokens.get(token)
        if expires is None or expires <= world.now():
            return web.json_response(envelope({}, 28001008, "access_token expired"))
        return None

    async def read_form(request: web.Request) -> dict[str, str]:
        if request.content_type == "application/json":
            body = await request.json()
            return {str(k): str(v) for k, v in body.items()} if isinstance(body, dict) else {}
        form = await request.post()
        return {k: str(v) for k, v in form.items()}

    async def access_token(request: web.Request) -> web.StreamResponse:
        form = await read_form(request)
        if form.get("client_key") != world.client_key or not form.get("code"):
            return web.json_response(envelope({}, 10002, "bad client_key or code"))
        return web.json_response(envelope(world.issue_tokens()))

    async def refresh_token(request: web.Request) -> web.StreamResponse:
        if (faulty := await fault_response(request)) is not None:
            return faulty
        form = await read_form(request)
        refresh = form.get("refresh_token", "")
        expires = world.refresh_tokens.get(refresh)
        if expires is None or expires <= world.now():
            return web.json_response(envelope({}, 10010, "refresh_token expired"))
        return web.json_response(envelope(world.issue_tokens(refresh=refresh)))

    async def comment_list(request: web.Request) -> web.StreamResponse:
        if (faulty := await fault_response(request)) is not None:
            return faulty
        if (refused := token_error(request)) is not None:
            return refused
        query = request.query
        if query.get("open_id") != world.open_id:
            return web.json_response(envelope({}, 28001015, "token/open_id mismatch"))
        item = query.get("item_id", "")
        if item not in world.comments:
            return web.json_response(envelope({}, 28001007, f"unknown item_id {item!r}"))
        try:
            cursor, count = int(query.get("cursor", "0")), int(query.get("count", "20"))
        except ValueError:
            return web.json_response(envelope({}, 28001007, "cursor/count must be integers"))
        if not 1 <= count <= 50 or cursor < 0:
            return web.json_response(envelope({}, 28001007, "count must be 1..50"))
        ordered = world.comments[item]
        if query.get("sort_type") != "time_asc":
            ordered = list(reversed(ordered))
        page = ordered[cursor : cursor + count]
        return web.json_response(
            envelope({"list": page, "cursor": cursor + len(page), "has_more": cursor + len(page) < len(ordered)})
        )

    async def comment_reply(request: web.Request) -> web.StreamResponse:
        if (faulty := await fault_response(request)) is not None:
            return faulty
        if (refused := token_error(request)) is not None:
            return refused
        body = await request.json()
        item, text = str(body.get("item_id", "")), str(body.get("content", ""))
        if item not in world.comments or not text:
            return web.json_response(envelope({}, 28001007, "item_id and content are required"))
        send, _ = state.sends.record(
            idempotency_key=request.headers.get("Idempotency-Key", ""),
            platform="douyin_open",
            channel="public_reply",
            target=item,
            text=text,
            recipient=str(body.get("comment_id", "")) or None,
        )
        return web.json_response(envelope({"comment_id": send.platform_message_id}))

    async def im_send(request: web.Request) -> web.StreamResponse:
        if (faulty := await fault_response(request)) is not None:
            return faulty
        if (refused := token_error(request)) is not None:
            return refused
        body = await request.json()
        window = world.dm_windows.get(str(body.get("msg_id", "")))
        scene = body.get("scene", "im_replay_msg")
        to_user = str(body.get("to_user_id", ""))
        if scene not in {"im_replay_msg", "im_enter_direct_msg"}:
            return web.json_response(envelope({}, 28001007, f"scene {scene!r} not allowed"))
        if window is None or window[0] != to_user or window[1] != body.get("conversation_id"):
            return web.json_response(envelope({}, 28001007, "msg_id/conversation_id do not match a received message"))
        if world.now() - window[2] > DM_WINDOW_S:
            return web.json_response(envelope({}, 28001007, "msg_id expired (24 h reply window)"))
        content = body.get("content") or {}
        text = str((content.get("text") or {}).get("text", "")) if isinstance(content, dict) else ""
        send, _ = state.sends.record(
            idempotency_key=request.headers.get("Idempotency-Key", ""),
            platform="douyin_open",
            channel="private_message",
            target=to_user,
            text=text,
            recipient=to_user,
        )
        return web.json_response({**envelope({}), "msg_id": send.platform_message_id})

    async def clock(request: web.Request) -> web.Response:
        body = await request.json()
        world.advance(float(body.get("advance_s", 0)))
        return web.json_response({"now": world.now()})

    app.router.add_post("/oauth/access_token/", access_token)
    app.router.add_post("/oauth/refresh_token/", refresh_token)
    app.router.add_get("/item/comment/list/", comment_list)
    app.router.add_post("/item/comment/reply/", comment_reply)
    app.router.add_post("/im/send/msg/", im_send)
    app.router.add_post("/_sim/clock", clock)

    async def feed() -> None:
        delay = 1.0 / rate if rate > 0 else 0.0
        for index, line in enumerate(script):
            room = line.room if line.room in world.comments else rooms[index % len(rooms)]
            if line.kind == "chat":
                world.add_comment(room, line.user_id, line.nickname, line.text, line.message_id and f"@{line.message_id}")
            elif line.kind == "follow":
                await world.push(world.follow_body(line.user_id))
            await asyncio.sleep(delay)

    run_while_serving(app, feed)
    return app, state


def simulator_connector_config(base_url: str, rooms: list[str]) -> dict[str, Any]:
    """The ``[[connectors]]`` entry that points the agent at a running simulator."""
    world = DouyinOpenSim()
    return {
        "type": "douyin_open",
        "name": "douyin_open-sim",
        "base_url": base_url,
        "client_key": world.client_key,
        "client_secret": world.client_secret,
        "open_id": world.open_id,
        "access_token": "act.sim-unknown",
        "refresh_token": SEED_REFRESH_TOKEN,
        "item_ids": list(rooms),
        "poll_interval_s": 1.0,
        "token_file": "douyin_open_sim_tokens.json",
        "webhook_spool_dir": "douyin_open_sim_webhook_spool",
    }

"""The built-in platform simulator ("sim"): a plain JSON chat protocol on 127.0.0.1.

It is leadbot's own reference platform: no account, no network, used by ``make demo`` and
the pipeline tests. Protocol:
- ``GET /ws?room=R&after=N`` (WebSocket): text messages of one or more JSON frames, one per
  line, ``{"seq", "type", "id", "room", "user_id", "nickname", "text", "ts"}``; ``type`` is
  chat | follow | live_start | live_end | scheduled (an announced broadcast: ``starts_at``,
  ``title``).
  History after ``N`` is replayed first, so a client that remembers ``seq`` resumes exactly.
- ``POST /api/send`` JSON ``{channel, target, text, recipient}`` with header
  ``Idempotency-Key``: 200 ``{"message_id"}``; a repeated key returns the first result and is
  counted as a duplicate. Live-chat sends are echoed into the room as ``self: true`` chat
  (unless a ``noecho`` fault was queued: accepted, never shown, like a silently filtered message).
- ``/_sim/*`` control routes from simkit (sends, faults, inject).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.connectors.replay.formats import RecordedLine
from bot.connectors.simkit import SimState, add_control_routes, run_while_serving

OWN_USER_ID = "sim-bot"
CLOSE_LIVE_ENDED = 4000
# A busy room's frames go out several per WebSocket message (one JSON object per line), like
# real platforms batch their pushes; a quiet room still gets each frame at once.
FRAMES_PER_MESSAGE = 100  # WebSocket close code: the room's live is over, nothing more will come


@dataclass
class Room:
    key: str
    history: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    ended: bool = False

    async def push(self, frame: dict[str, Any]) -> None:
        async with self.changed:
            frame["seq"] = len(self.history) + 1
            self.history.append(frame)
            if frame["type"] == "live_end":
                self.ended = True
            self.changed.notify_all()


@dataclass
class SimPlatform:
    rooms: dict[str, Room]
    script: list[RecordedLine]
    rate: float
    state: SimState
    end_when_done: bool = True

    async def feed(self) -> None:
        interval = 1.0 / self.rate if self.rate > 0 else 0.0
        started = time.monotonic()
        for room in self.rooms.values():
            await room.push({"type": "live_start", "id": f"{room.key}-start", "room": room.key, "ts": time.time()})
        for index, line in enumerate(self.script):
            if interval:
                delay = started + index * interval - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif index % 200 == 0:
                await asyncio.sleep(0)
            room = self.rooms.get(line.room) or next(iter(self.rooms.values()))
            await room.push(
                {
                    "type": line.kind,
                    "id": line.message_id or f"{room.key}-{index}",
                    "room": room.key,
                    "user_id": line.user_id,
                    "nickname": line.nickname,
                    "text": line.text,
                    "ts": time.time(),
                }
            )
        if self.end_when_done:
            for room in self.rooms.values():
                await room.push({"type": "live_end", "id": f"{room.key}-end", "room": room.key, "ts": time.time()})


def create_simulator(
    script: list[RecordedLine], *, rooms: list[str], rate: float = 200.0, end_when_done: bool = True
) -> tuple[web.Application, SimState]:
    state = SimState(platform="sim")
    platform = SimPlatform({key: Room(key) for key in rooms}, script, rate, state, end_when_done)
    app = web.Application()

    run_while_serving(app, platform.feed)

    async def inject(body: dict[str, Any]) -> None:
        room = platform.rooms[str(body.get("room") or next(iter(platform.rooms)))]
        await room.push(
            {
                "type": str(body.get("type", "chat")),
                "id": str(body.get("id") or f"inj-{time.time_ns()}"),
                "room": room.key,
                "user_id": str(body.get("user_id", "")),
                "nickname": str(body.get("nickname", "")),
                "text": str(body.get("text", "")),
                "ts": time.time(),
                **({"starts_at": float(body["starts_at"]), "title": str(body.get("title", ""))} if "starts_at" in body else {}),
            }
        )

    state.inject = inject
    add_control_routes(app, state)

    async def websocket(request: web.Request) -> web.WebSocketResponse:
        key = request.query.get("room", "")
        room = platform.rooms.get(key)
        if room is None:
            raise web.HTTPNotFound(text=f"no room {key!r}")
        try:
            after = int(request.query.get("after", "0") or 0)
        except ValueError:
            raise web.HTTPBadRequest(text="after must be an integer") from None
        ws = web.WebSocketResponse(heartbeat=10)
        await ws.prepare(request)
        position = max(0, after)
        stream: dict[str, Any] = {"room": key, "after": after, "sent": position, "state": "open", "opened": time.time()}
        state.streams.append(stream)
        try:
            return await _serve(ws, request, room, position, stream)
        except BaseException as error:
            stream["state"] = f"error: {type(error).__name__}: {error}"
            raise

    async def _serve(ws: web.WebSocketResponse, request: web.Request, room: Room, position: int, stream: dict[str, Any]) -> web.WebSocketResponse:
        while not ws.closed:
            async with room.changed:
                if position >= len(room.history):
                    if room.ended:
                        break
                    if request.transport is None or request.transport.is_closing():
                        stream["state"] = "client gone"
                        return ws  # the client went away while the room was quiet
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(1.0):
                            await room.changed.wait()
                    continue
                frames = room.history[position:]
            pending: list[str] = []  # frames ready to go out together (one WebSocket message, JSON lines)
            for frame in frames:
                fault = state.faults.next_stream()
                if fault is not None:
                    if pending:
                        await ws.send_str("\n".join(pending))
                        pending = []
                    if fault.kind == "drop":
                        stream["state"] = "dropped (fault)"
                        await ws.close()
                        return ws
                    if fault.kind == "garbage":
                        await ws.send_str("\x00not json{")
                    if fault.kind == "silence":
                        await asyncio.sleep(fault.seconds)
                pending.append(json.dumps(frame, ensure_ascii=False))
                position = frame["seq"]
                if len(pending) >= FRAMES_PER_MESSAGE:
                    await ws.send_str("\n".join(pending))
                    stream["sent"] = position
                    pending = []
            if pending:
                await ws.send_str("\n".join(pending))
                stream["sent"] = position
        stream["state"] = "closed (ws closed)" if ws.closed else "closed (live ended)"
        await ws.close(code=CLOSE_LIVE_ENDED, message=b"live ended")
        return ws

    async def send(request: web.Request) -> web.Response:
        await state.faults.arrive()
        fault = state.faults.next_http()
        if fault is not None and fault.kind != "noecho":
            return state.faults.http_response(fault)
        echo = fault is None
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return web.json_response({"error": "body must be JSON"}, status=400)
        text = str(body.get("text", ""))
        target = str(body.get("target", ""))
        if not text.strip():
            return web.json_response({"error": "empty text"}, status=400)
        record, duplicate = state.sends.record(
            idempotency_key=request.headers.get("Idempotency-Key", ""),
            platform="sim",
            channel=str(body.get("channel", "")),
            target=target,
            text=text,
            recipient=body.get("recipient"),
        )
        if echo and not duplicate and body.get("channel") == "live_chat" and target in platform.rooms:
            await platform.rooms[target].push(
                {
                    "type": "chat",
                    "id": record.platform_message_id,
                    "room": target,
                    "user_id": OWN_USER_ID,
                    "nickname": "主播助手",
                    "text": text,
                    "ts": time.time(),
                    "self": True,
                    "idempotency_key": record.idempotency_key,
                }
            )
        return web.json_response({"message_id": record.platform_message_id, "duplicate": duplicate})

    async def room_list(_: web.Request) -> web.Response:
        return web.json_response(
            {key: {"messages": len(room.history), "ended": room.ended} for key, room in platform.rooms.items()}
        )

    app.router.add_get("/ws", websocket)
    app.router.add_post("/api/send", send)
    app.router.add_get("/api/rooms", room_list)

    return app, state

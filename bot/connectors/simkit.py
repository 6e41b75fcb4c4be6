"""Shared parts of the platform simulators: a record of received sends, fault injection,
and the ``/_sim/*`` control endpoints tests and the dashboard use.

Each platform simulator (``bot/connectors/<platform>/simulator.py``) speaks its platform's
own wire protocol on 127.0.0.1 and uses these helpers so that every simulator can be asked
the same questions: what did the agent send, how often was something sent twice, and
"misbehave like the real platform now" (429 with Retry-After, 5xx bursts, dropped
connections, garbage frames, silence).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from aiohttp import web

# status: answer the next API call with an HTTP status; noecho: accept the next send but never
# show it (platforms that silently filter); the rest hit the stream.
FaultKind = Literal["status", "noecho", "lag", "drop", "garbage", "silence", "truncate"]
HTTP_FAULTS = ("status", "noecho")


@dataclass(frozen=True)
class RecordedSend:
    idempotency_key: str
    platform: str
    channel: str
    target: str
    text: str
    ts: float
    recipient: str | None = None
    platform_message_id: str = ""


@dataclass
class SendLog:
    """Everything the simulator accepted, in order; a repeated idempotency key is a duplicate."""

    sends: list[RecordedSend] = field(default_factory=list)
    duplicates: int = 0
    _by_key: dict[str, RecordedSend] = field(default_factory=dict)
    _counter: int = 0

    def record(
        self,
        *,
        idempotency_key: str,
        platform: str,
        channel: str,
        target: str,
        text: str,
        recipient: str | None = None,
    ) -> tuple[RecordedSend, bool]:
        """Store a send; returns (the stored send, whether it was a duplicate of an earlier one)."""
        if idempotency_key and idempotency_key in self._by_key:
            self.duplicates += 1
            return self._by_key[idempotency_key], True
        self._counter += 1
        send = RecordedSend(
            idempotency_key=idempotency_key,
            platform=platform,
            channel=channel,
            target=target,
            text=text,
            ts=time.time(),
            recipient=recipient,
            platform_message_id=f"sim-{platform}-{self._counter}",
        )
        self.sends.append(send)
        if idempotency_key:
            self._by_key[idempotency_key] = send
        return send, False

    def as_json(self) -> dict[str, Any]:
        return {"count": len(self.sends), "duplicates": self.duplicates, "sends": [asdict(s) for s in self.sends]}


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour. ``status``: answer the next HTTP call with it; ``lag``: the
    next send request reaches the platform ``seconds`` late (a cold or congested connection)."""

    kind: FaultKind
    status: int = 500
    retry_after: float | None = None
    seconds: float = 0.0
    body: str = ""


@dataclass
class FaultPlan:
    """Queued faults: HTTP faults hit the next API calls, stream faults the next frames."""

    http: deque[Fault] = field(default_factory=deque)
    stream: deque[Fault] = field(default_factory=deque)
    lags: deque[Fault] = field(default_factory=deque)
    hits: list[tuple[float, Fault]] = field(default_factory=list)  # (when, fault) for HTTP faults served

    def next_http(self) -> Fault | None:
        if not self.http:
            return None
        fault = self.http.popleft()
        self.hits.append((time.time(), fault))
        return fault

    async def arrive(self) -> None:
        """Hold a send request back by the next queued ``lag`` before the platform sees it."""
        if self.lags:
            await asyncio.sleep(self.lags.popleft().seconds)

    def next_stream(self) -> Fault | None:
        return self.stream.popleft() if self.stream else None

    def add(self, fault: Fault, count: int = 1) -> None:
        target = self.lags if fault.kind == "lag" else self.http if fault.kind in HTTP_FAULTS else self.stream
        for _ in range(count):
            target.append(fault)

    def http_response(self, fault: Fault) -> web.Response:
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        return web.Response(status=fault.status, text=fault.body or f"simulated {fault.status}", headers=headers)


InjectFn = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class SimState:
    """What every simulator exposes to tests: sends, faults, and a way to push chat in."""

    platform: str
    sends: SendLog = field(default_factory=SendLog)
    faults: FaultPlan = field(default_factory=FaultPlan)
    inject: InjectFn | None = None
    paused: asyncio.Event = field(default_factory=asyncio.Event)
    # One entry per stream connection (room, resume point, last seq sent, state): lets a test
    # that finds a gap say whether the platform side ever sent the missing frames.
    streams: list[dict[str, Any]] = field(default_factory=list)


SIM_STATE = web.AppKey("sim_state", SimState)


def run_while_serving(app: web.Application, job: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``job()`` (a simulator's script feed) in the background for as long as ``app`` serves;
    it is cancelled, and awaited, when the app shuts down."""

    async def context(_: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(job())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(context)


def add_control_routes(app: web.Application, state: SimState) -> None:
    """``GET /_sim/sends``, ``POST /_sim/faults``, ``POST /_sim/inject`` on a simulator app."""
    app[SIM_STATE] = state

    async def sends(_: web.Request) -> web.Response:
        return web.json_response(state.sends.as_json())

    async def faults(request: web.Request) -> web.Response:
        body = await request.json()
        fault = Fault(
            kind=body.get("kind", "status"),
            status=int(body.get("status", 500)),
            retry_after=body.get("retry_after"),
            seconds=float(body.get("seconds", 0)),
            body=str(body.get("body", "")),
        )
        state.faults.add(fault, int(body.get("count", 1)))
        return web.json_response({"queued": True})

    async def inject(request: web.Request) -> web.Response:
        if state.inject is None:
            raise web.HTTPNotImplemented(text="this simulator cannot inject events")
        await state.inject(await request.json())
        return web.json_response({"injected": True})

    app.router.add_get("/_sim/sends", sends)
    app.router.add_post("/_sim/faults", faults)
    app.router.add_post("/_sim/inject", inject)


async def start_app(app: web.Application, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, int]:
    """Start an aiohttp app on 127.0.0.1 (port 0 = any free port); returns the runner and port."""
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server
    assert server is not None
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, int(bound)

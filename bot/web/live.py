"""The host's live view: rates, replies, health, the question board, new leads, and the kill
switch. Figures come from the worker's ``Metrics`` when served in-process, otherwise from the
database (``leadbot web`` next to a worker in another process). Live updates: server-sent events."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from bot.outbox import PAUSE_FLAG, SHADOW_FLAG
from bot.web.context import CONTEXT, WebContext
from bot.web.render import render
from storage.leads_query import LeadFilter, list_leads
from storage.models import Lead, Message
from storage.reports import activity, question_board

SSE_TICK_S = 1.0
BOARD_EVERY_S = 5.0
BOARD_WINDOWS = (5, 15)  # minutes


async def flags(context: WebContext) -> dict[str, bool]:
    paused = (await context.repository.get_flag(PAUSE_FLAG, "0")) == "1"
    shadow = (await context.repository.get_flag(SHADOW_FLAG, "0")) == "1"
    forced = bool(context.worker is not None and context.worker.options.shadow)
    return {"paused": paused, "shadow": shadow or forced, "shadow_flag": shadow, "shadow_forced": forced}


def connector_health(context: WebContext) -> list[dict[str, Any]]:
    connectors = context.worker.connectors if context.worker is not None else context.connectors
    return [
        {
            "name": c.name,
            "platform": c.platform,
            "account": c.account,
            "state": c.health.state,
            "connected_since": c.health.connected_since,
            "last_event_at": c.health.last_event_at,
            "reconnects": c.health.reconnects,
            "malformed_frames": c.health.malformed_frames,
            "last_error": c.health.last_error,
        }
        for c in connectors
    ]


async def snapshot(context: WebContext) -> dict[str, Any]:
    """Everything the live view shows, as plain JSON-able data."""
    now = time.time()
    data: dict[str, Any] = {"now": now, **(await flags(context)), "connectors": connector_health(context)}
    metrics = context.metrics
    if metrics is not None:
        p99 = metrics.latency_percentile(0.99)
        data.update(
            source="worker",
            messages_per_s=round(metrics.rate(10.0, now), 2),
            backlog=metrics.backlog,
            leads_per_min=round(metrics.leads_per_minute(60.0, now), 2),
            messages_total=metrics.messages_read,
            leads_new=metrics.leads_new,
            sent=dict(metrics.sent),
            suppressed=dict(metrics.suppressed),
            send_failures=dict(metrics.send_failures),
            latency_p99_ms=round(p99 * 1000) if p99 is not None else None,
            db_available=metrics.db_available,
            uptime_s=round(now - metrics.started_at),
        )
    else:
        async with context.engine.connect() as conn:
            recent = (
                await conn.execute(select(func.count()).select_from(Message).where(Message.ts >= now - 10))
            ).scalar_one()
            leads_minute = (
                await conn.execute(select(func.count()).select_from(Lead).where(Lead.first_seen_at >= now - 60))
            ).scalar_one()
        hour = await activity(context.engine, now - 3600)
        by_status = hour["actions_by_status"]
        data.update(
            source="database (last hour)",
            messages_per_s=round(recent / 10.0, 2),
            backlog=None,
            leads_per_min=float(leads_minute),
            messages_total=hour["messages"],
            leads_new=hour["leads"],
            sent={"all": sum(by_status.get(s, 0) for s in ("sent", "delivered", "undelivered"))},
            suppressed=hour["suppressed_by_reason"],
            send_failures={"failed": by_status.get("failed", 0)} if by_status.get("failed") else {},
            latency_p99_ms=None,
            db_available=True,
            uptime_s=None,
        )
    data["sent_total"] = sum(data["sent"].values())
    data["suppressed_total"] = sum(data["suppressed"].values())
    return data


async def boards(context: WebContext) -> dict[str, list[dict[str, Any]]]:
    now = time.time()
    names = await product_names(context)
    result = {}
    for minutes in BOARD_WINDOWS:
        rows = await question_board(context.engine, now - minutes * 60)
        for row in rows:
            product = names.get(row["product"] or "")
            if product is not None:  # "加绒连帽卫衣 (3号链接)" reads better on air than an id
                name, number = product
                row["label"] = f"{name} ({number}号链接)" if number is not None else name
        result[str(minutes)] = rows
    return result


async def product_names(context: WebContext) -> dict[str, tuple[str, int | None]]:
    """product id → (name, link number) from the catalogue of the matcher in force."""
    matcher = await context.matcher()
    catalogue = getattr(matcher, "catalogue", None)
    products = getattr(catalogue, "products", ()) if catalogue is not None else ()
    return {p.product_id: (p.name, p.link_number) for p in products}


async def latest_leads(context: WebContext, *, after_id: int = 0, limit: int = 20) -> list[dict[str, Any]]:
    async with context.engine.connect() as conn:
        ids = list(
            (
                await conn.execute(select(Lead.id).where(Lead.id > after_id).order_by(Lead.id.desc()).limit(limit))
            ).scalars()
        )
    if not ids:
        return []
    rows, _ = await list_leads(context.engine, LeadFilter(ids=tuple(ids), sort="first_seen"), limit=limit)
    return [_lead_json(row) for row in rows]


def _lead_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "nickname": row["nickname"],
        "platform": row["platform"],
        "status": row["status"],
        "score": round(float(row["score"]), 2),
        "intents": row["intents"],
        "products": row["products"],
        "last_text": row["last_text"],
        "first_seen_at": row["first_seen_at"],
        "last_seen_at": row["last_seen_at"],
        "origin": row["first_origin"],
        "message_count": row["message_count"],
        "replies_sent": row["replies_sent"],
    }


# ---------------------------------------------------------------------------- handlers
async def live_page(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    leads = await latest_leads(context)
    return render(
        request,
        "live.html",
        {
            "stats": await snapshot(context),
            "boards": await boards(context),
            "leads": leads,
            "last_lead_id": max((lead["id"] for lead in leads), default=0),
        },
    )


async def live_compact(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    return render(
        request, "live_compact.html", {"stats": await snapshot(context), "boards": await boards(context)}
    )


async def stats_api(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    return web.json_response({"stats": await snapshot(context), "boards": await boards(context)})


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``stats`` every second, ``leads`` when new ones arrive, ``board`` every 5 s."""
    context = request.app[CONTEXT]
    try:
        after = int(request.query.get("after") or request.headers.get("Last-Event-ID") or 0)
    except ValueError:
        after = 0
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    board_at = 0.0
    try:
        while True:
            await _send(response, "stats", await snapshot(context))
            leads = await latest_leads(context, after_id=after)
            if leads:
                after = max(lead["id"] for lead in leads)
                await _send(response, "leads", leads, event_id=str(after))
            if time.monotonic() - board_at >= BOARD_EVERY_S:
                board_at = time.monotonic()
                await _send(response, "board", await boards(context))
            await asyncio.sleep(SSE_TICK_S)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response


async def _send(response: web.StreamResponse, event: str, data: Any, event_id: str | None = None) -> None:
    payload = json.dumps(data, ensure_ascii=False, default=str)
    head = f"id: {event_id}\n" if event_id else ""
    await response.write(f"{head}event: {event}\ndata: {payload}\n\n".encode())


CONTROLS = {
    "pause": (PAUSE_FLAG, "1"),
    "resume": (PAUSE_FLAG, "0"),
    "shadow-on": (SHADOW_FLAG, "1"),
    "shadow-off": (SHADOW_FLAG, "0"),
}


async def control(request: web.Request) -> web.StreamResponse:
    """The kill switch and the shadow toggle, persisted: every worker on this database obeys within a second."""
    context = request.app[CONTEXT]
    action = request.match_info["action"]
    if action not in CONTROLS:
        raise web.HTTPNotFound(text="unknown control")
    flag, value = CONTROLS[action]
    await context.repository.set_flag(flag, value)
    state = await flags(context)
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response(state)
    raise web.HTTPFound("/live")

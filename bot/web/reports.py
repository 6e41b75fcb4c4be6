"""Reports: per broadcast (room + live start/end) and per product — leads, reply rate,
suppressed by caps, conversions ('ordered' after a reply), 24 h / 7 d follow-through."""

from __future__ import annotations

import time

from aiohttp import web

from bot.web.context import CONTEXT
from bot.web.render import render, when
from storage.reports import broadcast_report, leads_per_hour, product_report


async def reports_page(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    casts = await broadcast_report(context.engine)
    products = await product_report(context.engine)
    hourly = await leads_per_hour(context.engine, time.time() - 7 * 86_400)
    charts = {
        "broadcasts": {
            "labels": [f"{c['origin']} {when(c['started_at'], '%m-%d %H:%M')}" for c in reversed(casts)],
            "leads": [c["leads"] for c in reversed(casts)],
            "replies": [c["replies_sent"] for c in reversed(casts)],
            "suppressed": [c["suppressed"] for c in reversed(casts)],
            "conversions": [c["conversions"] for c in reversed(casts)],
        },
        "products": {
            "labels": [p["product"] for p in products[:15]],
            "leads": [p["leads"] for p in products[:15]],
            "conversions": [p["conversions"] for p in products[:15]],
        },
        "hourly": {"labels": [when(h, "%m-%d %H:00") for h, _ in hourly], "leads": [n for _, n in hourly]},
    }
    return render(request, "reports.html", {"broadcasts": casts, "products": products, "charts": charts})


async def reports_api(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    return web.json_response(
        {"broadcasts": await broadcast_report(context.engine), "products": await product_report(context.engine)}
    )

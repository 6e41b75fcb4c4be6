"""The dashboard's aiohttp application and its lifecycle (start/stop next to the worker)."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.logs import register_secret
from bot.serving import RunningSite, serve
from bot.web import keywords, leads, live, prom, reports, security, settings
from bot.web.context import CONTEXT, WebContext
from bot.web.render import STATIC

log = logging.getLogger(__name__)


async def healthz(_: web.Request) -> web.StreamResponse:
    return web.json_response({"ok": True})


async def index(_: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/live")


def create_app(context: WebContext) -> web.Application:
    register_secret(context.token)
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[CONTEXT] = context
    security.install(app, context.token)
    r = app.router
    r.add_get("/", index)
    r.add_get("/healthz", healthz)
    r.add_get("/login", security.login_page)
    r.add_post("/login", security.login_submit)
    r.add_post("/logout", security.logout)
    # live
    r.add_get("/live", live.live_page)
    r.add_get("/live/compact", live.live_compact)
    r.add_get("/events", live.events)
    r.add_get("/api/stats", live.stats_api)
    r.add_post("/control/{action}", live.control)
    # leads
    r.add_get("/leads", leads.leads_page)
    r.add_get("/api/leads", leads.leads_api)
    r.add_get("/leads/export", leads.export)
    r.add_post("/leads/bulk-status", leads.bulk_status)
    r.add_get(r"/leads/{lead_id:\d+}", leads.lead_page)
    r.add_get(r"/api/leads/{lead_id:\d+}", leads.lead_api)
    r.add_post(r"/leads/{lead_id:\d+}/notes", leads.save_lead_notes)
    r.add_post(r"/leads/{lead_id:\d+}/status", leads.set_status)
    # keywords
    r.add_get("/keywords", keywords.keywords_page)
    r.add_post("/api/keywords/test", keywords.test_api)
    r.add_get("/keywords/hits", keywords.keyword_hits_page)
    r.add_post("/keywords/feedback", keywords.feedback)
    r.add_get("/keywords/feedback.tsv", keywords.feedback_tsv)
    r.add_get("/keywords/edit", keywords.edit_page)
    r.add_post("/keywords/preview", keywords.preview)
    r.add_post("/keywords/publish", keywords.publish)
    r.add_post("/keywords/rollback", keywords.rollback)
    # reports, settings, metrics
    r.add_get("/reports", reports.reports_page)
    r.add_get("/api/reports", reports.reports_api)
    r.add_get("/settings", settings.settings_page)
    r.add_post("/settings/preview", settings.settings_preview)
    r.add_get("/metrics", prom.metrics_endpoint)
    r.add_static("/static/", STATIC, follow_symlinks=False)
    return app


RunningWeb = RunningSite  # the dashboard as served by ``start_web``


async def start_web(context: WebContext, host: str = "127.0.0.1", port: int = 8765) -> RunningWeb:
    """Serve the dashboard on ``host:port`` (port 0 = any free port) until ``stop()``."""
    return await serve(create_app(context), host, port)

"""The dashboard: server-rendered pages (jinja2, autoescape) served by aiohttp, in the worker's
process (``leadbot run`` with ``[web] enabled = true``) or alone (``leadbot web``)."""

from bot.web.context import WebContext, ensure_token
from bot.web.server import RunningWeb, create_app, start_web

__all__ = ["RunningWeb", "WebContext", "create_app", "ensure_token", "start_web"]

"""Server-side rendering: jinja2 with autoescape on for every template (hostile text is data)."""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def when(ts: float | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return datetime.fromtimestamp(ts).strftime(fmt) if ts else "-"


def pct(value: float | None) -> str:
    return f"{100 * value:.0f}%" if value is not None else "-"


def as_json(value: Any) -> str:
    """JSON for a ``<script type="application/json">`` block: ``<``, ``>`` and ``&`` escaped."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its extension
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["pct"] = pct
    env.filters["as_json"] = lambda v: Markup(as_json(v))
    return env


def render(request: web.Request, name: str, data: dict[str, Any], *, status: int = 200) -> web.Response:
    from bot.web.security import template_globals

    page = dict(template_globals(request))
    page.update(data)
    page.setdefault("path", request.path)
    text = environment().get_template(name).render(**page)
    return web.Response(text=text, content_type="text/html", charset="utf-8", status=status)

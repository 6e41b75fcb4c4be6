"""The merchant's leads: filtered table, bulk status, streamed CSV/JSONL export of exactly the
filtered set (``storage.leads_query`` filters, shared with the CLI), and one lead's story."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from multidict import MultiMapping

from bot.export import export_lines
from bot.web.context import CONTEXT
from bot.web.live import _lead_json
from bot.web.render import render
from keywords.api import INTENTS
from storage.leads_query import SORTS, LeadFilter, iter_leads, lead_detail, list_leads
from storage.reports import lead_notes, save_notes
from storage.repository import LEAD_STATUSES

PER_PAGE_CHOICES = (25, 50, 100, 200)
FILTER_KEYS = ("status", "intent", "product", "platform", "origin", "since", "until", "min_score", "q", "sort", "per_page")


class FilterError(ValueError):
    """A filter value the user typed cannot be used; the message says which and why."""


def _date(value: str, name: str, *, end_of_day: bool = False) -> float:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise FilterError(f"{name} = {value!r}: expected a date like 2026-11-23") from None
    if end_of_day and len(value) <= 10:
        parsed = parsed + timedelta(days=1) - timedelta(microseconds=1)
    return parsed.timestamp()


def parse_filter(query: MultiMapping[str]) -> LeadFilter:
    statuses = tuple(s for s in query.getall("status", []) if s)
    bad = [s for s in statuses if s not in LEAD_STATUSES]
    if bad:
        raise FilterError(f"status = {bad[0]!r}: must be one of {', '.join(LEAD_STATUSES)}")
    intents = tuple(i for i in query.getall("intent", []) if i)
    min_score = None
    if query.get("min_score"):
        try:
            min_score = float(query["min_score"])
        except ValueError:
            raise FilterError(f"min_score = {query['min_score']!r}: must be a number between 0 and 1") from None
        if not math.isfinite(min_score):
            raise FilterError("min_score: must be a number between 0 and 1")
    sort = query.get("sort") or "last_seen"
    if sort not in SORTS:
        raise FilterError(f"sort = {sort!r}: must be one of {', '.join(SORTS)}")
    return LeadFilter(
        statuses=statuses,
        intents=intents,
        product=query.get("product") or None,
        platform=query.get("platform") or None,
        origin=query.get("origin") or None,
        since=_date(query["since"], "since") if query.get("since") else None,
        until=_date(query["until"], "until", end_of_day=True) if query.get("until") else None,
        min_score=min_score,
        search=(query.get("q") or "").strip() or None,
        sort=sort,
    )


def _paging(query: MultiMapping[str]) -> tuple[int, int]:
    try:
        per_page = int(query.get("per_page") or 50)
        page = max(1, int(query.get("page") or 1))
    except ValueError:
        raise FilterError("page and per_page must be whole numbers") from None
    if per_page not in PER_PAGE_CHOICES:
        per_page = 50
    return page, per_page


def filter_query(query: MultiMapping[str], **override: Any) -> str:
    """The current filters as a query string (for pagination, export and 'back' links)."""
    pairs = [(k, v) for k in FILTER_KEYS for v in query.getall(k, []) if v and k not in override]
    pairs += [(k, str(v)) for k, v in override.items() if v is not None]
    return urlencode(pairs)


async def leads_page(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    query = request.query
    error = None
    try:
        lead_filter = parse_filter(query)
        page, per_page = _paging(query)
    except FilterError as problem:
        error, lead_filter, page, per_page = str(problem), LeadFilter(), 1, 50
    rows, total = await list_leads(context.engine, lead_filter, limit=per_page, offset=(page - 1) * per_page)
    pages = max(1, math.ceil(total / per_page))
    return render(
        request,
        "leads.html",
        {
            "leads": rows,
            "total": total,
            "page": page,
            "pages": pages,
            "per_page": per_page,
            "per_page_choices": PER_PAGE_CHOICES,
            "query": query,
            "selected_status": set(query.getall("status", [])),
            "selected_intent": set(query.getall("intent", [])),
            "statuses": LEAD_STATUSES,
            "intents": INTENTS,
            "sorts": list(SORTS),
            "qs": filter_query(query),
            "prev_qs": filter_query(query, page=page - 1) if page > 1 else None,
            "next_qs": filter_query(query, page=page + 1) if page < pages else None,
            "error": error,
            "live": page == 1 and lead_filter.sort in ("last_seen", "first_seen"),
        },
        status=400 if error else 200,
    )


async def leads_api(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    try:
        lead_filter = parse_filter(request.query)
        page, per_page = _paging(request.query)
    except FilterError as problem:
        return web.json_response({"error": str(problem)}, status=400)
    rows, total = await list_leads(context.engine, lead_filter, limit=per_page, offset=(page - 1) * per_page)
    return web.json_response({"total": total, "page": page, "leads": [_lead_json(r) for r in rows]})


async def export(request: web.Request) -> web.StreamResponse:
    """Stream exactly the filtered set as CSV (formula-safe) or JSONL."""
    context = request.app[CONTEXT]
    fmt = request.query.get("format", "csv")
    if fmt not in ("csv", "jsonl"):
        raise web.HTTPBadRequest(text="format must be csv or jsonl")
    try:
        lead_filter = parse_filter(request.query)
    except FilterError as problem:
        raise web.HTTPBadRequest(text=str(problem)) from None
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson; charset=utf-8",
            "Content-Disposition": f'attachment; filename="leads-{stamp}.{fmt}"',
        }
    )
    await response.prepare(request)
    if fmt == "csv":
        await response.write("\ufeff".encode())  # BOM: Excel opens UTF-8 (Chinese nicknames) correctly
    chunk: list[str] = []
    async for line in export_lines(iter_leads(context.engine, lead_filter), fmt):
        chunk.append(line)
        if len(chunk) >= 500:
            await response.write("".join(chunk).encode("utf-8"))
            chunk.clear()
    if chunk:
        await response.write("".join(chunk).encode("utf-8"))
    await response.write_eof()
    return response


def _safe_back(value: Any) -> str:
    text = str(value or "")
    return text if text.startswith("/leads") and not text.startswith("//") else "/leads"


async def bulk_status(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    form = await request.post()
    status = str(form.get("status", ""))
    if status not in LEAD_STATUSES:
        raise web.HTTPBadRequest(text=f"status must be one of {', '.join(LEAD_STATUSES)}")
    try:
        ids = [int(str(v)) for v in form.getall("ids", [])]
    except ValueError:
        raise web.HTTPBadRequest(text="ids must be lead numbers") from None
    changed = await context.repository.set_lead_status(ids, status, by="dashboard") if ids else 0
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response({"changed": changed})
    raise web.HTTPFound(_safe_back(form.get("back")))


async def lead_page(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    lead_id = _lead_id(request)
    lead = await lead_detail(context.engine, lead_id)
    if lead is None:
        raise web.HTTPNotFound(text=f"no lead {lead_id}")
    lead["notes"] = await lead_notes(context.engine, lead_id)
    return render(request, "lead.html", {"lead": lead, "statuses": LEAD_STATUSES, "saved": request.query.get("saved")})


async def lead_api(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    lead = await lead_detail(context.engine, _lead_id(request))
    if lead is None:
        return web.json_response({"error": "no such lead"}, status=404)
    lead["notes"] = await lead_notes(context.engine, lead["id"])
    return web.json_response(lead, dumps=_dumps)


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, default=str)


def _lead_id(request: web.Request) -> int:
    try:
        return int(request.match_info["lead_id"])
    except ValueError:
        raise web.HTTPNotFound(text="no such lead") from None


async def save_lead_notes(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    lead_id = _lead_id(request)
    if request.content_type == "application/json":
        body = await request.json()
        notes = str(body.get("notes", ""))
    else:
        notes = str((await request.post()).get("notes", ""))
    if not await save_notes(context.engine, lead_id, notes):
        raise web.HTTPNotFound(text="no such lead")
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response({"saved": True})
    raise web.HTTPFound(f"/leads/{lead_id}?saved=1")


async def set_status(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    lead_id = _lead_id(request)
    status = str((await request.post()).get("status", ""))
    if status not in LEAD_STATUSES:
        raise web.HTTPBadRequest(text=f"status must be one of {', '.join(LEAD_STATUSES)}")
    await context.repository.set_lead_status([lead_id], status, by="dashboard")
    raise web.HTTPFound(f"/leads/{lead_id}")

"""Settings: caps, sender, pipeline, connectors and the product catalogue — shown, and edited
with *validate and preview*: the edited TOML is checked with exactly the rules (and messages)
of ``config.toml`` loading, and the page shows what would change. Nothing is written back to
config.toml: the page hands over the validated snippet to paste (the file stays the one source
of truth, comments included)."""

from __future__ import annotations

import time
import tomllib
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot.config import ConfigError, Settings, connector_settings, parse_settings
from bot.web.context import CONTEXT, WebContext
from bot.web.render import render
from storage.models import ScheduledBroadcast

SECTIONS = ("caps", "sender", "pipeline", "matching", "replies", "schedule", "connectors")
LIST_SECTIONS = ("schedule", "connectors")  # arrays of tables: [[schedule]], [[connectors]]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        out = {}
        for index, inner in enumerate(value):
            out.update(_flatten(inner, f"{prefix}[{index}]"))
        return out
    return {prefix: value}


def _dump(settings: Settings) -> dict[str, Any]:
    data = settings.model_dump(mode="json")
    for entry in data.get("connectors", []):
        for key in list(entry):
            if any(s in key.lower() for s in ("token", "secret", "cookie", "password", "key")) and key != "account":
                entry[key] = "**********"
    data["web"].pop("token", None)
    return data


def validate_section(context: WebContext, section: str, text: str) -> tuple[list[str], list[dict[str, Any]]]:
    """(problems, changes) for a TOML snippet replacing one section of the current config."""
    if section not in SECTIONS:
        return [f"{section}: not an editable section ({', '.join(SECTIONS)})"], []
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return [f"invalid TOML: {error}"], []
    current = context.config.settings.model_dump(mode="json", exclude={"connectors", "schedule"})
    current["web"].pop("token", None)
    candidate = dict(current)
    candidate["schedule"] = [e.model_dump(mode="json") for e in context.config.settings.schedule]
    if section in LIST_SECTIONS:
        candidate[section] = data.get(section, [])
        if set(data) - {section}:
            return [f"{k}: only [[{section}]] entries belong here" for k in sorted(set(data) - {section})], []
    else:
        if set(data) - {section}:
            return [f"{k}: only the [{section}] section belongs here" for k in sorted(set(data) - {section})], []
        candidate[section] = data.get(section, {})
    try:
        settings, _ = parse_settings(candidate, "edited settings")
        if section == "connectors":
            connector_settings(settings, "edited settings")
    except ConfigError as error:
        return list(error.problems), []
    before = _flatten(_dump(context.config.settings).get(section, {}), section)
    after = _flatten(_dump(settings).get(section, {}), section)
    changes = [
        {"key": key, "before": before.get(key, "(unset)"), "after": after.get(key, "(unset)")}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    ]
    return [], changes


def validate_catalogue(text: str) -> list[str]:
    from keywords.catalogue import validate_catalogue_text

    return [str(p) for p in validate_catalogue_text(text, "products.toml")]


def _toml_value(value: Any) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def section_toml(data: dict[str, Any], section: str) -> str:
    """A readable TOML rendering of one section (the edit box's starting text)."""
    if section in LIST_SECTIONS:
        lines: list[str] = []
        for entry in data.get(section, []):
            lines.append(f"[[{section}]]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in entry.items() if v is not None]
            lines.append("")
        return "\n".join(lines) or f"# no [[{section}]] entries configured\n"
    body = data.get(section, {})
    plain = [f"{k} = {_toml_value(v)}" for k, v in body.items() if not isinstance(v, dict) and v is not None]
    lines = [f"[{section}]", *plain, ""]
    for key, value in body.items():
        if isinstance(value, dict):
            lines.append(f"[{section}.{key}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in value.items() if v is not None]
            lines.append("")
    return "\n".join(lines)


async def _scheduled(context: WebContext) -> list[dict[str, Any]]:
    """Upcoming and recent broadcasts (``[[schedule]]``, ``leadbot schedule add``, platform reservations)."""
    async with context.engine.connect() as conn:
        rows = await conn.execute(
            select(
                ScheduledBroadcast.broadcast_id,
                ScheduledBroadcast.starts_at,
                ScheduledBroadcast.title,
                ScheduledBroadcast.platform,
                ScheduledBroadcast.room,
                ScheduledBroadcast.source,
                ScheduledBroadcast.started_at,
            )
            .where(ScheduledBroadcast.starts_at >= time.time() - 7 * 86_400)
            .order_by(ScheduledBroadcast.starts_at)
            .limit(50)
        )
        return [dict(r._mapping) for r in rows]


def _catalogue_text(context: WebContext) -> tuple[str, str]:
    products = context.config.settings.matching.products
    if not products:
        return "", ""
    path = context.config.resolve_path(products)
    try:
        return str(path), path.read_text(encoding="utf-8")
    except OSError:
        return str(path), ""


async def settings_page(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    return await _render(request, context, None, "", [], [], None)


async def _render(
    request: web.Request,
    context: WebContext,
    section: str | None,
    text: str,
    problems: list[str],
    changes: list[dict[str, Any]],
    ok: bool | None,
) -> web.Response:
    data = _dump(context.config.settings)
    catalogue_path, catalogue_text = _catalogue_text(context)
    boxes = {name: section_toml(data, name) for name in SECTIONS}
    if section is not None and section in boxes:
        boxes[section] = text
    return render(
        request,
        "settings.html",
        {
            "config_path": str(context.config.path or "(defaults: no config file)"),
            "boxes": boxes,
            "edited": section,
            "problems": problems,
            "changes": changes,
            "ok": ok,
            "catalogue_path": catalogue_path,
            "catalogue_text": text if section == "products" else catalogue_text,
            "scheduled": await _scheduled(context),
        },
        status=422 if problems else 200,
    )


async def settings_preview(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    form = await request.post()
    section = str(form.get("section", ""))
    text = str(form.get("content", "")).replace("\r\n", "\n")
    if section == "products":
        problems = validate_catalogue(text)
        return await _render(request, context, section, text, problems, [], not problems)
    problems, changes = validate_section(context, section, text)
    return await _render(request, context, section, text, problems, changes, not problems)

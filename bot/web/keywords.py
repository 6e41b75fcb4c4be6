"""The support team's keyword page: test any text with the full explanation, see what each
keyword hit over the last day, mark false positives (exported as labelled TSV for
``keywords eval``), and edit a list safely: validate → preview on the last hour of chat →
publish (written to the list file, versioned in the database, in force at once) → roll back.

Editable lists are the merchant's ``[matching] extra_lists`` files; the built-in default lists
are shown read-only. Version history lives in the ``keyword_list_versions`` table (migration 0002).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.web.context import CONTEXT, WebContext
from bot.web.render import render
from keywords.api import INTENTS, Matcher, explanation_dict
from keywords.diff import compare_on_labelled, diff_matches
from keywords.evaluation import LabelledRow
from storage.reports import (
    add_feedback,
    feedback_rows,
    feedback_tsv_line,
    get_list_version,
    keyword_hits,
    keyword_messages,
    list_versions,
    recent_messages,
    save_list_version,
)

DAY = 86_400.0
TEAM_LABELS_LIMIT = 5_000  # labelled messages re-matched by a preview (the newest verdict per text wins)
PREVIEW_WINDOW_S = 3600.0
LABELS = (*INTENTS, "none")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}" if self.line else f"{self.file}: {self.reason}"


class ListRejected(Exception):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(map(str, problems)))


# ---------------------------------------------------------------------------- list files
def editable_lists(context: WebContext) -> dict[str, Path]:
    """The merchant's list files as written in config (``extra_lists``) → resolved path."""
    return {name: context.config.resolve_path(name) for name in context.config.settings.matching.extra_lists}


def _problems(error: Exception) -> list[Problem]:
    found = getattr(error, "problems", None)
    if found:
        return [Problem(str(p.file), int(p.line), str(p.reason)) for p in found]
    return [Problem(str(getattr(error, "file", "?")), int(getattr(error, "line", 0)), str(getattr(error, "reason", error)))]


def validate(text: str, name: str) -> list[Problem]:
    from keywords import validate_list_text

    return [Problem(str(p.file), int(p.line), str(p.reason)) for p in validate_list_text(text, name)]


def build_candidate(context: WebContext, overrides: dict[Path, str]) -> Matcher:
    """The matcher the running agent would use if these list files had this content.

    Mirrors ``keywords.loader.load_matcher``; raises ``ListRejected`` with file/line problems.
    """
    from keywords import KeywordListError
    from keywords.catalogue import load_catalogue
    from keywords.lists import load_list_file, parse_list_text
    from keywords.loader import catalogue_path, list_paths
    from keywords.matcher import KeywordMatcher

    settings = context.config.settings.matching
    try:
        lists = [
            parse_list_text(overrides[path], str(path)) if path in overrides else load_list_file(path)
            for path in list_paths(settings, context.base_dir)
        ]
        catalogue, catalogue_text = None, ""
        cat = catalogue_path(settings, context.base_dir)
        if cat is not None and cat.exists():
            catalogue = load_catalogue(cat)
            catalogue_text = cat.read_text(encoding="utf-8")
        return KeywordMatcher(lists, catalogue, min_score=settings.min_score, catalogue_text=catalogue_text)
    except KeywordListError as error:
        raise ListRejected(_problems(error)) from None


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_list(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


# ---------------------------------------------------------------------------- handlers
async def keywords_page(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    text = request.query.get("text", "")
    matcher = await context.matcher()
    tested = explanation_dict(matcher.match(text)) if text else None
    hits = await keyword_hits(context.engine, time.time() - DAY)
    counts = {(h["intent"], h["keyword"]): h for h in hits}
    lists = []
    for kl in getattr(matcher, "lists", ()):
        sections = []
        for intent, section in sorted(kl.sections.items()):
            words = [
                {"keyword": k, **{f: counts.get((intent, k), {}).get(f, 0) for f in ("hits", "accepted", "false_positives")}}
                for k in section.keywords
            ]
            words.sort(key=lambda w: -int(w["hits"]))
            sections.append({"intent": intent, "keywords": words})
        lists.append({"name": kl.name, "sections": sections})
    editable = {name: str(path) for name, path in editable_lists(context).items()}
    return render(
        request,
        "keywords.html",
        {
            "text": text,
            "tested": tested,
            "hits": hits[:100],
            "lists": lists,
            "editable": editable,
            "version": getattr(matcher, "version", ""),
        },
    )


async def test_api(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    body = await request.json() if request.content_type == "application/json" else dict(await request.post())
    text = str(body.get("text", ""))[:2000]
    matcher = await context.matcher()
    return web.json_response(explanation_dict(matcher.match(text)), dumps=_dumps)


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


async def keyword_hits_page(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    keyword = request.query.get("keyword", "")
    rows = await keyword_messages(context.engine, keyword, time.time() - DAY) if keyword else []
    return render(request, "keyword_hits.html", {"keyword": keyword, "rows": rows, "labels": LABELS})


async def feedback(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    form = await request.post()
    keyword = str(form.get("keyword", ""))
    label = str(form.get("label", "none"))
    if label not in LABELS:
        raise web.HTTPBadRequest(text=f"label must be one of {', '.join(LABELS)}")
    try:
        message_id = int(str(form.get("message_id", "")))
    except ValueError:
        raise web.HTTPBadRequest(text="message_id must be a number") from None
    saved = await add_feedback(
        context.engine, message_id=message_id, keyword=keyword, label=label, note=str(form.get("note", "")), by="dashboard"
    )
    if not saved:
        raise web.HTTPNotFound(text="that message has no hit of that keyword")
    raise web.HTTPFound(f"/keywords/hits?keyword={_quote(keyword)}")


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


async def feedback_tsv(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/tab-separated-values; charset=utf-8",
            "Content-Disposition": 'attachment; filename="keyword-feedback.tsv"',
        }
    )
    await response.prepare(request)
    await response.write(b"label\ttext\tsource\tnote\n")
    async for row in feedback_rows(context.engine):
        await response.write(feedback_tsv_line(row).encode("utf-8"))
    await response.write_eof()
    return response


def _list_name(context: WebContext, name: str) -> Path:
    lists = editable_lists(context)
    if name not in lists:
        raise web.HTTPNotFound(text="not an editable list (add it to [matching] extra_lists in config.toml)")
    return lists[name]


async def edit_page(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    name = request.query.get("name", "")
    path = _list_name(context, name)
    return render(
        request,
        "keyword_edit.html",
        {
            "name": name,
            "path": str(path),
            "content": read_list(path),
            "problems": [],
            "preview": None,
            "versions": await list_versions(context.engine, name),
            "message": request.query.get("message"),
        },
    )


async def _form_content(request: web.Request) -> tuple[str, str, str]:
    form = await request.post()
    name = str(form.get("name", ""))
    upload = form.get("file")
    content = str(form.get("content", ""))
    if isinstance(upload, web.FileField):
        raw = upload.file.read()
        if raw:
            try:
                content = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                line = raw[: error.start].count(b"\n") + 1
                raise ListRejected([Problem(name, line, f"not UTF-8 text (byte {error.start})")]) from None
    return name, content.replace("\r\n", "\n"), str(form.get("comment", ""))


async def _check(context: WebContext, path: Path, name: str, content: str) -> Matcher:
    problems = validate(content, str(path))
    if problems:
        raise ListRejected(problems)
    return await asyncio.to_thread(build_candidate, context, {path: content})


async def preview(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    try:
        name, content, _ = await _form_content(request)
    except ListRejected as rejected:
        name, content, problems = "", "", rejected.problems
        return _edit_again(request, context, name, content, problems)
    path = _list_name(context, name)
    try:
        candidate = await _check(context, path, name, content)
    except ListRejected as rejected:
        return await _edit_with(request, context, name, path, content, rejected.problems, None)
    texts = await recent_messages(context.engine, time.time() - PREVIEW_WINDOW_S)
    current = await context.matcher()
    result = await asyncio.to_thread(diff_matches, texts, current, candidate)
    labelled = await team_labels(context)
    result["labelled"] = (
        await asyncio.to_thread(compare_on_labelled, labelled, current, candidate) if labelled else None
    )
    return await _edit_with(request, context, name, path, content, [], result)


async def team_labels(context: WebContext) -> list[LabelledRow]:
    """The messages the team marked on the keyword-hits pages, as a labelled sample: a preview
    shows whether an edit fixes the hits they marked wrong, and whether it breaks others."""
    by_text: dict[str, LabelledRow] = {}
    async for row in feedback_rows(context.engine):
        text = str(row["text"])
        by_text.pop(text, None)  # the newest verdict on a text wins, and moves to the end
        by_text[text] = LabelledRow(str(row["label"]), text, str(row.get("note") or ""))
    return list(by_text.values())[-TEAM_LABELS_LIMIT:]


def _edit_again(request: web.Request, context: WebContext, name: str, content: str, problems: list[Problem]) -> web.Response:
    return render(
        request,
        "keyword_edit.html",
        {"name": name, "path": "", "content": content, "problems": problems, "preview": None, "versions": [], "message": None},
        status=422,
    )


async def _edit_with(
    request: web.Request,
    context: WebContext,
    name: str,
    path: Path,
    content: str,
    problems: list[Problem],
    result: dict[str, Any] | None,
) -> web.Response:
    return render(
        request,
        "keyword_edit.html",
        {
            "name": name,
            "path": str(path),
            "content": content,
            "problems": problems,
            "preview": result,
            "versions": await list_versions(context.engine, name),
            "message": None,
        },
        status=422 if problems else 200,
    )


async def _publish(context: WebContext, name: str, path: Path, content: str, comment: str) -> None:
    candidate = await _check(context, path, name, content)
    previous = read_list(path)
    if not await list_versions(context.engine, name, limit=1) and previous and previous != content:
        await save_list_version(context.engine, name, previous, by="file", comment="as found on disk before the first edit")
    await asyncio.to_thread(write_atomically, path, content)
    await save_list_version(context.engine, name, content, by="dashboard", comment=comment)
    context.set_matcher(candidate)


async def publish(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    try:
        name, content, comment = await _form_content(request)
    except ListRejected as rejected:
        return _edit_again(request, context, "", "", rejected.problems)
    path = _list_name(context, name)
    try:
        await _publish(context, name, path, content, comment or "published from the dashboard")
    except ListRejected as rejected:
        return await _edit_with(request, context, name, path, content, rejected.problems, None)
    raise web.HTTPFound(f"/keywords/edit?name={_quote(name)}&message=published")


async def rollback(request: web.Request) -> web.StreamResponse:
    context = request.app[CONTEXT]
    form = await request.post()
    try:
        version = await get_list_version(context.engine, int(str(form.get("version_id", ""))))
    except ValueError:
        version = None
    if version is None:
        raise web.HTTPNotFound(text="no such list version")
    path = _list_name(context, version.name)
    try:
        await _publish(context, version.name, path, version.content, f"rollback to version {version.id}")
    except ListRejected as rejected:
        return await _edit_with(request, context, version.name, path, version.content, rejected.problems, None)
    raise web.HTTPFound(f"/keywords/edit?name={_quote(version.name)}&message=rolled+back+to+version+{version.id}")

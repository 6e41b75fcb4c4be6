"""The dashboard over HTTP (no browser): login, sessions, CSRF, escaping, exports, controls."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.outbox import PAUSE_FLAG, SHADOW_FLAG
from bot.web import WebContext, start_web
from bot.web.security import Session, decode_session, encode_session, session_key
from storage.reports import question_board
from tests.helpers import chat, make_config, run_worker, start_sim

TOKEN = "test-token-0123456789"
XSS = "<img src=x onerror=alert(1)>"
FORMULA = '=HYPERLINK("http://evil","click")'


@pytest.fixture
async def site(db_url: str, tmp_path: Path) -> AsyncIterator[tuple[str, WebContext]]:
    sim = await start_sim(
        [
            chat("u1", "多少钱", nickname=FORMULA),
            chat("u2", "3号链接有货吗", nickname=XSS),
            chat("u3", "主播好"),
            chat("u4", "3号链接多少钱"),
        ]
    )
    config = make_config(db_url, tmp_path)
    try:
        app = await run_worker(config, sim, shadow=True)
    finally:
        await sim.close()
    context = WebContext(engine=app.engine, repository=app.repository, config=config, token=TOKEN)
    running = await start_web(context, "127.0.0.1", 0)
    try:
        yield running.url, context
    finally:
        await running.stop()
        await app.engine.dispose()


def client() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))  # cookies for 127.0.0.1, like a browser


async def login(session: aiohttp.ClientSession, base: str) -> str:
    page = await (await session.get(f"{base}/login")).text()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    response = await session.post(f"{base}/login", data={"token": TOKEN, "csrf_token": csrf.group(1), "next": "/leads"})
    assert response.status == 200 and response.url.path == "/leads"
    page = await (await session.get(f"{base}/live")).text()
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert match
    return match.group(1)


def test_session_cookie_is_signed_and_expires() -> None:
    key = session_key(TOKEN)
    session = Session("sid", "csrf", "user", 2_000_000_000)
    value = encode_session(session, key)
    assert decode_session(value, key, now=1_000_000_000) == session
    payload, signature = value.split(".")
    forged = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + signature
    assert decode_session(forged, key, now=1_000_000_000) is None
    assert decode_session(value, session_key("another-token"), now=1_000_000_000) is None
    assert decode_session(value, key, now=2_000_000_001) is None
    assert decode_session("garbage", key) is None


async def test_unauthenticated_pages_redirect_and_api_gets_401(site: tuple[str, WebContext]) -> None:
    base, _ = site
    async with client() as http:
        page = await http.get(f"{base}/leads", allow_redirects=False)
        assert page.status == 302 and page.headers["Location"].startswith("/login")
        for path in ("/api/stats", "/events", "/leads/export?format=csv", "/api/leads"):
            response = await http.get(f"{base}{path}", allow_redirects=False)
            assert response.status == 401, path
        wrong = await http.get(f"{base}/live/compact?token=nope", allow_redirects=False)
        assert wrong.status == 401


async def test_login_cookie_flags_and_security_headers(site: tuple[str, WebContext]) -> None:
    base, _ = site
    async with client() as http:
        response = await http.get(f"{base}/login")
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        page = await response.text()
        assert TOKEN not in page
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf
        wrong = await http.post(f"{base}/login", data={"token": "wrong", "csrf_token": csrf.group(1)})
        assert wrong.status == 401


async def test_post_without_csrf_is_refused(site: tuple[str, WebContext]) -> None:
    base, context = site
    async with client() as http:
        csrf = await login(http, base)
        refused = await http.post(f"{base}/control/pause", allow_redirects=False)
        assert refused.status == 403
        forged = await http.post(f"{base}/control/pause", data={"csrf_token": "x" * len(csrf)}, allow_redirects=False)
        assert forged.status == 403
        assert await context.repository.get_flag(PAUSE_FLAG, "0") == "0"
        accepted = await http.post(
            f"{base}/control/pause", headers={"X-CSRF-Token": csrf, "Accept": "application/json"}
        )
        assert accepted.status == 200 and (await accepted.json())["paused"] is True
        assert await context.repository.get_flag(PAUSE_FLAG, "0") == "1"
        await http.post(f"{base}/control/shadow-on", headers={"X-CSRF-Token": csrf, "Accept": "application/json"})
        assert await context.repository.get_flag(SHADOW_FLAG, "0") == "1"


async def test_hostile_nickname_is_escaped_everywhere(site: tuple[str, WebContext]) -> None:
    base, _ = site
    async with client() as http:
        await login(http, base)
        for path in ("/leads", "/live"):
            page = await (await http.get(f"{base}{path}")).text()
            assert XSS not in page
            assert "&lt;img src=x onerror=alert(1)&gt;" in page
        data = await (await http.get(f"{base}/api/leads")).json()
        lead_id = next(lead["id"] for lead in data["leads"] if lead["nickname"] == XSS)
        detail = await (await http.get(f"{base}/leads/{lead_id}")).text()
        assert XSS not in detail and "&lt;img src=x onerror=alert(1)&gt;" in detail


async def test_export_is_exactly_the_filtered_set_and_formula_safe(site: tuple[str, WebContext]) -> None:
    base, _ = site
    async with client() as http:
        await login(http, base)
        listing = await (await http.get(f"{base}/api/leads?intent=price")).json()
        text = await (await http.get(f"{base}/leads/export?format=csv&intent=price")).text()
        rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
        assert sorted(int(r["id"]) for r in rows) == sorted(lead["id"] for lead in listing["leads"])
        assert listing["total"] == len(rows) == 2
        assert "'" + FORMULA in {r["nickname"] for r in rows}
        everything = await (await http.get(f"{base}/leads/export?format=jsonl")).text()
        assert len(everything.splitlines()) == 3


async def test_question_board_groups_by_product_and_intent(site: tuple[str, WebContext]) -> None:
    _, context = site
    board = await question_board(context.engine, 0)
    price = [row for row in board if row["intent"] == "price"]
    assert sum(row["people"] for row in price) == 2
    assert all(row["label"] for row in board)


async def test_notes_bulk_status_and_metrics(site: tuple[str, WebContext]) -> None:
    base, _ = site
    async with client() as http:
        csrf = await login(http, base)
        leads = (await (await http.get(f"{base}/api/leads")).json())["leads"]
        ids = [lead["id"] for lead in leads]
        response = await http.post(f"{base}/leads/{ids[0]}/notes", data={"notes": "call back <b>tomorrow</b>", "csrf_token": csrf})
        assert response.status == 200
        detail = await (await http.get(f"{base}/api/leads/{ids[0]}")).json()
        assert detail["notes"] == "call back <b>tomorrow</b>"
        bulk = await http.post(
            f"{base}/leads/bulk-status",
            data=[("csrf_token", csrf), ("status", "won"), *[("ids", str(i)) for i in ids[:2]]],
        )
        assert bulk.status == 200
        won = await (await http.get(f"{base}/api/leads?status=won")).json()
        assert sorted(lead["id"] for lead in won["leads"]) == sorted(ids[:2])
        metrics = await (await http.get(f"{base}/metrics")).text()  # allowed from 127.0.0.1
        assert "leadbot_messages_per_second" in metrics and "leadbot_paused 0.0" in metrics
    for page in ("/reports", "/settings", "/keywords?text=3号链接多少钱"):
        async with client() as http:
            await login(http, base)
            response = await http.get(f"{base}{page}")
            assert response.status == 200, page


async def test_settings_preview_reports_errors_like_the_config_file(site: tuple[str, WebContext]) -> None:
    base, _ = site
    async with client() as http:
        csrf = await login(http, base)
        bad = await http.post(
            f"{base}/settings/preview",
            data={"csrf_token": csrf, "section": "caps", "content": "[caps.reply]\nper_user_per_day = -1\n"},
        )
        assert bad.status == 422
        assert "caps.reply.per_user_per_day = -1: must be &gt;= 0" in await bad.text()
        good = await http.post(
            f"{base}/settings/preview",
            data={"csrf_token": csrf, "section": "caps", "content": "[caps]\nper_user_total_per_day = 5\n"},
        )
        page = await good.text()
        assert good.status == 200 and "caps.per_user_total_per_day" in page


async def test_after_logout_a_copy_of_the_session_cookie_is_refused(site: tuple[str, WebContext]) -> None:
    base, _ = site
    async with client() as http:
        csrf = await login(http, base)
        stolen = {c.key: c.value for c in http.cookie_jar}["leadbot_session"]
        async with aiohttp.ClientSession(cookies={"leadbot_session": stolen}) as thief:
            assert (await thief.get(f"{base}/api/stats")).status == 200, "the copy works while the session lives"
        out = await http.post(f"{base}/logout", data={"csrf_token": csrf}, allow_redirects=False)
        assert out.status == 302 and out.headers["Location"] == "/login"
        async with aiohttp.ClientSession(cookies={"leadbot_session": stolen}) as thief:
            assert (await thief.get(f"{base}/api/stats")).status == 401
            page = await thief.get(f"{base}/leads", allow_redirects=False)
            assert page.status == 302 and page.headers["Location"].startswith("/login")
        assert (await http.get(f"{base}/api/stats")).status == 401, "and the browser that logged out is out"
        await login(http, base)  # logging in again works: a new session
        assert (await http.get(f"{base}/api/stats")).status == 200


async def test_a_list_preview_is_measured_on_the_messages_the_team_labelled(sqlite_url: str, tmp_path: Path) -> None:
    from sqlalchemy import select

    from keywords import load_matcher
    from storage.models import Message
    from storage.reports import add_feedback

    (tmp_path / "mine.toml").write_text('[want]\nkeywords = ["蹲一个"]\n', encoding="utf-8")
    config = make_config(sqlite_url, tmp_path, matching={"extra_lists": ["mine.toml"], "products": ""})
    sim = await start_sim([chat("u1", "你这麦克风多少钱"), chat("u2", "蹲一个"), chat("u3", "链接呢"), chat("u4", "哈哈")])
    try:
        app = await run_worker(config, sim, shadow=True, matcher=load_matcher(config.settings.matching, config.base_dir))
    finally:
        await sim.close()
    async with app.engine.connect() as conn:
        ids = dict((await conn.execute(select(Message.text, Message.id))).all())
    context = WebContext(engine=app.engine, repository=app.repository, config=config, token=TOKEN)
    running = await start_web(context, "127.0.0.1", 0)
    candidate = '[want]\nkeywords = ["蹲一个"]\n[price]\nremove = ["多少钱"]\n[link]\nremove = ["链接"]\n'
    form = {"name": "mine.toml", "content": candidate}
    try:
        async with client() as http:
            csrf = await login(http, running.url)
            early = await http.post(f"{running.url}/keywords/preview", data={**form, "csrf_token": csrf})
            before_labels = await early.text()
            # the team marks the trap as wrong (the streamer's own microphone, not merchandise) and confirms the link ask
            assert await add_feedback(app.engine, message_id=ids["你这麦克风多少钱"], keyword="多少钱", label="none")
            assert await add_feedback(app.engine, message_id=ids["链接呢"], keyword="链接", label="link")
            response = await http.post(f"{running.url}/keywords/preview", data={**form, "csrf_token": csrf})
            page = await response.text()
    finally:
        await running.stop()
        await app.engine.dispose()
    assert early.status == 200, before_labels
    assert response.status == 200, page
    assert "What would change on the last hour of chat" in before_labels
    assert 'id="labelled-preview"' not in before_labels  # nothing labelled yet: no such section
    section = page[page.index('id="labelled-preview"') :]
    assert "On the 2 messages your team labelled" in section
    assert "1 fixed" in section and "1 broken" in section
    assert section.index("链接呢") < section.index("你这麦克风多少钱")  # broken rows first

"""The dashboard in a real headless Chromium, against a running worker fed by the simulator.

One stack (simulator → worker → dashboard, in a background thread with its own event loop)
and one browser for the whole module. Every page is screenshotted (the full-page render is part
of the check); the files go to a temporary folder, or to docs/screenshots/ with
``LEADBOT_SCREENSHOTS=docs/screenshots`` (how the README's pictures are refreshed), so a test
run never rewrites tracked files.
Needs Debian's ``chromium`` (``make test`` installs it when missing) and Python playwright.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import shutil
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, fresh_pg_database

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
SHOTS = (
    REPO_ROOT / os.environ["LEADBOT_SCREENSHOTS"]
    if os.environ.get("LEADBOT_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "leadbot-screenshots"
)
TOKEN = "browser-test-token-42"
XSS = "<img src=x onerror=alert(1)>"
MY_LIST = """# the merchant's own keywords (edited from the dashboard in the tests)
[meta]
name = "my-shop"

[price]
keywords = ["团购价"]
"""


class Stack:
    """Simulator → worker → dashboard on 127.0.0.1, run in a thread with its own event loop."""

    def __init__(self, tmp: Path, db_url: str) -> None:
        self.tmp = tmp
        self.db_url = db_url
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.web_url = ""
        self.sim_url = ""
        self.thread = threading.Thread(target=self._run, name="stack", daemon=True)
        self._stop: asyncio.Event | None = None

    def start(self) -> None:
        self.thread.start()
        if not self.ready.wait(60) or self.error is not None:
            raise RuntimeError(f"stack did not start: {self.error!r}")

    def stop(self) -> None:
        if self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(30)

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self._main())
        except BaseException as error:  # surfaced by start()
            self.error = error
            self.ready.set()

    async def _main(self) -> None:
        from bot.app import build_app
        from bot.connectors.replay.formats import RecordedLine
        from bot.connectors.sim import SimSettings, build
        from bot.connectors.sim.simulator import create_simulator
        from bot.connectors.simkit import start_app
        from bot.web import WebContext, start_web
        from tests.helpers import make_config

        self._stop = asyncio.Event()
        shutil.copy(REPO_ROOT / "products.toml", self.tmp / "products.toml")
        (self.tmp / "my_keywords.toml").write_text(MY_LIST, encoding="utf-8")
        opening = [
            RecordedLine("chat", "3号链接多少钱", "v1", "小红", room="room-1"),
            RecordedLine("chat", "3号链接多少钱呀", "v2", "阿明", room="room-1"),
            RecordedLine("chat", "有货吗 2号链接", "v3", "Lily", room="room-1"),
            RecordedLine("chat", "主播好漂亮", "v4", "路人甲", room="room-1"),
        ]
        sim_app, _ = create_simulator(opening, rooms=["room-1"], rate=0.0, end_when_done=False)
        sim_runner, sim_port = await start_app(sim_app)
        self.sim_url = f"http://127.0.0.1:{sim_port}"
        config = make_config(
            self.db_url,
            self.tmp,
            matching={"extra_lists": ["my_keywords.toml"]},
        )
        connector = build(SimSettings(base_url=self.sim_url, rooms=["room-1"], min_interval_s=0.0), "default")
        app = await build_app(config, connectors=[connector])
        context = WebContext(
            engine=app.engine, repository=app.repository, config=config, token=TOKEN, worker=app.worker, connectors=app.connectors
        )
        web = await start_web(context, "127.0.0.1", 0)
        self.web_url = web.url
        worker = asyncio.create_task(app.worker.run())
        self.ready.set()
        await self._stop.wait()
        app.worker.request_stop()
        await asyncio.wait_for(worker, 30)
        await web.stop()
        await sim_runner.cleanup()
        await app.engine.dispose()

    # -- talking to the simulator from the test thread
    def say(self, user: str, text: str, nickname: str | None = None) -> None:
        body = {"type": "chat", "room": "room-1", "user_id": user, "nickname": nickname or user, "text": text}
        request = urllib.request.Request(
            f"{self.sim_url}/_sim/inject", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        urllib.request.urlopen(request, timeout=5).read()

    def sends(self) -> list[dict[str, Any]]:
        data = json.loads(urllib.request.urlopen(f"{self.sim_url}/_sim/sends", timeout=5).read())
        return list(data["sends"] if isinstance(data, dict) else data)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The whole stack once per database: the pages' queries must work on both."""
    tmp = tmp_path_factory.mktemp("dashboard")
    with contextlib.ExitStack() as cleanup:
        if request.param == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp / 'leadbot.db'}"
        else:
            url = cleanup.enter_context(fresh_pg_database())
        running = Stack(tmp, url)
        running.start()
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("chromium not found (apt-get install chromium; `make test` does it when run as root)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("python playwright is not installed (pip install playwright; never `playwright install`)")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any, stack: Stack) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs  # type: ignore[attr-defined]
    log_in(page, stack)
    yield page
    context.close()


def log_in(page: Any, stack: Stack) -> None:
    page.goto(f"{stack.web_url}/leads")
    assert page.url.endswith("/login?next=/leads")
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{stack.web_url}/leads")


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def wait_until(condition: Any, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_login_page_and_wrong_token(browser: Any, stack: Stack) -> None:
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{stack.web_url}/live")
    assert "/login" in page.url
    shot(page, "login")
    page.fill("input[name=token]", "not-the-token")
    page.click("button[type=submit]")
    assert page.get_by_role("alert").inner_text() == "Wrong token."
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{stack.web_url}/live")
    cookie = next(c for c in context.cookies() if c["name"] == "leadbot_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    context.close()


def test_replayed_chat_shows_up_live_and_in_leads_without_reload(page: Any, stack: Stack, browser: Any) -> None:
    page.goto(f"{stack.web_url}/live")
    page.wait_for_selector("#latest-leads tr")  # the opening lines of the replay
    leads_page = page.context.new_page()
    leads_page.goto(f"{stack.web_url}/leads")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    leads_page.on("framenavigated", lambda frame: navigations.append(frame.url))

    stack.say("live-1", "1号链接还有吗", nickname="新来的观众")
    stack.say("live-2", "3号链接多少钱", nickname="第二位")
    page.locator("#latest-leads").get_by_text("新来的观众").wait_for()
    leads_page.locator("#leads-body").get_by_text("第二位").wait_for()
    assert navigations == []  # arrived over the event stream, no reload
    board = page.locator(".board[data-window='5']")
    board.get_by_text("加绒连帽卫衣 (3号链接)").first.wait_for()  # 3号链接 resolved through the catalogue
    assert "price" in board.inner_text()
    wait_until(lambda: page.locator("[data-stat=leads_new]").inner_text() not in ("0", "-"), what="lead counter")
    shot(page, "live")
    shot(leads_page, "leads")
    compact = page.context.new_page()
    compact.goto(f"{stack.web_url}/live/compact")
    compact.locator(".board").first.wait_for()
    shot(compact, "live-compact")


def test_hostile_nickname_renders_as_text(page: Any, stack: Stack) -> None:
    page.goto(f"{stack.web_url}/live")
    stack.say("xss-1", "多少钱 3号链接", nickname=XSS)
    page.locator("#latest-leads").get_by_text(XSS).wait_for()  # the SSE path (textContent)
    page.goto(f"{stack.web_url}/leads?q=xss")  # no match by text: nickname search uses the literal
    page.goto(f"{stack.web_url}/leads")
    cell = page.locator("#leads-body td.nick", has_text=XSS)
    cell.wait_for()
    assert cell.inner_text() == XSS
    assert page.locator("#leads-body img").count() == 0
    cell.locator("xpath=..").locator("a").first.click()
    page.locator("h1 .nick", has_text=XSS).wait_for()
    shot(page, "lead-detail")
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_filter_and_export_csv(page: Any, stack: Stack, tmp_path: Path) -> None:
    page.goto(f"{stack.web_url}/leads")
    page.check("input[name=intent][value=stock]")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**intent=stock**")
    shown = sorted(int(x) for x in page.locator("#leads-body tr[data-id]").evaluate_all("rows => rows.map(r => r.dataset.id)"))
    assert shown, "the replay has stock questions"
    with page.expect_download() as download_info:
        page.click("#export-csv")
    path = tmp_path / "leads.csv"
    download_info.value.save_as(str(path))
    rows = list(csv.DictReader(path.open(encoding="utf-8-sig")))
    api = page.request.get(f"{stack.web_url}/api/leads?intent=stock&per_page=200").json()
    assert sorted(int(r["id"]) for r in rows) == sorted(lead["id"] for lead in api["leads"]) == shown
    assert all("stock" in r["intents"].split("|") for r in rows)


def test_pause_stops_sending(page: Any, stack: Stack) -> None:
    page.goto(f"{stack.web_url}/live")
    wait_until(lambda: len(stack.sends()) > 0, what="first replies")
    page.click("#pause-button")
    page.locator("#send-state", has_text="PAUSED").wait_for()
    time.sleep(1.2)  # the sender re-reads the flag every 0.5 s
    before = len(stack.sends())
    stack.say("paused-1", "5号链接多少钱", nickname="暂停时提问")
    page.locator("#latest-leads").get_by_text("暂停时提问").wait_for()
    time.sleep(1.5)
    assert len(stack.sends()) == before  # decided, but nothing sent while paused
    page.click("#pause-button")
    page.locator("#send-state", has_text="SENDING").wait_for()
    wait_until(lambda: len(stack.sends()) > before, what="the held reply to go out after resume")


def test_post_without_csrf_token_is_refused(page: Any, stack: Stack) -> None:
    refused = page.request.post(f"{stack.web_url}/control/pause")
    assert refused.status == 403
    status = page.evaluate("fetch('/control/shadow-on', {method: 'POST'}).then(r => r.status)")
    assert status == 403
    flags = page.request.get(f"{stack.web_url}/api/stats").json()["stats"]
    assert flags["paused"] is False and flags["shadow_flag"] is False


def test_invalid_keyword_list_is_rejected_and_the_old_one_keeps_matching(page: Any, stack: Stack) -> None:
    page.goto(f"{stack.web_url}/keywords?text=团购价几块")
    assert page.locator("#tested-intents").inner_text() == "price"
    shot(page, "keywords")
    page.goto(f"{stack.web_url}/keywords/edit?name=my_keywords.toml")
    broken = MY_LIST.replace('keywords = ["团购价"]', 'keywords = ["团购价"]\nbogus = 1')
    page.fill("#list-content", broken)
    page.click("#preview-button")
    problems = page.locator("#list-problems")
    problems.wait_for()
    assert "line 7" in problems.inner_text() and "bogus" in problems.inner_text()
    assert page.locator("#publish-button").count() == 0
    page.goto(f"{stack.web_url}/keywords?text=团购价几块")
    assert page.locator("#tested-intents").inner_text() == "price"  # the old list is still in force

    better = MY_LIST.replace('keywords = ["团购价"]', 'keywords = ["团购价", "秒杀价"]')
    stack.say("kw-1", "秒杀价来了", nickname="秒杀党")  # not a lead with the lists in force

    def previewed() -> bool:
        page.goto(f"{stack.web_url}/keywords/edit?name=my_keywords.toml")
        page.fill("#list-content", better)
        page.click("#preview-button")
        text = page.locator("#preview").inner_text()
        return "+1 new" in text and "秒杀价来了" in text

    wait_until(previewed, what="the preview to show the new lead from the last hour of chat")
    shot(page, "keyword-edit")
    page.click("#publish-button")
    page.get_by_role("status").get_by_text("published").wait_for()
    page.goto(f"{stack.web_url}/keywords?text=秒杀价呢")
    assert page.locator("#tested-intents").inner_text() == "price"  # in force without a restart


def test_reports_and_settings_pages(page: Any, stack: Stack) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{stack.web_url}/reports")
    page.wait_for_function("() => window.Chart && Chart.getChart('chart-broadcasts') !== undefined")
    assert "room-1" in page.locator("table").first.inner_text()
    shot(page, "reports")
    page.goto(f"{stack.web_url}/settings")
    form = page.locator("form", has=page.locator("input[name=section][value=caps]"))
    form.locator("textarea").fill("[caps.reply]\nper_user_per_day = -1\n")
    form.locator("button").click()
    page.locator("#settings-problems").get_by_text("caps.reply.per_user_per_day = -1: must be >= 0").wait_for()
    shot(page, "settings")
    unexpected = [e for e in errors if "status of 422" not in e]  # the rejected settings answer 422 on purpose
    assert unexpected == []  # no CSP violation, no script error

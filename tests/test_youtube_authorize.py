"""`leadbot youtube-authorize`: the merchant approves once on Google's consent page; leadbot gets
a refresh token by the loopback redirect with PKCE, stores it owner-only, never prints it, and
the connector then runs on it. Google is the YouTube simulator on 127.0.0.1."""

from __future__ import annotations

import argparse
import asyncio
import re
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.commands.youtube_authorize import AuthorizeError, authorize, run
from bot.connectors.base import OutgoingMessage
from bot.connectors.simkit import start_app
from bot.connectors.youtube import CONNECTOR
from bot.connectors.youtube.simulator import (
    AUTH_PATH,
    TOKEN_PATH,
    YouTubeSim,
    create_simulator,
    simulator_connector_config,
)

CHAT = "Cg0KCzZwX0pNLUk3RlVnKic"


class Google:
    def __init__(self, sim: YouTubeSim, base: str) -> None:
        self.sim, self.base = sim, base
        self.auth_url, self.token_url = base + AUTH_PATH, base + TOKEN_PATH
        self.shown: list[str] = []

    def link(self) -> str:
        match = re.search(r"https?://\S+", "\n".join(self.shown))
        assert match is not None
        return match.group(0)

    async def merchant_opens_the_link(self, tamper: str = "") -> int:
        """What the merchant's browser does: open the link, follow Google's redirect to leadbot."""
        while not self.shown:  # noqa: ASYNC110 - waiting for the command to print its link
            await asyncio.sleep(0.01)
        url = self.link() if not tamper else re.sub(r"state=[^&]+", f"state={tamper}", self.link())
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            await response.read()
            return response.status


@pytest.fixture
async def google() -> AsyncIterator[Google]:
    sim = YouTubeSim()
    app, _ = create_simulator([], rooms=[CHAT], rate=100.0, sim=sim, end_when_script_done=False)
    runner, port = await start_app(app)
    yield Google(sim, f"http://127.0.0.1:{port}")
    await runner.cleanup()


async def _authorize(google: Google, out: Path, **kw: object) -> Path:
    return await authorize(
        client_id=google.sim.client_id, client_secret=google.sim.client_secret, out=out,
        auth_url=google.auth_url, token_url=google.token_url, show=google.shown.append, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


async def test_consent_gives_a_private_refresh_token_the_connector_then_runs_on(google: Google, tmp_path: Path) -> None:
    out = tmp_path / "secrets" / "youtube_refresh_token"
    flow = asyncio.create_task(_authorize(google, out))
    assert await google.merchant_opens_the_link() == 200
    assert await flow == out
    assert out.read_text().strip() == google.sim.refresh_token
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert google.sim.refresh_token not in "\n".join(google.shown), "the token is never shown"
    link = google.link()
    assert "access_type=offline" in link and "code_challenge_method=S256" in link and "youtube.force-ssl" in link
    # the stored token works: the connector refreshes with it and posts a reply
    config = simulator_connector_config(google.base, [CHAT])
    config.pop("type")
    config["refresh_token"] = out.read_text().strip()
    connector = CONNECTOR.build(CONNECTOR.settings_model(**config), "shop")
    try:
        assert connector.sender is not None
        await connector.sender.send(OutgoingMessage("r-1", "youtube", "shop", "live_chat", CHAT, "在的"))
    finally:
        await connector.aclose()
    assert google.sim.chats[CHAT][-1]["snippet"]["displayMessage"] == "在的"


async def test_a_redirect_with_another_state_is_refused(google: Google, tmp_path: Path) -> None:
    flow = asyncio.create_task(_authorize(google, tmp_path / "t"))
    await google.merchant_opens_the_link(tamper="forged-state")
    with pytest.raises(AuthorizeError, match="state does not match"):
        await flow
    assert not (tmp_path / "t").exists()


async def test_the_merchant_denying_access_is_a_clear_error(google: Google, tmp_path: Path) -> None:
    google.sim.consent_denied = True
    flow = asyncio.create_task(_authorize(google, tmp_path / "t"))
    await google.merchant_opens_the_link()
    with pytest.raises(AuthorizeError, match="access_denied.*approve"):
        await flow


async def test_nobody_answering_times_out_with_advice(google: Google, tmp_path: Path) -> None:
    with pytest.raises(AuthorizeError, match="no answer from the consent page within"):
        await _authorize(google, tmp_path / "t", timeout_s=0.3)


async def test_a_wrong_client_secret_fails_at_the_exchange_without_writing(google: Google, tmp_path: Path) -> None:
    flow = asyncio.create_task(
        authorize(client_id=google.sim.client_id, client_secret="wrong", out=tmp_path / "t",
                  auth_url=google.auth_url, token_url=google.token_url, show=google.shown.append)  # fmt: skip
    )
    await google.merchant_opens_the_link()
    with pytest.raises(AuthorizeError, match="could not be exchanged.*client"):
        await flow
    assert not (tmp_path / "t").exists()


async def test_the_command_wants_the_secret_in_the_environment(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("YOUTUBE_CLIENT_SECRET", raising=False)
    args = argparse.Namespace(client_id="x", client_secret_env="YOUTUBE_CLIENT_SECRET", out="t", port=0,
                              timeout=1.0, no_browser=True, auth_url="", token_url="")  # fmt: skip
    assert await run(args) == 2
    assert "YOUTUBE_CLIENT_SECRET" in capsys.readouterr().out

"""The simulator is faithful enough for the public client library: blivedm (unmodified, only
its endpoint constants pointed at 127.0.0.1) bootstraps, authenticates over wss, heartbeats and
reads danmaku from our brotli batches.

Optional: skipped unless ``blivedm`` is importable (it is not a dependency), and needs the
``openssl`` command for a throw-away self-signed certificate (blivedm always dials wss://).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.connectors.bilibili.simulator import SIM_KEY, create_simulator

pytestmark = [pytest.mark.optional, pytest.mark.timeout(30)]


def _tls_context(tmp_path: Path) -> ssl.SSLContext:
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available for a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_blivedm_reads_danmaku_from_the_simulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blivedm = pytest.importorskip("blivedm", reason="blivedm is not installed (optional demonstration)")
    app, _state = create_simulator([], rooms=["21452505"], rate=10.0)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=_tls_context(tmp_path))
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    base = f"https://127.0.0.1:{port}"

    got: list[tuple[int, str, str]] = []
    popularity: list[int] = []
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False))
    if hasattr(blivedm, "clients"):  # blivedm >= 1.0 (GitHub)
        web_module: Any = blivedm.clients.web
        for name, path in {
            "UID_INIT_URL": "/x/web-interface/nav", "WBI_INIT_URL": "/x/web-interface/nav", "BUVID_INIT_URL": "/",
            "ROOM_INIT_URL": "/room/v1/Room/get_info",
            "DANMAKU_SERVER_CONF_URL": "/xlive/web-room/v1/index/getDanmuInfo",
        }.items():  # fmt: skip
            monkeypatch.setattr(web_module, name, base + path)

        class Handler(blivedm.BaseHandler):  # type: ignore[name-defined]
            def _on_danmaku(self, client: Any, message: Any) -> None:
                got.append((message.uid, message.uname, message.msg))

            def _on_heartbeat(self, client: Any, message: Any) -> None:
                popularity.append(message.popularity)

        client = blivedm.BLiveClient(21452505, uid=0, session=session, heartbeat_interval=0.5)
        client.set_handler(Handler())
    else:  # blivedm 0.1.x (PyPI)
        monkeypatch.setattr(blivedm.client, "ROOM_INIT_URL", base + "/xlive/web-room/v1/index/getInfoByRoom")
        monkeypatch.setattr(blivedm.client, "DANMAKU_SERVER_CONF_URL", base + "/xlive/web-room/v1/index/getDanmuInfo")

        class Handler(blivedm.BaseHandler):  # type: ignore[name-defined, no-redef]
            async def _on_danmaku(self, client: Any, message: Any) -> None:
                got.append((message.uid, message.uname, message.msg))

            async def _on_heartbeat(self, client: Any, message: Any) -> None:
                popularity.append(message.popularity)

        client = blivedm.BLiveClient(21452505, session=session, heartbeat_interval=0.5, ssl=False)
        client.add_handler(Handler())
    client.start()
    try:
        room = app[SIM_KEY].rooms[21452505]
        for _ in range(200):
            if room.subscribers:
                break
            await asyncio.sleep(0.05)
        assert room.subscribers, "blivedm never authenticated with the simulator"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as http:
            for uid, text in ((7001, "多少钱"), (7002, "几号链接")):
                body = {"type": "chat", "user_id": str(uid), "nickname": f"观众{uid}", "text": text}
                async with http.post(f"{base}/_sim/inject", json=body) as response:
                    assert response.status == 200
        for _ in range(200):
            if len(got) >= 2 and popularity:
                break
            await asyncio.sleep(0.05)
        assert got == [(7001, "观众7001", "多少钱"), (7002, "观众7002", "几号链接")]
        assert popularity and popularity[0] >= 1
    finally:
        with contextlib.suppress(asyncio.CancelledError):  # blivedm 0.1.x re-raises its own stop on 3.11+
            await client.stop_and_close()
        await session.close()
        await runner.cleanup()

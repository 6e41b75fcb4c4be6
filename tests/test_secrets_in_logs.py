"""Secrets never reach the logs: a worker configured with tokens and cookies for every connector
type, all pointing at 127.0.0.1 ports where nothing answers (so every error path that prints
URLs, headers or exceptions runs), with debug logging on. Its whole output is scanned for the
secret values.

(Webhooks with a bad signature are rejected with 403 and counted by the Douyin Open receiver:
tests/test_douyin_open_e2e.py. The receiver is not yet mounted in a running worker's web
server, which another part of the project is building.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SECRETS = {
    "BILI_SESSDATA": "sessdata-7f3a9c-SECRET-bili",
    "BILI_JCT": "bilijct-51be20-SECRET",
    "DOUYIN_SESSIONID": "sessionid-aa19f0-SECRET-douyin",
    "DOUYIN_CLIENT_SECRET": "clientsecret-0c4e77-SECRET",
    "DOUYIN_ACCESS": "act.douyin-9d2b11-SECRET",
    "DOUYIN_REFRESH": "rft.douyin-3e8a52-SECRET",
    "YT_KEY": "AIzaSy-ytkey-6f01c3-SECRET",
    "YT_TOKEN": "ya29.yt-token-b7d4e9-SECRET",
    "YT_CLIENT_SECRET": "GOCSPX-ytclient-4a81d0-SECRET",
    "YT_REFRESH": "1//yt-refresh-93c2fe-SECRET",
    "LEADBOT_WEB_TOKEN": "webtoken-2c5d88-SECRET",
}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when we return: connections are refused


def test_no_token_or_cookie_appears_in_any_log_line(tmp_path: Path) -> None:
    port = _closed_port()
    http = f"http://127.0.0.1:{port}"
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[database]
url = "sqlite+aiosqlite:///{tmp_path / 'leadbot.db'}"
[web]
token = "env:LEADBOT_WEB_TOKEN"

[[connectors]]
type = "bilibili"
rooms = ["21452505"]
sessdata = "env:BILI_SESSDATA"
bili_jct = "env:BILI_JCT"
uid = 12345
api_base = "{http}"
live_api_base = "{http}"
vc_api_base = "{http}"
www_base = "{http}"
reconnect_initial_s = 0.1
reconnect_max_s = 0.3

[[connectors]]
type = "douyin"
rooms = ["7012345678"]
sessionid = "env:DOUYIN_SESSIONID"
live_base_url = "{http}"
ws_base_url = "ws://127.0.0.1:{port}"
reconnect_initial_s = 0.1
reconnect_max_s = 0.3

[[connectors]]
type = "douyin_open"
base_url = "{http}"
client_key = "awkey123"
client_secret = "env:DOUYIN_CLIENT_SECRET"
open_id = "open-1"
access_token = "env:DOUYIN_ACCESS"
refresh_token = "env:DOUYIN_REFRESH"
token_file = "{tmp_path / 'tokens.json'}"
item_ids = ["v1"]
poll_interval_s = 0.2

[[connectors]]
type = "youtube"
base_url = "{http}"
api_key = "env:YT_KEY"
access_token = "env:YT_TOKEN"
live_chat_ids = ["chat-1"]
video_ids = ["vid-1"]
min_poll_interval_s = 0.1
comment_poll_interval_s = 0.2

[[connectors]]
type = "youtube"
account = "yt-oauth"
base_url = "{http}"
token_url = "{http}/token"
client_id = "1234-abc.apps.googleusercontent.com"
client_secret = "env:YT_CLIENT_SECRET"
refresh_token = "env:YT_REFRESH"
token_file = "{tmp_path / 'yt_tokens.json'}"
live_chat_ids = ["chat-2"]
min_poll_interval_s = 0.1
""",
        encoding="utf-8",
    )
    env = {**os.environ, **SECRETS, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "--config", str(config), "--verbose", "run"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        time.sleep(6)  # several reconnect / poll attempts per connector, all failing
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    log = output.decode("utf-8", "replace")
    assert "leadbot running: 5 connector(s)" in log, log[-3000:]
    assert log.count(f"127.0.0.1:{port}") >= 4 or "refused" in log.lower(), "the failing connections were logged"
    assert "youtube: access token refresh failed" in log, "the token endpoint's failure was logged"
    token_file = tmp_path / "tokens.json"
    for name, value in SECRETS.items():
        assert value not in log, f"{name} leaked into the log"
        for fragment in (value[:12], value[-12:]):
            assert fragment not in log, f"part of {name} leaked into the log"
    if token_file.exists():
        assert oct(token_file.stat().st_mode & 0o777) == "0o600", "the token file is private"

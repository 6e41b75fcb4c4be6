"""`leadbot run` on a recording: the whole pipeline, resumable by record index."""

from __future__ import annotations

import json
from pathlib import Path

from bot.cli import main

LINES = [
    {"type": "chat", "id": "a1", "user_id": "u1", "nickname": "小美", "text": "3号链接多少钱"},
    {"type": "chat", "id": "a2", "user_id": "u2", "nickname": "阿杰", "text": "主播好"},
    "not json at all",
    {"type": "follow", "id": "a3", "user_id": "u3", "nickname": "甜甜"},
    {"type": "chat", "id": "a4", "user_id": "u4", "nickname": "木子", "text": "有货吗"},
]


def test_run_on_a_recording_then_again_adds_nothing(tmp_path: Path, capsys: object) -> None:
    recording = tmp_path / "stream.jsonl"
    recording.write_text(
        "\n".join(json.dumps(x, ensure_ascii=False) if isinstance(x, dict) else x for x in LINES) + "\n", encoding="utf-8"
    )
    sends = tmp_path / "sends.jsonl"
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[database]
url = "sqlite+aiosqlite:///{tmp_path / 'r.db'}"
flush_interval_ms = 10
[sender]
poll_interval_ms = 20
[[connectors]]
type = "replay"
path = "{recording}"
sends_file = "{sends}"
""",
        encoding="utf-8",
    )
    assert main(["--config", str(config), "run", "--exit-when-idle"]) == 0
    first = [json.loads(line) for line in sends.read_text(encoding="utf-8").splitlines()]
    replies = [s for s in first if s["idempotency_key"].startswith("reply:")]
    assert len(replies) == 2  # 小美 and 木子 asked; 阿杰's greeting to the host is not an ask
    greetings = [s for s in first if "greet" in s["idempotency_key"]]
    assert len(greetings) == 1 and "甜甜" in greetings[0]["text"]  # the follower is greeted once
    assert main(["--config", str(config), "run", "--exit-when-idle"]) == 0
    again = sends.read_text(encoding="utf-8").splitlines()
    assert len(again) == len(first), "the cursor resumes after the last record: nothing is replayed or re-sent"

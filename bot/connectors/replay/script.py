"""Building a realistic chat script for the simulators and the demo.

When ``../shared/corpora`` is present the script mixes real Douyin live comments with real
Taobao buyer questions (ECD), spreads them over rooms, lets some viewers speak several times
and sprinkles follows in, like a live-commerce room. Without the corpora it falls back to the
small sample shipped in this package (written for leadbot, not copied from any corpus).
"""

from __future__ import annotations

import random
from pathlib import Path

from bot.connectors.replay.formats import RecordedLine, read_lines

SAMPLE = Path(__file__).with_name("sample_chat.jsonl")
LIVECHAT = "livechat_douyin_dev_part1.jsonl"
ECD = "ecd_taobao_cs_train.tsv"


def find_shared_dir(start: Path | None = None) -> Path | None:
    """``<repo>/../shared`` (or $LEADBOT_SHARED_DIR) when it exists."""
    import os

    env = os.environ.get("LEADBOT_SHARED_DIR")
    if env:
        path = Path(env)
        return path if path.is_dir() else None
    here = (start or Path(__file__)).resolve()
    for parent in here.parents:
        candidate = parent / "shared"
        if (candidate / "corpora").is_dir() and parent != Path("/"):
            return candidate
        candidate = parent.parent / "shared"
        if (candidate / "corpora").is_dir():
            return candidate
    return None


def _corpus_lines(shared: Path) -> tuple[list[RecordedLine], list[RecordedLine]]:
    corpora = shared / "corpora"
    live = [line for _, line in read_lines(corpora / LIVECHAT)] if (corpora / LIVECHAT).exists() else []
    ecd = [line for _, line in read_lines(corpora / ECD)] if (corpora / ECD).exists() else []
    return live, ecd


def demo_script(
    count: int = 3000,
    rooms: list[str] | None = None,
    *,
    seed: int = 7,
    shared: Path | None = None,
    follow_ratio: float = 0.03,
) -> tuple[list[RecordedLine], str]:
    """(script, description of where the text came from)."""
    rooms = rooms or ["room-1"]
    rng = random.Random(seed)
    shared = shared if shared is not None else find_shared_dir()
    live: list[RecordedLine] = []
    ecd: list[RecordedLine] = []
    if shared is not None:
        live, ecd = _corpus_lines(shared)
    if live or ecd:
        origin = f"real chat from {shared}/corpora ({LIVECHAT} + {ECD})"
    else:
        live = [line for _, line in read_lines(SAMPLE) if line.kind == "chat"]
        origin = f"bundled sample {SAMPLE.name} (../shared/corpora not found)"
    viewers = [(f"v{n:05d}", nickname(rng, n)) for n in range(max(50, count // 3))]
    script: list[RecordedLine] = []
    serial = 0
    while len(script) < count:
        room = rng.choice(rooms)
        user_id, nick = rng.choice(viewers[: max(10, len(viewers) // (1 + (rng.random() < 0.3) * 4))])
        if rng.random() < follow_ratio:
            script.append(RecordedLine("follow", "", user_id, nick, room=room, message_id=f"f{serial}"))
        else:
            pool = ecd if (ecd and rng.random() < 0.35) else live
            text = rng.choice(pool).text
            script.append(RecordedLine("chat", text, user_id, nick, room=room, message_id=f"m{serial}"))
        serial += 1
    return script, origin


_FAMILY = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
_GIVEN = ["小美", "阿杰", "甜甜", "大宝", "静静", "晨曦", "一一", "小鱼", "木子", "Coco", "Lily", "阿花", "星星", "果果"]


def nickname(rng: random.Random, n: int) -> str:
    return f"{rng.choice(_FAMILY)}{rng.choice(_GIVEN)}{n % 100:02d}"

"""Decode speed of the Douyin codec on the real captured frame, against gunzip alone.

    PYTHONPATH=. /work/devvenv/bin/python bench/douyin_decode.py [iterations]

Prints frames/s for the full path (PushFrame → gunzip → Response → Message → events) and the
ratio to ``gzip.decompress`` of the same payload measured in the same run (the floor: any
decoder has to gunzip). Reads ../shared/vectors/douyin/response_like_member.gz.
"""

from __future__ import annotations

import gzip
import sys
import time
from pathlib import Path

from bot.connectors.douyin import frames
from bot.connectors.douyin.decode import to_event
from handlers.events import Origin


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    candidates = [root / ".." / "shared", root / ".." / ".." / "shared"]
    shared = next((c for c in candidates if c.is_dir()), None)
    if shared is None:
        print("skip: ../shared/vectors not found")
        return 0
    payload = (shared / "vectors" / "douyin" / "response_like_member.gz").read_bytes()
    wire_frame = frames.encode_frame(
        frames.PushFrame(seq_id=1, log_id=2, headers=(("compress_type", "gzip"),), payload_type="msg", payload=payload)
    )
    origin = Origin("douyin", "bench", "live", "1")
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000

    started = time.perf_counter()
    for _ in range(n):
        gzip.decompress(payload)
    baseline = time.perf_counter() - started

    started = time.perf_counter()
    events = 0
    for _ in range(n):
        frame = frames.decode_frame(wire_frame)
        response = frames.response_from_frame(frame)
        frames.ack_frame(frame, response)
        for message in response.messages:
            events += to_event(message, origin, response.now).event is not None
    full = time.perf_counter() - started

    print(f"frames: {n}, events: {events}, frame size {len(wire_frame)} B (5,544 B unzipped)")
    print(f"gunzip only : {n / baseline:,.0f} frames/s")
    print(f"full decode : {n / full:,.0f} frames/s ({2 * n / full:,.0f} events/s)")
    print(f"ratio full/gunzip time: {full / baseline:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

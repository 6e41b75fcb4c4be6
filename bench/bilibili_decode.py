"""How fast the Bilibili connector turns WebSocket messages into events.

Baseline, measured in the same run on the same messages: the least any client must do
(brotli-decompress each batch, split the packets, ``json.loads`` each body). Ours adds header
checks, bounded decompression and typed decoding (``decode_command`` → ChatMessage …).

    /work/devvenv/bin/python bench/bilibili_decode.py [--batches 2000] [--per-batch 10]
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
from pathlib import Path

import brotli

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.connectors.bilibili import frames
from bot.connectors.bilibili.decode import decode_command
from bot.connectors.bilibili.simulator import BilibiliSim, BilibiliSimConfig
from bot.connectors.simkit import SimState
from handlers.events import Origin

HEADER = struct.Struct(">I2H2I")


def make_batches(count: int, per_batch: int) -> list[bytes]:
    sim = BilibiliSim(SimState(platform="bilibili"), ["1"], [], BilibiliSimConfig())
    room = sim.rooms[1]
    texts = ["多少钱", "几号链接", "有货吗", "已拍", "主播好", "这个颜色有吗", "包邮吗", "哈哈哈"]
    batches = []
    for b in range(count):
        commands = [
            sim.danmu_command(room, uid=1000 + (b * per_batch + i) % 997, uname=f"观众{i}", text=texts[(b + i) % len(texts)])
            for i in range(per_batch)
        ]
        batches.append(frames.encode_batch(commands))
    return batches


def baseline(batches: list[bytes]) -> int:
    count = 0
    for data in batches:
        inner = brotli.decompress(data[16:])
        offset = 0
        while offset < len(inner):
            pack_len, header_len, _, _, _ = HEADER.unpack_from(inner, offset)
            json.loads(inner[offset + header_len : offset + pack_len])
            offset += pack_len
            count += 1
    return count


def ours(batches: list[bytes]) -> int:
    origin = Origin("bilibili", "bench", "live", "1")
    count = 0
    for data in batches:
        for packet in frames.decode_message(data):
            if decode_command(frames.json_body(packet), origin, now=0.0) is not None:
                count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--per-batch", type=int, default=10)
    args = parser.parse_args()
    batches = make_batches(args.batches, args.per_batch)
    results = {}
    for name, fn in (("baseline", baseline), ("ours", ours)):
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            n = fn(batches)
            best = min(best, time.perf_counter() - start)
        results[name] = (n, best)
        print(f"{name:9s} {n} danmaku in {best * 1000:.1f} ms = {n / best:,.0f} danmaku/s")
    ratio = results["ours"][1] / results["baseline"][1]
    print(f"ours / baseline time: {ratio:.2f}x")


if __name__ == "__main__":
    main()

"""Pipeline throughput: how many chat messages per second one worker decides and stores.

Replays N real messages (../shared/corpora, or the bundled sample) through the built-in
simulator as fast as it can send them, into a fresh SQLite file (or --db URL), in shadow mode
so that sending is not measured, and prints messages/s end to end next to the same run's
baseline: the matcher alone on the same texts (no I/O). The ratio says how much the storage
and plumbing cost on top of matching.

    python bench/pipeline.py --messages 20000 [--db postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import build_app, load_default_matcher
from bot.config import LoadedConfig, parse_settings
from bot.connectors.replay.script import demo_script
from bot.connectors.sim import SimSettings, build
from bot.connectors.sim.simulator import create_simulator
from bot.connectors.simkit import start_app


async def main(args: argparse.Namespace) -> None:
    from freshdb import fresh_database  # bench/ is on sys.path when this file runs as a script

    if args.db:  # a new empty database on that server for every run (dropped afterwards)
        async with fresh_database(args.db) as url:
            await run(args, url)
    else:
        await run(args, None)


async def run(args: argparse.Namespace, db: str | None) -> None:
    rooms = [f"room-{n + 1}" for n in range(args.rooms)]
    script, origin = demo_script(args.messages, rooms, seed=11, follow_ratio=0.0)
    workdir = Path(tempfile.mkdtemp(prefix="leadbot-bench-"))
    url = db or f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    settings, _ = parse_settings({"database": {"url": url, "batch_size": args.batch}}, "bench")
    config = LoadedConfig(settings, Path.cwd() / "config.toml", [])
    matcher = load_default_matcher(config)
    texts = [line.text for line in script]
    matcher.match_many(texts[:500])  # warm up (jieba, caches)
    started = time.perf_counter()
    matcher.match_many(texts)
    match_only = len(texts) / (time.perf_counter() - started)

    app_sim, _ = create_simulator(script, rooms=rooms, rate=0.0)
    runner, port = await start_app(app_sim)
    connector = build(SimSettings(base_url=f"http://127.0.0.1:{port}", rooms=rooms), "bench")
    app = await build_app(config, shadow=True, exit_when_idle=True, connectors=[connector], matcher=matcher)
    started = time.perf_counter()
    await app.worker.run()
    elapsed = time.perf_counter() - started
    await runner.cleanup()
    counts = await app.repository.counts()
    await app.engine.dispose()
    metrics = app.worker.metrics
    rate = metrics.messages_read / elapsed
    p50, p99 = metrics.latency_percentile(0.5), metrics.latency_percentile(0.99)
    print(f"text: {origin}")
    print(f"database: {app.repository.dialect}, batch_size {args.batch}")
    print(f"messages decided and stored: {metrics.messages_read} in {elapsed:.2f}s = {rate:,.0f} msgs/s")
    print(f"baseline (matcher alone, same texts): {match_only:,.0f} msgs/s")
    print(f"ratio end-to-end / matcher-alone: {rate / match_only:.2f}")
    print(f"leads {counts['leads']}, decisions {dict(metrics.decided)}")
    if p50 is not None and p99 is not None:
        print(f"read→stored latency while flooded: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rooms", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--db", help="database server URL; each run gets a new database there (default: a fresh SQLite file)")
    asyncio.run(main(parser.parse_args()))

"""Sustained load: real chat pushed at a fixed rate into N rooms; what the workers hold.

The simulator runs in its own process (so it does not share the worker's core) and pushes
real chat (../shared/corpora via ``demo_script``, or the bundled sample) at ``--rate``
messages/s spread over ``--rooms`` rooms for ``--seconds`` (or ``--soak``) seconds. One or
more ``leadbot run`` workers (separate processes, real config, real matcher, replies on)
read it into SQLite or PostgreSQL. Measured:

- decision latency per message: ``messages.decided_at - messages.ts``, where ``ts`` is the
  **simulator's send timestamp** in the frame (so transport, queueing, matching and the
  write are all included; ``decided_at`` is taken inside the write transaction, just before
  commit); also ``decided_at - received_at`` (the worker's receive time) to separate
  transport from processing;
- send latency for replies: ``actions.sent_at - messages.ts`` (includes the configured
  send spacing and caps: only the first eligible question of a person gets a reply);
- throughput held (stored messages/s during the feed), backlog (pushed - stored) and the
  RSS of every worker over time (from /proc, sampled every second).

The baseline measured in the same run is the matcher alone on the same texts; the ratio
printed is held rate / offered rate (1.00 = kept up) and offered rate / matcher-alone.

    python bench/load.py --rate 2000 --seconds 60                      # SQLite, 1 worker
    python bench/load.py --rate 2000 --seconds 60 --db postgresql+asyncpg://postgres@127.0.0.1:5432/DB
    python bench/load.py --rate 2000 --seconds 60 --workers 2 --db postgresql+asyncpg://...
    python bench/load.py --rate 2000 --soak 600                        # RSS flat over 10 minutes?
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.connectors.replay.script import demo_script  # noqa: E402
from bot.eventloop import loop_factory  # noqa: E402


# ---------------------------------------------------------------------- simulator process
async def serve_sim(args: argparse.Namespace) -> None:
    """The simulator process: serve rooms, wait for POST /_bench/go, push at a fixed rate."""
    import logging

    from aiohttp import web

    from bot.connectors.sim.simulator import create_simulator
    from bot.connectors.simkit import start_app

    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)  # workers hanging up at the end is expected

    rooms = [f"room-{n:02d}" for n in range(args.rooms)]
    total = int(args.rate * args.duration)
    script, origin = demo_script(min(total, 200_000), rooms, seed=3, follow_ratio=0.0)
    app, state = create_simulator([], rooms=rooms, rate=0.0, end_when_done=False)
    go = asyncio.Event()
    progress = {"pushed": 0, "done": False, "origin": origin, "started": 0.0, "finished": 0.0}

    async def start(_: web.Request) -> web.Response:
        go.set()
        return web.json_response({"ok": True})

    async def status(_: web.Request) -> web.Response:
        return web.json_response(progress)

    app.router.add_post("/_bench/go", start)
    app.router.add_get("/_bench/status", status)
    runner, port = await start_app(app)
    print(json.dumps({"port": port, "origin": origin}), flush=True)
    await go.wait()
    assert state.inject is not None
    tick = 0.01
    per_tick = args.rate * tick
    started = time.monotonic()
    progress["started"] = time.time()
    index = 0
    while index < total:
        due = min(total, int((time.monotonic() - started) / tick * per_tick) + 1)
        while index < due:
            line = script[index % len(script)]
            await state.inject(
                {"room": line.room, "type": "chat", "id": f"m{index}", "user_id": line.user_id,
                 "nickname": line.nickname, "text": line.text}
            )  # fmt: skip
            index += 1
        progress["pushed"] = index
        await asyncio.sleep(max(0.0, started + (index / args.rate) - time.monotonic()))
    progress["finished"] = time.time()
    for room in rooms:
        await state.inject({"room": room, "type": "live_end", "id": f"{room}-end"})
    progress["done"] = True
    await asyncio.Event().wait()  # until killed
    await runner.cleanup()


# ---------------------------------------------------------------------- driver
def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def write_config(path: Path, db_url: str, base_url: str, rooms: list[str], args: argparse.Namespace) -> None:
    room_list = ", ".join(f'"{room}"' for room in rooms)
    path.write_text(
        f"""
[database]
url = "{db_url}"
batch_size = {args.batch}
flush_interval_ms = {args.flush_ms}
[pipeline]
queue_size = 50000
[caps.reply]
per_room = {{ count = 2, window_s = 60 }}   # a reply rate the account can sustain: the send latency measures the pipeline, not a queue of replies
[workers]
lease_s = 10
renew_every_s = 2
[[connectors]]
type = "sim"
base_url = "{base_url}"
rooms = [{room_list}]
min_interval_s = 0.05
silence_s = 0
stop_at_live_end = false
""",
        encoding="utf-8",
    )


async def main(args: argparse.Namespace) -> int:
    from freshdb import fresh_database  # bench/ is on sys.path when this file runs as a script

    if args.db:  # a new empty database on that server for every run (dropped afterwards)
        async with fresh_database(args.db, keep=args.keep_db) as url:
            return await run(args, url)
    return await run(args, None)


async def run(args: argparse.Namespace, db: str | None) -> int:
    import aiohttp
    from sqlalchemy import func, select

    from bot.app import load_default_matcher
    from bot.config import LoadedConfig, parse_settings
    from storage import migrate
    from storage.db import create_engine
    from storage.models import Action, Message, SourceLease

    args.duration = args.soak or args.seconds
    workdir = Path(tempfile.mkdtemp(prefix="leadbot-load-"))
    db_url = db or f"sqlite+aiosqlite:///{workdir / 'load.db'}"
    rooms = [f"room-{n:02d}" for n in range(args.rooms)]

    # Baseline, same run: the matcher alone on the same texts.
    script, _ = demo_script(20_000, rooms, seed=3, follow_ratio=0.0)
    settings, _ = parse_settings({}, "bench")
    matcher = load_default_matcher(LoadedConfig(settings, REPO / "config.toml", []))
    texts = [line.text for line in script]
    matcher.match_many(texts[:500])
    t0 = time.perf_counter()
    matcher.match_many(texts)
    matcher_rate = len(texts) / (time.perf_counter() - t0)
    del matcher

    sim = subprocess.Popen(  # noqa: ASYNC220 - a benchmark driver, started once
        [sys.executable, __file__, "--serve-sim", "--rate", str(args.rate), "--rooms", str(args.rooms),
         "--seconds", str(args.duration)],
        stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    assert sim.stdout is not None
    hello = json.loads(sim.stdout.readline())
    base_url = f"http://127.0.0.1:{hello['port']}"
    config = workdir / "config.toml"
    write_config(config, db_url, base_url, rooms, args)
    engine = create_engine(db_url)
    await migrate.upgrade(engine)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    logs = [open(workdir / f"worker{n}.log", "wb") for n in range(args.workers)]  # noqa: ASYNC230
    profile = ["-m", "cProfile", "-o", str(workdir / "worker0.prof")] if args.profile else []
    workers = [
        subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, *(profile if n == 0 else []), "-m", "bot.cli", "--config", str(config), "run"],
            stdout=log, stderr=log, env=env, cwd=workdir,
        )  # fmt: skip
        for n, log in enumerate(logs)
    ]
    samples: list[dict[str, Any]] = []
    try:
        # All rooms leased and read before the clock starts.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            async with engine.connect() as conn:
                leased = (
                    await conn.execute(
                        select(func.count(func.distinct(SourceLease.owner))).where(
                            SourceLease.expires_at > time.time(), SourceLease.source_key.like("sim:%")
                        )
                    )
                ).scalar_one()
                covered = (
                    await conn.execute(
                        select(func.count()).select_from(SourceLease).where(
                            SourceLease.expires_at > time.time(), SourceLease.source_key.like("sim:%")
                        )
                    )
                ).scalar_one()
            if covered == len(rooms) and leased == args.workers:
                break
        await asyncio.sleep(1.0)
        async with aiohttp.ClientSession() as http:
            await http.post(f"{base_url}/_bench/go")
            started = time.time()
            status: dict[str, Any] = {}
            drain_deadline = None
            while True:
                await asyncio.sleep(1.0)
                async with http.get(f"{base_url}/_bench/status") as response:
                    status = await response.json()
                async with engine.connect() as conn:
                    # max(id), not count(*): O(1) on the primary key, so sampling does not load the
                    # machine more as the table grows (our own echoed replies are counted too: a few)
                    stored = (await conn.execute(select(func.coalesce(func.max(Message.id), 0)))).scalar_one()
                sample = {
                    "t": time.time() - started,
                    "pushed": status["pushed"],
                    "stored": stored,
                    "rss": [rss_mb(w.pid) for w in workers],
                }
                samples.append(sample)
                if args.verbose or len(samples) % 10 == 0:
                    rss = " ".join(f"{r:.0f}" for r in sample["rss"] if r)
                    print(f"t={sample['t']:6.1f}s pushed={status['pushed']:>8} stored={stored:>8} "
                          f"backlog={status['pushed'] - stored:>6} rss_mb=[{rss}]", flush=True)  # fmt: skip
                if status["done"]:
                    drain_deadline = drain_deadline or time.monotonic() + 30
                    if stored >= status["pushed"] or time.monotonic() > drain_deadline:
                        break
        exact_deadline = time.monotonic() + 30  # max(id) above counts echoes too: confirm exactly
        while time.monotonic() < exact_deadline:
            async with engine.connect() as conn:
                exact = (
                    await conn.execute(select(func.count()).select_from(Message).where(Message.is_self.is_(False)))
                ).scalar_one()
            if exact >= status["pushed"]:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(2.0)  # let the senders finish what is due
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=60)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(Message.ts, Message.received_at, Message.decided_at).where(Message.is_self.is_(False))
                )
            ).all()
            sends = (
                await conn.execute(
                    select(Action.sent_at, Message.ts)
                    .join(Message, Message.id == Action.message_id)
                    .where(Action.sent_at.is_not(None), Action.kind == "reply")
                )
            ).all()
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
        sim.kill()
        await engine.dispose()

    feed_s = status["finished"] - status["started"]
    offered = status["pushed"] / feed_s
    in_window = [r for r in rows if r.decided_at <= status["finished"]]
    held = len(in_window) / feed_s
    decision = [r.decided_at - r.ts for r in rows]
    processing = [r.decided_at - r.received_at for r in rows]
    send = [sent_at - ts for sent_at, ts in sends]
    print()
    print(f"text: {hello['origin']}")
    print(f"database: {db_url.split('://')[0]}, workers: {args.workers}, rooms: {args.rooms}, "
          f"batch_size {args.batch}, flush_interval_ms {args.flush_ms}, "
          f"event loop: {'uvloop' if loop_factory() else 'asyncio'} (LEADBOT_EVENT_LOOP)")  # fmt: skip
    print(f"offered: {status['pushed']} messages in {feed_s:.1f}s = {offered:,.0f} msgs/s")
    print(f"held: {held:,.0f} msgs/s decided and stored during the feed; all {len(rows)} stored "
          f"{max((r.decided_at for r in rows), default=0) - status['finished']:+.2f}s after the feed ended")  # fmt: skip
    print(f"baseline (matcher alone, same texts, this run): {matcher_rate:,.0f} msgs/s")
    print(f"ratio held / offered: {held / offered:.2f}; offered / matcher-alone: {offered / matcher_rate:.2f}")
    print(f"decision latency (sim send ts -> stored): p50 {percentile(decision, 0.5) * 1000:.0f} ms, "
          f"p99 {percentile(decision, 0.99) * 1000:.0f} ms, max {max(decision, default=0) * 1000:.0f} ms")  # fmt: skip
    print(f"  of which in the worker (received -> stored): p50 {percentile(processing, 0.5) * 1000:.0f} ms, "
          f"p99 {percentile(processing, 0.99) * 1000:.0f} ms")  # fmt: skip
    if send:
        print(f"reply latency (sim send ts -> reply accepted by the platform), {len(send)} replies: "
              f"p50 {percentile(send, 0.5) * 1000:.0f} ms, p99 {percentile(send, 0.99) * 1000:.0f} ms")  # fmt: skip
    over = sum(1 for d in decision if d > 0.2)
    print(f"  over 200 ms: {over} of {len(decision)} ({over / max(1, len(decision)) * 100:.2f}%)")
    if feed_s >= 120:  # a soak: where in time the tail sits (steady, or a few bad moments?)
        for minute, values in sorted(_by_minute(rows, status["started"]).items()):
            print(f"  minute {minute:>2}: {len(values):>7} msgs, decision p50 {percentile(values, 0.5) * 1000:4.0f} ms, "
                  f"p99 {percentile(values, 0.99) * 1000:4.0f} ms, max {max(values) * 1000:5.0f} ms")  # fmt: skip
    backlog = [s["pushed"] - s["stored"] for s in samples]
    print(f"backlog (pushed - stored, sampled 1/s): median {statistics.median(backlog):.0f}, max {max(backlog)}")
    for n in range(args.workers):
        series = [s["rss"][n] for s in samples if s["rss"][n]]
        if len(series) >= 10:
            warm = series[len(series) // 10 :]  # skip the first 10% (imports, caches, pools)
            head = statistics.median(warm[: max(1, len(warm) // 5)])
            tail = statistics.median(warm[-max(1, len(warm) // 5) :])
            print(f"worker {n} RSS: start {series[0]:.0f} MB, after warm-up {head:.0f} MB, end {tail:.0f} MB "
                  f"({(tail - head) / head * 100:+.1f}%), max {max(series):.0f} MB")  # fmt: skip
    print(f"logs and database: {workdir}")
    return 0


def _by_minute(rows: Any, started: float) -> dict[int, list[float]]:
    """Decision latencies grouped by the minute of the feed the message was sent in."""
    minutes: dict[int, list[float]] = {}
    for row in rows:
        minutes.setdefault(int((row.ts - started) // 60), []).append(row.decided_at - row.ts)
    return minutes


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2000.0, help="messages per second offered")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to push")
    parser.add_argument("--soak", type=float, default=0.0, help="push this long instead (e.g. 600) and watch RSS")
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--db", help="database server URL; each run gets a new database there (default: a fresh SQLite file)")
    parser.add_argument("--keep-db", action="store_true", help="keep the run's PostgreSQL database afterwards")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--flush-ms", type=int, default=50)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--profile", action="store_true", help="run worker 0 under cProfile (worker0.prof in the log folder)")
    parser.add_argument("--serve-sim", action="store_true", help=argparse.SUPPRESS)
    parsed = parser.parse_args()
    if parsed.serve_sim:
        parsed.duration = parsed.seconds
        asyncio.run(serve_sim(parsed))
    else:
        sys.exit(asyncio.run(main(parsed)))

"""``leadbot demo``: the whole agent end to end on this machine, no account, no network.

Starts the built-in simulator on 127.0.0.1 with real chat (the Douyin LiveChat comments
mixed with ECD buyer questions when ../shared/corpora exists, the bundled sample otherwise),
paced like a live room, runs the agent against it on a fresh SQLite file and prints the
summary. Exit 0.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from bot import eventloop
from bot.app import build_app
from bot.config import LoadedConfig, load_config, parse_settings
from bot.connectors.replay.script import demo_script
from bot.connectors.sim import SimSettings, build
from bot.connectors.sim.simulator import create_simulator
from bot.connectors.simkit import start_app
from bot.summary import format_summary

log = logging.getLogger("leadbot.demo")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="run the agent end to end against the built-in simulator")
    parser.add_argument("--messages", type=int, default=3000, help="chat messages to replay (default 3000)")
    parser.add_argument("--rate", type=float, default=600.0, help="messages per second (default 600)")
    parser.add_argument("--rooms", type=int, default=3, help="live rooms (default 3)")
    parser.add_argument("--db", default=".leadbot/demo.db", help="SQLite file, recreated (default .leadbot/demo.db)")
    parser.add_argument("--shadow", action="store_true", help="decide and record, send nothing")
    parser.add_argument("--seed", type=int, default=7)
    parser.set_defaults(handler=demo)


def demo_config(base: LoadedConfig, db_path: Path) -> LoadedConfig:
    data = base.settings.model_dump(mode="json", exclude={"connectors"})
    data["database"]["url"] = f"sqlite+aiosqlite:///{db_path.resolve()}"
    data["web"].pop("token", None)
    settings, _ = parse_settings(data, "demo")
    return LoadedConfig(settings, base.path, [])


def demo(args: argparse.Namespace) -> int:
    """Prepare a fresh database file (plain blocking I/O, before any event loop runs), then run."""
    if args.messages < 1 or args.rooms < 1 or args.rate < 0:
        print("leadbot demo: --messages and --rooms must be >= 1, --rate >= 0")
        return 2
    base = load_config(args.config)
    db_path = Path(args.db).resolve()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    return eventloop.run(run_demo(args, demo_config(base, db_path), db_path))


async def run_demo(args: argparse.Namespace, config: LoadedConfig, db_path: Path) -> int:
    rooms = [f"room-{n + 1}" for n in range(args.rooms)]
    script, origin = demo_script(args.messages, rooms, seed=args.seed)
    print(f"leadbot demo: {len(script)} events from {origin}")
    print(f"              {len(rooms)} rooms at {args.rate:g} msgs/s, database {db_path}")
    sim_app, sim_state = create_simulator(script, rooms=rooms, rate=args.rate)
    runner, port = await start_app(sim_app)
    started = time.monotonic()
    try:
        connector = build(SimSettings(base_url=f"http://127.0.0.1:{port}", rooms=rooms), "demo")
        app = await build_app(config, shadow=True if args.shadow else None, exit_when_idle=True, connectors=[connector])
        from bot.commands.run import install_stop_signals

        install_stop_signals(app.worker.request_stop)
        await app.worker.run()
        counts = await app.repository.counts()
        await app.engine.dispose()
    finally:
        await runner.cleanup()
    print(format_summary(app.worker.metrics, counts, str(db_path)))
    print(
        f"simulator received   {len(sim_state.sends.sends)} message(s), "
        f"{sim_state.sends.duplicates} duplicate(s); ran {time.monotonic() - started:.1f}s"
    )
    print("next: leadbot leads list --db " + str(db_path) + "   |   leadbot leads export --format csv --db " + str(db_path))
    return 0

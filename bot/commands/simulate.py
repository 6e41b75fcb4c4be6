"""``leadbot simulate``: run a platform simulator on its own, so a real config can point at it.

Every connector package may ship ``simulator.create_simulator(script, rooms=…, rate=…)`` and
``simulator_connector_config(base_url, rooms)``; this command starts it on 127.0.0.1 with a
chat script from the corpora (or the bundled sample) and prints the ``[[connectors]]`` entry.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
from typing import Any

from bot.connectors.registry import connector_specs
from bot.connectors.replay.script import demo_script
from bot.connectors.simkit import start_app


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("simulate", help="start a platform simulator on 127.0.0.1")
    parser.add_argument("--platform", default="sim", help="connector type whose simulator to run (default: sim)")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--rooms", default="room-1", help="comma-separated room ids")
    parser.add_argument("--rate", type=float, default=5.0, help="chat messages per second")
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.set_defaults(handler=simulate)


def _toml_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def simulate(args: argparse.Namespace) -> int:
    specs = connector_specs()
    if args.platform not in specs:
        print(f"leadbot simulate: --platform {args.platform!r}: must be one of {', '.join(sorted(specs))}")
        return 2
    try:
        module = importlib.import_module(f"bot.connectors.{args.platform}.simulator")
        package = importlib.import_module(f"bot.connectors.{args.platform}")
    except ModuleNotFoundError:
        print(f"leadbot simulate: connector {args.platform!r} ships no simulator")
        return 2
    rooms = [room.strip() for room in args.rooms.split(",") if room.strip()]
    script, origin = demo_script(args.messages, rooms, seed=args.seed)
    app, state = module.create_simulator(script, rooms=rooms, rate=args.rate)
    runner, port = await start_app(app, port=args.port)
    base_url = f"http://127.0.0.1:{port}"
    make_entry = getattr(module, "simulator_connector_config", None) or getattr(package, "simulator_connector_config", None)
    entry = make_entry(base_url, rooms) if make_entry is not None else {"type": args.platform}
    print(f"{args.platform} simulator on {base_url} — {len(script)} events from {origin}")
    print("point a config at it with:\n\n[[connectors]]")
    for key, value in entry.items():
        print(f"{key} = {_toml_value(value)}")
    print(f"\nreceived sends: {base_url}/_sim/sends   (Ctrl-C to stop)")
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        print(f"simulator stopped: {len(state.sends.sends)} send(s) received, {state.sends.duplicates} duplicate(s)")
    return 0

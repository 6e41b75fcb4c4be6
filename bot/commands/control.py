"""``leadbot pause|resume``: the kill switch, persisted in the database (all workers obey)."""

from __future__ import annotations

import argparse

from bot.commands.common import config_with_db
from bot.outbox import PAUSE_FLAG
from storage.db import create_engine
from storage.repository import Repository


def register(sub: argparse._SubParsersAction) -> None:
    for name, text in (("pause", "stop all sending within a second"), ("resume", "resume sending")):
        parser = sub.add_parser(name, help=text)
        parser.add_argument("--db", help="database URL or SQLite path (default: from config)")
        parser.set_defaults(handler=control)


async def control(args: argparse.Namespace) -> int:
    config = config_with_db(args)
    engine = create_engine(config.database_url, config.settings.database)
    try:
        await Repository(engine).set_flag(PAUSE_FLAG, "1" if args.command == "pause" else "0")
    finally:
        await engine.dispose()
    print("sending paused" if args.command == "pause" else "sending resumed")
    return 0

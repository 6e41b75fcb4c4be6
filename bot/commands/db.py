"""``leadbot db upgrade|current``: schema migrations (alembic)."""

from __future__ import annotations

import argparse

from bot.commands.common import config_with_db
from storage import migrate
from storage.db import create_engine


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("db", help="database schema: upgrade | current")
    actions = parser.add_subparsers(dest="db_command", required=True)
    for name, text in (("upgrade", "apply pending migrations"), ("current", "show the schema revision")):
        action = actions.add_parser(name, help=text)
        action.add_argument("--db", help="database URL or SQLite path (default: from config)")
        action.set_defaults(handler=db_command)


async def db_command(args: argparse.Namespace) -> int:
    config = config_with_db(args)
    engine = create_engine(config.database_url, config.settings.database)
    try:
        if args.db_command == "upgrade":
            await migrate.upgrade(engine)
        current = await migrate.current_revision(engine)
        print(f"{config.database_url}: schema {current or '(empty)'} (latest {migrate.head_revision()})")
    finally:
        await engine.dispose()
    return 0

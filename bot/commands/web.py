"""``leadbot web``: the dashboard on its own, reading the same database as the worker(s).

Live figures then come from the database (rates over the last seconds, actions of the last
hour); the kill switch and shadow toggle are database flags every worker obeys."""

from __future__ import annotations

import argparse
import asyncio
import logging

from bot.commands.common import config_with_db
from bot.commands.run import install_stop_signals
from bot.web import WebContext, ensure_token, start_web
from storage import migrate
from storage.db import create_engine
from storage.repository import Repository

log = logging.getLogger("leadbot.web")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("web", help="serve the dashboard (live view, leads, keywords, reports, settings)")
    parser.add_argument("--db", help="database URL or SQLite path (default: from config)")
    parser.add_argument("--host", help="address to bind (default: [web] host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: [web] port, 8765)")
    parser.set_defaults(handler=serve)


async def serve(args: argparse.Namespace) -> int:
    config = config_with_db(args)
    token, token_file = ensure_token(config)
    engine = create_engine(config.database_url, config.settings.database)
    await migrate.upgrade(engine)
    repository = Repository(engine, config.settings.store.name)
    await repository.ensure_store()
    context = WebContext(engine=engine, repository=repository, config=config, token=token)
    host = args.host or config.settings.web.host
    port = args.port if args.port is not None else config.settings.web.port
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the dashboard is reachable from other machines on %s: put it behind https", host)
    running = await start_web(context, host, port)
    stop = asyncio.Event()
    install_stop_signals(stop.set)
    where = f"the token is in {token_file}" if token_file else "log in with [web] token"
    print(f"dashboard on {running.url}  ({where}; Ctrl-C stops)", flush=True)
    try:
        await stop.wait()
    finally:
        await running.stop()
        await engine.dispose()
    return 0

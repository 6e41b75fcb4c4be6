"""``leadbot run``: the worker, from config.toml, until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from bot.app import App, build_app
from bot.config import LoadedConfig, load_config
from bot.summary import format_summary
from bot.terminal import reporter as terminal_reporter
from bot.webhooks import WebhookConfigError, start_webhooks
from storage.db import describe_error

if TYPE_CHECKING:
    from bot.web import RunningWeb

log = logging.getLogger("leadbot.run")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="run the agent: read chat, capture leads, reply within caps")
    parser.add_argument("--shadow", "--dry-run", dest="shadow", action="store_true", help="decide and record, send nothing")
    parser.add_argument("--exit-when-idle", action="store_true", help="stop once every source ended and the outbox is empty")
    parser.set_defaults(handler=run)


def install_stop_signals(stop: object) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop)  # type: ignore[arg-type]
        except (NotImplementedError, RuntimeError):
            pass


async def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, must_exist=True)
    if not config.connectors:
        log.error("%s has no enabled [[connectors]]: nothing to read (see config.toml for examples)", args.config)
        return 2
    try:
        app = await build_app(config, shadow=True if args.shadow else None, exit_when_idle=args.exit_when_idle)
    except (SQLAlchemyError, OSError) as error:
        log.error("cannot open the database: %s", describe_error(error, config.database_url))
        return 2
    app.worker.options.freeze_gc = True  # this process is the worker: keep full collections short
    install_stop_signals(app.worker.request_stop)
    log.info(
        "leadbot running: %d connector(s), %s, shadow=%s",
        len(app.connectors),
        app.repository.dialect,
        app.worker.options.shadow,
    )
    try:
        hooks = await start_webhooks(app.connectors, config.settings.webhooks)
    except WebhookConfigError as error:
        log.error("%s", error)
        await app.engine.dispose()
        return 2
    dashboard = await start_dashboard(config, app) if config.settings.web.enabled else None
    reporter = terminal_reporter(app.worker, dashboard=dashboard.url if dashboard else None)
    try:
        await app.worker.run()
    finally:
        reporter.cancel()
        await asyncio.gather(reporter, return_exceptions=True)
        if dashboard is not None:
            await dashboard.stop()
        if hooks is not None:
            await hooks.stop()
        counts = await app.repository.counts()
        print(format_summary(app.worker.metrics, counts, config.database_url))
        await app.engine.dispose()
    return 0


async def start_dashboard(config: LoadedConfig, app: App) -> RunningWeb:
    """Serve the dashboard from this process: it shares the worker's metrics, connectors and matcher."""
    from bot.web import WebContext, ensure_token, start_web

    token, token_file = ensure_token(config)
    context = WebContext(
        engine=app.engine,
        repository=app.repository,
        config=config,
        token=token,
        worker=app.worker,
        connectors=app.connectors,
    )
    web = config.settings.web
    running = await start_web(context, web.host, web.port)
    where = f"token in {token_file}" if token_file else "token from [web] token"
    log.info("dashboard on %s (%s)", running.url, where)
    return running

"""Wiring: from a loaded config to a ready Worker (engine, repository, connectors, matcher,
handlers, reply composer, caps). Nothing here runs anything; ``Worker.run()`` does."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import LoadedConfig
from bot.connectors.base import Connector
from bot.connectors.registry import connector_specs
from bot.leasing import LeaseOptions
from bot.logs import register_secret
from bot.metrics import Metrics
from bot.pipeline import HasCurrentMatcher, MatcherRef, PipelineOptions, Worker
from handlers.context import CapsPolicy
from handlers.follows import router as follows_router
from handlers.leads import router as leads_router
from handlers.reminders import broadcasts_from_schedule
from handlers.router import Router
from keywords.api import Matcher
from keywords.reload import MatcherHolder
from replies.render import ReplyBook
from storage import migrate
from storage.db import create_engine
from storage.records import BroadcastRecord
from storage.repository import Repository

log = logging.getLogger(__name__)


@dataclass
class App:
    engine: AsyncEngine
    repository: Repository
    worker: Worker
    connectors: list[Connector]


def build_connectors(config: LoadedConfig) -> list[Connector]:
    specs = connector_specs()
    connectors = []
    for entry, settings in config.connectors:
        if not entry.enabled:
            continue
        for value in settings.model_dump().values():
            secret = getattr(value, "get_secret_value", None)
            if secret is not None:
                register_secret(secret())
        connectors.append(specs[entry.type].build(settings, entry.account))
    return connectors


def load_default_matcher(config: LoadedConfig) -> Matcher:
    from keywords import load_matcher

    matcher: Matcher = load_matcher(config.settings.matching, config.base_dir)
    return matcher


async def open_repository(config: LoadedConfig, *, upgrade: bool = True) -> tuple[AsyncEngine, Repository]:
    engine = create_engine(config.database_url, config.settings.database)
    if upgrade:
        await migrate.upgrade(engine)
    repository = Repository(engine, config.settings.store.name)
    return engine, repository


def schedule_records(config: LoadedConfig) -> list[BroadcastRecord]:
    """``[[schedule]]`` entries as broadcasts to remember (a start without offset is in ``[caps] timezone``)."""
    broadcasts = broadcasts_from_schedule(config.settings.schedule, config.settings.caps.timezone)
    return [BroadcastRecord(b.broadcast_id, b.starts_at, b.title, b.platform, b.account, b.room, "config") for b in broadcasts]


async def build_app(
    config: LoadedConfig,
    *,
    shadow: bool | None = None,
    exit_when_idle: bool = False,
    connectors: Sequence[Connector] | None = None,
    matcher: Matcher | None = None,
    book: ReplyBook | None = None,
    metrics: Metrics | None = None,
) -> App:
    settings = config.settings
    if settings.web.token is not None:
        register_secret(settings.web.token.get_secret_value())
    engine, repository = await open_repository(config)
    built = list(connectors) if connectors is not None else build_connectors(config)
    router = Router()
    router.include(leads_router)
    router.include(follows_router)
    options = PipelineOptions(
        batch_size=settings.database.batch_size,
        flush_interval_s=settings.database.flush_interval_ms / 1000,
        queue_size=settings.pipeline.queue_size,
        shadow=settings.pipeline.shadow if shadow is None else shadow,
        replies_enabled=settings.replies.enabled,
        drain_timeout_s=settings.pipeline.drain_timeout_s,
        poll_interval_s=settings.sender.poll_interval_ms / 1000,
        max_attempts=settings.sender.max_attempts,
        claim_timeout_s=settings.sender.claim_timeout_s,
        echo_timeout_s=settings.sender.echo_timeout_s,
        exit_when_idle=exit_when_idle,
        leases=LeaseOptions(
            lease_s=settings.workers.lease_s,
            renew_every_s=settings.workers.renew_every_s,
            max_sources=settings.workers.max_sources_per_worker,
            take_all=repository.dialect == "sqlite",
        ),
    )
    if settings.workers.id:
        options.worker_id = settings.workers.id
    holder: HasCurrentMatcher = (
        MatcherRef(matcher) if matcher is not None else MatcherHolder.load(settings.matching, config.base_dir)
    )
    worker = Worker(
        repository=repository,
        connectors=built,
        matcher=holder,
        router=router,
        book=book or ReplyBook.from_settings(settings.replies, config.base_dir),
        caps=CapsPolicy(settings.caps),
        options=options,
        metrics=metrics,
        store_name=settings.store.name,
        greetings=settings.greetings,
        reminders=settings.reminders,
        schedule=schedule_records(config),
    )
    return App(engine, repository, worker, built)

"""What the dashboard reads and controls: the database, the running worker (when in-process),
the config, and the matcher in force. Shared by every handler through ``request.app[CONTEXT]``."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.config import LoadedConfig
from bot.connectors.base import Connector
from bot.metrics import Metrics
from keywords.api import Matcher
from storage.repository import Repository

if TYPE_CHECKING:
    from bot.pipeline import Worker

log = logging.getLogger(__name__)


@dataclass
class WebContext:
    engine: AsyncEngine
    repository: Repository
    config: LoadedConfig
    token: str
    worker: Worker | None = None  # set when served from ``leadbot run`` (same process)
    connectors: list[Connector] = field(default_factory=list)
    secure_cookies: bool = False  # set when served behind https
    session_ttl_s: float = 12 * 3600
    _matcher: Matcher | None = None
    _holder: Any = None
    _matcher_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def metrics(self) -> Metrics | None:
        return self.worker.metrics if self.worker is not None else None

    @property
    def base_dir(self) -> Path:
        return self.config.base_dir

    async def matcher(self) -> Matcher:
        """The matcher in force: the worker's (in-process), else the config's lists, reloaded on edit."""
        if self.worker is not None:
            return self.worker.matcher.current
        async with self._matcher_lock:
            if self._holder is None:
                from keywords.reload import MatcherHolder

                self._holder = await asyncio.to_thread(
                    MatcherHolder.load, self.config.settings.matching, self.config.base_dir
                )
            else:
                await self._holder.check()
            matcher: Matcher = self._holder.current
            return matcher

    def set_matcher(self, matcher: Matcher) -> None:
        """Put a freshly validated matcher in force now (the file watcher would within seconds)."""
        if self.worker is not None:
            # MatcherHolder / MatcherRef keep ``current`` as a plain attribute (read-only in the protocol)
            setattr(self.worker.matcher, "current", matcher)  # noqa: B010
        if self._holder is not None:
            self._holder.current = matcher


CONTEXT = web.AppKey("leadbot_web_context", WebContext)


def ensure_token(config: LoadedConfig) -> tuple[str, Path | None]:
    """The login token: ``[web] token`` (or env), else one generated once and kept in a 0600 file
    next to the config. Returns (token, file it was written to or None)."""
    if config.settings.web.token is not None:
        return config.settings.web.token.get_secret_value(), None
    path = config.base_dir / ".leadbot" / "web_token"
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except OSError:
        existing = ""
    if len(existing) >= 16:
        return existing, path
    token = secrets.token_urlsafe(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(token + "\n", encoding="utf-8")
    return token, path

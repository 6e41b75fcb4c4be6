"""Hot reload: keep the current matcher, swap in edited lists, keep the old one on errors.

    holder = MatcherHolder.load(settings, base_dir)      # raises KeywordListError at startup
    task = asyncio.create_task(holder.watch())           # polls mtimes every reload_interval_s
    holder.current.match("多少钱")

A change is detected by (mtime, size) of every watched file (lists + catalogue). The new matcher
is built off the event loop (``asyncio.to_thread``); if any file fails to parse or validate, the
error (file, line, reason) is kept in ``last_error`` and logged, and ``current`` is unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from keywords.lists import KeywordListError
from keywords.loader import load_matcher, watched_paths
from keywords.matcher import KeywordMatcher
from keywords.settings import MatchingSettings

log = logging.getLogger(__name__)

Stamp = tuple[tuple[str, int, int], ...]


def _stamp(paths: list[Path]) -> Stamp:
    out = []
    for path in paths:
        try:
            st = path.stat()
            out.append((str(path), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(path), -1, -1))
    return tuple(out)


class MatcherHolder:
    """The matcher in use right now; replaced atomically when the lists change and are valid."""

    def __init__(
        self,
        matcher: KeywordMatcher,
        settings: MatchingSettings,
        base_dir: Path,
        *,
        on_change: Callable[[KeywordMatcher], None] | None = None,
        on_error: Callable[[KeywordListError], None] | None = None,
    ) -> None:
        self.current = matcher
        self.settings = settings
        self.base_dir = base_dir
        self.last_error: KeywordListError | None = None
        self.reloads = 0
        self._on_change = on_change
        self._on_error = on_error
        self._stamp = _stamp(watched_paths(settings, base_dir))

    @classmethod
    def load(cls, settings: MatchingSettings, base_dir: Path, **kwargs: object) -> MatcherHolder:
        return cls(load_matcher(settings, base_dir), settings, base_dir, **kwargs)  # type: ignore[arg-type]

    def changed(self) -> bool:
        return _stamp(watched_paths(self.settings, self.base_dir)) != self._stamp

    async def check(self) -> bool:
        """Reload if a watched file changed. True when a new matcher was swapped in."""
        stamp = _stamp(watched_paths(self.settings, self.base_dir))
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        try:
            matcher = await asyncio.to_thread(self._load_warm)
        except KeywordListError as error:
            self.last_error = error
            log.warning("keyword lists not reloaded, previous lists stay active: %s", error)
            if self._on_error is not None:
                self._on_error(error)
            return False
        self.last_error = None
        if matcher.version == self.current.version:
            return False
        self.current = matcher
        self.reloads += 1
        log.info("keyword lists reloaded: version %s (%d keywords)", matcher.version, matcher.keyword_count)
        if self._on_change is not None:
            self._on_change(matcher)
        return True

    def _load_warm(self) -> KeywordMatcher:
        matcher = load_matcher(self.settings, self.base_dir)
        matcher.warm_up()  # new jieba words are added before the swap, not on the first message
        return matcher

    async def watch(self, interval: float | None = None) -> None:
        """Poll forever (cancel the task to stop)."""
        delay = interval if interval is not None else self.settings.reload_interval_s
        while True:
            await asyncio.sleep(delay)
            try:
                await self.check()
            except Exception:  # a watcher must survive anything a file system throws at it
                log.exception("keyword list reload check failed")

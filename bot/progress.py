"""Progress for long jobs (replay, export, eval): a rich progress bar on a terminal, plain log
lines every few seconds otherwise (CI, pipes, files).

    with progress("exporting leads", total=n) as advance:
        for row in rows:
            ...
            advance(1)

    async for item in track(aiter, "replaying", total=None):
        ...
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import TextIO, TypeVar

log = logging.getLogger("leadbot.progress")
T = TypeVar("T")
LOG_EVERY_S = 5.0


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def progress(
    description: str, total: int | None = None, *, stream: TextIO | None = None, unit: str = "items"
) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; shows a bar on a terminal, logs ``description: done/total`` otherwise."""
    out = stream or sys.stderr
    done = 0
    started = time.monotonic()
    if _is_tty(out):
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        columns = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
        columns += [TimeElapsedColumn(), TimeRemainingColumn()] if total else [TimeElapsedColumn()]
        with Progress(*columns, console=Console(file=out), transient=False) as bar:
            task = bar.add_task(description, total=total)

            def advance_bar(n: int = 1) -> None:
                bar.advance(task, n)

            yield advance_bar
        return

    last_log = started

    def advance_log(n: int = 1) -> None:
        nonlocal done, last_log
        done += n
        now = time.monotonic()
        if now - last_log >= LOG_EVERY_S:
            last_log = now
            log.info("%s: %s", description, _figures(done, total, now - started, unit))

    yield advance_log
    log.info("%s: done, %s", description, _figures(done, total, time.monotonic() - started, unit))


def _figures(done: int, total: int | None, elapsed: float, unit: str) -> str:
    rate = done / elapsed if elapsed > 0 else 0.0
    share = f" ({100 * done / total:.0f}%)" if total else ""
    of = f"/{total}" if total else ""
    return f"{done}{of} {unit}{share} in {elapsed:.1f}s, {rate:.0f}/s"


async def track(
    items: AsyncIterable[T], description: str, total: int | None = None, *, stream: TextIO | None = None
) -> AsyncIterator[T]:
    """Iterate ``items`` while showing progress."""
    with progress(description, total, stream=stream) as advance:
        async for item in items:
            yield item
            advance(1)

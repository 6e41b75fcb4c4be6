"""Which asyncio event loop the command line runs on.

A worker spends a large share of its one busy thread in the event loop itself: reading
WebSocket frames from dozens of rooms, waking futures for every database round trip. uvloop
(libuv under the asyncio API, maintained by the asyncio core developers at MagicStack) does that
work in C. Measured with ``bench/load.py --rate 2000 --seconds 20`` (SQLite, one worker),
alternating runs: decision p99 237, 177, 167, 156 ms on the standard loop and 177, 127, 168,
123 ms on uvloop, the worker's CPU 2–18 % lower; ``--soak 600`` back to back on a quiet machine,
p99 over the 10 minutes 179 ms on uvloop and 346 ms on the standard loop. So ``leadbot`` uses it
when it is installed.

Where uvloop is missing (Windows has no build) the standard loop runs. ``LEADBOT_EVENT_LOOP``
chooses explicitly: ``auto`` (default), ``uvloop`` (fail when missing) or ``asyncio`` (e.g. to
rule the loop out while debugging).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from bot.config import ConfigError

ENV = "LEADBOT_EVENT_LOOP"
CHOICES = ("auto", "uvloop", "asyncio")

T = TypeVar("T")


def loop_factory(choice: str | None = None) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory for ``asyncio.Runner`` (None: the standard loop). Raises ConfigError for an
    unknown choice or for ``uvloop`` asked for but not installed."""
    value = (os.environ.get(ENV, "auto") if choice is None else choice).strip().lower() or "auto"
    if value not in CHOICES:
        raise ConfigError(ENV, [f"{value!r} is not an event loop: use one of {', '.join(CHOICES)}"])
    if value == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if value == "uvloop":
            raise ConfigError(ENV, ["uvloop is not installed (pip install uvloop; it has no Windows build)"]) from None
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on the chosen loop."""
    try:
        factory = loop_factory()
    except ConfigError:
        main.close()  # never awaited: say so quietly instead of a RuntimeWarning
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)

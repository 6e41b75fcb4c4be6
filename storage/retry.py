"""Wait out a database outage: retry one operation with backoff until the database answers.

Used where giving up would lose or repeat something (a cursor the reader must start from, the
outcome of a send that already happened); a shutdown cancels the wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

T = TypeVar("T")

# Connection refused, locked file, server gone: OperationalError is a DBAPIError; OSError
# covers a socket that failed before the driver could wrap it.
UNAVAILABLE = (DBAPIError, OSError)


async def until_available(
    operation: Callable[[], Awaitable[T]],
    on_error: Callable[[BaseException, float], None],
    *,
    first_delay_s: float = 0.2,
    max_delay_s: float = 5.0,
) -> T:
    """``await operation()`` until it succeeds; ``on_error(error, delay)`` before each wait."""
    delay = first_delay_s
    while True:
        try:
            return await operation()
        except UNAVAILABLE as error:
            on_error(error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay_s)

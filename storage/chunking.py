"""Splitting many rows or keys into statements of bounded size.

SQLite limits the number of bound variables per statement, and one huge statement would hold
the single writer for long; every multi-row statement of the storage layer goes through here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

CHUNK = 400  # rows per multi-row statement (keeps SQLite under its variable limit)


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

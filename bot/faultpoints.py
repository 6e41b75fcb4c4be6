"""Named crash points for reliability tests: ``LEADBOT_FAULTPOINTS=before_send`` makes the
process SIGKILL itself the first time it reaches ``fault_point("before_send")``;
``after_write_batch@3`` kills it the third time.

This is how the tests prove "a crash at any point loses nothing and sends nothing twice"
with a real kill -9 at an exact place, not a polite exception. Unset in production: the
check is one dict lookup. Points: ``mid_batch`` (decided, not written), ``mid_write_batch``
(inside the transaction, half the rows written), ``after_write_batch`` (committed, senders
not woken), ``before_send``, ``after_send`` (platform accepted, not marked sent).
"""

from __future__ import annotations

import os
import signal


def _parse(spec: str) -> dict[str, int]:
    armed: dict[str, int] = {}
    for part in spec.split(","):
        name, _, nth = part.strip().partition("@")
        if name:
            armed[name] = int(nth) if nth.isdigit() and int(nth) > 0 else 1
    return armed


_ARMED = _parse(os.environ.get("LEADBOT_FAULTPOINTS", ""))


def fault_point(name: str) -> None:
    if name in _ARMED:
        _ARMED[name] -= 1
        if _ARMED[name] <= 0:
            os.kill(os.getpid(), signal.SIGKILL)

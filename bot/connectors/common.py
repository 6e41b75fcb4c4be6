"""Pieces every connector needs, written once: reconnect policy, de-duplication, echo
recognition, silence watchdog and the reconnect loop itself.

A connector's own code should only turn bytes into events (pure, tested on captured
payloads) and open one session; how it reconnects is this module's policy, injected.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import unicodedata
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from bot.connectors.base import ConnectorHealth
from bot.connectors.errors import AuthExpired, ConnectorError, PermanentError, ProtocolError, RateLimited
from handlers.events import SourceItem

log = logging.getLogger(__name__)


def hex_excerpt(data: bytes, limit: int = 32) -> str:
    """First bytes of a bad frame, for logs: enough to recognise it, never a whole payload."""
    head = data[:limit].hex(" ")
    return f"{head} …(+{len(data) - limit} bytes)" if len(data) > limit else head


@dataclass(frozen=True)
class ReconnectPolicy:
    """Exponential backoff with full jitter, capped; ``retry_after`` from the server wins."""

    initial_s: float = 1.0
    max_s: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.5  # fraction of the delay that is randomised
    max_attempts: int | None = None  # None = forever (a live room may come back)

    def delay(self, attempt: int, *, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        base = min(self.max_s, self.initial_s * (self.multiplier ** max(0, attempt)))
        spread = base * self.jitter
        value = base - spread + (rng or random).random() * spread
        if retry_after is not None:
            value = max(value, retry_after)
        return value

    def gives_up(self, attempt: int) -> bool:
        return self.max_attempts is not None and attempt >= self.max_attempts


class RecentIds:
    """Bounded memory of recently seen platform message ids (reconnects replay recent history)."""

    def __init__(self, capacity: int = 50_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def seen(self, message_id: str) -> bool:
        """True when ``message_id`` was seen before; otherwise remember it and return False."""
        if message_id in self._ids:
            self._ids.move_to_end(message_id)
            return True
        self._ids[message_id] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return False

    def forget(self, message_id: str) -> None:
        """Let ``message_id`` through again (its first delivery could not be completed)."""
        self._ids.pop(message_id, None)

    def __len__(self) -> int:
        return len(self._ids)


def _echo_key(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).strip().lower()
    return "".join(ch for ch in folded if not ch.isspace())


@dataclass
class EchoTracker:
    """Recognises our own messages when the platform echoes them into the stream.

    The sender notes every accepted message; the source asks ``claim`` for each incoming
    chat line. A match by our own account id, or by identical text in the same target within
    ``window_s``, means "this is us": the event is marked ``is_self`` (never answered) and the
    outbox action can be marked delivered.
    """

    own_user_ids: set[str] = field(default_factory=set)
    window_s: float = 120.0
    _pending: dict[tuple[str, str], list[tuple[float, str]]] = field(default_factory=dict)

    def note_sent(self, target: str, text: str, idempotency_key: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self._pending.setdefault((target, _echo_key(text)), []).append((now, idempotency_key))

    def claim(self, target: str, user_id: str, text: str, now: float | None = None) -> tuple[bool, str | None]:
        """(is_self, idempotency key of the matching sent message or None)."""
        now = time.time() if now is None else now
        key = (target, _echo_key(text))
        entries = [e for e in self._pending.get(key, []) if now - e[0] <= self.window_s]
        if entries:
            _, idem = entries.pop(0)
            if entries:
                self._pending[key] = entries
            else:
                self._pending.pop(key, None)
            return True, idem
        self._pending.pop(key, None)
        return (bool(user_id) and user_id in self.own_user_ids), None


SessionFactory = Callable[[str | None], AsyncIterator[SourceItem]]


async def reconnecting(
    open_session: SessionFactory,
    cursor: str | None,
    *,
    policy: ReconnectPolicy,
    health: ConnectorHealth,
    name: str,
    silence_s: float | None = None,
    sleep: Callable[[float], object] = asyncio.sleep,
) -> AsyncIterator[SourceItem]:
    """Run ``open_session(cursor)`` forever, reconnecting with ``policy`` on failure.

    - A session that ends normally (the room went offline, the replay ended) ends the stream.
    - ``silence_s``: no event for that long counts as a dead connection (watchdog) → reconnect.
    - ``AuthExpired`` and ``PermanentError`` stop the stream (health shows why); everything
      else is retried. The cursor of the last yielded item is used to resume.
    """
    attempt = 0
    while True:
        health.state = "connecting" if attempt == 0 else "reconnecting"
        session = open_session(cursor)
        try:
            while True:
                if silence_s is None:
                    item = await anext(session)
                else:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel
                    # that lands as the next item arrives, leaving a reader that was told to
                    # stop (lease lost) running on.
                    try:
                        async with asyncio.timeout(silence_s):
                            item = await anext(session)
                    except TimeoutError:
                        raise ConnectorError(f"no event for {silence_s:.0f}s (watchdog)") from None
                if health.state != "live":
                    health.state, health.connected_since = "live", time.time()
                attempt = 0
                health.last_event_at = time.time()
                if item.cursor is not None:
                    cursor = item.cursor
                yield item
        except StopAsyncIteration:
            health.state = "offline"
            return
        except AuthExpired as error:
            health.state, health.last_error = "auth_expired", str(error)
            log.error("%s: credentials expired: %s", name, error)
            return
        except PermanentError as error:
            health.state, health.last_error = "failed", str(error)
            log.error("%s: permanent error, stopping: %s", name, error)
            return
        except (ConnectorError, OSError, ConnectionError, TimeoutError, ValueError) as error:
            retry_after = error.retry_after if isinstance(error, RateLimited) else None
            if isinstance(error, ProtocolError):
                health.malformed_frames += 1
            health.last_error = f"{type(error).__name__}: {error}"
            if policy.gives_up(attempt):
                health.state = "failed"
                log.error("%s: giving up after %d attempts: %s", name, attempt, error)
                return
            delay = policy.delay(attempt, retry_after=retry_after)
            log.warning("%s: %s; reconnecting in %.1fs", name, health.last_error, delay)
            health.reconnects += 1
            attempt += 1
            health.state = "reconnecting"
            result = sleep(delay)
            if asyncio.iscoroutine(result):
                await result
        finally:
            aclose = getattr(session, "aclose", None)
            if aclose is not None:
                try:
                    await aclose()
                except Exception:  # closing a broken session must not mask the cause
                    log.debug("%s: error while closing session", name, exc_info=True)

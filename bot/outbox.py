"""Draining the outbox for one connector: claim → send → mark, exactly once.

- An action is claimed in the database before the send and marked ``sent`` only after the
  platform accepted it; the idempotency key travels with every attempt, so a retry after a
  crash between send and confirmation is recognised by the platform (or simulator).
- Short retries happen in place with tenacity (exponential backoff with jitter, Retry-After
  honoured); longer waits go back to the outbox with ``not_before`` so nothing blocks.
- Pacing: one ``TokenBucket`` (with jitter) per channel of the account, from
  ``[caps] rates`` (``caps.rate_for(platform, channel)``). The sender claims only from channels
  whose bucket allows a send now, so the outbox's priority order (lead replies, then
  greetings, then reminders) decides who gets a short budget. A ``RateLimited`` answer
  penalises the bucket for its ``retry_after``.
- The kill switch (``paused`` flag in the database) is re-read at least every 0.5 s and
  checked before every attempt and during every wait (backoff, Retry-After, token bucket):
  a paused worker stops sending within a second, and the claim is released untouched.
- Shadow mode never claims anything: started with ``--shadow`` the sender does not run; the
  ``shadow`` flag (dashboard toggle) holds sending like a pause while it is set, and the
  pipeline records new decisions as ``shadow`` instead of ``pending``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt, stop_any
from tenacity.stop import stop_base
from tenacity.wait import wait_base, wait_exponential_jitter

from bot.connectors.base import Connector, OutgoingMessage, ReplyWindow, SendReceipt
from bot.connectors.errors import AuthExpired, PermanentError, RateLimited, TransientError
from bot.faultpoints import fault_point
from bot.metrics import Metrics
from handlers.caps import TokenBucket
from handlers.settings import CapsSettings
from storage.repository import ClaimedAction, Repository
from storage.retry import until_available

log = logging.getLogger(__name__)

PAUSE_FLAG = "paused"
SHADOW_FLAG = "shadow"
FLAG_REFRESH_S = 0.5
IN_PLACE_ATTEMPTS = 3
IN_PLACE_MAX_WAIT_S = 10.0
AUTH_RETRY_S = 300.0
WAIT_SLICE_S = 0.25  # longest sleep between two looks at the pause flag while waiting
CHANNELS = ("live_chat", "public_reply", "private_message")


class Paused(Exception):
    """Sending was paused while an action was in hand: give it back untouched."""


class wait_retry_after(wait_base):
    """Exponential backoff with jitter, but never shorter than the server's Retry-After."""

    def __init__(self, initial: float = 0.5, maximum: float = 60.0) -> None:
        self.backoff = wait_exponential_jitter(multiplier=initial, max=maximum)

    def __call__(self, retry_state: RetryCallState) -> float:
        delay = float(self.backoff(retry_state))
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        retry_after = getattr(error, "retry_after", None)
        return max(delay, float(retry_after)) if retry_after is not None else delay


class stop_if_long_retry_after(stop_base):
    """Stop retrying in place when the server asks for a long pause: the outbox waits instead."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        retry_after = getattr(error, "retry_after", None)
        return retry_after is not None and retry_after > IN_PLACE_MAX_WAIT_S


def outbox_delay(attempts: int, retry_after: float | None) -> float:
    """How long an action waits in the outbox after in-place retries failed."""
    backoff = min(300.0, 2.0 * (2 ** max(0, attempts - 1)))
    return max(backoff, retry_after or 0.0)


class OutboxSender:
    def __init__(
        self,
        *,
        connector: Connector,
        repository: Repository,
        metrics: Metrics,
        worker_id: str,
        max_attempts: int,
        claim_timeout_s: float,
        poll_interval_s: float,
        shadow: bool,
        caps: CapsSettings | None = None,
        rng: random.Random | None = None,
    ) -> None:
        assert connector.sender is not None
        self.connector = connector
        self.sender = connector.sender
        self.repository = repository
        self.metrics = metrics
        self.worker_id = worker_id
        self.max_attempts = max_attempts
        self.claim_timeout_s = claim_timeout_s
        self.poll_interval_s = poll_interval_s
        self.shadow = shadow
        self.accounts = [(connector.platform, connector.account)]
        self.min_interval_s = float(getattr(self.sender, "min_interval_s", 0.0))
        # Platforms that allow a DM only inside a reply window (Douyin Open) need the stored one.
        self._uses_reply_windows = bool(getattr(self.sender, "uses_reply_windows", False))
        self._stopping = False
        self._wake = asyncio.Event()
        self._paused = False
        self.runtime_shadow = False  # the ``shadow`` flag as last read; the pipeline decides with it too
        self._flag_checked_at = 0.0
        self._last_send_at = 0.0
        rng = rng or random.Random()
        # Per-channel pacing of this account; no caps settings = no pacing beyond min_interval_s.
        self.buckets: dict[str, TokenBucket] = (
            {channel: TokenBucket.from_settings(caps.rate_for(connector.platform, channel), rng) for channel in CHANNELS}
            if caps is not None
            else {}
        )

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    async def is_paused(self) -> bool:
        now = time.monotonic()
        if now - self._flag_checked_at >= FLAG_REFRESH_S:
            try:
                flags = await self.repository.get_flags(PAUSE_FLAG, SHADOW_FLAG)
                self.runtime_shadow = flags.get(SHADOW_FLAG) == "1"
                self._paused = flags.get(PAUSE_FLAG) == "1" or self.runtime_shadow
            except Exception as error:  # database hiccup: keep the last known state
                log.warning("cannot read pause/shadow flags: %s", error)
            self._flag_checked_at = now
        return self._paused

    async def _idle(self, seconds: float) -> None:
        self._wake.clear()
        try:
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        except TimeoutError:
            pass

    async def run(self) -> None:
        if self.shadow:
            return
        while not self._stopping:
            try:
                if await self.is_paused():
                    await self._idle(FLAG_REFRESH_S)
                    continue
                ready, wait = self._ready_channels()
                if ready is not None and not ready:
                    await self._idle(min(wait, FLAG_REFRESH_S))
                    continue
                claimed = await self.repository.claim_due_actions(
                    self.worker_id,
                    platforms=self.accounts,
                    limit=1,
                    claim_timeout_s=self.claim_timeout_s,
                    channels=ready,
                )
            except Exception as error:
                log.error("%s: cannot read the outbox: %s", self.connector.name, error)
                await self._idle(1.0)
                continue
            if not claimed:
                # Nothing due on the ready channels: look again at the next poll, or as soon as a
                # busy channel's budget allows a send (its actions may be waiting).
                await self._idle(min(self.poll_interval_s, max(wait, 0.001)))
                continue
            for action in claimed:
                try:
                    await self.send_one(action)
                except Exception:  # a bug must not end the sender: log it, the claim expires and is retried
                    log.exception("%s: unexpected error handling action %s", self.connector.name, action.id)
                    await self._idle(1.0)

    def _ready_channels(self) -> tuple[list[str] | None, float]:
        """(channels whose budget allows a send now — None when not paced —, seconds until another
        channel's budget allows one — infinite when every channel is ready)."""
        if not self.buckets:
            return None, float("inf")
        now = time.monotonic()
        ready_at = {channel: bucket.ready_at(now) for channel, bucket in self.buckets.items()}
        ready = [channel for channel, at in ready_at.items() if at <= now]
        waiting = [at - now for at in ready_at.values() if at > now]
        return ready, min(waiting, default=float("inf"))

    async def pausable_sleep(self, seconds: float) -> None:
        """Sleep, but give the action back (``Paused``) as soon as sending is paused or stopping."""
        deadline = time.monotonic() + seconds
        while True:
            if self._stopping or await self.is_paused():
                raise Paused()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, WAIT_SLICE_S))

    async def _respect_spacing(self, channel: str) -> None:
        wait = self._last_send_at + self.min_interval_s - time.monotonic()
        if wait > 0:
            await self.pausable_sleep(wait)
        bucket = self.buckets.get(channel)
        if bucket is None:
            return
        while not bucket.take(time.monotonic()):
            await self.pausable_sleep(max(0.001, bucket.ready_at(time.monotonic()) - time.monotonic()))

    async def _attempt(self, message: OutgoingMessage) -> SendReceipt:
        if await self.is_paused():
            raise Paused()
        await self._respect_spacing(message.channel)
        if await self.is_paused():
            raise Paused()
        fault_point("before_send")
        try:
            return await self.sender.send(message)
        except RateLimited as error:
            bucket = self.buckets.get(message.channel)
            if bucket is not None and error.retry_after:
                bucket.penalise(time.monotonic(), float(error.retry_after))
            raise
        finally:
            self._last_send_at = time.monotonic()
            bucket = self.buckets.get(message.channel)
            if bucket is not None:
                bucket.finished(self._last_send_at)

    async def send_one(self, action: ClaimedAction) -> None:
        message = OutgoingMessage(
            idempotency_key=action.idempotency_key,
            platform=action.platform,
            account=action.account,
            channel=action.channel,  # type: ignore[arg-type]
            target=action.target,
            text=action.text,
            reply_to_message_id=action.reply_to,
            recipient_user_id=action.recipient,
        )
        try:
            if self._uses_reply_windows and action.channel == "private_message" and action.recipient:
                message = replace(message, reply_window=await self._stored_window(action))
            receipt: SendReceipt | None = None
            async for attempt in AsyncRetrying(
                stop=stop_any(stop_after_attempt(IN_PLACE_ATTEMPTS), stop_if_long_retry_after()),
                wait=wait_retry_after(),
                retry=retry_if_exception_type((RateLimited, TransientError)),
                reraise=True,
                sleep=self.pausable_sleep,
            ):
                with attempt:
                    receipt = await self._attempt(message)
            assert receipt is not None
        except Paused:
            await self._record(action, "release", lambda: self.repository.release(action.id))
            return
        except (RateLimited, TransientError) as error:
            await self._retry_later(action, error, getattr(error, "retry_after", None))
            return
        except AuthExpired as error:
            self.connector.health.state = "auth_expired"
            self.connector.health.last_error = str(error)
            self.metrics.send_failures["AuthExpired"] += 1
            expired = f"credentials expired: {error}"
            await self._record(
                action,
                "a retry after the credentials expired",
                lambda: self.repository.reschedule(action.id, not_before=time.time() + AUTH_RETRY_S, error=expired),
            )
            return
        except PermanentError as error:
            self.metrics.send_failures["PermanentError"] += 1
            rejected = f"rejected by the platform: {error}"
            await self._record(action, "the rejection", lambda: self.repository.mark_failed(action.id, error=rejected))
            return
        except Exception as error:  # a connector bug must not stop the sender loop
            log.exception("%s: unexpected error sending action %s", self.connector.name, action.id)
            await self._retry_later(action, error, None)
            return
        fault_point("after_send")
        tracker: Any = getattr(self.sender, "echo_tracker", None)
        if receipt.echo_expected and tracker is not None:
            tracker.note_sent(action.target, action.text, action.idempotency_key)
        await self._record(
            action,
            "the send",
            lambda: self.repository.mark_sent(
                action.id, platform_message_id=receipt.platform_message_id, echo_expected=receipt.echo_expected
            ),
        )
        self.metrics.sent[action.kind] += 1

    async def _stored_window(self, action: ClaimedAction) -> ReplyWindow | None:
        """The person's reply window as stored by whichever worker received their DM: this sender
        may run in another process, or after a restart, than the one the webhook reached."""
        assert action.recipient is not None
        stored = await self.repository.dm_window(action.platform, action.account, action.recipient)
        if stored is None:
            return None
        return ReplyWindow(stored.msg_id, stored.conversation_id, stored.scene, stored.until)

    async def _retry_later(self, action: ClaimedAction, error: Exception, retry_after: float | None) -> None:
        name = type(error).__name__
        self.metrics.send_failures[name] += 1
        if action.attempts >= self.max_attempts:
            reason = f"gave up after {action.attempts} attempts: {name}: {error}"
            await self._record(action, "the failure", lambda: self.repository.mark_failed(action.id, error=reason))
            return
        delay = outbox_delay(action.attempts, retry_after)
        why = f"{name}: {error}"
        await self._record(
            action, "the retry", lambda: self.repository.reschedule(action.id, not_before=time.time() + delay, error=why)
        )

    async def _record(self, action: ClaimedAction, what: str, write: Callable[[], Awaitable[object]]) -> None:
        """Write an action's outcome, waiting out a database outage instead of losing it.

        The send already happened (or was refused) on the platform: if recording it failed and
        the sender moved on, the claim would expire and the action be sent a second time (the
        idempotency key keeps one platform copy only where the platform honours it). So retry
        with backoff until the database answers; a shutdown cancels the wait, and then the claim
        expires and the action is retried under the same key.
        """

        def unavailable(error: BaseException, delay: float) -> None:
            self.metrics.db_errors += 1
            log.warning(
                "%s: cannot record %s of action %s yet (database unavailable), retrying in %.1fs: %s",
                self.connector.name, what, action.id, delay, str(error).splitlines()[0],
            )  # fmt: skip

        await until_available(write, unavailable)

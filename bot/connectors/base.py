"""What a platform connector is: sources of events in, a sender of messages out.

A connector package under ``bot/connectors/<name>/`` exposes ``CONNECTOR: ConnectorSpec``.
The registry discovers it by name, validates the ``[[connectors]]`` config section with the
spec's pydantic model, and calls ``build`` to get the running pieces. Nothing is started in
``build``: sources start when iterated, senders on first ``send``; ``aclose`` releases them.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from aiohttp import web
from pydantic import BaseModel

from handlers.events import SourceItem

Channel = Literal["public_reply", "live_chat", "private_message"]


@dataclass(frozen=True, slots=True)
class ReplyWindow:
    """A private-message reply window the platform opened (Douyin Open), as stored by whichever
    worker received the inbound message; the outbox hands it to the sender with the message."""

    msg_id: str
    conversation_id: str
    scene: str
    until: float


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message to put on a platform, as decided and committed in the outbox."""

    idempotency_key: str  # stable across retries and restarts; platforms/simulators de-duplicate on it
    platform: str
    account: str
    channel: Channel
    target: str  # room id (live_chat), video or comment id (public_reply), user id (private_message)
    text: str
    reply_to_message_id: str | None = None
    recipient_user_id: str | None = None
    recipient_nickname: str | None = None
    reply_window: ReplyWindow | None = None  # private_message on platforms with reply windows


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """The platform accepted the message. ``echo_expected``: it should reappear in the stream."""

    platform_message_id: str | None = None
    echo_expected: bool = False
    cost_units: int = 0  # quota units spent (YouTube), 0 when the platform has no quota


@runtime_checkable
class Source(Protocol):
    """An async iterator of typed events with a resumable position."""

    key: str  # stable, unique: cursors and leases are stored under it, e.g. "bilibili:room:21452505"

    def stream(self, cursor: str | None) -> AsyncIterator[SourceItem]:
        """Yield events after ``cursor`` (None = from the live edge / beginning) until closed."""
        ...


def is_local(source: Source) -> bool:
    """A *local* source is pushed to this process (a webhook receiver): the worker whose server
    the platform called is the only one that can read it, so it is read without a lease (and its
    batches are not fenced by one). A source says so with a class attribute ``local = True``."""
    return bool(getattr(source, "local", False))


@runtime_checkable
class Sender(Protocol):
    platform: str

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        """Deliver one message. Raises RateLimited / TransientError / PermanentError / AuthExpired."""
        ...


@dataclass
class ConnectorHealth:
    """Live health figures, shown on the dashboard and in ``/metrics``."""

    state: str = "idle"  # idle | connecting | live | reconnecting | offline | failed | auth_expired
    connected_since: float | None = None
    last_event_at: float | None = None
    reconnects: int = 0
    malformed_frames: int = 0
    duplicates_dropped: int = 0
    last_error: str | None = None
    credential_expires_at: float | None = None
    extra: dict[str, float] = field(default_factory=dict)

    def count(self, name: str) -> None:
        """One more of a connector-specific event (``extra[name]``: acks sent, bad signatures...)."""
        self.extra[name] = self.extra.get(name, 0.0) + 1


@dataclass
class Connector:
    """The running pieces one ``[[connectors]]`` entry produced."""

    name: str
    platform: str
    sources: Sequence[Source]
    sender: Sender | None
    account: str = "default"
    health: ConnectorHealth = field(default_factory=ConnectorHealth)
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # HTTP routes the platform calls (webhooks), served by ``bot.webhooks`` in ``leadbot run``.
    routes: list[web.RouteDef] = field(default_factory=list)

    async def aclose(self) -> None:
        for close in reversed(self.closers):
            await close()


@dataclass(frozen=True)
class ConnectorSpec:
    """Registration of a connector type (``type = "bilibili"`` in config)."""

    type: str
    settings_model: builtins.type[BaseModel]
    build: Callable[[BaseModel, str], Connector]  # (validated settings, account key) -> Connector
    description: str = ""

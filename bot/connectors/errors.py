"""Typed connector errors: the retry and cap logic branches on the type, never on a string."""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class of everything a connector raises on purpose."""


class RateLimited(ConnectorError):
    """The platform said "too fast" (HTTP 429, Bilibili 10030/10031, Douyin 28003018 ...)."""

    def __init__(self, message: str = "rate limited", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientError(ConnectorError):
    """Worth retrying later: 5xx, timeouts, dropped connections, "busy" codes."""

    def __init__(self, message: str = "transient error", *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(ConnectorError):
    """Retrying cannot help: 4xx, content rejected, recipient blocks DMs, window closed."""

    def __init__(self, message: str, *, code: str | int | None = None) -> None:
        super().__init__(message)
        self.code = code


class AuthExpired(ConnectorError):
    """Credentials are expired or revoked; sending stops for this account until refreshed."""


class ProtocolError(ConnectorError):
    """Bytes that do not follow the platform's wire format (counted, logged with a hex excerpt)."""

    def __init__(self, message: str, *, excerpt: bytes = b"") -> None:
        super().__init__(message)
        self.excerpt = excerpt[:64]

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base} [{self.excerpt.hex()}]" if self.excerpt else base

"""YouTube Data API v3 JSON: list responses and Google error bodies (pure).

Anything that is not the documented shape raises ``ProtocolError``; a Google error body
(``{"error": {"code", "message", "errors": [{"reason", "domain"}]}}``) maps to the typed
connector errors by its ``reason``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.connectors.errors import (
    AuthExpired,
    ConnectorError,
    PermanentError,
    ProtocolError,
    RateLimited,
    TransientError,
)

MAX_BODY_BYTES = 8_000_000


def _excerpt(raw: bytes | str) -> bytes:
    return (raw.encode("utf-8", "replace") if isinstance(raw, str) else raw)[:64]


def load_object(raw: bytes | str) -> dict[str, Any]:
    if len(raw) > MAX_BODY_BYTES:
        raise ProtocolError(f"body too large ({len(raw)} bytes)", excerpt=_excerpt(raw))
    try:
        document = json.loads(raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ProtocolError(f"not JSON: {error}", excerpt=_excerpt(raw)) from None
    if not isinstance(document, dict):
        raise ProtocolError("response is not a JSON object", excerpt=_excerpt(raw))
    return document


def parse_time(value: Any) -> float | None:
    """RFC 3339 ``2020-07-10T14:00:30.645000Z`` / ``…+00:00`` (any fraction length) → unix s."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    main, dot, rest = text.partition(".")
    if dot:  # normalise the fraction to 6 digits for fromisoformat on Python 3.11
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        text = f"{main}.{(digits + '000000')[:6]}{rest}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class ChatPage:
    items: tuple[dict[str, Any], ...]
    next_page_token: str
    polling_interval_s: float
    offline_at: float | None


def parse_chat_page(raw: bytes | str) -> ChatPage:
    """``liveChatMessages.list`` response (error bodies raise their typed error first)."""
    document = load_object(raw)
    raise_for_error_body(document, status=200)
    items = document.get("items", [])
    if not isinstance(items, list):
        raise ProtocolError("items is not an array", excerpt=_excerpt(raw))
    token = _str(document.get("nextPageToken"))
    interval = document.get("pollingIntervalMillis")
    interval_s = float(interval) / 1000 if isinstance(interval, int | float) and 0 <= interval < 3.6e6 else 5.0
    offline = parse_time(document.get("offlineAt"))
    if document.get("offlineAt") is not None and offline is None:
        raise ProtocolError("offlineAt is not a timestamp", excerpt=_excerpt(raw))
    return ChatPage(tuple(i for i in items if isinstance(i, dict)), token, interval_s, offline)


@dataclass(frozen=True, slots=True)
class CommentThreadPage:
    threads: tuple[dict[str, Any], ...]
    next_page_token: str


def parse_comment_threads(raw: bytes | str) -> CommentThreadPage:
    document = load_object(raw)
    raise_for_error_body(document, status=200)
    items = document.get("items", [])
    if not isinstance(items, list):
        raise ProtocolError("items is not an array", excerpt=_excerpt(raw))
    return CommentThreadPage(tuple(i for i in items if isinstance(i, dict)), _str(document.get("nextPageToken")))


def error_reason(document: dict[str, Any]) -> tuple[int, str, str]:
    """(code, first reason, message) of a Google error body; (0, "", "") when there is none."""
    error = document.get("error")
    if not isinstance(error, dict):
        return 0, "", ""
    code = error.get("code")
    reasons = error.get("errors")
    reason = ""
    if isinstance(reasons, list):
        for entry in reasons:
            if isinstance(entry, dict) and isinstance(entry.get("reason"), str):
                reason = entry["reason"]
                break
    if not reason and isinstance(error.get("status"), str):
        reason = error["status"]
    return (code if isinstance(code, int) else 0), reason, _str(error.get("message"))[:200]


PERMANENT_REASONS = frozenset(
    {
        "liveChatEnded",
        "liveChatDisabled",
        "liveChatNotFound",
        "commentTextTooLong",
        "forbidden",
        "insufficientPermissions",
        "messageTextInvalid",
        "parentIdMissing",
        "operationNotSupported",
        "parentCommentIsPrivate",
        "ineligibleAccount",
        "commentsDisabled",
        "videoNotFound",
    }
)


def typed_error(
    status: int, reason: str, message: str, *, retry_after: float | None, until_reset: float
) -> Exception:
    detail = f"youtube HTTP {status}" + (f" {reason}" if reason else "") + (f": {message}" if message else "")
    if reason in {"quotaExceeded", "dailyLimitExceeded"}:
        return RateLimited(f"{detail} (daily quota; resets at midnight Pacific)", retry_after=until_reset)
    if reason in {"rateLimitExceeded", "userRateLimitExceeded"} or status == 429:
        return RateLimited(detail, retry_after=retry_after if retry_after is not None else 5.0)
    if status == 401 or reason in {"authError", "unauthorized", "UNAUTHENTICATED"}:
        return AuthExpired(f"{detail} — the OAuth token is expired or revoked; authorise again")
    if status >= 500 or reason in {"backendError", "internalError"}:
        return TransientError(detail, retry_after=retry_after)
    return PermanentError(detail, code=reason or status)


def raise_for_error_body(document: dict[str, Any], *, status: int) -> None:
    code, reason, message = error_reason(document)
    if code or reason:
        raise typed_error(code or status, reason, message, retry_after=None, until_reset=3600.0)


# ---- OAuth token endpoint (oauth2.googleapis.com/token) --------------------------------------


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and when it stops working (unix s; None when nobody told us)."""

    value: str
    expires_at: float | None
    scope: str = ""
    refresh_token: str = ""  # only when Google rotated it: the one to use from now on
    lifetime_s: float | None = None  # expires_in as issued: how early to renew depends on it


def parse_token_response(raw: bytes | str, *, now: float) -> AccessToken:
    """A successful refresh: ``{access_token, expires_in, token_type, scope?, refresh_token?}``.

    The body holds a live token, so a ``ProtocolError`` raised here never carries an excerpt
    (it would end up in a log line).
    """
    try:
        document = load_object(raw)
    except ProtocolError:
        raise ProtocolError(f"token endpoint: not a JSON object ({len(raw)} bytes)") from None
    token = document.get("access_token")
    if not isinstance(token, str) or not token:
        raise ProtocolError("token endpoint: no access_token in the answer")
    token_type = document.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise ProtocolError(f"token endpoint: token_type {str(token_type)[:20]!r} is not Bearer")
    lifetime = document.get("expires_in")
    if lifetime is not None and (isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0):
        raise ProtocolError(f"token endpoint: expires_in {str(lifetime)[:20]!r} is not a positive number")
    return AccessToken(
        value=token,
        expires_at=now + float(lifetime) if lifetime is not None else None,
        scope=_str(document.get("scope")),
        refresh_token=_str(document.get("refresh_token")),
        lifetime_s=float(lifetime) if lifetime is not None else None,
    )


REAUTHORISE = (
    "authorise the app again (OAuth consent with access_type=offline), put the new refresh_token in the config "
    "and restart"
)


def token_error(status: int, raw: bytes, *, retry_after: float | None) -> ConnectorError:
    """The typed error for a refused refresh: ``{"error": "invalid_grant", "error_description": ...}``.

    5xx and 429 are worth retrying later; a revoked or expired refresh token (``invalid_grant``)
    or a wrong client (``invalid_client``) needs the merchant, so they are ``AuthExpired``.
    """
    code, description = "", ""
    try:
        document = load_object(raw)
    except ProtocolError:
        document = {}
    error = document.get("error")
    if isinstance(error, str):
        code, description = error, _str(document.get("error_description"))
    elif isinstance(error, dict):  # the JSON-API style some Google front ends answer with
        code, description = _str(error.get("status")), _str(error.get("message"))
    detail = f"youtube token refresh: HTTP {status}" + (f" {code[:40]}" if code else "") + (
        f" ({description[:120]})" if description else ""
    )
    if status == 429:
        return RateLimited(detail, retry_after=retry_after)
    if status >= 500 or status == 408:
        return TransientError(detail, retry_after=retry_after)
    if code == "invalid_grant":
        return AuthExpired(f"{detail}: the refresh token was revoked or has expired — {REAUTHORISE}")
    if code in {"invalid_client", "unauthorized_client"}:
        return AuthExpired(f"{detail}: Google does not accept client_id/client_secret — check them in the config")
    return AuthExpired(f"{detail}: Google refused the refresh — check the OAuth settings, or {REAUTHORISE}")

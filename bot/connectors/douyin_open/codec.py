"""Douyin Open Platform wire format: JSON envelopes, error codes, webhook bodies, signatures.

Pure functions on bytes and dicts; no I/O. Anything that does not follow the documented
shapes raises ``ProtocolError`` (with a short excerpt); platform error codes become the
typed connector errors (rate limits, expired tokens, busy, permanent refusals).

Shapes (protocols.md §3): API responses are ``{"data": {..., "error_code", "description"},
"extra": {"error_code", "description", "sub_error_code", "logid", "now"}}``; numbers may be
sent as strings (SKIT samples do). Webhook bodies are ``{event, client_key, from_user_id,
to_user_id, content}`` where ``content`` is an object or a JSON string depending on the event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.connectors.errors import AuthExpired, PermanentError, ProtocolError, RateLimited, TransientError

# Error codes (protocols.md §3.1, §3.6). retry_after values are our backoff choices.
RATE_LIMIT_CODES: dict[int, float] = {
    28003018: 10.0,  # request rate too high
    40007: 10.0,  # live mini-game: call frequency too high
    28001052: 300.0,  # risk control: reduce frequency
    28003017: 3600.0,  # quota used up
    2190001: 3600.0,  # quota used up (old code)
}
TOKEN_EXPIRED_CODES = frozenset({28001008, 2190008, 10008})
REFRESH_EXPIRED_CODE = 10010
BUSY_CODES = frozenset({28001005, 2100004})

MAX_BODY_BYTES = 1_000_000


def _excerpt(raw: bytes | str) -> bytes:
    return (raw.encode("utf-8", "replace") if isinstance(raw, str) else raw)[:64]


def as_int(value: Any, default: int = 0) -> int:
    """Douyin sends numbers as numbers or as decimal strings; anything else is ``default``."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value and abs(value) < 2**63:
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip() or default)
        except ValueError:
            return default
    return default


def as_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return ""


def load_json(raw: bytes | str) -> Any:
    """Parse a JSON document (a UTF-8 BOM is tolerated); ProtocolError when it is not JSON."""
    if len(raw) > MAX_BODY_BYTES:
        raise ProtocolError(f"body too large ({len(raw)} bytes)", excerpt=_excerpt(raw))
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw.removeprefix("\ufeff")
        return json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ProtocolError(f"not JSON: {error}", excerpt=_excerpt(raw)) from None


def error_for_code(code: int, description: str = "", *, context: str = "") -> Exception | None:
    """The typed error for a Douyin ``error_code`` (None for 0 = success)."""
    if code == 0:
        return None
    where = f"{context}: " if context else ""
    detail = f"{where}douyin error {code}" + (f" ({description})" if description else "")
    if code in RATE_LIMIT_CODES:
        return RateLimited(detail, retry_after=RATE_LIMIT_CODES[code])
    if code == REFRESH_EXPIRED_CODE:
        return AuthExpired(
            f"{detail}: the refresh token has expired — re-authorise the app on Douyin "
            "(open the authorisation link again) to get new tokens"
        )
    if code in TOKEN_EXPIRED_CODES:
        return AuthExpired(f"{detail}: access token expired")
    if code in BUSY_CODES:
        return TransientError(detail, retry_after=2.0)
    return PermanentError(detail, code=code)


def api_data(raw: bytes | str, *, context: str = "") -> dict[str, Any]:
    """``data`` of an API response after checking both error codes; raises the typed error."""
    document = load_json(raw)
    if not isinstance(document, dict):
        raise ProtocolError("response is not a JSON object", excerpt=_excerpt(raw))
    data = document.get("data")
    extra = document.get("extra") if isinstance(document.get("extra"), dict) else {}
    assert isinstance(extra, dict)
    if not isinstance(data, dict):
        code = as_int(extra.get("error_code"))
        error = error_for_code(code, as_str(extra.get("description")), context=context)
        if error is not None:
            raise error
        raise ProtocolError("response has no data object", excerpt=_excerpt(raw))
    for holder in (data, extra):
        code = as_int(holder.get("error_code"))
        error = error_for_code(code, as_str(holder.get("description")), context=context)
        if error is not None:
            raise error
    return data


# ---- OAuth --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenSet:
    """One authorisation's tokens with absolute expiry times (unix seconds)."""

    access_token: str
    refresh_token: str
    open_id: str
    access_expires_at: float
    refresh_expires_at: float | None  # None = unknown (tokens pasted into config)
    scope: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "open_id": self.open_id,
            "access_expires_at": self.access_expires_at,
            "refresh_expires_at": self.refresh_expires_at,
            "scope": self.scope,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TokenSet:
        access = data.get("access_token")
        refresh = data.get("refresh_token")
        if not isinstance(access, str) or not isinstance(refresh, str) or not access:
            raise ValueError("token file needs access_token and refresh_token strings")
        expires = data.get("access_expires_at")
        refresh_expires = data.get("refresh_expires_at")
        return cls(
            access_token=access,
            refresh_token=refresh,
            open_id=as_str(data.get("open_id")),
            access_expires_at=float(expires) if isinstance(expires, int | float) else 0.0,
            refresh_expires_at=float(refresh_expires) if isinstance(refresh_expires, int | float) else None,
            scope=as_str(data.get("scope")),
        )


def parse_token_response(raw: bytes | str, *, now: float, previous: TokenSet | None = None) -> TokenSet:
    """``/oauth/access_token/`` or ``/oauth/refresh_token/`` response → TokenSet."""
    data = api_data(raw, context="oauth")
    access = as_str(data.get("access_token"))
    if not access:
        raise ProtocolError("token response without access_token", excerpt=_excerpt(raw))
    refresh = as_str(data.get("refresh_token")) or (previous.refresh_token if previous else "")
    expires_in = as_int(data.get("expires_in"))
    refresh_in = as_int(data.get("refresh_expires_in"))
    refresh_expires_at = now + refresh_in if refresh_in > 0 else (previous.refresh_expires_at if previous else None)
    return TokenSet(
        access_token=access,
        refresh_token=refresh,
        open_id=as_str(data.get("open_id")) or (previous.open_id if previous else ""),
        access_expires_at=now + max(0, expires_in),
        refresh_expires_at=refresh_expires_at,
        scope=as_str(data.get("scope")),
    )


# ---- comments -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comment:
    comment_id: str
    user_id: str
    nickname: str
    text: str
    create_time: float  # unix seconds
    reply_to: str | None = None


@dataclass(frozen=True, slots=True)
class CommentPage:
    comments: tuple[Comment, ...]
    cursor: int
    has_more: bool


def parse_comment_list(raw: bytes | str) -> CommentPage:
    """``GET /item/comment/list/`` response; comments without an id are dropped (counted by caller)."""
    data = api_data(raw, context="item/comment/list")
    items = data.get("list") or []
    if not isinstance(items, list):
        raise ProtocolError("comment list is not an array", excerpt=_excerpt(raw))
    comments = []
    for item in items:
        if not isinstance(item, dict):
            continue
        comment_id = as_str(item.get("comment_id"))
        if not comment_id:
            continue
        comments.append(
            Comment(
                comment_id=comment_id,
                user_id=as_str(item.get("comment_user_id")),
                nickname=as_str(item.get("nick_name"))[:100],
                text=as_str(item.get("content")),
                create_time=float(as_int(item.get("create_time"))),
            )
        )
    return CommentPage(tuple(comments), as_int(data.get("cursor")), bool(data.get("has_more")))


# ---- webhooks -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Webhook:
    """A decoded webhook body; ``content`` is always a dict (string content is parsed)."""

    event: str
    client_key: str
    from_user_id: str
    to_user_id: str
    content: dict[str, Any]


def parse_webhook(raw: bytes | str) -> Webhook:
    document = load_json(raw)
    if not isinstance(document, dict):
        raise ProtocolError("webhook body is not a JSON object", excerpt=_excerpt(raw))
    event = document.get("event")
    if not isinstance(event, str) or not event:
        raise ProtocolError("webhook body has no event name", excerpt=_excerpt(raw))
    content: Any = document.get("content")
    if isinstance(content, str):
        content = load_json(content) if content.strip() else {}
    if content is None:
        content = {}
    if not isinstance(content, dict):
        raise ProtocolError(f"webhook {event}: content is not an object", excerpt=_excerpt(raw))
    return Webhook(
        event=event,
        client_key=as_str(document.get("client_key")),
        from_user_id=as_str(document.get("from_user_id")),
        to_user_id=as_str(document.get("to_user_id")),
        content=content,
    )


def webhook_signature(client_secret: str, body: bytes) -> str:
    """``X-Douyin-Signature``: hex(sha1(client_secret + raw_body))."""
    return hashlib.sha1(client_secret.encode("utf-8") + body).hexdigest()  # sha1 is what the platform signs with


def verify_webhook_signature(client_secret: str, body: bytes, signature: str | None) -> bool:
    if not signature:
        return False
    expected = webhook_signature(client_secret, body)
    return hmac.compare_digest(expected.encode("ascii"), signature.strip().lower().encode("utf-8", "replace"))


LIVE_PUSH_HEADERS = ("x-msg-type", "x-nonce-str", "x-roomid", "x-timestamp")


def live_push_signature(headers: Mapping[str, str], body: bytes | str, secret: str) -> str:
    """Live-data push ``x-signature`` (§3.5): base64(md5("k=v&..." + body + secret)), keys sorted."""
    lowered = {k.lower(): v for k, v in headers.items()}
    joined = "&".join(f"{key}={lowered.get(key, '')}" for key in sorted(LIVE_PUSH_HEADERS))
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    digest = hashlib.md5((joined + text + secret).encode("utf-8")).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_live_push(headers: Mapping[str, str], body: bytes | str, secret: str) -> bool:
    given = {k.lower(): v for k, v in headers.items()}.get("x-signature", "")
    expected = live_push_signature(headers, body, secret)
    return bool(given) and hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "replace"))

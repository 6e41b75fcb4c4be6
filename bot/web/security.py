"""Login, signed session cookies, CSRF and security headers for the dashboard.

- **Login** with the ``[web] token`` (or the generated one), compared with
  ``hmac.compare_digest``. A successful login starts a *new* session (no fixation).
- **Sessions** are signed cookies: ``base64(json).base64(hmac-sha256)``, the key derived from
  the token (changing the token logs everyone out). Cookie flags: HttpOnly, SameSite=Strict,
  Path=/, Secure when served over https; sessions expire after 12 h. Logging out records the
  session id in the database (``storage.sessions``): a copy of the cookie is refused from then
  on. If the database cannot say whether a session was revoked, the request gets 503.
- **CSRF**: every session (also before login) carries a random token. Every POST/PUT/PATCH/
  DELETE must echo it in the ``csrf_token`` form field or the ``X-CSRF-Token`` header, or
  gets 403. Scripts may instead send ``Authorization: Bearer <token>`` (no cookie, no CSRF).
- **Unauthenticated**: pages redirect to ``/login``; ``/api/*``, ``/events`` and exports get 401.
- **OBS**: ``/live/compact?token=…`` starts a view-only session (only the compact page and its
  event stream) and redirects to drop the token from the address.
- **Headers**: a Content-Security-Policy without inline scripts or styles, nosniff,
  no referrer, no framing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.web.context import CONTEXT
from storage.sessions import is_revoked, revoke

COOKIE = "leadbot_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PREFIXES = ("/static/",)
PUBLIC_PATHS = frozenset({"/login", "/healthz"})
OBS_PATHS = frozenset({"/live/compact", "/events"})
API_PREFIXES = ("/api/", "/events", "/leads/export", "/keywords/feedback.tsv", "/metrics")
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)

SESSION_DIRTY = web.RequestKey("leadbot_session_dirty", bool)
ROLE = web.RequestKey("leadbot_role", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Session:
    sid: str
    csrf: str
    role: str  # anon | user | obs (view-only: compact live page) ; "api" is never stored
    expires_at: float

    @classmethod
    def new(cls, role: str, ttl_s: float) -> Session:
        return cls(secrets.token_urlsafe(16), secrets.token_urlsafe(24), role, time.time() + ttl_s)

    @property
    def authenticated(self) -> bool:
        return self.role in ("user", "api")


SESSION = web.RequestKey("leadbot_session", Session)


def session_key(token: str) -> bytes:
    return hmac.new(token.encode("utf-8"), b"leadbot-session-v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_session(session: Session, key: bytes) -> str:
    payload = _b64(
        json.dumps({"s": session.sid, "c": session.csrf, "r": session.role, "e": int(session.expires_at)}).encode()
    )
    signature = _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def decode_session(value: str, key: bytes, now: float | None = None) -> Session | None:
    """The session in a cookie, or None if it is forged, malformed or expired."""
    try:
        payload, signature = value.split(".", 1)
        expected = _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())
        if not hmac.compare_digest(expected, signature):
            return None
        data = json.loads(_unb64(payload))
        session = Session(str(data["s"]), str(data["c"]), str(data["r"]), float(data["e"]))
    except (ValueError, KeyError, TypeError, UnicodeError):
        return None
    if session.expires_at < (time.time() if now is None else now) or session.role not in ("anon", "user", "obs"):
        return None
    return session


def token_matches(given: str | None, token: str) -> bool:
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode("utf-8"))


def current_session(request: web.Request) -> Session:
    session: Session = request[SESSION]
    return session


def start_session(request: web.Request, role: str) -> Session:
    """Replace the request's session (login/logout): a new id and a new CSRF token."""
    session = Session.new(role, request.app[CONTEXT].session_ttl_s)
    request[SESSION] = session
    request[SESSION_DIRTY] = True
    return session


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def _is_loopback(request: web.Request) -> bool:
    try:
        return ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False


def _safe_next(target: str | None) -> str:
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/live"
    return target


def _deny(request: web.Request) -> web.StreamResponse:
    if is_api_path(request.path) or request.headers.get("Accept", "").startswith("application/json"):
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "login required"}), content_type="application/json"
        )
    raise web.HTTPFound(f"/login?next={request.rel_url.path}")


async def _csrf_ok(request: web.Request, session: Session) -> bool:
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    return given is not None and hmac.compare_digest(given.encode("utf-8", "surrogatepass"), session.csrf.encode())


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    context = request.app[CONTEXT]
    key = request.app[SESSION_KEY]
    raw = request.cookies.get(COOKIE)
    session = decode_session(raw, key) if raw else None
    if session is not None and session.role != "anon" and await _revoked(context, session):
        session = None  # logged out: a copy of the cookie is worth nothing
    if session is None:
        session = Session.new("anon", context.session_ttl_s)
        request[SESSION_DIRTY] = True
    request[SESSION] = session
    path = request.path

    bearer = request.headers.get("Authorization", "")
    if bearer.startswith("Bearer ") and token_matches(bearer[7:].strip(), context.token):
        request[ROLE] = "api"
        return await handler(request)  # no cookie involved: no CSRF to check
    request[ROLE] = session.role

    if path.startswith(PUBLIC_PREFIXES) or path in PUBLIC_PATHS:
        pass
    elif path == "/metrics" and _is_loopback(request):
        pass  # scrapers on the same machine; from elsewhere, send the bearer token
    elif path == "/live/compact" and "token" in request.query and request.method == "GET":
        if not token_matches(request.query.get("token"), context.token):
            raise web.HTTPUnauthorized(text="wrong token")
        if session.role != "user":
            start_session(request, "obs")
        raise web.HTTPFound("/live/compact")  # drop the token from the address bar and history
    elif session.role == "user":
        pass
    elif session.role == "obs" and path in OBS_PATHS and request.method in SAFE_METHODS:
        pass
    else:
        return _deny(request)

    if request.method not in SAFE_METHODS and not await _csrf_ok(request, session):
        raise web.HTTPForbidden(text="CSRF token missing or wrong: reload the page and try again")
    return await handler(request)


async def _revoked(context: Any, session: Session) -> bool:
    try:
        return await is_revoked(context.engine, session.sid)
    except (SQLAlchemyError, OSError) as error:
        raise web.HTTPServiceUnavailable(text=f"database unavailable, cannot check the session: {type(error).__name__}") from None


async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    """Security headers on every response; the session cookie when it is new or replaced."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Cache-Control", "no-store")
    if request.get(SESSION_DIRTY) and SESSION in request:
        context = request.app[CONTEXT]
        session: Session = request[SESSION]
        response.set_cookie(
            COOKIE,
            encode_session(session, request.app[SESSION_KEY]),
            max_age=int(context.session_ttl_s),
            path="/",
            httponly=True,
            samesite="Strict",
            secure=context.secure_cookies or request.secure,
        )
        # aiohttp serialises cookies before this signal runs: add the header ourselves (once).
        if not any(v.startswith(f"{COOKIE}=") for v in headers.getall("Set-Cookie", [])):
            headers.add("Set-Cookie", response.cookies[COOKIE].output(header="")[1:])


SESSION_KEY = web.AppKey("leadbot_session_key", bytes)


def install(app: web.Application, token: str) -> None:
    app[SESSION_KEY] = session_key(token)
    app.middlewares.append(auth_middleware)
    app.on_response_prepare.append(on_prepare)


# ---------------------------------------------------------------------------- login / logout
async def login_page(request: web.Request) -> web.StreamResponse:
    from bot.web.render import render

    return render(request, "login.html", {"next": _safe_next(request.query.get("next")), "error": None})


async def login_submit(request: web.Request) -> web.StreamResponse:
    from bot.web.render import render

    context = request.app[CONTEXT]
    form = await request.post()
    given = form.get("token")
    target = _safe_next(str(form.get("next") or ""))
    if not token_matches(given if isinstance(given, str) else None, context.token):
        import asyncio

        await asyncio.sleep(0.5)  # slow down guessing
        response = render(request, "login.html", {"next": target, "error": "Wrong token."})
        response.set_status(401)
        return response
    start_session(request, "user")
    raise web.HTTPFound(target)


async def logout(request: web.Request) -> web.StreamResponse:
    ending = current_session(request)
    if ending.role != "anon":
        await revoke(request.app[CONTEXT].engine, ending.sid, ending.expires_at)
    start_session(request, "anon")
    raise web.HTTPFound("/login")


def template_globals(request: web.Request) -> dict[str, Any]:
    session = request.get(SESSION)
    return {"csrf_token": session.csrf if session is not None else "", "role": request.get(ROLE, "anon")}

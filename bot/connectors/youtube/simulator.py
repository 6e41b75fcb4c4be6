"""A YouTube Data API v3 stand-in on 127.0.0.1 (paths under ``/youtube/v3``), real JSON shapes.

- ``GET /liveChat/messages``: ``nextPageToken``, ``pollingIntervalMillis``, and ``offlineAt``
  once a chat's script has been played out (or ``/_sim/inject {"type": "live_end"}``).
- ``POST /liveChat/messages?part=snippet``: recorded, and shown in the chat as the channel
  owner (like YouTube does); ``Idempotency-Key`` repeats are not posted twice.
- ``GET /commentThreads`` (newest first) and ``POST /comments`` (replies, recorded).
- Quota: every call costs its units; over ``quota_limit`` the answer is 403 ``quotaExceeded``.
- Credentials: ``key=`` or ``Authorization: Bearer``; a revoked or expired token answers 401
  with Google's body (``authError``, ``UNAUTHENTICATED``); inserts need the bearer token.
- ``POST /token`` (outside ``/youtube/v3``, like oauth2.googleapis.com): the refresh grant,
  form-encoded. Issued tokens live ``access_token_lifetime_s`` (short in tests); a revoked
  refresh token answers 400 ``invalid_grant``, a wrong client 401 ``invalid_client``; faults for
  this endpoint queue in ``token_faults``. ``/_sim/inject`` takes ``revoke_refresh_token`` and
  ``expire_access_tokens`` too.
- ``/_sim/*`` controls from simkit (faults: status, garbage, truncate, silence, drop).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.connectors.replay.formats import RecordedLine
from bot.connectors.simkit import FaultPlan, SimState, add_control_routes, run_while_serving
from bot.connectors.youtube.quota import COSTS

PREFIX = "/youtube/v3"
TOKEN_PATH = "/token"
OWNER_CHANNEL = "UCsim0wner000000000000000"
FORCE_SSL_SCOPE = "https://www.googleapis.com/auth/youtube.force-ssl"
AUTH_PATH = "/o/oauth2/v2/auth"


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def google_error(status: int, reason: str, message: str) -> web.Response:
    body = {"error": {"code": status, "message": message,
                      "errors": [{"message": message, "domain": "youtube.api", "reason": reason}]}}
    return web.json_response(body, status=status)


def google_auth_error() -> web.Response:
    """What googleapis.com answers to a missing, expired or revoked bearer token."""
    body = {"error": {
        "code": 401,
        "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                   "or other valid authentication credential.",
        "errors": [{"message": "Invalid Credentials", "domain": "global", "reason": "authError",
                    "location": "Authorization", "locationType": "header"}],
        "status": "UNAUTHENTICATED",
    }}
    headers = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'}
    return web.json_response(body, status=401, headers=headers)


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(sha256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii", "replace")).digest()).decode().rstrip("=")


def oauth_error(status: int, error: str, description: str) -> web.Response:
    """The token endpoint's own, flat error shape."""
    return web.json_response({"error": error, "error_description": description}, status=status)


@dataclass
class YouTubeSim:
    api_key: str = "sim-api-key"
    access_token: str = "sim-oauth-token"
    polling_interval_ms: int = 100
    quota_limit: int = 10_000
    quota_used: int = 0
    page_size: int = 500
    chats: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    offline_at: dict[str, float] = field(default_factory=dict)
    threads: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    revoked: bool = False  # every bearer token refused (access withdrawn for the channel)
    list_calls: int = 0
    # OAuth: the client and refresh token the agent is configured with, and the tokens minted
    client_id: str = "sim-client-id.apps.googleusercontent.com"
    client_secret: str = "sim-client-secret-GOCSPX"
    refresh_token: str = "1//sim-refresh-token"
    access_token_lifetime_s: float = 3600.0
    token_delay_s: float = 0.0  # how long /token takes to answer (lets concurrent callers overlap)
    refresh_revoked: bool = False
    issued: dict[str, float] = field(default_factory=dict)  # access token -> expires at (unix s)
    minted: list[str] = field(default_factory=list)  # every access token ever handed out
    token_calls: int = 0
    token_refreshes: int = 0  # successful ones
    expired_rejections: int = 0  # API calls refused because their token had expired
    token_faults: FaultPlan = field(default_factory=FaultPlan)
    # Consent screen (GET AUTH_PATH): the merchant approves unless ``consent_denied``; each code
    # is single-use and bound to its redirect_uri and PKCE challenge.
    consent_denied: bool = False
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (redirect_uri, challenge)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def chat_message(self, chat_id: str, user_id: str, nickname: str, text: str, *, owner: bool = False) -> dict[str, Any]:
        n = next(self._ids)
        item = {
            "kind": "youtube#liveChatMessage",
            "etag": f"sim-etag-{n}",
            "id": f"LCC.sim{n:08d}",
            "snippet": {
                "type": "textMessageEvent",
                "liveChatId": chat_id,
                "authorChannelId": user_id,
                "publishedAt": rfc3339(time.time()),
                "hasDisplayContent": True,
                "displayMessage": text,
                "textMessageDetails": {"messageText": text},
            },
            "authorDetails": {
                "channelId": user_id,
                "channelUrl": f"http://www.youtube.com/channel/{user_id}",
                "displayName": nickname,
                "profileImageUrl": "",
                "isVerified": False,
                "isChatOwner": owner,
                "isChatSponsor": False,
                "isChatModerator": False,
            },
        }
        self.chats.setdefault(chat_id, []).append(item)
        return item

    def comment_thread(self, video_id: str, user_id: str, nickname: str, text: str) -> dict[str, Any]:
        n = next(self._ids)
        comment_id = f"Ugsim{n:010d}"
        snippet = {"videoId": video_id, "textDisplay": text, "textOriginal": text, "authorDisplayName": nickname,
                   "authorChannelId": {"value": user_id}, "canRate": True, "viewerRating": "none",
                   "likeCount": 0, "publishedAt": rfc3339(time.time()), "updatedAt": rfc3339(time.time())}
        thread = {
            "kind": "youtube#commentThread",
            "etag": f"sim-etag-{n}",
            "id": comment_id,
            "snippet": {"videoId": video_id, "canReply": True, "totalReplyCount": 0, "isPublic": True,
                        "topLevelComment": {"kind": "youtube#comment", "etag": f"sim-etag-{n}c",
                                            "id": comment_id, "snippet": snippet}},
        }
        self.threads.setdefault(video_id, []).append(thread)
        return thread

    def end(self, chat_id: str) -> None:
        self.offline_at.setdefault(chat_id, time.time())

    def revoke_refresh_token(self) -> None:
        """The merchant removed the app's access: the grant and every token minted from it die."""
        self.refresh_revoked = True
        self.issued.clear()

    def expire_access_tokens(self) -> None:
        """Minted tokens stop working now, earlier than announced (clock skew, early revocation)."""
        now = time.time()
        self.issued = {token: min(expires, now) for token, expires in self.issued.items()}

    def mint(self) -> tuple[str, float]:
        token = f"ya29.sim-{next(self._ids)}-{secrets.token_hex(12)}"
        self.issued[token] = time.time() + self.access_token_lifetime_s
        self.minted.append(token)
        return token, self.access_token_lifetime_s

    def bearer_refusal(self, header: str) -> web.Response | None:
        """None when ``Authorization: Bearer`` names a live token; Google's 401 otherwise."""
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        if self.revoked or not token:
            return google_auth_error()
        if token == self.access_token:
            return None  # the fixed token of older configs: never expires
        expires = self.issued.get(token)
        if expires is None:
            return google_auth_error()
        if expires <= time.time():
            self.expired_rejections += 1
            return google_auth_error()
        return None


SIM = web.AppKey("youtube_sim", YouTubeSim)


def _token(position: int) -> str:
    return f"GLsim{position:x}"


def _position(token: str) -> int | None:
    if not token:
        return None
    try:
        return int(token.removeprefix("GLsim"), 16) if token.startswith("GLsim") else None
    except ValueError:
        return None


def create_simulator(
    script: list[RecordedLine],
    *,
    rooms: list[str],
    rate: float,
    videos: list[str] | None = None,
    sim: YouTubeSim | None = None,
    end_when_script_done: bool = True,
) -> tuple[web.Application, SimState]:
    """Rooms are live chat ids; ``videos`` get comment threads. Script lines go to their room."""
    world = sim or YouTubeSim()
    state = SimState(platform="youtube")
    app = web.Application()
    app[SIM] = world
    add_control_routes(app, state)
    rooms = rooms or ["sim-live-chat-1"]
    for room in rooms:
        world.chats.setdefault(room, [])
    for video in videos or []:
        world.threads.setdefault(video, [])
    idempotent: dict[str, dict[str, Any]] = {}

    async def inject(body: dict[str, Any]) -> None:
        kind, room = str(body.get("type", "chat")), str(body.get("room") or rooms[0])
        user_id, nickname = str(body.get("user_id", "UCsimviewer")), str(body.get("nickname", "viewer"))
        if kind == "chat" and room in world.threads:
            world.comment_thread(room, user_id, nickname, str(body.get("text", "")))
        elif kind == "chat":
            world.chat_message(room, user_id, nickname, str(body.get("text", "")))
        elif kind == "live_end":
            world.end(room)
        elif kind == "live_start":
            world.offline_at.pop(room, None)
            world.chats.setdefault(room, [])
        elif kind == "revoke_refresh_token":
            world.revoke_refresh_token()
        elif kind == "expire_access_tokens":
            world.expire_access_tokens()

    state.inject = inject

    async def guard(request: web.Request, cost: int, *, write: bool) -> web.StreamResponse | None:
        fault = state.faults.next_http()
        if fault is not None:
            return state.faults.http_response(fault)
        if not write:
            stream_fault = state.faults.next_stream()
            if stream_fault is not None:
                if stream_fault.kind == "garbage":
                    return web.Response(status=200, body=b"\x8b\x00garbage", content_type="application/json")
                if stream_fault.kind == "truncate":
                    return web.Response(status=200, text='{"kind": "youtube#liveChatMessageListResponse", "items": [',
                                        content_type="application/json")
                if stream_fault.kind == "silence":
                    await asyncio.sleep(stream_fault.seconds or 30.0)
                if stream_fault.kind == "drop" and request.transport is not None:
                    request.transport.close()
                    return web.Response(status=500)
        bearer = request.headers.get("Authorization", "")
        if bearer:
            if (refusal := world.bearer_refusal(bearer)) is not None:
                return refusal
        elif write:
            return google_error(401, "authError", "Login Required")
        elif request.query.get("key") != world.api_key:
            return google_error(403, "forbidden", "API key missing or invalid")
        world.quota_used += cost
        if world.quota_used > world.quota_limit:
            return google_error(403, "quotaExceeded", "The request cannot be completed because you have exceeded your quota.")
        return None

    async def chat_list(request: web.Request) -> web.StreamResponse:
        world.list_calls += 1
        if (refused := await guard(request, COSTS["liveChatMessages.list"], write=False)) is not None:
            return refused
        chat = request.query.get("liveChatId", "")
        if not chat:
            return google_error(400, "liveChatIdRequired", "liveChatId is required")
        if chat not in world.chats:
            return google_error(404, "liveChatNotFound", "The live chat was not found")
        items = world.chats[chat]
        token = request.query.get("pageToken", "")
        start = _position(token)
        if token and start is None:
            return google_error(400, "pageTokenInvalid", "pageToken is invalid")
        start = max(0, len(items) - 20) if start is None else start  # first call: recent history
        page = items[start : start + world.page_size]
        end = start + len(page)
        body: dict[str, Any] = {
            "kind": "youtube#liveChatMessageListResponse",
            "etag": f"sim-{end}",
            "pollingIntervalMillis": world.polling_interval_ms,
            "pageInfo": {"totalResults": len(page), "resultsPerPage": len(page)},
            "nextPageToken": _token(end),
            "items": page,
        }
        if chat in world.offline_at and end >= len(items):
            body["offlineAt"] = rfc3339(world.offline_at[chat])
        return web.json_response(body)

    async def chat_insert(request: web.Request) -> web.StreamResponse:
        if (refused := await guard(request, COSTS["liveChatMessages.insert"], write=True)) is not None:
            return refused
        key = request.headers.get("Idempotency-Key", "")
        if key and key in idempotent:
            state.sends.record(idempotency_key=key, platform="youtube", channel="live_chat", target="", text="")
            return web.json_response(idempotent[key])
        body = await request.json()
        snippet = body.get("snippet") if isinstance(body, dict) else None
        if not isinstance(snippet, dict) or not snippet.get("liveChatId"):
            return google_error(400, "liveChatIdRequired", "snippet.liveChatId is required")
        chat = str(snippet["liveChatId"])
        text = str((snippet.get("textMessageDetails") or {}).get("messageText", ""))
        if chat not in world.chats:
            return google_error(404, "liveChatNotFound", "The live chat was not found")
        if chat in world.offline_at:
            return google_error(403, "liveChatEnded", "The live chat is no longer live")
        if not text or len(text) > 200:
            return google_error(400, "messageTextInvalid", "messageText is empty or too long")
        state.sends.record(idempotency_key=key, platform="youtube", channel="live_chat", target=chat, text=text)
        item = world.chat_message(chat, OWNER_CHANNEL, "Sim Shop", text, owner=True)
        if key:
            idempotent[key] = item
        return web.json_response(item)

    async def thread_list(request: web.Request) -> web.StreamResponse:
        if (refused := await guard(request, COSTS["commentThreads.list"], write=False)) is not None:
            return refused
        video = request.query.get("videoId", "")
        if video not in world.threads:
            return google_error(404, "videoNotFound", "The video identified by videoId was not found")
        newest_first = list(reversed(world.threads[video]))
        try:
            size = min(100, max(1, int(request.query.get("maxResults", "20"))))
        except ValueError:
            return google_error(400, "invalidMaxResults", "maxResults must be 1..100")
        start = _position(request.query.get("pageToken", "")) or 0
        page = newest_first[start : start + size]
        body: dict[str, Any] = {"kind": "youtube#commentThreadListResponse", "etag": "sim",
                                "pageInfo": {"totalResults": len(page), "resultsPerPage": size}, "items": page}
        if start + size < len(newest_first):
            body["nextPageToken"] = _token(start + size)
        return web.json_response(body)

    async def comment_insert(request: web.Request) -> web.StreamResponse:
        if (refused := await guard(request, COSTS["comments.insert"], write=True)) is not None:
            return refused
        key = request.headers.get("Idempotency-Key", "")
        if key and key in idempotent:
            state.sends.record(idempotency_key=key, platform="youtube", channel="public_reply", target="", text="")
            return web.json_response(idempotent[key])
        body = await request.json()
        snippet = body.get("snippet") if isinstance(body, dict) else None
        parent = str(snippet.get("parentId", "")) if isinstance(snippet, dict) else ""
        text = str(snippet.get("textOriginal", "")) if isinstance(snippet, dict) else ""
        if not parent:
            return google_error(400, "parentIdMissing", "snippet.parentId is required")
        if len(text) > 10_000:
            return google_error(400, "commentTextTooLong", "The comment text is too long")
        known = {t["id"] for threads in world.threads.values() for t in threads}
        if parent not in known:
            return google_error(404, "commentNotFound", "The parent comment was not found")
        send, _ = state.sends.record(idempotency_key=key, platform="youtube", channel="public_reply",
                                     target=parent, text=text)
        resource = {"kind": "youtube#comment", "id": f"{parent}.{send.platform_message_id}",
                    "snippet": {"parentId": parent, "textOriginal": text, "authorChannelId": {"value": OWNER_CHANNEL}}}
        if key:
            idempotent[key] = resource
        return web.json_response(resource)

    async def token(request: web.Request) -> web.StreamResponse:
        world.token_calls += 1
        if world.token_delay_s:
            await asyncio.sleep(world.token_delay_s)
        fault = world.token_faults.next_http()
        if fault is not None:
            return world.token_faults.http_response(fault)
        form = await request.post()
        grant = str(form.get("grant_type", ""))
        if grant not in ("refresh_token", "authorization_code"):
            return oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")
        if form.get("client_id") != world.client_id:
            return oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if form.get("client_secret") != world.client_secret:
            return oauth_error(401, "invalid_client", "Unauthorized")
        if grant == "authorization_code":
            return exchange_code(form)
        if world.refresh_revoked or form.get("refresh_token") != world.refresh_token:
            return oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        access, lifetime = world.mint()
        world.token_refreshes += 1
        body = {"access_token": access, "expires_in": lifetime if lifetime % 1 else int(lifetime),
                "scope": FORCE_SSL_SCOPE, "token_type": "Bearer"}
        return web.json_response(body, headers={"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate",
                                                "Pragma": "no-cache"})

    def exchange_code(form: Any) -> web.Response:
        bound = world.codes.pop(str(form.get("code", "")), None)
        if bound is None:
            return oauth_error(400, "invalid_grant", "Malformed auth code.")
        redirect_uri, challenge = bound
        if form.get("redirect_uri") != redirect_uri:
            return oauth_error(400, "redirect_uri_mismatch", "Bad Request")
        verifier = str(form.get("code_verifier", ""))
        if challenge and pkce_challenge(verifier) != challenge:
            return oauth_error(400, "invalid_grant", "Invalid code verifier.")
        access, lifetime = world.mint()
        world.refresh_revoked = False  # a new consent issues a live refresh token
        body = {"access_token": access, "expires_in": int(lifetime), "refresh_token": world.refresh_token,
                "scope": FORCE_SSL_SCOPE, "token_type": "Bearer"}
        return web.json_response(body)

    async def consent(request: web.Request) -> web.StreamResponse:
        """Google's consent page, approved (or denied) at once by the simulated merchant."""
        query = request.query
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != world.client_id:
            return web.Response(status=400, text="Error 401: invalid_client")
        if not redirect_uri.startswith(("http://127.0.0.1:", "http://localhost:", "http://[::1]:")):
            return web.Response(status=400, text="Error 400: redirect_uri_mismatch")
        if query.get("response_type") != "code" or query.get("access_type") != "offline":
            return web.Response(status=400, text="Error 400: invalid_request (need response_type=code, access_type=offline)")
        if FORCE_SSL_SCOPE not in query.get("scope", "").split():
            return web.Response(status=400, text="Error 400: invalid_scope")
        state = query.get("state", "")
        if world.consent_denied:
            raise web.HTTPFound(f"{redirect_uri}?{urlencode({'error': 'access_denied', 'state': state})}")
        code = f"4/sim-code-{next(world._ids)}-{secrets.token_hex(8)}"
        world.codes[code] = (redirect_uri, query.get("code_challenge", ""))
        raise web.HTTPFound(f"{redirect_uri}?{urlencode({'code': code, 'scope': FORCE_SSL_SCOPE, 'state': state})}")

    app.router.add_post(TOKEN_PATH, token)
    app.router.add_get(AUTH_PATH, consent)
    app.router.add_get(f"{PREFIX}/liveChat/messages", chat_list)
    app.router.add_post(f"{PREFIX}/liveChat/messages", chat_insert)
    app.router.add_get(f"{PREFIX}/commentThreads", thread_list)
    app.router.add_post(f"{PREFIX}/comments", comment_insert)

    async def feed() -> None:
        delay = 1.0 / rate if rate > 0 else 0.0
        touched: set[str] = set()
        for index, line in enumerate(script):
            room = line.room if line.room in world.chats or line.room in world.threads else rooms[index % len(rooms)]
            if line.kind == "chat" and room in world.threads:
                world.comment_thread(room, line.user_id, line.nickname, line.text)
            elif line.kind == "chat":
                world.chat_message(room, line.user_id, line.nickname, line.text)
                touched.add(room)
            elif line.kind == "live_end":
                world.end(room)
            await asyncio.sleep(delay)
        if end_when_script_done:
            for room in touched:
                world.end(room)

    run_while_serving(app, feed)
    return app, state


def simulator_connector_config(base_url: str, rooms: list[str]) -> dict[str, Any]:
    """The ``[[connectors]]`` entry for a running simulator: OAuth with a refresh token, like a
    merchant's setup, so the first call already goes through the token endpoint."""
    world = YouTubeSim()
    return {
        "type": "youtube",
        "name": "youtube-sim",
        "base_url": base_url.rstrip("/") + PREFIX,
        "token_url": base_url.rstrip("/") + TOKEN_PATH,
        "client_id": world.client_id,
        "client_secret": world.client_secret,
        "refresh_token": world.refresh_token,
        "own_channel_id": OWNER_CHANNEL,
        "live_chat_ids": list(rooms),
        "min_poll_interval_s": 0.05,
        "comment_poll_interval_s": 1.0,
    }

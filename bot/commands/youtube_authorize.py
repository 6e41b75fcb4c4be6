"""``leadbot youtube-authorize``: the one-time Google consent that yields a refresh token.

Google's flow for installed apps (loopback redirect + PKCE): this command listens on
``http://127.0.0.1:<port>/oauth2callback``, prints the consent link (and opens it when a
browser is at hand), receives the redirect with the code, checks ``state``, exchanges the code
at the token endpoint and writes the refresh token to a file readable by the owner only. The
token is never printed or logged: the merchant points ``refresh_token = "env:..."`` at it.

The client id comes from ``--client-id``; the client secret from an environment variable
(``--client-secret-env``, default ``YOUTUBE_CLIENT_SECRET``) so it stays off the command line
and out of shell history.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import html
import os
import secrets
import time
import webbrowser
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from bot.connectors.errors import ConnectorError
from bot.connectors.youtube.tokens import TokenEndpoint
from bot.logs import register_secret

GOOGLE_AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/youtube.force-ssl"  # read chat and comments, post replies
CALLBACK = "/oauth2callback"


class AuthorizeError(Exception):
    """The consent did not produce a refresh token; the message says why and what to do."""


@dataclass(frozen=True)
class ConsentRequest:
    url: str  # what the merchant opens
    redirect_uri: str
    state: str
    verifier: str


def consent_request(auth_url: str, client_id: str, redirect_uri: str) -> ConsentRequest:
    state = secrets.token_urlsafe(16)
    verifier = secrets.token_urlsafe(48)  # 64 characters of [A-Za-z0-9_-] (RFC 7636: 43-128)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).decode().rstrip("=")
    query = {
        "client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code", "scope": SCOPE,
        "access_type": "offline", "prompt": "consent",  # offline + consent: Google issues a refresh token
        "state": state, "code_challenge": challenge, "code_challenge_method": "S256",
    }  # fmt: skip
    return ConsentRequest(f"{auth_url}?{urlencode(query)}", redirect_uri, state, verifier)


async def wait_for_code(request: ConsentRequest, callback: asyncio.Queue[dict[str, str]], timeout_s: float) -> str:
    try:
        async with asyncio.timeout(timeout_s):
            params = await callback.get()
    except TimeoutError:
        raise AuthorizeError(f"no answer from the consent page within {timeout_s:.0f}s; run the command again") from None
    if not secrets.compare_digest(params.get("state", ""), request.state):
        raise AuthorizeError("the redirect's state does not match this request (an old tab or a forged link); run again")
    if params.get("error"):
        raise AuthorizeError(f"Google answered {params['error']!r}: consent was not given; run again and approve")
    if not params.get("code"):
        raise AuthorizeError("the redirect carried no code; run again")
    return params["code"]


def write_private(where: str | Path, text: str) -> Path:
    """Create or replace ``where`` with mode 0600 (never readable by others, not even briefly)."""
    path = Path(where).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text + "\n")
    os.chmod(path, 0o600)
    return path


async def authorize(
    *,
    client_id: str,
    client_secret: str,
    out: str | Path,
    auth_url: str = GOOGLE_AUTH_URL,
    token_url: str = GOOGLE_TOKEN_URL,
    port: int = 0,
    timeout_s: float = 300.0,
    show: Any = print,
    open_browser: bool = False,
) -> Path:
    """Run the consent flow; returns the file holding the refresh token."""
    register_secret(client_secret)
    callback: asyncio.Queue[dict[str, str]] = asyncio.Queue(maxsize=1)

    async def receive(request: web.Request) -> web.Response:
        if callback.empty():
            callback.put_nowait(dict(request.query))
        message = "leadbot: answer received. You can close this tab and return to the terminal."
        return web.Response(text=f"<!doctype html><p>{html.escape(message)}</p>", content_type="text/html")

    app = web.Application()
    app.router.add_get(CALLBACK, receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    try:
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        bound = int(sockets[0].getsockname()[1]) if sockets else port
        request = consent_request(auth_url, client_id, f"http://127.0.0.1:{bound}{CALLBACK}")
        show(f"Open this link as the channel owner and approve access (waiting {timeout_s:.0f}s):\n{request.url}")
        if open_browser:
            webbrowser.open(request.url)
        code = await wait_for_code(request, callback, timeout_s)
    finally:
        await runner.cleanup()
    endpoint = TokenEndpoint(token_url)
    try:
        tokens = await endpoint.exchange_code(
            client_id=client_id, client_secret=client_secret, code=code, redirect_uri=request.redirect_uri,
            code_verifier=request.verifier, now=time.time(),
        )  # fmt: skip
    except ConnectorError as error:
        raise AuthorizeError(f"the code could not be exchanged: {error}") from None
    finally:
        await endpoint.aclose()
    register_secret(tokens.value)
    if not tokens.refresh_token:
        raise AuthorizeError(
            "Google returned no refresh token (it only does on the first consent of this client, or with "
            "prompt=consent): remove the app's access at myaccount.google.com/permissions and run again"
        )
    register_secret(tokens.refresh_token)
    if tokens.scope and SCOPE not in tokens.scope.split():
        show(f"warning: the grant does not include {SCOPE}; leadbot will be able to read but not to reply")
    return await asyncio.to_thread(write_private, out, tokens.refresh_token)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "youtube-authorize", help="one-time Google consent for a YouTube channel: store a refresh token (0600 file)"
    )
    parser.add_argument("--client-id", required=True, help="OAuth client id (Google Cloud console, 'Desktop app')")
    parser.add_argument("--client-secret-env", default="YOUTUBE_CLIENT_SECRET",
                        help="environment variable holding the client secret (default: YOUTUBE_CLIENT_SECRET)")
    parser.add_argument("--out", default="youtube_refresh_token", help="file to write the refresh token to (mode 0600)")
    parser.add_argument("--port", type=int, default=0, help="loopback port for the redirect (default: any free port)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the consent")
    parser.add_argument("--no-browser", action="store_true", help="only print the link")
    parser.add_argument("--auth-url", default=GOOGLE_AUTH_URL, help=argparse.SUPPRESS)  # the simulator in tests
    parser.add_argument("--token-url", default=GOOGLE_TOKEN_URL, help=argparse.SUPPRESS)
    parser.set_defaults(handler=run)


async def run(args: argparse.Namespace) -> int:
    secret = os.environ.get(args.client_secret_env, "")
    if not secret:
        print(f"leadbot: set the client secret in the environment variable {args.client_secret_env} first")
        return 2
    try:
        path = await authorize(
            client_id=args.client_id, client_secret=secret, out=args.out,
            auth_url=args.auth_url, token_url=args.token_url, port=args.port, timeout_s=args.timeout,
            open_browser=not args.no_browser,
        )  # fmt: skip
    except (AuthorizeError, OSError) as error:
        print(f"leadbot: authorisation failed: {error}")
        return 1
    print(
        f"authorised: refresh token written to {path} (owner-only). In config.toml, under the youtube connector:\n"
        f'  client_id = "{args.client_id}"\n'
        f'  client_secret = "env:{args.client_secret_env}"\n'
        '  refresh_token = "env:YOUTUBE_REFRESH_TOKEN"\n'
        f"and start leadbot with YOUTUBE_REFRESH_TOKEN=$(cat {path})"
    )
    return 0

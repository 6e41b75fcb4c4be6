"""``leadbot douyin-open-authorize``: turn the code from Douyin's OAuth redirect into stored tokens.

Without ``--code`` it prints the authorisation link to open as the merchant; with ``--code`` it
exchanges the code (``/oauth/access_token/``) and writes the token file. Tokens are never printed.
"""

from __future__ import annotations

import argparse
import time
from typing import Any
from urllib.parse import urlencode

from bot.config import ConfigError, load_config
from bot.connectors.base import ConnectorHealth
from bot.connectors.douyin_open import token_manager
from bot.connectors.douyin_open.http import HttpClient
from bot.connectors.douyin_open.settings import DouyinOpenSettings
from bot.connectors.errors import ConnectorError

DEFAULT_SCOPES = "user_info,item.comment,im.direct_message,user.intention"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "douyin-open-authorize", help="authorise a Douyin Open account (print the link, or store tokens from a code)"
    )
    parser.add_argument("--connector", default="", help="name of the douyin_open connector (default: the only one)")
    parser.add_argument("--code", default="", help="the `code` from the OAuth redirect")
    parser.add_argument("--redirect-uri", default="", help="redirect URI registered for the app (for the link)")
    parser.add_argument("--scopes", default=DEFAULT_SCOPES, help="comma-separated scopes (for the link)")
    parser.set_defaults(handler=run)


def _settings(args: argparse.Namespace) -> DouyinOpenSettings:
    loaded = load_config(args.config, must_exist=True)
    found = [s for e, s in loaded.connectors if e.type == "douyin_open" and (not args.connector or e.name == args.connector)]
    if len(found) != 1:
        wanted = f" named {args.connector!r}" if args.connector else ""
        raise ConfigError(args.config, [f"connectors: need exactly one douyin_open connector{wanted}, found {len(found)}"])
    settings = found[0]
    assert isinstance(settings, DouyinOpenSettings)
    return settings


async def run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if not args.code:
        query = urlencode({"client_key": settings.client_key, "response_type": "code", "scope": args.scopes,
                           "redirect_uri": args.redirect_uri, "state": "leadbot"})
        print(f"Open as the merchant, approve, then run again with --code:\n{settings.base_url}/platform/oauth/connect/?{query}")
        return 0
    http = HttpClient(settings.base_url, timeout_s=settings.request_timeout_s)
    try:
        tokens = await token_manager(settings, http, ConnectorHealth()).exchange_code(args.code)
    except ConnectorError as error:
        print(f"leadbot: authorisation failed: {error}")
        return 1
    finally:
        await http.aclose()
    days = (tokens.refresh_expires_at - time.time()) / 86400 if tokens.refresh_expires_at else float("nan")
    print(f"authorised open_id {tokens.open_id}; tokens stored in {settings.token_file}; "
          f"re-authorise within {days:.0f} days")
    return 0

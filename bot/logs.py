"""Logging setup: plain lines, and a filter that scrubs registered secrets from every record.

Secrets (tokens, cookies, client secrets) are registered with ``register_secret`` when the
config is loaded; any log line that would contain one gets ``***`` instead. This is a last
line of defence: code should not log secrets in the first place.
"""

from __future__ import annotations

import logging
import sys

_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    if value and len(value) >= 4:
        _SECRETS.add(value)


def scrub(text: str) -> str:
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    return text


class SecretFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            message = record.getMessage()
            cleaned = scrub(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


def setup_logging(*, verbose: bool = False) -> None:
    root = logging.getLogger()
    if any(isinstance(f, SecretFilter) for h in root.handlers for f in h.filters):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretFilter())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("jieba", "aiosqlite", "asyncio", "alembic", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

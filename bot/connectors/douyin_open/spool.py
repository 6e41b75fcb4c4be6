"""Webhook deliveries kept on disk while the database cannot take them in time.

Douyin waits 5 s for an answer and tries a delivery only 3 more times; a database outage longer
than that would lose private messages and follows for good. When a delivery is not stored in
time, the receiver writes its raw body here (one file per delivery, written to a temporary
name, fsynced, then renamed: a crash leaves either the whole file or none; mode 0600, as it
holds private messages), answers 200, and deletes the file once every event in it is
committed. Files left by a crash are queued again when the webhook source starts; the
database's unique platform ids make a second copy harmless.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
SUFFIX = ".webhook.json"


@dataclass(frozen=True)
class Spooled:
    path: Path
    body: bytes
    msg_id: str


class WebhookSpool:
    """Blocking file operations: call them with ``asyncio.to_thread``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser()

    def keep(self, body: bytes, msg_id: str) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{time.time():.6f}-{uuid.uuid4().hex}{SUFFIX}"
        final, temporary = self.directory / name, self.directory / f".{name}.tmp"
        record = {"msg_id": msg_id, "body": base64.b64encode(body).decode("ascii"), "kept_at": time.time()}
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, json.dumps(record).encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, final)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)
        return final

    def drop(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def load(self) -> list[Spooled]:
        """Every kept delivery, oldest first; an unreadable file is set aside (``.bad``), never lost."""
        if not self.directory.is_dir():
            return []
        kept: list[Spooled] = []
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            try:
                record = json.loads(path.read_bytes())
                kept.append(Spooled(path, base64.b64decode(record["body"], validate=True), str(record.get("msg_id", ""))))
            except (OSError, ValueError, KeyError, TypeError) as error:
                aside = path.with_name(path.name + ".bad")
                log.error("webhook spool: %s is unreadable (%s); moved to %s for a person to look at", path, error, aside)
                path.replace(aside)
        return kept

"""Small JSON files holding credentials: readable by their owner only, never half written.

Token stores (Douyin Open, YouTube) keep OAuth tokens on disk so a restart does not need the
merchant, or the token endpoint. A crash in the middle of a write must leave the old file,
not an empty one, and another local user must never be able to read it: the new content goes
to a temporary file created 0600 in the same folder, is flushed to disk, then renamed over
the old one (atomic on POSIX). The functions block; callers run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def read_json_file(path: Path) -> Any | None:
    """The parsed document, or None when the file does not exist (``OSError``/``ValueError`` otherwise)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    return json.loads(text)


def write_private_json(path: Path, document: Any) -> None:
    """Replace ``path`` atomically with ``document`` as JSON, mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise

"""A lazily initialised jieba tokenizer, used only on the few messages with a candidate hit.

jieba's dictionary takes ~1 s to load; it is cached under ``~/.cache/leadbot`` (or
``$LEADBOT_CACHE_DIR``) and loaded on first use, never at import, so the agent starts fast.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

_LOCK = threading.Lock()
_TOKENIZER: Any = None


def cache_dir() -> Path:
    base = os.environ.get("LEADBOT_CACHE_DIR")
    path = Path(base) if base else Path.home() / ".cache" / "leadbot"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        import tempfile

        path = Path(tempfile.gettempdir())
    return path


def tokenizer() -> Any:
    """The shared jieba ``Tokenizer`` (initialised on first call)."""
    global _TOKENIZER
    with _LOCK:
        if _TOKENIZER is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            tk = jieba.Tokenizer()
            tk.tmp_dir = str(cache_dir())
            tk.cache_file = "jieba.leadbot.cache"
            tk.initialize()
            _TOKENIZER = tk
        return _TOKENIZER


def warm_up() -> None:
    """Load the dictionary now (e.g. in a background thread at startup)."""
    tokenizer()

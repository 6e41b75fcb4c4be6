"""Test helpers for the Bilibili connector: where the captured vectors are, how to read them.

Vectors live in ``shared/vectors/bilibili`` next to the repository (``<repo>/../shared``; from
a git worktree one level further up). ``LEADBOT_SHARED_DIR`` overrides the lookup.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest


def shared_dir() -> Path | None:
    env = os.environ.get("LEADBOT_SHARED_DIR")
    if env:
        return Path(env) if Path(env).is_dir() else None
    for parent in Path(__file__).resolve().parents[1:]:
        candidate = parent / "shared"
        if (candidate / "vectors").is_dir():
            return candidate
    return None


def vectors_dir() -> Path:
    base = shared_dir()
    folder = base / "vectors" / "bilibili" if base else None
    if folder is None or not folder.is_dir():
        pytest.skip("shared/vectors/bilibili not found (set LEADBOT_SHARED_DIR to the shared folder)")
    return folder


def vector_bytes(name: str) -> bytes:
    """A packet from an ``xxd``-style hex dump (``00000000: 0000 00ff …  ascii``)."""
    text = (vectors_dir() / name).read_text(encoding="utf-8")
    hex_digits = []
    for line in text.splitlines():
        if ":" not in line:
            continue
        hex_part = line.split(":", 1)[1].split("  ", 1)[0]
        hex_digits.append("".join(hex_part.split()))
    return bytes.fromhex("".join(hex_digits))


_LINE_COMMENT = re.compile(r'("(?:[^"\\]|\\.)*")|//[^\n]*')


def vector_json(name: str) -> Any:
    """A JSON sample; ``.jsonc`` files have ``//`` comments, which are stripped outside strings."""
    text = (vectors_dir() / name).read_text(encoding="utf-8")
    if name.endswith(".jsonc"):
        text = _LINE_COMMENT.sub(lambda m: m.group(1) or "", text)
    return json.loads(text)

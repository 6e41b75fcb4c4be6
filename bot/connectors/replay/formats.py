"""Readers for recorded chat: our JSONL event format and the public corpora formats.

Each reader yields ``(index, RecordedLine)`` where ``index`` is the record's position in
the file — the replay cursor. Readers never raise on a bad record: they report it through
``on_error(index, reason)`` and skip it, so one broken line cannot stop a replay.

Formats (``detect_format`` picks one from the name and first bytes):
- ``events``: JSONL, one object per line:
  ``{"type": "chat"|"follow"|"live_start"|"live_end", "room": "...", "id": "...",
  "user_id": "...", "nickname": "...", "text": "...", "ts": 1700000000.0}``
- ``bilibili_xml``: ``<d p="stime,mode,size,color,unix_ts,pool,uid_crc32,row">text</d>``
- ``livechat``: JSONL lists ``[streamer_id, audience_comment, streamer_reply]``
- ``ecd``: TSV ``label, utt1, utt2, …, response``; buyer turns are utt1, utt3, …; words are
  space-separated (spaces are removed)
- ``reviews``: CSV ``cat,label,review``
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Format = Literal["events", "bilibili_xml", "livechat", "ecd", "reviews", "lines"]
FORMATS: tuple[str, ...] = ("events", "bilibili_xml", "livechat", "ecd", "reviews", "lines")
MAX_TEXT_CHARS = 10_000  # longer comments are cut (and reported) rather than stored whole

ErrorFn = Callable[[int, str], None]


@dataclass(frozen=True, slots=True)
class RecordedLine:
    """One recorded event, platform-neutral. ``kind`` is chat | follow | live_start | live_end."""

    kind: str
    text: str
    user_id: str
    nickname: str
    room: str = ""
    message_id: str = ""
    ts: float | None = None
    offset_s: float | None = None  # seconds since the start of the recording, when known


def _ignore(_: int, __: str) -> None:
    return None


def detect_format(path: Path) -> Format:
    name = path.name.lower()
    if name.endswith(".xml"):
        return "bilibili_xml"
    if name.endswith(".tsv"):
        return "ecd"
    if name.endswith(".csv"):
        return "reviews"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        with path.open("rb") as handle:
            head = handle.read(4096).lstrip()
        return "livechat" if head.startswith(b"[") else "events"
    return "lines"


def _stable_id(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def _clean(text: str) -> str:
    text = text.replace("\r", " ").replace("\n", " ").strip()
    return text[:MAX_TEXT_CHARS]


def read_lines(path: Path, fmt: Format | None = None, on_error: ErrorFn = _ignore) -> Iterator[tuple[int, RecordedLine]]:
    """Yield ``(index, line)`` for every usable record of ``path``."""
    fmt = fmt or detect_format(path)
    readers: dict[str, Callable[[Path, ErrorFn], Iterator[tuple[int, RecordedLine]]]] = {
        "events": _read_events,
        "bilibili_xml": _read_bilibili_xml,
        "livechat": _read_livechat,
        "ecd": _read_ecd,
        "reviews": _read_reviews,
        "lines": _read_plain,
    }
    if fmt not in readers:
        raise ValueError(f"unknown replay format {fmt!r}; allowed: {', '.join(FORMATS)}")
    yield from readers[fmt](path, on_error)


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open("r", encoding="utf-8", errors="replace", newline="") as handle:
        for index, line in enumerate(handle):
            yield index, line.rstrip("\r\n")


def _read_events(path: Path, on_error: ErrorFn) -> Iterator[tuple[int, RecordedLine]]:
    for index, raw in _text_lines(path):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as error:
            on_error(index, f"line {index + 1}: not JSON ({error.msg})")
            continue
        if not isinstance(data, dict):
            on_error(index, f"line {index + 1}: expected a JSON object")
            continue
        kind = str(data.get("type", "chat"))
        if kind not in {"chat", "follow", "live_start", "live_end"}:
            on_error(index, f"line {index + 1}: unknown type {kind!r}")
            continue
        text = data.get("text", "")
        if kind == "chat" and (not isinstance(text, str) or not text.strip()):
            on_error(index, f"line {index + 1}: chat without text")
            continue
        ts = data.get("ts")
        yield index, RecordedLine(
            kind=kind,
            text=_clean(str(text)),
            user_id=str(data.get("user_id", "")),
            nickname=str(data.get("nickname", ""))[:100],
            room=str(data.get("room", "")),
            message_id=str(data.get("id") or _stable_id(path.name, str(index))),
            ts=float(ts) if isinstance(ts, int | float) else None,
        )


_D_ELEMENT = re.compile(r'<d p="([^"]*)">(.*?)</d>', re.S)


def _read_bilibili_xml(path: Path, on_error: ErrorFn) -> Iterator[tuple[int, RecordedLine]]:
    content = path.read_text(encoding="utf-8", errors="replace")
    for index, found in enumerate(_D_ELEMENT.finditer(content)):
        fields = found.group(1).split(",")
        text = html.unescape(found.group(2))
        if len(fields) < 7 or not text.strip():
            on_error(index, f"element {index}: malformed <d p=...> attribute or empty text")
            continue
        try:
            offset = float(fields[0])
            unix_ts = float(fields[4])
        except ValueError:
            on_error(index, f"element {index}: non-numeric time in p={found.group(1)!r}")
            continue
        uid = fields[6]
        yield index, RecordedLine(
            kind="chat",
            text=_clean(text),
            user_id=uid,
            nickname=f"viewer-{uid[:6]}",
            message_id=fields[7] if len(fields) > 7 and fields[7] else _stable_id(path.name, str(index)),
            ts=unix_ts,
            offset_s=offset,
        )


def _read_livechat(path: Path, on_error: ErrorFn) -> Iterator[tuple[int, RecordedLine]]:
    for index, raw in _text_lines(path):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as error:
            on_error(index, f"line {index + 1}: not JSON ({error.msg})")
            continue
        if not isinstance(data, list) or len(data) < 2 or not isinstance(data[1], str) or not data[1].strip():
            on_error(index, f"line {index + 1}: expected [streamer_id, comment, reply]")
            continue
        user = _stable_id("livechat-user", data[1], str(index % 997))
        yield index, RecordedLine(
            kind="chat",
            text=_clean(data[1]),
            user_id=f"lc{user}",
            nickname=f"观众{user[:4]}",
            room=f"douyin-{data[0]}",
            message_id=_stable_id(path.name, str(index)),
        )


def _read_ecd(path: Path, on_error: ErrorFn) -> Iterator[tuple[int, RecordedLine]]:
    counter = 0
    for index, raw in _text_lines(path):
        columns = raw.split("\t")
        if len(columns) < 3:
            if raw.strip():
                on_error(index, f"line {index + 1}: expected label, utterances, response")
            continue
        utterances = columns[1:-1]
        buyer = _stable_id("ecd-buyer", str(index))
        for turn in range(0, len(utterances), 2):
            text = utterances[turn].replace(" ", "").strip()
            if not text:
                continue
            counter += 1
            yield counter - 1, RecordedLine(
                kind="chat",
                text=_clean(text),
                user_id=f"ecd{buyer}",
                nickname=f"买家{buyer[:4]}",
                message_id=_stable_id(path.name, str(index), str(turn)),
            )


def _read_reviews(path: Path, on_error: ErrorFn) -> Iterator[tuple[int, RecordedLine]]:
    with path.open("r", encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        column = header.index("review") if header and "review" in header else 2
        for index, row in enumerate(reader):
            if len(row) <= column or not row[column].strip():
                on_error(index, f"row {index + 2}: no review text")
                continue
            yield index, RecordedLine(
                kind="chat",
                text=_clean(row[column]),
                user_id=f"rv{_stable_id('review', str(index))}",
                nickname="顾客",
                message_id=_stable_id(path.name, str(index)),
            )


def _read_plain(path: Path, on_error: ErrorFn) -> Iterator[tuple[int, RecordedLine]]:
    for index, raw in _text_lines(path):
        if raw.strip():
            yield index, RecordedLine(
                kind="chat",
                text=_clean(raw),
                user_id=f"u{_stable_id('line', raw)}",
                nickname="viewer",
                message_id=_stable_id(path.name, str(index)),
            )


def read_texts(path: Path, fmt: Format | None = None) -> list[str]:
    """All chat texts of a recording (for matching-only tools)."""
    return [line.text for _, line in read_lines(path, fmt) if line.kind == "chat"]

"""Lead exports for CRMs: CSV (formula-injection safe) and JSONL.

Comment text and nicknames are hostile input: a nickname ``=HYPERLINK("http://x","y")``
must not become a live formula when a merchant opens the CSV in Excel. Cells that a
spreadsheet would interpret (leading ``= + - @``, tab or carriage return) get a leading
apostrophe, as OWASP recommends.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
EXPORT_COLUMNS = (
    "id",
    "status",
    "score",
    "platform",
    "platform_user_id",
    "nickname",
    "intents",
    "products",
    "message_count",
    "replies_sent",
    "first_seen",
    "last_seen",
    "source",
    "last_text",
)


def safe_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts else ""


def export_row(lead: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": lead["id"],
        "status": lead["status"],
        "score": round(float(lead["score"]), 3),
        "platform": lead["platform"],
        "platform_user_id": lead["platform_user_id"],
        "nickname": lead["nickname"],
        "intents": "|".join(lead.get("intents", [])),
        "products": "|".join(lead.get("products", [])),
        "message_count": lead["message_count"],
        "replies_sent": lead.get("replies_sent", 0),
        "first_seen": _iso(lead["first_seen_at"]),
        "last_seen": _iso(lead["last_seen_at"]),
        "source": lead["first_origin"],
        "last_text": lead["last_text"],
    }


def csv_header() -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(EXPORT_COLUMNS)
    return buffer.getvalue()


def csv_line(lead: dict[str, Any]) -> str:
    buffer = io.StringIO()
    row = export_row(lead)
    csv.writer(buffer).writerow([safe_cell(row[column]) for column in EXPORT_COLUMNS])
    return buffer.getvalue()


def jsonl_line(lead: dict[str, Any]) -> str:
    row = export_row(lead)
    row["intents"] = lead.get("intents", [])
    row["products"] = lead.get("products", [])
    return json.dumps(row, ensure_ascii=False) + "\n"


async def export_lines(leads: AsyncIterator[dict[str, Any]], fmt: str) -> AsyncIterator[str]:
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"format {fmt!r}: must be csv or jsonl")
    if fmt == "csv":
        yield csv_header()
    async for lead in leads:
        yield csv_line(lead) if fmt == "csv" else jsonl_line(lead)



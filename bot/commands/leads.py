"""``leadbot leads list|show|export|status``: the merchant's view of captured leads."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.commands.common import config_with_db
from bot.export import export_lines
from storage.db import create_engine
from storage.leads_query import SORTS, LeadFilter, iter_leads, lead_detail, list_leads
from storage.repository import LEAD_STATUSES, Repository


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", help="database URL or SQLite path (default: from config)")
    parser.add_argument("--status", action="append", choices=LEAD_STATUSES, help="repeatable")
    parser.add_argument("--intent", action="append", help="repeatable: price, link, stock, spec, shipping, ordered, want")
    parser.add_argument("--product", help="product id or #link-number")
    parser.add_argument("--platform")
    parser.add_argument("--origin", help="room/video label contains this")
    parser.add_argument("--search", help="nickname or message text contains this")
    parser.add_argument("--min-score", type=float)
    parser.add_argument("--since", help="ISO date/time (UTC) of last activity")
    parser.add_argument("--sort", choices=sorted(SORTS), default="last_seen")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("leads", help="list, show, export and update captured leads")
    actions = parser.add_subparsers(dest="leads_command", required=True)
    listing = actions.add_parser("list", help="a table of leads")
    _add_filters(listing)
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--offset", type=int, default=0)
    listing.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="one lead's full story with explanations")
    show.add_argument("lead_id", type=int)
    show.add_argument("--db")
    show.add_argument("--json", action="store_true")
    export = actions.add_parser("export", help="export the filtered leads (CSV is formula-injection safe)")
    _add_filters(export)
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    export.add_argument("--out", help="file to write (default: stdout)")
    status = actions.add_parser("status", help="set the status of leads")
    status.add_argument("status", choices=LEAD_STATUSES)
    status.add_argument("lead_ids", type=int, nargs="+")
    status.add_argument("--db")
    for action in (listing, show, export, status):
        action.set_defaults(handler=leads_command)


def _filter(args: argparse.Namespace) -> LeadFilter:
    since = None
    if args.since:
        try:
            parsed = datetime.fromisoformat(args.since)
        except ValueError:
            raise SystemExit(f"leadbot leads: --since {args.since!r}: expected an ISO date like 2026-11-23") from None
        since = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return LeadFilter(
        statuses=args.status or (),
        intents=args.intent or (),
        product=args.product,
        platform=args.platform,
        origin=args.origin,
        search=args.search,
        min_score=args.min_score,
        since=since,
        sort=args.sort,
    )


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M") if ts else "-"


def _clip(text: str, width: int) -> str:
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    return text if len(text) <= width else text[: width - 1] + "…"


async def leads_command(args: argparse.Namespace) -> int:
    config = config_with_db(args)
    engine = create_engine(config.database_url, config.settings.database)
    try:
        if args.leads_command == "list":
            rows, total = await list_leads(engine, _filter(args), limit=args.limit, offset=args.offset)
            if args.json:
                print(json.dumps({"total": total, "leads": rows}, ensure_ascii=False, default=str))
                return 0
            print(f"{'id':>6}  {'status':<9} {'score':>5}  {'last seen':<16}  {'nickname':<14} {'intents':<18} text")
            for row in rows:
                print(
                    f"{row['id']:>6}  {row['status']:<9} {row['score']:>5.2f}  {_when(row['last_seen_at']):<16}  "
                    f"{_clip(row['nickname'], 14):<14} {_clip(','.join(row['intents']), 18):<18} {_clip(row['last_text'], 40)}"
                )
            print(f"{len(rows)} of {total} lead(s)")
        elif args.leads_command == "show":
            detail = await lead_detail(engine, args.lead_id)
            if detail is None:
                print(f"leadbot leads show: no lead {args.lead_id}", file=sys.stderr)
                return 1
            if args.json:
                print(json.dumps(detail, ensure_ascii=False, default=str, indent=2))
            else:
                _print_detail(detail)
        elif args.leads_command == "export":
            written = await export_to(args.out, export_lines(iter_leads(engine, _filter(args)), args.format))
            if args.out:
                exported = written - (1 if args.format == "csv" else 0)
                print(f"exported {exported} lead(s) to {args.out}", file=sys.stderr)
        elif args.leads_command == "status":
            changed = await Repository(engine, config.settings.store.name).set_lead_status(args.lead_ids, args.status)
            print(f"{changed} lead(s) set to {args.status}")
    finally:
        await engine.dispose()
    return 0


async def export_to(path: str | None, lines: AsyncIterator[str], chunk: int = 1000) -> int:
    """Write lines to ``path`` (or stdout) in chunks, file I/O off the event loop; returns the count."""
    handle: TextIO = (
        await asyncio.to_thread(open, path, "w", encoding="utf-8", newline="") if path else sys.stdout
    )
    written = 0
    pending: list[str] = []
    try:
        async for line in lines:
            pending.append(line)
            written += 1
            if len(pending) >= chunk:
                await asyncio.to_thread(handle.writelines, pending)
                pending = []
        await asyncio.to_thread(handle.writelines, pending)
    finally:
        if path:
            await asyncio.to_thread(handle.close)
        else:
            handle.flush()
    return written


def _print_detail(lead: dict[str, Any]) -> None:
    portrait = lead["portrait"]
    print(f"lead {lead['id']} · {lead['status']} · score {lead['score']:.2f}")
    print(f"  {portrait['nickname']} ({portrait['platform']}:{portrait['user_id']}) fan level {portrait['fan_level'] or '-'}")
    print(f"  first seen {_when(portrait['first_seen_at'])}, last {_when(portrait['last_seen_at'])}, "
          f"{portrait['message_count']} message(s), source {portrait['source']}")
    print(f"  intents {', '.join(lead['intents']) or '-'}; products {', '.join(lead['products']) or '-'}")
    print("messages:")
    for message in lead["messages"]:
        print(f"  {_when(message['ts'])}  [{message['primary_intent']}] {_clip(message['text'], 60)}")
        for match in message["matches"]:
            verdict = "✓" if match["accepted"] else f"✗ {match['rejected_because']}"
            print(f"      {match['intent']}: '{match['matched']}' → {match['keyword']} ({match['rule']}) {verdict}")
    print("actions:")
    for action in lead["actions"]:
        print(f"  {action['kind']}.{action['subtype']} via {action['channel']}: {action['status']} "
              f"{action['reason'] or ''} {_clip(action['text'], 40)}")
    for change in lead["status_history"]:
        print(f"  status {change['old_status']} → {change['new_status']} at {_when(change['changed_at'])} by {change['changed_by']}")

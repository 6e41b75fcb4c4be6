"""``leadbot schedule add|list|remove``: upcoming broadcasts that live reminders announce.

Stored in the database (``scheduled_broadcasts``) next to the ``[[schedule]]`` entries of
config.toml and the broadcasts connectors announce; a running worker sees changes at its next
reminder check. Times without an offset are read in ``[caps] timezone``.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.app import open_repository
from bot.commands.common import config_with_db
from storage.records import BroadcastRecord


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("schedule", help="upcoming broadcasts for live reminders: add | list | remove")
    actions = parser.add_subparsers(dest="schedule_command", required=True)
    add = actions.add_parser("add", help="schedule a broadcast, e.g. schedule add \"2026-11-24 20:00\" --title 上新")
    add.add_argument("start", help='start time, "YYYY-MM-DD HH:MM" (store timezone) or ISO 8601 with offset')
    add.add_argument("--title", default="", help="what the reminder says it is about")
    add.add_argument("--id", dest="broadcast_id", default="", help="stable id (default: live-YYYYMMDDTHHMM)")
    add.add_argument("--platform", default="", help="only remind people from this platform (default: all)")
    add.add_argument("--account", default="", help="only this account (default: all)")
    add.add_argument("--room", default="", help="the live room it happens in (optional)")
    listing = actions.add_parser("list", help="broadcasts still to come (--all: past ones too)")
    listing.add_argument("--all", action="store_true")
    remove = actions.add_parser("remove", help="remove a scheduled broadcast by id")
    remove.add_argument("broadcast_id")
    for action in (add, listing, remove):
        action.add_argument("--db", help="database URL or SQLite path (default: from config)")
        action.set_defaults(handler=schedule_command)


def parse_start(text: str, timezone: str) -> datetime:
    """``"2026-11-24 20:00"`` → an aware datetime (naive times are in ``timezone``)."""
    try:
        start = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r}: use \"YYYY-MM-DD HH:MM\" (or ISO 8601 with an offset)") from None
    return start if start.tzinfo else start.replace(tzinfo=ZoneInfo(timezone))


async def schedule_command(args: argparse.Namespace) -> int:
    config = config_with_db(args)
    zone = config.settings.caps.timezone
    engine, repository = await open_repository(config)
    try:
        if args.schedule_command == "add":
            try:
                start = parse_start(args.start, zone)
            except ValueError as error:
                print(f"leadbot schedule: {error}", file=sys.stderr)
                return 2
            if start.timestamp() <= time.time():
                print(f"leadbot schedule: {args.start} is in the past", file=sys.stderr)
                return 2
            local = start.astimezone(ZoneInfo(zone))
            broadcast_id = args.broadcast_id or f"live-{local.strftime('%Y%m%dT%H%M')}"
            record = BroadcastRecord(
                broadcast_id, start.timestamp(), args.title, args.platform, args.account, args.room, "cli"
            )
            await repository.upsert_broadcasts([record])
            print(f"scheduled {broadcast_id}: {local.strftime('%Y-%m-%d %H:%M %Z')} {args.title}".rstrip())
            return 0
        if args.schedule_command == "remove":
            if await repository.remove_broadcast(args.broadcast_id):
                print(f"removed {args.broadcast_id}")
                return 0
            print(f"leadbot schedule: no scheduled broadcast {args.broadcast_id!r}", file=sys.stderr)
            return 1
        rows = await repository.list_broadcasts(after=None if args.all else time.time())
        if not rows:
            print("no broadcasts scheduled (add one: leadbot schedule add \"YYYY-MM-DD HH:MM\" --title ...)")
        for row in rows:
            when = datetime.fromtimestamp(row["starts_at"], ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
            where = "/".join(part for part in (row["platform"], row["account"], row["room"]) if part) or "all accounts"
            started = "  (started)" if row["started_at"] is not None else ""
            print(f"{row['broadcast_id']:<24} {when}  {row['title'] or '-':<20} {where}  [{row['source']}]{started}")
        return 0
    finally:
        await engine.dispose()

"""``leadbot replay FILE``: run a recorded stream through matching only (no DB, no sending).

Reports leads and accepted hits per 1,000 chat messages, per intent, the top keywords and
rejection reasons, and the matching speed — to see what a list change would do to a stream.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bot.commands.keywords import add_candidate_option
from bot.connectors.replay.formats import FORMATS, read_lines


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("replay", help="run a recorded stream through matching only; hits per 1,000")
    parser.add_argument("file", type=Path, help="JSONL events, Bilibili XML, or a corpus file")
    parser.add_argument("--format", choices=FORMATS, help="override format detection")
    parser.add_argument("--top", type=int, default=15, help="how many top keywords to list")
    parser.add_argument("--examples", type=int, default=0, help="print this many lead messages")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_candidate_option(parser)
    parser.set_defaults(handler=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    from bot.commands.keywords import _matcher, explain

    if not args.file.exists():
        print(f"leadbot: {args.file}: no such file", file=sys.stderr)
        return 2
    matcher = _matcher(args)
    errors: list[str] = []

    def on_error(index: int, reason: str) -> None:
        errors.append(f"record {index}: {reason}")

    try:
        texts = [line.text for _, line in read_lines(args.file, args.format, on_error) if line.kind == "chat"]
    except (OSError, ValueError) as error:
        print(f"leadbot: cannot replay {args.file}: {error}", file=sys.stderr)
        return 2
    from keywords.segment import warm_up

    warm_up()  # load jieba's dictionary before timing (the running agent does it at startup)
    if args.candidate:
        return _compare(args, texts, matcher, _matcher(args, args.candidate), errors)
    started = time.perf_counter()
    results = [matcher.match(text) for text in texts]
    elapsed = time.perf_counter() - started
    n = len(texts)
    per_k = (lambda count: round(1000 * count / n, 2)) if n else (lambda count: 0.0)
    leads = [r for r in results if r.is_lead]
    intents: Counter[str] = Counter(i for r in leads for i in r.intents)
    keywords: Counter[tuple[str, str]] = Counter()
    rejected: Counter[str] = Counter()
    hits = 0
    for r in results:
        for h in r.hits:
            if h.accepted and h.intent in r.intents:
                hits += 1
                keywords[(h.intent, h.keyword)] += 1
            elif not h.accepted and h.rejected_because:
                rejected[h.rejected_because.split("'")[0].split(" (")[0].strip()] += 1
    summary: dict[str, Any] = {
        "file": str(args.file),
        "messages": n,
        "leads": len(leads),
        "leads_per_1k": per_k(len(leads)),
        "hits_per_1k": per_k(hits),
        "per_intent_per_1k": {i: per_k(c) for i, c in intents.most_common()},
        "top_keywords": [{"intent": i, "keyword": k, "hits": c, "per_1k": per_k(c)} for (i, k), c in keywords.most_common(args.top)],
        "rejections": dict(rejected.most_common()),
        "msgs_per_s": round(n / elapsed) if elapsed > 0 else None,
        "bad_records": len(errors),
        "version": matcher.version,
    }
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
        return 0
    print(f"{args.file}: {n} chat messages, lists {matcher.version}")
    print(f"leads: {len(leads)} ({summary['leads_per_1k']}/1k), accepted hits {hits} ({summary['hits_per_1k']}/1k)")
    if summary["msgs_per_s"]:
        print(f"matching speed: {summary['msgs_per_s']:,} msgs/s")
    print("per intent (leads per 1,000): " + ", ".join(f"{i} {v}" for i, v in summary["per_intent_per_1k"].items()))
    print("top keywords:")
    for item in summary["top_keywords"]:
        print(f"  {item['per_1k']:7.2f}/1k {item['hits']:6d}  {item['intent']:<8} {item['keyword']!r}")
    if rejected:
        print("rejected hits by reason: " + ", ".join(f"{k} {v}" for k, v in rejected.most_common()))
    if errors:
        print(f"{len(errors)} bad records skipped (first: {errors[0]})")
    for r in leads[: args.examples]:
        print(explain(r))
    return 0


def _compare(args: argparse.Namespace, texts: list[str], current: Any, candidate: Any, errors: list[str]) -> int:
    """What publishing the candidate lists would change on this stream: leads gained, lost and
    re-labelled, per 1,000 messages, with the candidate's explanation of each change."""
    from bot.commands.keywords import explain
    from keywords.diff import diff_matches

    limit = max(args.examples, 20)
    diff = diff_matches(texts, current, candidate, limit=limit)
    n = diff["messages"]
    per_k = (lambda count: round(1000 * count / n, 2)) if n else (lambda count: 0.0)
    summary = {
        "file": str(args.file),
        **{k: v for k, v in diff.items() if k != "changes"},
        "leads_per_1k_before": per_k(diff["leads_before"]),
        "leads_per_1k_after": per_k(diff["leads_after"]),
        "changes": diff["changes"],
        "bad_records": len(errors),
        "version_before": current.version,
        "version_after": candidate.version,
    }
    if args.json:
        print(json.dumps(summary, ensure_ascii=False))
        return 0
    print(f"{args.file}: {n} chat messages, current lists {current.version} → candidate {candidate.version}")
    print(
        f"leads: {diff['leads_before']} ({summary['leads_per_1k_before']}/1k) → {diff['leads_after']} "
        f"({summary['leads_per_1k_after']}/1k); gained {diff['gained']}, lost {diff['lost']}, "
        f"intent changed {diff['changed']}"
    )
    if errors:
        print(f"{len(errors)} bad records skipped (first: {errors[0]})")
    for change in diff["changes"][: args.examples or 10]:
        before, after = ", ".join(change["before"]), ", ".join(change["after"])
        print(f"- {before} → {after}")
        print("  " + explain(candidate.explain(change["text"])).replace("\n", "\n  "))
    return 0

"""``leadbot keywords test|eval|lint``: try, measure and check the keyword lists."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.config import load_config
from keywords.api import MatchResult, explanation_dict
from keywords.lists import KeywordListError

CANDIDATE_HELP = (
    "a list file to try instead of the configured one with the same name (or over the lists): "
    "shows what would change before you publish it; repeatable"
)


def add_candidate_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--candidate", type=Path, action="append", default=[], metavar="LIST.toml", help=CANDIDATE_HELP)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("keywords", help="test, evaluate and lint keyword lists")
    sub = parser.add_subparsers(dest="keywords_command", required=True, metavar="ACTION")

    test = sub.add_parser("test", help="show the decision and explanation for a sentence")
    test.add_argument("text", nargs="+", help="the message(s) to match")
    test.add_argument("--json", action="store_true", help="one JSON object per message")
    add_candidate_option(test)
    test.set_defaults(handler=cmd_test)

    ev = sub.add_parser("eval", help="precision/recall/F1 against a labelled TSV (label<TAB>text)")
    ev.add_argument("file", type=Path)
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--show", type=int, default=10, help="how many false positives / misses to list")
    add_candidate_option(ev)
    ev.set_defaults(handler=cmd_eval)

    lint = sub.add_parser("lint", help="duplicates, shadowed keywords, keywords noisy on negative text")
    lint.add_argument(
        "--negatives",
        type=Path,
        action="append",
        help="text known to contain no purchase intent (default: shared corpora reviews + bilibili)",
    )
    lint.add_argument("--max-rate", type=float, default=1.0, help="flag keywords hitting more than this per 1,000")
    lint.set_defaults(handler=cmd_lint)


def _matcher(args: argparse.Namespace, candidates: Sequence[Path] = ()) -> Any:
    """The configured matcher, or (with ``candidates``) the one those list files would give."""
    from keywords import load_matcher

    config = load_config(args.config)
    for path in candidates:
        if not path.is_file():
            print(f"leadbot: candidate list {path}: no such file", file=sys.stderr)
            raise SystemExit(2)
    try:
        return load_matcher(config.settings.matching, config.base_dir, candidates=candidates)
    except KeywordListError as error:
        for problem in error.problems:
            print(f"leadbot: keyword list error: {problem}", file=sys.stderr)
        raise SystemExit(2) from None


def explain(result: MatchResult) -> str:
    lines = []
    decision = f"LEAD {', '.join(result.intents)}" if result.is_lead else "none"
    lines.append(f"{result.text!r} → {decision}  (score {result.score:.2f}{', question' if result.is_question else ''})")
    if result.link_number is not None:
        lines.append(f"  link number: {result.link_number}")
    if result.product is not None:
        p = result.product
        lines.append(f"  product: {p.name} [{p.product_id}] via {p.via} ({p.score:.0f})")
    for h in result.hits:
        mark = "✓" if h.accepted else "✗"
        why = "" if h.accepted else f" — rejected: {h.rejected_because}"
        where = f"[{h.span[0]}:{h.span[1]}] {h.matched!r}"
        source = Path(h.list_name).name if h.list_name else ""
        lines.append(f"  {mark} {h.intent:<8} {h.keyword!r} ({h.rule}, w={h.weight:g}, {source}) at {where}{why}")
    if not result.hits:
        lines.append("  no keyword, variant or pattern found")
    for note in result.notes:
        lines.append(f"  note: {note}")
    return "\n".join(lines)


def cmd_test(args: argparse.Namespace) -> int:
    matcher = _matcher(args)
    candidate = _matcher(args, args.candidate) if args.candidate else None
    for text in args.text:
        result = matcher.explain(text)
        if candidate is None:
            if args.json:
                print(json.dumps({**explanation_dict(result), "version": matcher.version}, ensure_ascii=False))
            else:
                print(explain(result))
            continue
        tried = candidate.explain(text)
        if args.json:
            both = {
                "current": {**explanation_dict(result), "version": matcher.version},
                "candidate": {**explanation_dict(tried), "version": candidate.version},
                "changed": result.intents != tried.intents,
            }
            print(json.dumps(both, ensure_ascii=False))
        else:
            change = "unchanged" if result.intents == tried.intents else "CHANGED"
            print(f"current lists {matcher.version}:\n{explain(result)}")
            print(f"candidate lists {candidate.version} ({change}):\n{explain(tried)}")
    return 0


def _fmt(summary: dict[str, Any]) -> str:
    return (
        f"precision {summary['precision']:.3f}  recall {summary['recall']:.3f}  F1 {summary['f1']:.3f}  "
        f"FP/1k negatives {summary['fp_per_1k']:.1f}  (n={summary['n']}, positives {summary['positives']}, "
        f"tp {summary['tp']}, fp {summary['fp']}, fn {summary['fn']})"
    )


def cmd_eval(args: argparse.Namespace) -> int:
    from keywords.evaluation import LabelledFileError, evaluate, read_labelled

    try:
        rows = read_labelled(args.file)
    except LabelledFileError as error:
        print(f"leadbot: {error}", file=sys.stderr)
        return 2
    matcher = _matcher(args)
    if args.candidate:
        return _compare_eval(args, rows, matcher)
    ev = evaluate(rows, matcher.match)
    if args.json:
        print(json.dumps({**ev.summary, "version": matcher.version}, ensure_ascii=False))
        return 0
    s = ev.summary
    print(f"{args.file}  (lists {matcher.version})")
    print(f"binary (lead vs none): {_fmt(s)}")
    print(f"strict (no '?' rows):  {_fmt(s['strict'])}")
    print("per intent:            precision recall  F1     support predicted")
    for intent, m in s["per_intent"].items():
        print(f"  {intent:<20} {m['precision']:>9.3f} {m['recall']:.3f}  {m['f1']:.3f}  {m['support']:>7} {m['predicted']:>9}")
    if s.get("per_source"):
        print("per source:            precision recall  F1     FP/1k   n     positives  fp   fn")
        for source, m in s["per_source"].items():
            print(
                f"  {source:<20} {m['precision']:>9.3f} {m['recall']:.3f}  {m['f1']:.3f}  {m['fp_per_1k']:>6.1f}"
                f"  {m['n']:>5} {m['positives']:>9} {m['fp']:>4} {m['fn']:>4}"
            )
    for title, items in (
        ("false positives", ev.false_positives),
        ("misses", ev.misses),
        ("wrong intent", ev.wrong_intent),
    ):
        if not items:
            continue
        print(f"\nworst {title} ({len(items)}):")
        for row, _result in items[: args.show]:
            print(f"- line {row.line} label={row.label}{' ' + row.note if row.note else ''}")
            print("  " + explain(matcher.explain(row.text)).replace("\n", "\n  "))
    return 0


METRICS = ("precision", "recall", "f1", "fp_per_1k")


def _compare_eval(args: argparse.Namespace, rows: Sequence[Any], matcher: Any) -> int:
    """The same labelled rows under the configured lists and the candidate: metrics side by
    side, and the rows the candidate fixes or breaks (lead vs none), with its explanation."""
    from keywords.diff import compare_on_labelled

    candidate = _matcher(args, args.candidate)
    diff = compare_on_labelled(rows, matcher, candidate, limit=max(args.show, 0))
    if args.json:
        print(
            json.dumps(
                {
                    "current": {**diff["current"], "version": matcher.version},
                    "candidate": {**diff["candidate"], "version": candidate.version},
                    "fixed": diff["fixed_count"],
                    "broken": diff["broken_count"],
                },
                ensure_ascii=False,
            )
        )
        return 0
    print(f"{args.file}  current lists {matcher.version} → candidate {candidate.version}")
    a, b = diff["current"], diff["candidate"]
    for scope, x, y in (("binary", a, b), ("strict", a["strict"], b["strict"])):
        print(f"{scope:<7} " + "  ".join(f"{m} {x[m]:.3f} → {y[m]:.3f} ({y[m] - x[m]:+.3f})" for m in METRICS))
    print(
        f"rows the candidate gets right that the current lists get wrong: {diff['fixed_count']}; "
        f"the reverse: {diff['broken_count']}"
    )
    for title in ("broken", "fixed"):
        for row in diff[title]:
            print(f"- {title}: line {row['line']} label={row['label']}{' ' + row['note'] if row['note'] else ''}")
            print("  " + explain(candidate.explain(row["text"])).replace("\n", "\n  "))
    return 0


def _default_negatives() -> list[Path]:
    from keywords.corpus_text import shared_corpora_dir

    base = shared_corpora_dir(Path.cwd() / "pyproject.toml") or shared_corpora_dir()
    if base is None:
        return []
    names = ["online_shopping_reviews_part1.csv", "bilibili_live_2020-12-12.xml"]
    return [base / n for n in names if (base / n).exists()]


def cmd_lint(args: argparse.Namespace) -> int:
    from keywords.corpus_text import read_corpus
    from keywords.lint import lint_matcher

    matcher = _matcher(args)
    paths: list[Path] = args.negatives or _default_negatives()
    texts: list[str] = []
    for path in paths:
        try:
            texts.extend(read_corpus(path))
        except OSError as error:
            print(f"leadbot: cannot read {path}: {error}", file=sys.stderr)
            return 2
    if not paths:
        print("no negative corpus found (pass --negatives FILE); skipping the noise check")
    report = lint_matcher(matcher, texts, max_rate_per_1k=args.max_rate)
    for line in report.lines():
        print(line)
    if texts:
        counts = Counter(p.name for p in paths)
        print(f"(negatives: {len(texts)} messages from {', '.join(sorted(counts))})")
    return 1 if report.errors else 0

"""Draw the second, independent tuning set (``labelled_dev2.tsv``) from rows the first sampler never drew.

``sample_for_labelling.py`` decides which texts are in ``labelled_dev.tsv`` and the held-out
``labelled_test.tsv``. This script re-runs that selection *in memory* (same seed, same corpora)
only to exclude those texts — it never writes or prints them — and then draws fresh rows:

- livechat: ``LIVECHAT`` random Douyin comments outside the first sampler's selection (every
  comment matching its shopping regex is already in dev/test, so these are the "ordinary" stream);
- bilibili: ``BILI_TRAPS`` danmaku matching the trap regex + ``BILI_RANDOM`` others, not drawn before;
- reviews: ``REVIEW_WORDS`` reviews with price / delivery words + ``REVIEW_RANDOM`` others, not drawn
  before, up to ``REVIEW_MAX_CHARS`` characters (longer than the first sampler's 120, because the
  benchmark and the live agent see long reviews too).

ECD buyer turns are all in dev/test already, so dev2 has almost no positives: it measures false
positives per 1,000 natural negatives and guards the lists against over-fitting to dev.

    python tests/data/sample_dev2.py --out /tmp/s   # writes unlabelled_dev2.tsv
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sample_for_labelling as first

SEED = 20250317
LIVECHAT = 200
BILI_TRAPS = 200
BILI_RANDOM = 100
REVIEW_WORDS = 150
REVIEW_RANDOM = 50
REVIEW_MAX_CHARS = 300


def build(corpora: Path) -> list[tuple[str, str]]:
    taken = {text for rows in first.build(corpora).values() for text, _source in rows}
    rng = random.Random(SEED)
    dedup = first.Dedup()
    dedup.seen |= taken
    rows: list[tuple[str, str]] = []

    live = sorted(set(first.livechat_comments(corpora / "livechat_douyin_dev_part1.jsonl")) - taken)
    rows += [(t, "livechat") for t in dedup.fresh(first.take(rng, [t for t in live if t], LIVECHAT))]

    bili = sorted(set(first.bilibili_danmaku(corpora / "bilibili_live_2020-12-12.xml")) - taken)
    traps = [t for t in bili if t and first.BILI_TRAP_RE.search(t)]
    others = [t for t in bili if t and not first.BILI_TRAP_RE.search(t)]
    rows += [(t, "bilibili") for t in dedup.fresh(first.take(rng, traps, BILI_TRAPS))]
    rows += [(t, "bilibili") for t in dedup.fresh(first.take(rng, others, BILI_RANDOM))]

    revs: list[str] = []
    with (corpora / "online_shopping_reviews_part1.csv").open(encoding="utf-8-sig", newline="") as fh:
        import csv

        for row in csv.DictReader(fh):
            text = first.clean((row.get("review") or "").lstrip("\ufeff"))
            if text and len(text) <= REVIEW_MAX_CHARS:
                revs.append(text)
    pool = sorted(set(revs) - taken)
    worded = [t for t in pool if first.REVIEW_WORD_RE.search(t)]
    plain = [t for t in pool if not first.REVIEW_WORD_RE.search(t)]
    rows += [(t, "reviews") for t in dedup.fresh(first.take(rng, worded, REVIEW_WORDS))]
    rows += [(t, "reviews") for t in dedup.fresh(first.take(rng, plain, REVIEW_RANDOM))]
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", type=Path, default=first.default_corpora())
    parser.add_argument("--out", type=Path, required=True, help="folder for unlabelled_dev2.tsv")
    args = parser.parse_args(argv)
    if not args.corpora.is_dir():
        print(f"corpora folder not found: {args.corpora}", file=sys.stderr)
        return 2
    rows = build(args.corpora)
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "unlabelled_dev2.tsv").open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(first.HEADER + "\n")
        for text, source in rows:
            fh.write(f"\t{text}\t{source}\t\n")
    counts: dict[str, int] = {}
    for _t, s in rows:
        counts[s] = counts.get(s, 0) + 1
    print("dev2", len(rows), counts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

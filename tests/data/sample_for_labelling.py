"""Draw the reproducible sample of real chat text that was hand-labelled for the matcher.

Reads the shared corpora at ``<repo>/../shared/corpora`` (never copied into the repo) and writes
two *unlabelled* TSV files (``label`` column empty) with the header ``label\\ttext\\tsource\\tnote``:
``unlabelled_dev.tsv`` and ``unlabelled_test.tsv``. A human then fills in ``label`` (and ``note``)
row by row; the labelled results are ``labelled_dev.tsv`` / ``labelled_test.tsv`` next to this file.
The rows and their order are fully determined by ``SEED`` and the corpora, so
``python tests/data/sample_for_labelling.py --out /tmp/s`` regenerates exactly the texts of the
labelled files (``tests/test_labelled_data.py`` checks that when the corpora are present).

Sampling (see README.md in this folder for the reasons):
- ecd: every distinct buyer turn (utterances 1, 3, 5, ... of each session, spaces removed),
  shuffled and dealt alternately to dev and test (the corpus has only ~380 distinct buyer turns).
- livechat: every distinct audience comment matching the broad shopping regex ``SHOPPING_RE``
  (deliberate oversampling), dealt alternately, plus ``LIVECHAT_RANDOM`` random other comments per file.
- bilibili: ``BILI_TRAPS`` danmaku matching ``BILI_TRAP_RE`` plus ``BILI_RANDOM`` random others per file.
- reviews: ``REVIEW_WORDS`` reviews containing price / delivery words plus ``REVIEW_RANDOM`` random
  others per file, only reviews of at most ``REVIEW_MAX_CHARS`` characters.
Texts are de-duplicated across all sources and both files (a text appears once in total).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

SEED = 20240611
HEADER = "label\ttext\tsource\tnote"

SHOPPING_RE = re.compile(
    "买|卖|钱|价|链接|货|码|发|拍|要|尺|号|包邮|优惠|券|多少|便宜|下单|快递|车|库存|补|颜色|适合|穿|贵|送|付款|邮"
)
LIVECHAT_RANDOM = 120

BILI_TRAP_RE = re.compile("多少钱|链接|买|要|拍|价|钱|货|下单|便宜|贵|券|尺|码|包邮|发|号|车|链")
BILI_TRAPS = 75
BILI_RANDOM = 75

REVIEW_WORD_RE = re.compile("价|钱|便宜|贵|实惠|划算|发货|快递|物流|包邮|送货|到货|优惠|券|链接|尺码|码")
REVIEW_WORDS = 60
REVIEW_RANDOM = 40
REVIEW_MAX_CHARS = 120


def clean(text: str) -> str:
    """One line, no tabs, trimmed."""
    return re.sub(r"[\t\r\n]+", " ", text).strip()


def ecd_buyer_turns(path: Path) -> list[str]:
    turns: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            cols = line.rstrip("\n").split("\t")
            utterances = cols[1:-1]  # drop the label column and the final (service-side) response
            for utt in utterances[0::2]:
                turns.append(clean(utt.replace(" ", "")))
    return turns


def livechat_comments(path: Path) -> list[str]:
    out: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            _streamer, comment, _reply = json.loads(line)
            out.append(clean(comment))
    return out


def bilibili_danmaku(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    return [clean(d.text or "") for d in root.iter("d")]


def reviews(path: Path) -> list[str]:
    out: list[str] = []
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            text = clean((row.get("review") or "").lstrip("\ufeff"))
            if len(text) <= REVIEW_MAX_CHARS:
                out.append(text)
    return out


class Dedup:
    """Remembers every text taken so far, across sources and files."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def fresh(self, texts: Iterable[str]) -> list[str]:
        out: list[str] = []
        for t in texts:
            if t and "\t" not in t and t not in self.seen:
                self.seen.add(t)
                out.append(t)
        return out


def deal(rng: random.Random, texts: list[str]) -> tuple[list[str], list[str]]:
    """Shuffle and deal alternately: (dev, test)."""
    pool = sorted(texts)
    rng.shuffle(pool)
    return pool[0::2], pool[1::2]


def take(rng: random.Random, texts: list[str], n: int) -> list[str]:
    pool = sorted(texts)
    return rng.sample(pool, min(n, len(pool)))


def build(corpora: Path) -> dict[str, list[tuple[str, str]]]:
    rng = random.Random(SEED)
    dedup = Dedup()
    files: dict[str, list[tuple[str, str]]] = {"dev": [], "test": []}

    ecd = dedup.fresh(ecd_buyer_turns(corpora / "ecd_taobao_cs_train.tsv"))
    dev, test = deal(rng, ecd)
    files["dev"] += [(t, "ecd") for t in dev]
    files["test"] += [(t, "ecd") for t in test]

    live = livechat_comments(corpora / "livechat_douyin_dev_part1.jsonl")
    hits = dedup.fresh(t for t in live if SHOPPING_RE.search(t))
    dev, test = deal(rng, hits)
    rest = sorted({t for t in live if t and not SHOPPING_RE.search(t)})
    extra = dedup.fresh(take(rng, rest, 2 * LIVECHAT_RANDOM))
    files["dev"] += [(t, "livechat") for t in dev + extra[0::2]]
    files["test"] += [(t, "livechat") for t in test + extra[1::2]]

    bili = bilibili_danmaku(corpora / "bilibili_live_2020-12-12.xml")
    traps = dedup.fresh(take(rng, sorted({t for t in bili if BILI_TRAP_RE.search(t)}), 2 * BILI_TRAPS))
    others = dedup.fresh(take(rng, sorted({t for t in bili if t and not BILI_TRAP_RE.search(t)}), 2 * BILI_RANDOM))
    files["dev"] += [(t, "bilibili") for t in traps[0::2] + others[0::2]]
    files["test"] += [(t, "bilibili") for t in traps[1::2] + others[1::2]]

    revs = reviews(corpora / "online_shopping_reviews_part1.csv")
    worded = dedup.fresh(take(rng, sorted({t for t in revs if REVIEW_WORD_RE.search(t)}), 2 * REVIEW_WORDS))
    plain = dedup.fresh(take(rng, sorted({t for t in revs if t and not REVIEW_WORD_RE.search(t)}), 2 * REVIEW_RANDOM))
    files["dev"] += [(t, "reviews") for t in worded[0::2] + plain[0::2]]
    files["test"] += [(t, "reviews") for t in worded[1::2] + plain[1::2]]
    return files


def default_corpora() -> Path:
    """``<repo>/../shared/corpora``; from a worktree under ``<root>/wt/<name>`` also ``<root>/shared``."""
    repo = Path(__file__).resolve().parents[2]
    candidates = [repo / ".." / "shared" / "corpora", repo / ".." / ".." / "shared" / "corpora"]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", type=Path, default=default_corpora())
    parser.add_argument("--out", type=Path, required=True, help="folder for unlabelled_{dev,test}.tsv")
    args = parser.parse_args(argv)
    if not args.corpora.is_dir():
        print(f"corpora folder not found: {args.corpora}", file=sys.stderr)
        return 2
    files = build(args.corpora)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        with (args.out / f"unlabelled_{name}.tsv").open("w", encoding="utf-8", newline="\n") as fh:
            fh.write(HEADER + "\n")
            for text, source in rows:
                fh.write(f"\t{text}\t{source}\t\n")
        counts: dict[str, int] = {}
        for _t, s in rows:
            counts[s] = counts.get(s, 0) + 1
        print(name, len(rows), counts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

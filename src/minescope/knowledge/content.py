"""The content lexicon: the words of mining-machine sales and crypto-trading promotion, as data.

    content/lexicon.tsv      term, category, means, language, rule, source: brands, mining words and software,
                             euphemisms, exchanges, OTC phrases, coins, and the context words the rules use
    content/pyasic-models.tsv  mining-machine model names by vendor (pyasic, Apache-2.0: pyasic-LICENSE)
    content/lookalikes.tsv   look-alike characters (形近字) of the lexicon's own characters
    content/variant-stoplist.tsv  homophone and look-alike forms that are ordinary words (jieba's dictionary, MIT)
    content/boundary-words.tsv  common two-character words a hit's edge makes with its neighbour (jieba, MIT)

``rule`` says when a hit counts: ``direct`` (alone), ``needs:G1,G2`` (only beside a hit of one of those
groups), ``unless:G`` (never beside one), both joined by ``;``; ``anchor`` terms are context only (a coin named
in the news is no finding) and ``exclude`` terms are benign phrases that hide the hits inside them (承兑汇票,
U盘, 煤矿机械). Groups are the categories, plus ``brand`` (any machine brand) and ``mining`` (mining words,
software and hosting). A user's own lexicon (the same columns) is added with ``MINESCOPE_CONTENT_LEXICON``.
docs/content.md describes every category and rule.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from minescope.knowledge import data_path

MINING_CATEGORIES = frozenset({"machine_brand", "machine_model", "mining_generic", "mining_software",
                               "mining_hosting", "euphemism", "concealment"})
TRADING_CATEGORIES = frozenset({"exchange", "otc", "trading"})
CONTEXT_CATEGORIES = frozenset({"coin", "hashrate", "trade", "payout", "bench", "ai"})
CATEGORIES = MINING_CATEGORIES | TRADING_CATEGORIES | CONTEXT_CATEGORIES | {"exclude"}
ALIAS_GROUPS = {"machine_brand": ("brand",), "mining_generic": ("mining",), "mining_software": ("mining",),
                "mining_hosting": ("mining",)}
GROUPS = CATEGORIES | {"brand", "mining"}
LANGUAGES = ("zh", "en", "abbr", "model")
# a model is a mining machine only beside a brand, a mining word, a coin, a hash rate or a euphemism
MODEL_RULE = "needs:brand,mining,coin,hashrate,euphemism"
VENDOR_BRANDS = {"Antminer": "Antminer", "Whatsminer": "Whatsminer", "Avalonminer": "Avalon",
                 "Innosilicon": "Innosilicon", "Goldshell": "Goldshell", "IceRiver": "IceRiver", "ePIC": "ePIC",
                 "Auradine": "Auradine", "BitAxe": "BitAxe", "Elphapex": "Elphapex", "LuckyMiner": "LuckyMiner",
                 "Braiins": "Braiins", "Hammer": "Hammer", "VolcMiner": "VolcMiner"}


class LexiconError(ValueError):
    """A lexicon line that cannot be used: ``where`` is ``file:line``."""

    def __init__(self, where: str, zh: str, en: str) -> None:
        super().__init__(f"{where}: {en}")
        self.where, self.zh, self.en = where, zh, en


@dataclass(frozen=True, slots=True)
class Term:
    """One lexicon entry. ``needs``/``unless`` are groups; ``anchor`` terms are context only; ``exclude`` terms
    are benign phrases."""

    term: str
    category: str
    means: str
    language: str
    needs: frozenset[str]
    unless: frozenset[str]
    anchor: bool
    exclude: bool
    source: str

    @property
    def groups(self) -> tuple[str, ...]:
        return (self.category, *ALIAS_GROUPS.get(self.category, ()))

    @property
    def rule(self) -> str:
        if self.exclude:
            return "exclude"
        if self.anchor:
            return "anchor"
        parts = []
        if self.needs:
            parts.append("needs:" + ",".join(sorted(self.needs)))
        if self.unless:
            parts.append("unless:" + ",".join(sorted(self.unless)))
        return ";".join(parts) or "direct"


def parse_rule(rule: str, where: str) -> tuple[frozenset[str], frozenset[str], bool, bool]:
    """(needs, unless, anchor, exclude) of a rule text."""
    rule = rule.strip()
    if rule in ("anchor", "exclude"):
        return frozenset(), frozenset(), rule == "anchor", rule == "exclude"
    needs: set[str] = set()
    unless: set[str] = set()
    if rule and rule != "direct":
        for part in rule.split(";"):
            name, _, groups = part.partition(":")
            chosen = {g.strip() for g in groups.split(",") if g.strip()}
            unknown = sorted(chosen - GROUPS)
            if name.strip() not in ("needs", "unless") or not chosen or unknown:
                raise LexiconError(where, f"规则 {rule!r} 无效（应为 direct、anchor、exclude 或 needs:组,… / unless:组"
                                          f"{'；未知的组 ' + ', '.join(unknown) if unknown else ''}）",
                                   f"rule {rule!r} is not valid (direct, anchor, exclude or needs:GROUP,… / "
                                   f"unless:GROUP{'; unknown groups ' + ', '.join(unknown) if unknown else ''})")
            (needs if name.strip() == "needs" else unless).update(chosen)
    return frozenset(needs), frozenset(unless), False, False


def read_lexicon(path: Path) -> list[Term]:
    """The terms of one lexicon file (TSV with a header; ``#`` lines are comments)."""
    terms = []
    with path.open(encoding="utf-8", newline="") as f:
        rows = csv.reader((line for line in f if not line.startswith("#")), delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(rows, None)
        if header is None or header[:5] != ["term", "category", "means", "language", "rule"]:
            raise LexiconError(f"{path.name}:1", "表头应为 term, category, means, language, rule, source",
                               "the header must be term, category, means, language, rule, source")
        for n, row in enumerate(rows, start=2):
            if not row or not row[0].strip():
                continue
            where = f"{path.name}:{n}"
            if len(row) < 5:
                raise LexiconError(where, "列数不足（需 term、category、means、language、rule）",
                                   "too few columns (term, category, means, language, rule)")
            term, category, means, language, rule = (c.strip() for c in row[:5])
            if category not in CATEGORIES:
                raise LexiconError(where, f"未知类别 {category}（可用：{', '.join(sorted(CATEGORIES))}）",
                                   f"unknown category {category} (one of {', '.join(sorted(CATEGORIES))})")
            if language not in LANGUAGES:
                raise LexiconError(where, f"未知语言 {language}（可用：{', '.join(LANGUAGES)}）",
                                   f"unknown language {language} (one of {', '.join(LANGUAGES)})")
            needs, unless, anchor, exclude = parse_rule(rule, where)
            terms.append(Term(term, category, means or term, language, needs, unless, anchor, exclude,
                              row[5].strip() if len(row) > 5 else path.name))
    return terms


def read_models(path: Path) -> list[Term]:
    """Mining-machine models (vendor, enum_name, model) as ``machine_model`` terms; a model counts only beside a
    brand, a mining word, a coin or a hash rate (``MODEL_RULE``: many are short, ``S9``, ``A11``, ``Max``)."""
    needs, unless, _, _ = parse_rule(MODEL_RULE, path.name)
    terms: dict[str, Term] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            model = (row.get("model") or "").strip()
            vendor = (row.get("vendor") or "").strip()
            # products are sold by family (M30S++), pyasic lists each hardware revision (M30S++ VE40)
            family = re.sub(r"\s+V[A-Z]*\d+$", "", model)
            chinese = "阿瓦隆 " + model[len("Avalon "):] if model.startswith("Avalon ") else ""  # 阿瓦隆 1246
            for name in dict.fromkeys((model, family, chinese)):
                if name and name.lower() not in terms:
                    terms[name.lower()] = Term(name, "machine_model", f"{VENDOR_BRANDS.get(vendor, vendor)} {name}",
                                               "model", needs, unless, False, False, "pyasic")
    return list(terms.values())


def read_lookalikes(path: Path) -> dict[str, str]:
    """Look-alike characters: character → the characters written for it."""
    out: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or line.startswith("char\t") or not line.strip():
                continue
            char, _, alikes = line.rstrip("\n").partition("\t")
            out[char] = out.get(char, "") + alikes.strip()
    return out


def load_lexicon(extra: Iterable[Path] = ()) -> list[Term]:
    """The bundled lexicon and models, then each extra lexicon file (a user's own terms)."""
    terms = read_lexicon(data_path("content", "lexicon.tsv")) + read_models(data_path("content", "pyasic-models.tsv"))
    for path in extra:
        terms += read_lexicon(path)
    return terms


def lookalikes() -> dict[str, str]:
    return read_lookalikes(data_path("content", "lookalikes.tsv"))


def boundary_words() -> dict[str, int]:
    """Common two-character words (word → jieba frequency) that a two-character hit's edge character makes with its
    neighbour (安全 in 人民币安全): ``boundary-words.tsv``, from jieba's dictionary."""
    out: dict[str, int] = {}
    with data_path("content", "boundary-words.tsv").open(encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#") and not line.startswith("word\t"):
                word, _, freq = line.rstrip("\n").partition("\t")
                out[word] = int(freq)
    return out


def variant_stoplist() -> frozenset[str]:
    """Homophone and look-alike forms that are ordinary words (货币 for 火币): never generated
    (``variant-stoplist.tsv``, from jieba's dictionary by ``benchmarks/content_variant_stoplist.py``)."""
    path = data_path("content", "variant-stoplist.tsv")
    with path.open(encoding="utf-8") as f:
        return frozenset(line.split("\t", 1)[0] for line in f
                         if line.strip() and not line.startswith("#") and not line.startswith("word\t"))

"""The evasion-aware matcher: lexicon terms in listings and posts, however they are written.

Sellers and promoters write 矿机 as 礦機, ｋｕａｎｇｊｉ, 矿 机, 矿🔥机, 旷机, kuang机, and 币安 as bian, BN, 币.安.
The matcher undoes what it can cheaply and exactly, then matches once:

1. Normalise each text a character at a time, keeping where every character came from: NFKC (full-width and
   compatibility forms, circled letters), lower case, enclosed letters (🅱) as letters, then every separator
   dropped — spaces, punctuation, symbols, emoji, zero-width and combining marks — remembering *that* one was
   dropped before each kept character (``Normalised.sep``), and traditional → simplified with OpenCC on what
   is left (one call per text).
2. One Aho-Corasick pass (ahocorasick-rs) over the normalised text, with the lexicon expanded at load time into
   the forms evaders use: homophones (同音字: one character of a term replaced by another of the same
   pinyin, among the 3,755 common characters of GB 2312 level 1, from pypinyin's own dictionary), look-alike
   characters (``lookalikes.tsv``), pinyin mixed into Chinese (``kuang机``, ``币an``, an initial: ``b安``) and
   the whole term in pinyin (``kuangji``, ``kuang ji``).
3. Each hit is checked where it sits: a term that ends in a Latin letter or digit must end at a word boundary
   (``ok`` is no hit in ``look``); separators inside a hit are allowed between Chinese characters, between
   letters spelled out one by one (``U S D T``) or where the term itself has one, never inside a word
   (``gate io`` is, ``ga teio`` is not); a pinyin hit must fall on syllable boundaries of the Latin words
   as they are written, syllable by syllable, never on letters run together across syllables of other words
   (``fang bian an quan`` is 方便安全, not 币安; the text's Chinese is never turned into pinyin at all).
   A hit inside a benign phrase of the lexicon (``exclude``: 承兑汇票, U盘, 煤矿机械) is dropped, and so is a
   two-character hit whose edge character makes a common word with its neighbour (币安 in 人民币安全: 安全).
4. The lexicon's rules decide per item (title, body and category together): ``needs`` terms count only
   beside a hit of the groups they name (算力服务器 beside a brand, model or coin; 跑分 beside a coin or OTC
   phrase), ``unless`` terms never beside their negative context (跑分 beside 安兔兔, 手机, 处理器). Weak
   variants — a homophone, look-alike or initial of a two-character term, a two-character term split by
   separators, or split by sentence punctuation — count only beside another hit or anchor word: 必安 in
   务必安装 or 币，安 in 人民币，安全 alone never make a finding.

``Matcher.candidates`` is the fast path for many items: whole batches normalised in a few C calls (NFKC,
lower, one regex, OpenCC) and one automaton pass over them; only the few items with a hit go through
``Matcher.match``, which gives each match its span in the original text.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise, product

import ahocorasick_rs

from minescope.knowledge.content import (
    CONTEXT_CATEGORIES,
    MINING_CATEGORIES,
    TRADING_CATEGORIES,
    Term,
    boundary_words,
    load_lexicon,
    lookalikes,
    variant_stoplist,
)

EVASIONS = ("fullwidth", "traditional", "split", "homophone", "lookalike", "pinyin", "mixed", "abbreviation")
"""The evasion classes a match can show (several at once): full-width or compatibility forms, traditional
characters, separators inside, a homophone, a look-alike character, the term in pinyin, pinyin mixed with
Chinese, a Latin abbreviation of the lexicon (BN, HB, OK, bian)."""

DELIM = "\ue000"  # between items of a batch (private use: never a separator, never in the lexicon)
SENTENCE_PUNCT = frozenset("，。！？；：、,.!?;:\n\r…")
ENCLOSED = {**{0x1F130 + i: chr(97 + i) for i in range(26)}, **{0x1F150 + i: chr(97 + i) for i in range(26)},
            **{0x1F170 + i: chr(97 + i) for i in range(26)}, **{0x1F1E6 + i: chr(97 + i) for i in range(26)},
            **{0x24B6 + i: chr(97 + i) for i in range(26)}, **{0x24D0 + i: chr(97 + i) for i in range(26)}}
"""Letters drawn as symbols (🅱, 🇧, Ⓑ, ⓑ): letters for the matcher (NFKC leaves the emoji forms alone)."""
_SEPARATORS_RE = re.compile(rf"[^\w{DELIM}]|_")  # after _OTHER_RE: ASCII punctuation and spaces
# A two-character hit whose edge character makes an ordinary word with its neighbour (jieba frequency at least
# this) is that word's part: any weak form, and an exchange's exact name (币安 in 人民币安全; 币安上 keeps:
# 安上 is rare)
WEAK_WORD_FREQ = 20
EXACT_WORD_FREQ = 500
MAX_PINYIN_FORMS = 8  # heteronym combinations of one term written in pinyin
# what lets a weak variant count: a crypto or mining word beside it (a commerce word such as 出售 or 注册 does not)
SUPPORT = (MINING_CATEGORIES | TRADING_CATEGORIES | {"coin", "hashrate", "payout"}) - {"concealment"}


def _is_cjk(c: str) -> bool:
    return "\u4e00" <= c <= "\u9fff" or "\u3400" <= c <= "\u4dbf" or "\uf900" <= c <= "\ufaff"


def _is_latin(c: str) -> bool:
    return "a" <= c <= "z" or "0" <= c <= "9"


@cache
def _converter() -> object:
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    return _converter().convert(text)  # type: ignore[attr-defined]


_CHAR: dict[str, str] = {}


def _char_form(ch: str) -> str:
    """One character as the matcher sees it: NFKC, lower case, enclosed letters as letters; "" for a separator."""
    form = _CHAR.get(ch)
    if form is None:
        form = "".join(c for c in unicodedata.normalize("NFKC", ch).lower().translate(ENCLOSED)
                       if c.isalnum())  # \w without "_": what the batch path's regex keeps
        _CHAR[ch] = form
    return form


@dataclass(slots=True)
class Normalised:
    """A text normalised for matching: ``text`` (no separators), and for each of its characters the index in
    the original it came from (``origin``), whether a separator was dropped just before it (``sep``, one more
    entry for the end), whether NFKC changed it (``wide``) and whether OpenCC did (``traditional``)."""

    text: str
    origin: list[int]
    sep: list[bool]
    wide: list[bool]
    traditional: list[bool]
    source: str = ""


def normalise(text: str) -> Normalised:
    chars: list[str] = []
    origin: list[int] = []
    sep: list[bool] = []
    wide: list[bool] = []
    pending = False
    for i, ch in enumerate(text):
        form = _char_form(ch)
        if not form:
            pending = True
            continue
        changed = form != ch.lower()
        for c in form:
            chars.append(c)
            origin.append(i)
            sep.append(pending)
            wide.append(changed)
            pending = False
    sep.append(True)  # the end is a boundary
    plain = "".join(chars)
    simple = to_simplified(plain) if plain else plain
    if len(simple) != len(plain):  # a phrase of another length: character by character keeps the offsets
        simple = "".join(c if len(s := to_simplified(c)) != 1 else s for c in plain)
    traditional = [a != b for a, b in zip(plain, simple, strict=True)]
    return Normalised(simple, origin, sep, wide, traditional, text)


def squeeze_batch(texts: Sequence[str]) -> str:
    """Many texts normalised as one string (``DELIM`` between them), in a few C calls: the fast path. The same
    forms as ``normalise`` gives character by character (separators out, compatibility forms through NFKC,
    enclosed letters, lower case, OpenCC), so an item ``match`` finds something in is always a candidate: every
    character outside ASCII, CJK and private use goes through ``_char_form`` (cached), ASCII separators through
    one regex."""
    big = _OTHER_RE.sub(_other_form, DELIM.join(texts))
    return to_simplified(_SEPARATORS_RE.sub("", big).lower())


_OTHER_RE = re.compile("[\u0080-\u33ff\ua000-\udfff\uf000-\U0010ffff]")


def _other_form(m: re.Match[str]) -> str:
    return _char_form(m.group())


# --- pinyin ----------------------------------------------------------------------------------------------

@cache
def _common_chars() -> str:
    """The 3,755 characters of GB 2312 level 1 (rows 16–55): the common characters homophones are drawn from."""
    out = []
    for row in range(16, 56):
        for cell in range(1, 95):
            try:
                out.append(bytes([0xA0 + row, 0xA0 + cell]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return "".join(out)


@cache
def _pinyin_index() -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """(character → its toneless syllables, syllable → common characters), from pypinyin's dictionary."""
    from pypinyin import Style, pinyin

    syllables: dict[str, tuple[str, ...]] = {}
    chars: dict[str, list[str]] = {}
    for c in _common_chars():
        forms = tuple(dict.fromkeys(s for s in pinyin(c, style=Style.NORMAL, heteronym=True)[0] if s.isalpha()))
        syllables[c] = forms
        for s in forms:
            chars.setdefault(s, []).append(c)
    return syllables, {s: "".join(cs) for s, cs in chars.items()}


def syllables_of(c: str) -> tuple[str, ...]:
    known = _pinyin_index()[0].get(c)
    if known is not None:
        return known
    from pypinyin import Style, pinyin

    return tuple(dict.fromkeys(s for s in pinyin(c, style=Style.NORMAL, heteronym=True)[0] if s.isalpha()))


@cache
def _syllable_set() -> frozenset[str]:
    return frozenset(s for s in _pinyin_index()[1] if s.isascii())


def segmentations(word: str) -> list[tuple[str, ...]]:
    """Every segmentation of a Latin word into pinyin syllables with the fewest syllables (none when it is no
    pinyin): "kuangji" → [("kuang", "ji")], "bian" → [("bian",)], "fangan" → [("fang", "an"), ("fan", "gan")]."""
    valid = _syllable_set()
    n = len(word)
    best: list[int | None] = [0] + [None] * n
    for end in range(1, n + 1):
        for start in range(max(0, end - 6), end):
            b = best[start]
            if b is not None and word[start:end] in valid and (best[end] is None or b + 1 < best[end]):  # type: ignore[operator]
                best[end] = b + 1
    if best[n] is None:
        return []
    out: list[tuple[str, ...]] = []

    def walk(end: int, tail: tuple[str, ...]) -> None:
        if end == 0:
            out.append(tail)
            return
        for start in range(max(0, end - 6), end):
            b = best[start]
            if b is not None and b + 1 == best[end] and word[start:end] in valid:
                walk(start, (word[start:end], *tail))
            if len(out) > 8:
                return

    walk(n, ())
    return out


# --- the expanded lexicon --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Pattern:
    """One form of a term in the automaton."""

    term: int
    evasion: str  # "" (as written) or one of EVASIONS
    weak: bool  # counts only beside another hit or an anchor word
    splits: frozenset[int]  # offsets where the term itself has a separator
    length: int
    syllables: tuple[str, ...] = ()  # a whole-pinyin form: confirmed syllable by syllable


@dataclass(frozen=True, slots=True)
class Match:
    """A term found in one field of an item: the span in the original text, its normalised form, the term,
    its category, the rule, the evasion classes seen, and whether the rules let it count (``counted``)."""

    field: str
    start: int
    end: int
    text: str
    normalised: str
    term: str
    category: str
    means: str
    rule: str
    evasions: tuple[str, ...]
    counted: bool = True

    def as_dict(self) -> dict[str, object]:
        return {"field": self.field, "start": self.start, "end": self.end, "text": self.text,
                "normalised": self.normalised, "term": self.term, "category": self.category, "means": self.means,
                "rule": self.rule, "evasions": list(self.evasions)}


@dataclass(slots=True)
class _Hit:
    where: str  # the field
    start: int  # in the normalised text
    end: int
    pattern: Pattern
    evasions: set[str]
    weak: bool
    n: Normalised = field(repr=False)


class Matcher:
    """The lexicon compiled: ``match(fields)`` for one item, ``candidates(texts)`` for many."""

    def __init__(self, terms: Sequence[Term] | None = None, alikes: Mapping[str, str] | None = None,
                 stoplist: Iterable[str] | None = None, words: Mapping[str, int] | None = None) -> None:
        self.terms: list[Term] = list(terms if terms is not None else load_lexicon())
        self.alikes = dict(alikes if alikes is not None else lookalikes())
        self.stoplist = frozenset(stoplist if stoplist is not None else variant_stoplist())
        self.words = dict(words if words is not None else boundary_words())
        forms: dict[str, list[Pattern]] = {}
        for i, t in enumerate(self.terms):
            for key, pattern in self._forms(i, t):
                if key:
                    forms.setdefault(key, []).append(pattern)
        self.forms = {k: tuple(v) for k, v in forms.items()}
        self.keys = list(self.forms)
        self.full = ahocorasick_rs.AhoCorasick(self.keys)
        self.fast = ahocorasick_rs.AhoCorasick(
            [k for k in self.keys if any(not self.terms[p.term].anchor and not self.terms[p.term].exclude
                                         for p in self.forms[k])])

    def _forms(self, i: int, t: Term) -> Iterable[tuple[str, Pattern]]:
        n = normalise(t.term)
        key = n.text
        splits = frozenset(k for k in range(1, len(key)) if n.sep[k])
        evasion = "abbreviation" if t.language == "abbr" else ""
        yield key, Pattern(i, evasion, False, splits, len(key))
        if t.exclude or t.category in CONTEXT_CATEGORIES or not key or not all(_is_cjk(c) for c in key):
            return  # variants only for Chinese terms that can be findings
        short = len(key) == 2
        homophones = _pinyin_index()[1]
        for k, c in enumerate(key):
            head, tail = key[:k], key[k + 1:]
            for s in syllables_of(c):
                for h in homophones.get(s, ""):
                    if h != c and head + h + tail not in self.stoplist:
                        yield head + h + tail, Pattern(i, "homophone", short, splits, len(key))
                yield head + s + tail, Pattern(i, "mixed", False, splits, len(key) - 1 + len(s))
                if short:
                    yield head + s[0] + tail, Pattern(i, "mixed", True, splits, len(key))
            for h in self.alikes.get(c, ""):
                if head + h + tail not in self.stoplist:
                    yield head + h + tail, Pattern(i, "lookalike", short, splits, len(key))
        combos = list(product(*(syllables_of(c) or ("",) for c in key)))[:MAX_PINYIN_FORMS]
        for combo in combos:
            if all(combo):
                yield "".join(combo), Pattern(i, "pinyin", False, splits, len("".join(combo)), tuple(combo))

    # --- the fast path ---------------------------------------------------------------------------------

    def candidates(self, texts: Sequence[str]) -> list[int]:
        """Indices of the texts with any hit of a term that can make a finding (a superset of those
        ``match`` finds something in)."""
        if not texts:
            return []
        big = squeeze_batch(texts)
        starts = [m.end() for m in re.finditer(DELIM, big)]
        if len(starts) != len(texts) - 1:  # a text holding DELIM itself (never in real text): each alone
            return [i for i, t in enumerate(texts) if self.fast.find_matches_as_indexes(squeeze_batch([t]))]
        return sorted({bisect.bisect_right(starts, start) for _, start, _ in self.fast.find_matches_as_indexes(big)})

    # --- one item ----------------------------------------------------------------------------------------

    def match(self, fields: Mapping[str, str | None]) -> list[Match]:
        """Every match in an item's fields (title, body, category …); ``counted`` tells which the rules let
        count. The context of the rules is the whole item."""
        hits: list[_Hit] = []
        excluded: list[tuple[str, int, int]] = []
        for name, text in fields.items():
            if not text:
                continue
            n = normalise(text)
            for index, start, end in self.full.find_matches_as_indexes(n.text, overlapping=True):
                for p in self.forms[self.keys[index]]:
                    t = self.terms[p.term]
                    if t.exclude:
                        excluded.append((name, start, end))
                        continue
                    hit = self._check(name, n, start, end, p, t)
                    if hit is not None:
                        hits.append(hit)
        hits = [h for h in hits if not any(f == h.where and s < h.end and h.start < e and not
                                           (h.start <= s and e <= h.end and (h.end - h.start) > (e - s))
                                           for f, s, e in excluded)]
        return self._decide(hits)

    def _check(self, name: str, n: Normalised, start: int, end: int, p: Pattern, t: Term) -> _Hit | None:
        s = n.text
        if start < 0:
            return None
        if _is_latin(s[start]) and start > 0 and _is_latin(s[start - 1]) and not n.sep[start] and not (
                t.category == "coin" and s[start - 1].isdigit() and s[start].isalpha()):
            return None  # a Latin term starts at a word boundary (an amount's coin may follow its number: 100U)
        if _is_latin(s[end - 1]) and end < len(s) and _is_latin(s[end]) and not n.sep[end]:
            return None  # … and ends at one
        if t.category == "coin" and len(s[start:end]) == 1 and not (start > 0 and s[start - 1].isdigit()):
            return None  # a one-letter coin (U) is one only in an amount: 100U, not the U of a CPU
        evasions = {p.evasion} if p.evasion else set()
        weak = p.weak
        inner = [k for k in range(start + 1, end) if n.sep[k]]
        if inner:
            spelled = len(inner) == end - start - 1  # every character apart: U S D T
            for k in inner:
                if k - start in p.splits or spelled or _is_cjk(s[k - 1]) or _is_cjk(s[k]):
                    continue
                if p.syllables:
                    continue  # checked syllable by syllable below
                return None
            if any(k - start not in p.splits for k in inner):
                evasions.add("split")
                gaps = "".join(n.source[n.origin[k - 1] + 1:n.origin[k]] for k in inner)
                pair = end - start == 2 and not p.syllables
                if pair and (p.weak or SENTENCE_PUNCT & set(gaps)):
                    return None  # 币，安 in 人民币，安全; a split homophone of two characters: too loose
                if pair or SENTENCE_PUNCT & set(gaps):
                    weak = True
        if end - start == 2 and not p.syllables and _is_cjk(s[start]) and _is_cjk(s[end - 1]):
            limit = WEAK_WORD_FREQ if weak or p.evasion in ("homophone", "lookalike") else \
                EXACT_WORD_FREQ if t.category == "exchange" else 0
            left = s[start - 1:start + 1] if start > 0 and not n.sep[start] else ""
            right = s[end - 1:end + 1] if end < len(s) and not n.sep[end] else ""
            if limit and max(self.words.get(left, 0), self.words.get(right, 0)) >= limit:
                return None  # 安全 in 人民币安全, 安排 in 被安排: the hit's edge belongs to an ordinary word
        if p.syllables and not _syllables_fit(s, n.sep, start, end, p.syllables):
            return None
        if t.language == "abbr" and segmentations(s[start:end]) and _pinyin_prose(s, n.sep, start, end):
            return None  # "bian" among pinyin words is a syllable (便, 边), not 币安
        orig = n.origin[start:end]
        if any(n.wide[k] for k in range(start, end)):
            evasions.add("fullwidth")
        if any(n.traditional[k] for k in range(start, end)):
            evasions.add("traditional")
        if p.syllables and any(_is_cjk(c) for c in s[start:end]):
            return None
        if not orig:
            return None
        return _Hit(name, start, end, p, evasions, weak, n)

    def _decide(self, hits: list[_Hit]) -> list[Match]:
        """Which hits count, by the rules over the whole item."""
        present: set[str] = set()  # groups of every hit (context)
        for h in hits:
            present.update(self.terms[h.pattern.term].groups)
        counted: set[int] = set()
        changed = True
        while changed:  # a model licenses a brand word and the brand word the model: to a fixed point
            changed = False
            support = {g for j in counted for g in self.terms[hits[j].pattern.term].groups}
            for j, h in enumerate(hits):
                if j in counted:
                    continue
                t = self.terms[h.pattern.term]
                if t.anchor or (t.unless & present):
                    continue
                strong = {g for k, o in enumerate(hits) if k != j and not o.weak
                          and (self.terms[o.pattern.term].anchor or k in counted
                               or self.terms[o.pattern.term].category in ("machine_brand", "machine_model"))
                          for g in self.terms[o.pattern.term].groups}
                if t.needs and not (t.needs & (strong | support)):
                    continue
                if h.weak and not any(k != j and not o.weak and self.terms[o.pattern.term].category in SUPPORT
                                      for k, o in enumerate(hits)):
                    continue
                counted.add(j)
                changed = True
        out = []
        for j, h in enumerate(hits):
            t = self.terms[h.pattern.term]
            orig_start = h.n.origin[h.start]
            orig_end = h.n.origin[h.end - 1] + 1
            out.append(Match(h.where, orig_start, orig_end, h.n.source[orig_start:orig_end],
                             h.n.text[h.start:h.end], t.term, t.category,
                             t.means, t.rule, tuple(e for e in EVASIONS if e in h.evasions), j in counted))
        return out


def _syllables_fit(s: str, sep: list[bool], start: int, end: int, syllables: tuple[str, ...]) -> bool:
    """A whole-pinyin hit as written: its Latin words (split where separators were) each segment, with the
    fewest syllables, into the term's syllables in order."""
    cuts = [start] + [k for k in range(start + 1, end) if sep[k]] + [end]
    at = 0
    for a, b in pairwise(cuts):
        word = s[a:b]
        fits = False
        for seg in segmentations(word):
            if tuple(syllables[at:at + len(seg)]) == seg:
                at += len(seg)
                fits = True
                break
        if not fits:
            return False
    return at == len(syllables)


def _pinyin_prose(s: str, sep: list[bool], start: int, end: int) -> bool:
    """Whether the Latin word before or after [start, end) is itself pinyin: then the text is written in
    pinyin, and a word that is one syllable is that syllable."""
    if start > 0 and _is_latin(s[start - 1]):
        a = start - 1
        while a > 0 and _is_latin(s[a - 1]) and not sep[a]:
            a -= 1
        if segmentations(s[a:start]):
            return True
    if end < len(s) and _is_latin(s[end]):
        b = end + 1
        while b < len(s) and _is_latin(s[b]) and not sep[b]:
            b += 1
        if segmentations(s[end:b]):
            return True
    return False


@cache
def default_matcher() -> Matcher:
    """The bundled lexicon (and ``MINESCOPE_CONTENT_LEXICON``'s files), compiled once per process."""
    from minescope import settings
    from minescope.errors import InputError
    from minescope.knowledge.content import LexiconError

    extra = settings.content_lexicons()
    try:
        return Matcher(load_lexicon(extra))
    except LexiconError as e:
        raise InputError(f"MINESCOPE_CONTENT_LEXICON 的词表 {e.where}：{e.zh}；请按 docs/content.md 改正",
                         f"MINESCOPE_CONTENT_LEXICON lexicon {e.where}: {e.en}; correct it as docs/content.md "
                         "shows") from None
    except OSError as e:
        where = e.filename or "MINESCOPE_CONTENT_LEXICON"
        raise InputError(f"{where}: 无法读取 MINESCOPE_CONTENT_LEXICON 的词表（{e.strerror}）；请检查路径",
                         f"{where}: cannot read the MINESCOPE_CONTENT_LEXICON lexicon ({e.strerror}); check the "
                         "path") from None


def groups_of(matches: Iterable[Match]) -> tuple[set[str], set[str]]:
    """(mining categories, trading categories) among the counted matches."""
    counted = [m for m in matches if m.counted]
    return ({m.category for m in counted if m.category in MINING_CATEGORIES},
            {m.category for m in counted if m.category in TRADING_CATEGORIES})

"""Detectors of the content dimension, over the ``items`` of every export of a scan:

    lexicon   the evasion-aware matcher (``matcher``): a fast pass over whole batches picks the items with any
              hit; each of those is matched field by field with its spans, and the lexicon's rules decide
              which matches count

``ContentDetector`` turns an item's counted matches into findings about the item — a ``listing`` subject for a
listing, a ``post`` subject for a post, comment or app — with the seller or author as its organisation (so one
seller's listings, or one promoter's posts, meet in one case): ``prohibited_listing`` for mining machines,
software, hosting and their euphemisms (a listing of one under another category is misplaced), and
``trading_promotion`` for exchanges, OTC and USDT trade. Each match is one piece of evidence: the field, the
span in the original text (``start``, ``end``: character offsets), the text matched, its normalised form, the
lexicon term, its category, the rule and the evasion classes seen; the item's own text is kept beside them
(``content_item``) so the console shows it with the matches highlighted.

Known false positives: an item that *discusses* a mining machine or an exchange (news, a warning) is still an
item that names it — the finding is a lead for a platform's reviewer, not a verdict; a euphemism beside a coin
(an AI-compute offer that also mentions bitcoin). Known misses: a term the lexicon lacks, a picture of text, a
homophone outside the 3,755 common characters, two characters of a term replaced at once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from minescope.dimensions.content.detectors.matcher import Match, Matcher, default_matcher
from minescope.dimensions.content.kinds import PROHIBITED_LISTING, TRADING_PROMOTION
from minescope.knowledge.content import MINING_CATEGORIES, TRADING_CATEGORIES
from minescope.model import Attribution, Dimension, Evidence, Finding, Subject, SubjectType, Text
from minescope.registry import KindSpec

FIELDS = ("title", "body", "category")  # the fields matched, in this order
TEXT_KEPT = 4000  # characters of an item's body kept with its finding (the matches' spans beyond are still given)
MATCHES_KEPT = 12  # evidence rows of matches per finding
LEXICON_SOURCE = "minescope content lexicon (knowledge/data/content)"
MINING_CATEGORY_RE = re.compile(r"矿|礦|区块链|區塊鏈|数字货币|虚拟货币|比特币|mining|miner|crypto|blockchain", re.I)

FIELD_LABELS = {"title": ("标题", "title"), "body": ("正文", "body"), "category": ("类目", "category")}
CATEGORY_LABELS = {
    "machine_brand": ("矿机品牌", "mining-machine brand"), "machine_model": ("矿机型号", "mining-machine model"),
    "mining_generic": ("挖矿用语", "mining word"), "mining_software": ("挖矿软件或教程", "mining software or tutorial"),
    "mining_hosting": ("矿机托管或回收", "mining hosting or resale"),
    "euphemism": ("矿机的委婉说法", "euphemism for a mining machine"),
    "concealment": ("要求隐瞒商品信息", "asks buyers to hide what the goods are"),
    "exchange": ("虚拟货币交易所", "crypto exchange"), "otc": ("场外交易或 USDT 买卖", "OTC or USDT trade"),
    "trading": ("炒币用语", "crypto-trading word"),
}
EVASION_LABELS = {
    "fullwidth": ("全角或兼容字符", "full-width or compatibility forms"),
    "traditional": ("繁体", "traditional characters"),
    "split": ("字间插入符号", "split by spaces or symbols"), "homophone": ("同音字", "homophone"),
    "lookalike": ("形近字", "look-alike character"), "pinyin": ("拼音", "pinyin"),
    "mixed": ("拼音与汉字混写", "pinyin mixed with Chinese"), "abbreviation": ("缩写", "abbreviation"),
}


@dataclass
class Item:
    """One row of ``items`` as the findings need it."""

    id: str | None
    kind: str
    title: str | None
    body: str | None
    category: str | None
    author: str | None
    url: str | None
    ts: Any
    platform: str | None
    input: str | None
    row: int

    @property
    def fields(self) -> dict[str, str | None]:
        return {"title": self.title, "body": self.body, "category": self.category}


class ContentDetector:
    """Add ``items`` batches as a scan reads them; ``findings()`` gives what they hold."""

    def __init__(self, matcher: Matcher | None = None, now: float | None = None) -> None:
        self.matcher = matcher or default_matcher()
        self.now = time.time() if now is None else now
        self.found: list[Finding] = []
        self.items = 0
        self.candidates = 0

    def add(self, batch: pa.RecordBatch | pa.Table) -> None:
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        if table.num_rows == 0:
            return
        texts = joined_texts(table)
        chosen = self.matcher.candidates(texts)
        self.items += table.num_rows
        self.candidates += len(chosen)
        if not chosen:
            return
        rows = table.take(pa.array(chosen, pa.int64())).to_pylist()
        for n, row in zip(chosen, rows, strict=True):
            item = Item(row.get("id"), row.get("kind") or "listing", row.get("title"), row.get("body"),
                        row.get("category"), row.get("author"), row.get("url"), row.get("ts"), row.get("platform"),
                        row.get("input"), self.items - table.num_rows + n)
            self.found += item_findings(item, self.matcher.match(item.fields), self.now)

    def findings(self) -> list[Finding]:
        return list(self.found)


def joined_texts(table: pa.Table) -> list[str]:
    """Title, body and category of every row as one text (the fast path's input)."""
    cols = [pc.fill_null(table.column(f).cast(pa.string()), "") for f in FIELDS]
    texts: list[str] = pc.binary_join_element_wise(*cols, " ").to_pylist()
    return texts


def detect(tables: Mapping[str, pa.Table], matcher: Matcher | None = None, now: float | None = None) -> list[Finding]:
    """The findings of the ``items`` table."""
    detector = ContentDetector(matcher, now)
    items = tables.get("items")
    if items is not None:
        for batch in items.to_batches(max_chunksize=65536):
            detector.add(batch)
    return detector.findings()


def shown(matches: Iterable[Match]) -> list[Match]:
    """The counted matches as a reader sees them: one per span (the evasion classes of every form that found
    it), none inside a longer one of the same field."""
    by_span: dict[tuple[str, int, int], Match] = {}
    for m in matches:
        if not m.counted:
            continue
        key = (m.field, m.start, m.end)
        first = by_span.get(key)
        if first is None:
            by_span[key] = m
        elif set(m.evasions) - set(first.evasions):
            from dataclasses import replace

            merged = tuple(e for e in (*first.evasions, *m.evasions) if e in set(first.evasions) | set(m.evasions))
            by_span[key] = replace(first, evasions=tuple(dict.fromkeys(merged)))
    spans = list(by_span.values())
    out = [m for m in spans if not any(o is not m and o.field == m.field and o.start <= m.start and m.end <= o.end
                                       and (o.end - o.start) > (m.end - m.start) for o in spans)]
    order = {f: i for i, f in enumerate(FIELDS)}
    return sorted(out, key=lambda m: (order.get(m.field, 9), m.start, m.end))


def item_findings(item: Item, matches: Sequence[Match], now: float) -> list[Finding]:
    """Zero, one or two findings (mining, trading) about one item."""
    matches = shown(matches)
    mining = [m for m in matches if m.category in MINING_CATEGORIES]
    trading = [m for m in matches if m.category in TRADING_CATEGORIES]
    out = []
    if mining:
        out.append(_finding(PROHIBITED_LISTING, item, mining, now))
    if trading:
        out.append(_finding(TRADING_PROMOTION, item, trading, now))
    return out


def misplaced(item: Item, matches: Sequence[Match]) -> bool:
    """A listing of a mining machine under a category that is not about mining (Alibaba.com 2021: sellers
    who misplace categories are penalised)."""
    if item.kind != "listing" or not item.category or not item.category.strip():
        return False
    offers = any(m.category in ("machine_brand", "machine_model", "mining_generic", "euphemism") for m in matches)
    in_category = any(m.field == "category" for m in matches)
    return offers and not in_category and MINING_CATEGORY_RE.search(item.category) is None


def _subject(item: Item) -> Subject:
    kind = SubjectType.LISTING if item.kind == "listing" else SubjectType.POST
    ident = item.id or item.url or f"{item.input or ''}#{item.row + 1}"
    return Subject(kind, f"{item.platform}:{ident}" if item.platform and item.id else ident)


ORGANISATION_RE = re.compile(r"(公司|集团|中心|大学|学院|研究院|研究所|医院|银行|局|厂|合作社|事务所)$"
                             r"|^[0-9A-HJ-NPQRTUWXY]{18}$")
"""A seller or author that names an organisation (a company, a unit, an 18-character unified social credit code):
the same organisation on every platform and in the registry, so its case meets its other findings."""


def _organisation(item: Item) -> Attribution | None:
    """The seller or author as the finding's organisation: an organisation's name as it is, a shop or account name
    with its platform (two platforms' 小王 are two sellers)."""
    if not item.author or not item.author.strip():
        return None
    name = item.author.strip()
    own = ORGANISATION_RE.search(name) is not None or not item.platform
    return Attribution(ip="", org_name=name if own else f"{name}（{item.platform}）", source="content")


def _seen(item: Item, now: float) -> float:
    ts = item.ts
    if ts is None:
        return now
    return float(ts.timestamp()) if hasattr(ts, "timestamp") else float(ts)


def _reason(m: Match) -> Text:
    fz, fe = FIELD_LABELS.get(m.field, (m.field, m.field))
    cz, ce = CATEGORY_LABELS.get(m.category, (m.category, m.category))
    ez = "、".join(EVASION_LABELS[e][0] for e in m.evasions)
    ee = ", ".join(EVASION_LABELS[e][1] for e in m.evasions)
    same = m.text == m.term
    named = f"，{m.means}" if m.category in ("machine_brand", "machine_model", "exchange") else ""  # a proper name
    return Text(zh=f"{fz}中有「{m.text}」{'' if same else '（即「' + m.term + '」）'}：{cz}{named}"
                   + (f"；规避写法：{ez}" if ez else ""),
                en=f"the {fe} has “{m.text}”{'' if same else ' (“' + m.term + '”)'}: {ce}, {m.means}"
                   + (f"; written evasively: {ee}" if ee else ""))


def _finding(kind: KindSpec, item: Item, matches: list[Match], now: float) -> Finding:
    wrong_place = kind == PROHIBITED_LISTING and misplaced(item, matches)
    plain = any(not m.evasions and not m.rule.startswith("needs") for m in matches)
    confidence = (0.9 if plain else 0.8) + (0.05 if wrong_place else 0.0)
    reasons = [_reason(m) for m in matches[:MATCHES_KEPT]]
    if wrong_place:
        reasons.append(Text(zh=f"挖矿设备发布在「{item.category}」类目下：错放类目以规避审核",
                            en=f"a mining machine listed under “{item.category}”: a misplaced category, "
                               "which evades review"))
    evidence = [Evidence("content_match", f"{m.field}[{m.start}:{m.end}] {m.text} → {m.term}",
                         m.as_dict(), LEXICON_SOURCE) for m in matches[:MATCHES_KEPT]]
    body = item.body or ""
    evidence.append(Evidence("content_item", item.title or body[:80], {
        "item_kind": item.kind, "title": item.title, "body": body[:TEXT_KEPT],
        "body_truncated": len(body) > TEXT_KEPT, "category": item.category, "author": item.author,
        "platform": item.platform, "url": item.url, "misplaced": wrong_place,
        "evasions": sorted({e for m in matches for e in m.evasions}),
        "spans": [[m.field, m.start, m.end] for m in matches]}, item.input or ""))
    seen = _seen(item, now)
    return Finding(kind=kind, subject_ip=None, peer=None, flows=(), confidence=min(confidence, 0.95),
                   severity=kind.severity,
                   reasons=tuple(reasons), evidence=tuple(evidence), source=item.input or "",
                   attribution=_organisation(item), dimension=Dimension.CONTENT, subject=_subject(item),
                   first_seen=seen, last_seen=seen)


__all__ = ["ContentDetector", "Item", "detect", "item_findings", "joined_texts", "misplaced", "shown"]

"""What SQL cannot do, on what SQL narrowed: remarks through the content matcher, and cycles through networkx.

Remarks: only the distinct remark texts of the transactions are matched (a bank's remarks repeat: 工资, 房租,
转账), first through the matcher's whole automaton in batches, then one by one where it hit; a remark names a coin,
USDT, an exchange or OTC trading (the content lexicon's ``coin``, ``exchange``, ``otc`` and ``trading`` terms), or
tells payers what not to write (the typologies' ``hush`` phrases, normalised the same way).

Cycles: SQL keeps the transfers of at least ``cycle_min_amount`` between accounts that both receive and pay that
have a matching transfer into their payer and out of their payee (``signals.cycle_hops_sql``); networkx keeps the
accounts of strongly connected components of three or more; a depth-first search then follows the transfers in
time order, each moving the previous hop's amount within ±``cycle_amount_band`` (money passed along, fees taken on
the way), all within ``cycle_window_days`` of the first, up to ``cycle_max_length`` accounts, back to the first
payer: layering, not any loop of unrelated payments. Each time round is counted once.
"""

from __future__ import annotations

import bisect
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from minescope.engines.sql import SqlEngine
from minescope.knowledge.funds import Typologies

REMARK_CATEGORIES = frozenset({"coin", "exchange", "otc", "trading"})
REMARK_BATCH = 20_000
MAX_STEPS = 5_000_000  # search steps at most (a dense graph): the finding's evidence says when it was cut


@dataclass(frozen=True)
class RemarkHit:
    remark: str
    coin: int
    hush: int
    terms: tuple[str, ...]


def match_remarks(remarks: Sequence[str], hush_phrases: Sequence[str]) -> list[RemarkHit]:
    """The remarks that name coins or exchanges, or hush the payer."""
    from minescope.dimensions.content.detectors.matcher import DELIM, default_matcher, normalise, squeeze_batch

    matcher = default_matcher()
    hush = [normalise(p).text for p in hush_phrases]
    hush_re = re.compile("|".join(re.escape(h) for h in hush if h)) if any(hush) else None
    out: list[RemarkHit] = []
    for start in range(0, len(remarks), REMARK_BATCH):
        texts = [r for r in remarks[start:start + REMARK_BATCH] if r and DELIM not in r]
        if not texts:
            continue
        big = squeeze_batch(texts)
        starts = [m.end() for m in re.finditer(DELIM, big)]
        hit = sorted({bisect.bisect_right(starts, s) for _, s, _ in matcher.full.find_matches_as_indexes(big)})
        hushed = set()
        if hush_re is not None:
            hushed = {bisect.bisect_right(starts, m.start()) for m in hush_re.finditer(big)}
        for i in sorted(set(hit) | hushed):
            if i >= len(texts):
                continue
            terms: tuple[str, ...] = ()
            if i in hit:
                matches = matcher.match({"remark": texts[i]})
                terms = tuple(sorted({m.term for m in matches if m.category in REMARK_CATEGORIES
                                      and (m.counted or not m.evasions)}))
            h = 1 if i in hushed and hush_re is not None and hush_re.search(normalise(texts[i]).text) else 0
            if terms or h:
                out.append(RemarkHit(texts[i], 1 if terms else 0, h, terms))
    return out


REMARK_HITS = pa.schema([("remark", pa.string()), ("coin", pa.int64()), ("hush", pa.int64())])
CYCLES = pa.schema([("account", pa.string()), ("cycles", pa.int64())])


def remark_table(hits: Sequence[RemarkHit]) -> pa.Table:
    return pa.table({"remark": [h.remark for h in hits], "coin": [h.coin for h in hits],
                     "hush": [h.hush for h in hits]}, schema=REMARK_HITS)


Hop = tuple[str, str, int, float]  # (payer, payee, time µs, amount)


@dataclass(frozen=True)
class Cycle:
    accounts: tuple[str, ...]  # in the order the money went
    hops: tuple[tuple[str, str, int, float], ...]  # (payer, payee, time µs, amount)


@dataclass
class CycleResult:
    cycles: list[Cycle]
    edges: int
    cut: bool  # the enumeration stopped at MAX_CYCLES, or the graph was cut to cycle_max_edges


def find_cycles(engine: SqlEngine, t: Typologies, hops_sql: str) -> CycleResult:
    """Time-ordered, amount-consistent cycles among the candidate hops of ``hops_sql`` (src, dst, t_us, amount):
    networkx keeps the accounts of strongly connected components of three or more, then a depth-first search
    follows the transfers in time order (each within the band of the one before, all within the window of the
    first) back to the first payer."""
    import networkx as nx

    rows = engine.query(hops_sql)
    cap = int(t.param("cycle_max_edges"))
    cut = False
    if len(rows) > cap:
        rows = sorted(rows, key=lambda r: (-float(r["amount"]), r["src"], r["dst"], int(r["t_us"])))[:cap]
        cut = True
    graph = nx.DiGraph()
    graph.add_edges_from((r["src"], r["dst"]) for r in rows)
    keep = [c for c in nx.strongly_connected_components(graph) if len(c) >= 3]
    nodes = set().union(*keep) if keep else set()
    out: dict[str, list[tuple[int, float, str]]] = defaultdict(list)
    for r in rows:
        if r["src"] in nodes and r["dst"] in nodes:
            out[r["src"]].append((int(r["t_us"]), float(r["amount"]), r["dst"]))
    for listed in out.values():
        listed.sort()
    window = int(float(t.param("cycle_window_days")) * 86_400_000_000)
    band = float(t.param("cycle_amount_band"))
    longest = int(t.param("cycle_max_length"))
    runs: dict[frozenset[Hop], tuple[tuple[str, ...], tuple[Hop, ...]]] = {}
    steps = 0
    for u in sorted(out):
        for t0, a0, first_payee in out[u]:
            stack: list[tuple[str, int, float, tuple[tuple[str, str, int, float], ...]]] = [
                (first_payee, t0, a0, ((u, first_payee, t0, a0),))]
            while stack:
                x, t_prev, a_prev, path = stack.pop()
                steps += 1
                if steps > MAX_STEPS:
                    cut = True
                    break
                hops = out.get(x, [])
                for t1, a1, y in hops[bisect.bisect_left(hops, (t_prev, -1.0, "")):]:
                    if t1 > t0 + window:
                        break
                    if abs(a1 - a_prev) > band * a_prev:
                        continue
                    step = (x, y, t1, a1)
                    if y == u and len(path) >= 2:
                        ring = (*(h[0] for h in path), x)
                        first = ring.index(min(ring))
                        run = frozenset((*path, step))  # one time round, whichever account it was found from
                        if run not in runs:
                            runs[run] = (ring[first:] + ring[:first], (*path, step))
                    elif len(path) + 1 < longest and y != u and all(h[0] != y for h in path):
                        stack.append((y, t1, a1, (*path, step)))
            if steps > MAX_STEPS:
                break
        if steps > MAX_STEPS:
            break
    found = sorted((Cycle(ring, hops) for ring, hops in runs.values()), key=lambda c: (c.accounts, c.hops))
    return CycleResult(found, len(rows), cut)


def cycle_table(result: CycleResult) -> pa.Table:
    """Per account: how many times money went round a cycle through it."""
    counts: dict[str, int] = defaultdict(int)
    for c in result.cycles:
        for a in c.accounts:
            counts[a] += 1
    names = sorted(counts)
    return pa.table({"account": names, "cycles": [counts[a] for a in names]}, schema=CYCLES)

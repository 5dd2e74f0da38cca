"""A bank's transactions with planted 跑分 gangs and OTC merchants, published beside its truth.

    python benchmarks/funds_generator.py OUT [--persons 10000] [--days 45] [--gangs 20] [--merchants 30] [--seed 1]

Deterministic for a seed. Writes into OUT, every file named like the funds tables' fields (``minescope scan``
reads them without a mapping):

    transactions/day-NNN.parquet   one file per local day: every transfer between two of the bank's accounts is
                                   two statement lines (the payer's ``out`` and the payee's ``in``); a transfer with
                                   an outside account (an exchange's) is one
    bank_accounts.parquet          every account: holder, type, owner type, opened, region
    known_counterparties.parquet   the exchange and OTC settlement accounts the bank knows of
    usdt_rates.parquet             the day's CNY price of one USDT: GENERATED (a random walk from 7.20), not a
                                   market price
    truth.csv                      account, typology (money_mule | otc_merchant), shape, group
    README.md                      what is in it, the shapes below, the counts

Background (labelled nothing): persons (salary on the 10th from an employer's company account, retail payments
to merchants and to personal-QR stalls, utilities on the 5th, rent on the 1st to landlords, transfers to
friends; 3 % work at night; 5 % share a phone with a relative), merchants (many repeat customers by day, the
takings swept every evening to the owner's own account: fast in-out and consolidation, the classic false
positive), personal-QR stalls (a person's card collecting 20–60 small payments a day from a pool of regulars),
landlords (2–10 tenants paying monthly), employers (salary runs to hundreds of employees).

Planted (``truth.csv``), with the shapes of the 2021 断卡 cases:
  money_mule / collection_card   a gang's bought cards (3–8), used from one or two phones, dormant for the first
                                 third to half of the period and then busy: 10–40 payers a day who pay once each
                                 (100–5,000 yuan, odd amounts), mostly between 20:00 and 03:00, forwarded within
                                 0.5–3 hours to the gang's consolidator; some gangs' payers write 勿备注 or 不要备注
  money_mule / consolidator      the gang's second-level card: takes from its cards, pays on to an OTC merchant,
                                 a known exchange account or (half the gangs) round a layering cycle
  money_mule / layering_cycle    3–5 further cards that pass the consolidator's money round a cycle, hop after hop
                                 within hours, a small fee off each hop, before it leaves for an exchange
  otc_merchant / otc_merchant    a card that buys USDT from strangers (pays them q × the day's price) and sells it
                                 (is paid q × price), 5–25 trades a day, q 100–5,000 USDT whole; a third deal with a
                                 known exchange's settlement account; some payers write USDT, 买U or 货款
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

START = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(hours=8)  # local midnight of 2026-01-01 (UTC+8)
US = 1_000_000
DAY_US = 86_400 * US
HOUR_US = 3_600 * US

SCHEMA = pa.schema([
    ("txn_id", pa.string()), ("account", pa.string()), ("counterparty", pa.string()),
    ("counterparty_name", pa.string()), ("amount", pa.float64()), ("currency", pa.string()),
    ("direction", pa.string()), ("ts", pa.timestamp("us", tz="UTC")), ("channel", pa.string()),
    ("remark", pa.string()), ("device", pa.string()), ("ip", pa.string()), ("source", pa.string()),
    ("input", pa.string()),
])

P2P_REMARKS = np.array(["", "", "", "转账", "饭钱", "还你的", "红包", "车费", "AA", "生日快乐", "游戏币", "谢谢"])
RETAIL_REMARKS = np.array(["", "", "消费", "扫码付款", "货款"])
MULE_HUSH = np.array(["勿备注", "不要备注", "备注勿写", "别备注"])
OTC_REMARKS = np.array(["USDT", "买U", "货款", "u", "泰达币", "出U"])


@dataclass
class Population:
    n: int  # accounts 0..n-1
    persons: np.ndarray
    employers: np.ndarray
    merchants: np.ndarray
    merchant_owner_acct: np.ndarray  # the merchant's sweep target
    stalls: np.ndarray  # personal-QR stall persons
    stall_pool: list[np.ndarray]
    landlords: np.ndarray
    tenant_of: np.ndarray  # per person: landlord account or -1
    employer_of: np.ndarray  # per person: employer account or -1
    friends: np.ndarray  # persons × 5
    night: np.ndarray  # per account: works at night
    device: np.ndarray  # per account: device number
    holder: np.ndarray  # per account: holder number
    owner_type: np.ndarray  # per account: 0 person, 1 company
    utility: int
    truth: dict[int, tuple[str, str, str]] = field(default_factory=dict)


def _text(prefix: str, ids: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + the zero-padded number, for millions of ids without a Python string each."""
    digits = pc.utf8_lpad(pc.cast(pa.array(ids.astype(np.int64)), pa.string()), width, "0")
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")


def _acct(ids: np.ndarray) -> pa.Array:
    return _text("62", ids, 10)


class Writer:
    def __init__(self, out: Path) -> None:
        self.out = out
        (out / "transactions").mkdir(parents=True, exist_ok=True)
        self.parts: list[dict[str, np.ndarray]] = []
        self.serial = 0
        self.lines = 0

    def add(self, src: np.ndarray, dst: np.ndarray, amount: np.ndarray, t_us: np.ndarray, remark: np.ndarray,
            device: np.ndarray, external_dst: bool = False, external_src: bool = False) -> None:
        """Transfers src → dst: the payer's out line and the payee's in line (one line for an outside party)."""
        if not len(src):
            return
        self.parts.append({"src": src.astype(np.int64), "dst": dst.astype(np.int64), "amount": np.round(amount, 2),
                           "t": t_us.astype(np.int64), "remark": remark.astype(object), "device": device,
                           "ext": np.full(len(src), (1 if external_dst else 0) + (2 if external_src else 0))})

    def flush(self, day: int) -> None:
        if not self.parts:
            return
        cat = {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}
        self.parts = []
        n = len(cat["src"])
        ids = np.arange(self.serial, self.serial + n)
        self.serial += n
        out_keep = (cat["ext"] & 2) == 0
        in_keep = (cat["ext"] & 1) == 0
        acct = np.concatenate([cat["src"][out_keep], cat["dst"][in_keep]])
        cp = np.concatenate([cat["dst"][out_keep], cat["src"][in_keep]])
        direction = np.array(["out"] * int(out_keep.sum()) + ["in"] * int(in_keep.sum()), dtype=object)
        pick = np.concatenate([np.flatnonzero(out_keep), np.flatnonzero(in_keep)])
        remark = cat["remark"][pick]
        remark = np.where(remark == "", None, remark)
        device = cat["device"][pick].astype(np.int64)
        no_device = (direction == "in") | (device == -1)
        dev = pc.if_else(pa.array(no_device), pa.scalar(None, pa.string()), _text("dev", np.maximum(device, 0), 9))
        ts = cat["t"][pick]
        order = np.lexsort((acct, ts))
        table = pa.table({
            "txn_id": _text("T", ids[pick], 1),
            "account": _acct(acct), "counterparty": _acct(cp),
            "counterparty_name": pa.nulls(len(acct), pa.string()),
            "amount": pa.array(cat["amount"][pick], pa.float64()), "currency": pa.array(["CNY"] * len(acct)),
            "direction": pa.array(direction, pa.string()), "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "channel": pa.array(["mobile"] * len(acct)), "remark": pa.array(remark, pa.string()),
            "device": dev, "ip": pa.nulls(len(acct), pa.string()),
            "source": pa.array(["generated"] * len(acct)), "input": pa.array([f"day-{day:03d}.parquet"] * len(acct)),
        }, schema=SCHEMA).take(pa.array(order))
        pq.write_table(table, self.out / "transactions" / f"day-{day:03d}.parquet", compression="zstd")
        self.lines += table.num_rows


def _population(rng: np.random.Generator, persons: int) -> Population:
    n_emp = max(2, persons // 200)
    n_merch = max(2, persons // 100)
    n = persons + n_emp + 2 * n_merch + 1
    p = np.arange(persons)
    employers = np.arange(persons, persons + n_emp)
    merchants = np.arange(persons + n_emp, persons + n_emp + n_merch)
    owner = merchants + n_merch
    utility = n - 1
    stalls = rng.choice(p, max(1, persons // 100), replace=False)
    pool = [rng.integers(0, persons, 200) for _ in stalls]
    landlords = rng.choice(np.setdiff1d(p, stalls), max(1, persons // 50), replace=False)
    tenant_of = np.where(rng.random(persons) < 0.3, rng.choice(landlords, persons), -1)
    tenant_of[landlords] = -1
    employer_of = np.where(rng.random(persons) < 0.7, rng.choice(employers, persons), -1)
    friends = rng.choice(p, (persons, 5))
    night = np.zeros(n, bool)
    night[:persons] = rng.random(persons) < 0.03
    device = np.arange(n)
    share = rng.choice(p, persons // 20, replace=False)
    device[share] = device[rng.choice(p, len(share))]
    device[persons:] = -1  # company accounts: online banking without a device id
    holder = np.arange(n)
    holder[owner] = holder[merchants]  # the merchant's own settlement account
    owner_type = np.zeros(n, np.int8)
    owner_type[persons:] = 1
    return Population(n, p, employers, merchants, owner, stalls, pool, landlords, tenant_of, employer_of, friends,
                      night, device, holder, owner_type, utility)


def _times(rng: np.random.Generator, day: int, k: int, night: np.ndarray | None = None,
           hours: tuple[float, float] = (8.0, 21.0)) -> np.ndarray:
    h = rng.uniform(hours[0], hours[1], k)
    if night is not None:
        h = np.where(night, rng.uniform(0.0, 6.0, k), h)
    return (START.timestamp() * US + day * DAY_US + h * HOUR_US).astype(np.int64)


def _background(rng: np.random.Generator, pop: Population, w: Writer, day: int) -> None:
    persons = len(pop.persons)
    local = (START + timedelta(days=day, hours=8)).day
    # retail: persons → merchants (1.2 a day), daytime (night workers at night)
    k = rng.poisson(1.2 * persons)
    src = rng.integers(0, persons, k)
    dst = rng.choice(pop.merchants, k)
    w.add(src, dst, np.exp(rng.normal(3.8, 1.0, k)).clip(1, 20000), _times(rng, day, k, pop.night[src]),
          rng.choice(RETAIL_REMARKS, k), pop.device[src])
    # personal-QR stalls: regulars pay small amounts by day
    for s, pool in zip(pop.stalls, pop.stall_pool, strict=True):
        k = int(rng.integers(20, 61))
        payers = rng.choice(pool, k)
        w.add(payers, np.full(k, s), np.round(np.exp(rng.normal(2.8, 0.6, k)), 1), _times(rng, day, k, hours=(7, 21)),
              np.full(k, ""), pop.device[payers])
        if day % 7 == 6:  # the week's takings to the stall keeper's own savings (a company-less sweep)
            w.add(np.array([s]), np.array([pop.utility]), np.array([float(rng.uniform(3000, 8000))]),
                  _times(rng, day, 1, hours=(21, 22)), np.array(["存款"]), pop.device[[s]])
    # merchants sweep the day's takings to the owner's account in the evening
    w.add(pop.merchants, pop.merchant_owner_acct, rng.uniform(2000, 30000, len(pop.merchants)),
          _times(rng, day, len(pop.merchants), hours=(21.5, 23.5)), np.full(len(pop.merchants), "归集"),
          np.full(len(pop.merchants), -1))
    # friends
    k = rng.poisson(0.15 * persons)
    src = rng.integers(0, persons, k)
    dst = pop.friends[src, rng.integers(0, 5, k)]
    ok = src != dst
    remarks = rng.choice(P2P_REMARKS, k)
    remarks[rng.random(k) < 0.0005] = "USDT"  # a rare person who bought coins from a friend: noise for the rules
    w.add(src[ok], dst[ok], np.round(np.exp(rng.normal(5.0, 1.2, int(ok.sum()))), 0),
          _times(rng, day, int(ok.sum()), pop.night[src[ok]], hours=(9, 23)), remarks[ok], pop.device[src[ok]])
    if local == 10:  # salary runs
        who = np.flatnonzero(pop.employer_of >= 0)
        w.add(pop.employer_of[who], who, np.round(rng.uniform(4000, 20000, len(who)), 2),
              _times(rng, day, len(who), hours=(9, 10)), np.full(len(who), "工资"), np.full(len(who), -1))
    if local == 5:  # utilities
        w.add(pop.persons, np.full(persons, pop.utility), np.round(rng.uniform(50, 400, persons), 2),
              _times(rng, day, persons), np.full(persons, "电费"), pop.device[pop.persons])
    if local == 1:  # rent
        who = np.flatnonzero(pop.tenant_of >= 0)
        w.add(who, pop.tenant_of[who], np.round(rng.uniform(1500, 6000, len(who)), -2),
              _times(rng, day, len(who)), np.full(len(who), "房租"), pop.device[who])


@dataclass
class Gang:
    cards: np.ndarray
    consolidator: int
    cycle: np.ndarray
    devices: np.ndarray
    start: int
    hush: bool
    exit_to: int  # an OTC merchant or an exchange's account


@dataclass
class Otc:
    account: int
    exchange: bool
    device: int


def _plant(rng: np.random.Generator, pop: Population, days: int, gangs: int, merchants: int, exchanges: np.ndarray,
           first_new: int) -> tuple[list[Gang], list[Otc], int]:
    nxt = first_new
    otcs = []
    for i in range(merchants):
        a = nxt
        nxt += 1
        otcs.append(Otc(a, i % 3 == 0, a))
        pop.truth[a] = ("otc_merchant", "otc_merchant", f"otc{i}")
    out = []
    for g in range(gangs):
        k = int(rng.integers(3, 9))
        cards = np.arange(nxt, nxt + k)
        nxt += k
        cons = nxt
        nxt += 1
        cyc = np.arange(nxt, nxt + (int(rng.integers(3, 6)) if g % 2 == 0 else 0))
        nxt += len(cyc)
        devices = np.array([10**8 + 2 * g, 10**8 + 2 * g + 1])
        start = int(rng.integers(days // 3, days // 2 + 1))
        exit_to = otcs[g % len(otcs)].account if otcs and g % 3 == 1 else int(exchanges[g % len(exchanges)])
        out.append(Gang(cards, cons, cyc, devices, start, g % 3 == 0, exit_to))
        for c in cards:
            pop.truth[int(c)] = ("money_mule", "collection_card", f"gang{g}")
        pop.truth[cons] = ("money_mule", "consolidator", f"gang{g}")
        for c in cyc:
            pop.truth[int(c)] = ("money_mule", "layering_cycle", f"gang{g}")
    return out, otcs, nxt


def _planted_day(rng: np.random.Generator, pop: Population, w: Writer, day: int, gangs: list[Gang], otcs: list[Otc],
                 rate: float, exchanges: np.ndarray) -> None:
    persons = len(pop.persons)
    base = int(START.timestamp() * US + day * DAY_US)
    for g in gangs:
        if day < g.start:
            if day == 0:  # a card's last use before it was sold
                for c in g.cards:
                    w.add(np.array([int(c)]), np.array([pop.utility]), np.array([float(rng.uniform(20, 200))]),
                          _times(rng, day, 1), np.array(["电费"]), np.array([int(c) + 10**9]))
            continue
        to_cons = []
        for c in g.cards:
            k = int(rng.integers(10, 41))
            payers = rng.integers(0, persons, k)  # strangers: a repeat among a bank's persons is rare
            amounts = np.round(rng.uniform(100, 5000, k) + rng.choice([0, 0.5, 1, 3, 8], k), 2)
            hours = np.where(rng.random(k) < 0.75, rng.uniform(20, 27, k) % 24, rng.uniform(8, 20, k))
            t = (base + hours * HOUR_US).astype(np.int64)
            remarks = np.full(k, "", dtype=object)
            if g.hush:
                remarks[rng.random(k) < 0.15] = rng.choice(MULE_HUSH)
            w.add(payers, np.full(k, int(c)), amounts, t, remarks, pop.device[payers])
            # forwarded in batches of about five payments, 0.5–3 hours after the batch's last one
            order = np.argsort(t)
            for chunk in np.array_split(order, max(1, k // 5)):
                if len(chunk):
                    t_fwd = int(t[chunk].max() + rng.uniform(0.5, 3) * HOUR_US)
                    to_cons.append((int(c), float(amounts[chunk].sum()), t_fwd))
        dev = g.devices
        for c, a, t_fwd in to_cons:
            w.add(np.array([c]), np.array([g.consolidator]), np.array([a]), np.array([t_fwd]), np.array([""]),
                  np.array([int(rng.choice(dev))]))
        total = sum(a for _, a, _ in to_cons)
        t_out = max(t for _, _, t in to_cons) + int(rng.uniform(0.5, 2) * HOUR_US) if to_cons else base
        if len(g.cycle):
            ring = [g.consolidator, *map(int, g.cycle)]
            amt = total * 0.98
            t_hop = t_out
            for i in range(len(ring)):
                w.add(np.array([ring[i]]), np.array([ring[(i + 1) % len(ring)]]), np.array([amt]), np.array([t_hop]),
                      np.array([""]), np.array([int(dev[0])]))
                amt *= 0.99
                t_hop += int(rng.uniform(0.3, 2) * HOUR_US)
            total, t_out = amt, t_hop
        external = g.exit_to in set(map(int, exchanges))
        w.add(np.array([g.consolidator]), np.array([g.exit_to]), np.array([total * 0.99]), np.array([t_out]),
              np.array([""]), np.array([int(dev[1])]), external_dst=external)
    for o in otcs:
        k = int(rng.integers(5, 26))
        q = rng.integers(100, 5001, k).astype(float)
        cny = np.round(q * rate, 2)
        strangers = rng.integers(0, persons, k)
        sells = rng.random(k) < 0.5  # the merchant sells USDT: the stranger pays
        remarks = np.where(rng.random(k) < 0.3, rng.choice(OTC_REMARKS, k), "").astype(object)
        t = (base + rng.uniform(9, 24, k) * HOUR_US).astype(np.int64)
        w.add(strangers[sells], np.full(int(sells.sum()), o.account), cny[sells], t[sells], remarks[sells],
              pop.device[strangers[sells]])
        w.add(np.full(int((~sells).sum()), o.account), strangers[~sells], cny[~sells], t[~sells], remarks[~sells],
              np.full(int((~sells).sum()), o.device))
        if o.exchange:  # settles with a known exchange account (outside the bank): one line
            x = int(exchanges[o.account % len(exchanges)])
            q2 = float(rng.integers(1000, 20001))
            w.add(np.array([o.account]), np.array([x]), np.array([round(q2 * rate, 2)]),
                  np.array([base + int(rng.uniform(10, 20) * HOUR_US)]), np.array([""]), np.array([o.device]),
                  external_dst=True)


def _tail(n: int, name: str) -> dict[str, pa.Array]:
    return {"source": pa.array(["generated"] * n, pa.string()), "input": pa.array([f"{name}.parquet"] * n, pa.string())}


def generate(out: Path, persons: int = 10_000, days: int = 45, gangs: int = 20, merchants: int = 30,
             seed: int = 1) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    pop = _population(rng, persons)
    exchanges = np.arange(9 * 10**9, 9 * 10**9 + 4)
    gang_list, otcs, n_total = _plant(rng, pop, days, gangs, merchants, exchanges, pop.n)
    extra = n_total - pop.n
    pop.device = np.concatenate([pop.device, np.arange(pop.n, n_total) + 10**9])
    for g in gang_list:
        members = np.concatenate([g.cards, [g.consolidator], g.cycle])
        pop.device[members] = g.devices[0]
    rates = np.round(7.20 + np.cumsum(rng.normal(0, 0.01, days)), 2)
    w = Writer(out)
    for day in range(days):
        _background(rng, pop, w, day)
        _planted_day(rng, pop, w, day, gang_list, otcs, float(rates[day]), exchanges)
        w.flush(day)
    n = pop.n + extra
    ids = np.arange(n)
    holder = np.concatenate([pop.holder, np.arange(pop.n, n)])
    owner_type = np.concatenate([pop.owner_type, np.zeros(extra, np.int8)])
    opened = START.timestamp() * US - rng.integers(30, 3000, n) * DAY_US
    account_type = np.where(owner_type == 1, "corporate", "debit").astype(object)
    pq.write_table(pa.table({
        "account": _acct(ids), "holder": pa.array(np.char.add("C", holder.astype(str)).astype(object), pa.string()),
        "holder_name": pa.nulls(n, pa.string()), "account_type": pa.array(account_type, pa.string()),
        "owner_type": pa.array(np.where(owner_type == 1, "company", "person").astype(object), pa.string()),
        "opened": pa.array(opened.astype(np.int64), pa.timestamp("us", tz="UTC")),
        "region": pa.array(["320505"] * n), "organisation": pa.nulls(n, pa.string()), **_tail(n, "bank_accounts")}),
        out / "bank_accounts.parquet")
    names = ["币安结算户", "OKX 结算户", "火币结算户", "某承兑商"]
    pq.write_table(pa.table({"account": _acct(exchanges), "name": names,
                             "type": ["exchange", "exchange", "exchange", "otc"],
                             "service": ["binance", "okx", "huobi", ""], "reference": ["generated"] * 4,
                             **_tail(4, "known_counterparties")}),
                   out / "known_counterparties.parquet")
    pq.write_table(pa.table({"ts": pa.array([int(START.timestamp() * US + d * DAY_US) for d in range(days)],
                                            pa.timestamp("us", tz="UTC")),
                             "rate": rates,
                             "reference": ["generated: random walk from 7.20, not a market price"] * days,
                             **_tail(days, "usdt_rates")}),
                   out / "usdt_rates.parquet")
    with (out / "truth.csv").open("w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["account", "typology", "shape", "group"])
        for a in sorted(pop.truth):
            wr.writerow([f"62{a:010d}", *pop.truth[a]])
    counts = {"accounts": n, "lines": w.lines, "days": days, "planted": len(pop.truth)}
    (out / "README.md").write_text(
        "# A generated bank (benchmarks/funds_generator.py)\n\n"
        f"seed {seed}, {persons} persons, {days} days, {gangs} gangs, {merchants} OTC merchants: "
        f"{counts['lines']} statement lines, {n} accounts, {len(pop.truth)} planted accounts (truth.csv).\n"
        "Synthetic: no real person, bank or price. The USDT prices are generated, not market prices.\n"
        "Shapes: see the generator's docstring.\n", encoding="utf-8")
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--persons", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=45)
    ap.add_argument("--gangs", type=int, default=20)
    ap.add_argument("--merchants", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    print(generate(a.out, a.persons, a.days, a.gangs, a.merchants, a.seed))


if __name__ == "__main__":
    main()

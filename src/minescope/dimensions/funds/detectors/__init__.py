"""Detectors of the funds dimension, over the funds tables of every bank export of a scan:

    typologies   rules as data (``knowledge/data/funds/typologies.toml``) → bands → typology scores, in SQL on
                 DuckDB or Spark (``signals``); remarks through the content matcher and cycles through networkx
                 on what SQL narrowed (``graph``)

``detect`` turns every account at or above a typology's review threshold into a finding about the ``account``
subject: ``money_mule_account`` (跑分 collection, fast in and out) or ``otc_merchant`` (USDT trading), with the
typology score, each rule's band, strength and contribution, reasons in Chinese and English, and the transactions
that support each rule (the largest few, with the count and sum of all). An account at or above the alert
threshold is of high severity, between review and alert of medium.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from minescope.dimensions.funds.detectors import graph, signals
from minescope.dimensions.funds.kinds import KINDS
from minescope.engines.sql import SqlEngine, open_engine
from minescope.knowledge.funds import Typologies, Typology, load_typologies
from minescope.knowledge.regions import division, province_of
from minescope.model import Attribution, Dimension, Evidence, Finding, Severity, Subject, SubjectType, Text

TABLE_NAMES = ("transactions", "bank_accounts", "known_counterparties", "usdt_rates")


def run(engine: SqlEngine, t: Typologies) -> graph.CycleResult:
    """Every step up to ``funds_features`` on an engine that holds the funds tables."""
    signals.prepare(engine, t)
    remarks = [r for r in engine.column("SELECT DISTINCT remark FROM funds_t WHERE remark IS NOT NULL").to_pylist()
               if r]
    hits = graph.match_remarks(sorted(remarks), t.hush)
    engine.register("funds_remark_hits", graph.remark_table(hits))
    cycles = graph.find_cycles(engine, t, signals.cycle_hops_sql(t))
    engine.register("funds_cycles", graph.cycle_table(cycles))
    engine.materialize("funds_features", signals.features_sql(t))
    return cycles


def _load(tables: Mapping[str, pa.Table] | None, engine: SqlEngine | None,
          held: Collection[str]) -> tuple[SqlEngine, bool, set[str]]:
    own = engine is None
    eng = engine or open_engine("duckdb")
    if tables is not None:
        held = {n for n, tb in tables.items() if n in TABLE_NAMES and tb.num_rows}
        for name in sorted(held):
            eng.append(name, tables[name])
    return eng, own, set(held)


def account_scores(tables: Mapping[str, pa.Table] | None = None, engine: SqlEngine | None = None,
                   typologies: Typologies | None = None, held: Collection[str] = ()) -> list[dict[str, Any]]:
    """Every account's features, rule strengths and typology scores (a ranking for evaluation)."""
    t = typologies or load_typologies()
    eng, own, held = _load(tables, engine, held)
    try:
        if "transactions" not in held:
            return []
        run(eng, t)
        return eng.query(signals.ranking_sql(t) + " ORDER BY account")
    finally:
        if own:
            eng.close()


def detect(tables: Mapping[str, pa.Table] | None = None, engine: SqlEngine | None = None, source: str = "funds",
           held: Collection[str] = (), typologies: Typologies | None = None) -> list[Finding]:
    """A finding for every account at or above a typology's review threshold. With ``tables``, they are appended
    to ``engine`` (default: a DuckDB of its own); without, ``engine`` already holds the tables named in ``held``."""
    t = typologies or load_typologies()
    eng, own, held = _load(tables, engine, held)
    try:
        if "transactions" not in held:
            return []
        cycles = run(eng, t)
        rows = eng.query(signals.scores_sql(t) + " ORDER BY account")
        if not rows:
            return []
        accounts = sorted({r["account"] for r in rows})
        lines = _lines(eng, t, accounts)
        records = {r["account"]: r for r in eng.query(
            "SELECT h.* FROM funds_holders h JOIN funds_flagged f ON f.account = h.account")}
    finally:
        if own:
            eng.close()
    by_account: dict[str, list[graph.Cycle]] = defaultdict(list)
    for c in cycles.cycles:
        for a in c.accounts:
            by_account[a].append(c)
    kinds = {k.name: k for k in KINDS}
    found = []
    for row in rows:
        for ty in t.typologies.values():
            score = float(row[f"score_{ty.id}"] or 0.0)
            if score >= ty.review and ty.kind in kinds:
                found.append(_finding(t, ty, score, row, lines.get(row["account"], []),
                                      by_account.get(row["account"], []), records.get(row["account"]), source,
                                      cycles.cut))
    return found


def _lines(engine: SqlEngine, t: Typologies, accounts: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The flagged accounts' statement lines, each with what the rules need to tell which support them."""
    engine.register("funds_flagged", pa.table({"account": accounts}))
    rows = engine.query(f"""
        SELECT t.account, t.txn_id, t.ts, t.t_us, t.direction, t.amount, t.counterparty, t.counterparty_name,
               t.remark, t.device, t.night, t.input,
               CASE WHEN k.account IS NOT NULL THEN 1 ELSE 0 END AS known, k.type AS known_type,
               k.service AS known_service,
               CASE WHEN r.rate IS NOT NULL AND {signals.lot_condition(t)} THEN 1 ELSE 0 END AS lot, r.rate,
               COALESCE(h.coin, 0) AS coin, COALESCE(h.hush, 0) AS hush, COALESCE(dv.accounts, 0) AS device_accounts
        FROM funds_t t
        JOIN funds_flagged f ON f.account = t.account
        LEFT JOIN funds_known k ON k.account = t.counterparty
        LEFT JOIN funds_rates r ON r.day = t.day
        LEFT JOIN funds_remark_hits h ON h.remark = t.remark
        LEFT JOIN (SELECT device, COUNT(DISTINCT account) AS accounts FROM funds_t WHERE device IS NOT NULL
                   GROUP BY device) dv ON dv.device = t.device
        ORDER BY t.account, t.t_us, t.amount, t.counterparty""")
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[r["account"]].append(r)
    return out


def _epoch(ts: Any) -> float:
    return (ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)).timestamp()


def _supporting(rule: str, row: dict[str, Any], lines: list[dict[str, Any]], t: Typologies,
                cycles: list[graph.Cycle]) -> list[dict[str, Any]]:
    """The lines that support a rule."""
    ins = [x for x in lines if x["direction"] == "in"]
    outs = [x for x in lines if x["direction"] == "out"]
    if rule == "fast_in_out":
        return lines
    if rule == "many_small_payers":
        return [x for x in ins if float(x["amount"]) <= float(t.param("small_amount"))]
    if rule == "consolidation":
        totals: dict[str, float] = defaultdict(float)
        for x in outs:
            totals[x["counterparty"] or ""] += float(x["amount"])
        top = max(sorted(totals), key=lambda k: totals[k]) if totals else None
        return [x for x in outs if (x["counterparty"] or "") == top]
    if rule == "night_burst":
        return [x for x in lines if x["night"]]
    if rule == "dormant_active":
        end = row.get("gap_end")
        span = int(float(t.param("burst_days")) * 86_400_000_000)
        return [x for x in lines if end is not None and end <= int(x["t_us"]) < end + span]
    if rule == "shared_device":
        return [x for x in lines if int(x["device_accounts"] or 0) >= 2]
    if rule == "remark_hush":
        return [x for x in ins if x["hush"]]
    if rule == "remark_coin":
        return [x for x in ins if x["coin"]]
    if rule == "usdt_lots":
        return [x for x in lines if x["lot"]]
    if rule == "known_venue":
        return [x for x in lines if x["known"]]
    if rule == "round_trip":
        both: dict[str, set[str]] = defaultdict(set)
        for x in lines:
            both[x["counterparty"] or ""].add(x["direction"])
        return [x for x in lines if x["counterparty"] and len(both[x["counterparty"]]) == 2]
    if rule == "cycle":
        hops = {(h[0], h[1], h[2]) for c in cycles for h in c.hops}
        hops |= {(b, a, ts) for a, b, ts in hops}  # the payee's in line of the same hop
        return [x for x in lines if (x["account"], x["counterparty"], int(x["t_us"])) in hops]
    return ins if rule == "two_way_strangers" else []


def _line(x: dict[str, Any]) -> dict[str, Any]:
    return {"txn_id": x["txn_id"], "ts": datetime.fromtimestamp(int(x["t_us"]) / 1e6, UTC).isoformat(),
            "direction": x["direction"], "amount": round(float(x["amount"]), 2), "counterparty": x["counterparty"],
            "counterparty_name": x["counterparty_name"], "remark": x["remark"], "device": x["device"],
            **({"usdt": round(float(x["amount"]) / float(x["rate"]), 2), "rate": x["rate"]} if x["lot"] else {}),
            **({"known": x["known_type"], "service": x["known_service"]} if x["known"] else {})}


def _value(v: Any) -> Any:
    return round(float(v), 4) if isinstance(v, float) else v


def _finding(t: Typologies, ty: Typology, score: float, row: dict[str, Any], lines: list[dict[str, Any]],
             cycles: list[graph.Cycle], record: dict[str, Any] | None, source: str, cut: bool) -> Finding:
    kind = next(k for k in KINDS if k.name == ty.kind)
    alert = score >= ty.alert
    samples = int(t.param("samples"))
    rules, reasons, evidence = [], [], []
    for rule_id, weight in sorted(ty.weights, key=lambda rw: -rw[1] * float(row[f"s_{rw[0]}"] or 0.0)):
        rule = t.rules[rule_id]
        strength = float(row[f"s_{rule_id}"] or 0.0)
        value = _value(row.get(rule.feature))
        entry = {"rule": rule_id, "feature": rule.feature, "value": value, "band": rule.band(row),
                 "strength": strength, "weight": weight, "contribution": round(weight * strength, 3),
                 "signal": rule.signal.en, "false_positives": rule.false_positives.en}
        rules.append(entry)
        if not strength:
            continue
        support = _supporting(rule_id, row, lines, t, cycles)
        total = sum(float(x["amount"]) for x in support)
        reasons.append(Text(
            zh=f"{rule.signal.zh}（{rule.feature} = {value}，档位 {entry['band']}，强度 {strength:g}，"
               f"贡献 {weight * strength:.2f}；{len(support)} 笔，合计 {total:,.2f}）",
            en=f"{rule.signal.en} ({rule.feature} = {value}, band {entry['band']}, strength {strength:g}, "
               f"contributes {weight * strength:.2f}; {len(support)} transactions, {total:,.2f} in all)"))
        shown = sorted(support, key=lambda x: (-float(x["amount"]), int(x["t_us"])))[:samples]
        detail: dict[str, Any] = {"rule": rule_id, "count": len(support), "amount": round(total, 2),
                                  "sample": [_line(x) for x in shown]}
        if rule_id == "cycle":
            detail["cycles"] = [{"accounts": list(c.accounts), "hops": [
                {"from": h[0], "to": h[1], "ts": datetime.fromtimestamp(h[2] / 1e6, UTC).isoformat(),
                 "amount": round(h[3], 2)} for h in c.hops]} for c in cycles[:samples]]
            if cut:
                detail["cut"] = True
        evidence.append(Evidence("transactions", f"{rule_id}: {len(support)} lines, {total:,.2f}", detail,
                                 f"funds-{rule_id}"))
    level = ("预警", "alert") if alert else ("复核", "review")
    head = Text(
        zh=f"{ty.label.zh}类型得分 {score:.2f}（复核线 {ty.review:g}，预警线 {ty.alert:g}）：{level[0]}",
        en=f"{ty.label.en} typology score {score:.2f} (review at {ty.review:g}, alert at {ty.alert:g}): {level[1]}")
    summary = Evidence("typology", f"{ty.id} {score:.2f}", {
        "typology": ty.id, "score": round(score, 3), "review": ty.review, "alert": ty.alert, "rules": rules,
        "features": {k: _value(row[k]) for k in ("n", "n_in", "n_out", "amt_in", "amt_out", "payers", "payees")}},
        "funds-typologies")
    account_ev = ([Evidence("account", f"{record.get('account')} {record.get('holder_name') or ''}".strip(),
                            {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in record.items()},
                            "bank_accounts")] if record else [])
    first = _epoch(row["first_ts"])
    last = _epoch(row["last_ts"])
    inputs = sorted({x["input"] for x in lines if x.get("input")})
    top = sum(w for _, w in ty.weights)
    return Finding(
        kind=kind, subject_ip=None, peer=None, flows=(), confidence=round(min(1.0, score / top + 0.5), 3),
        severity=Severity.HIGH if alert else Severity.MEDIUM, reasons=(head, *reasons),
        evidence=(summary, *evidence, *account_ev), source=inputs[0] if inputs else source,
        dimension=Dimension.FUNDS, subject=Subject(SubjectType.ACCOUNT, str(row["account"])),
        attribution=_attribution(record), first_seen=first, last_seen=last, key=ty.id)


def _attribution(record: dict[str, Any] | None) -> Attribution | None:
    if not record:
        return None
    code = record.get("region")
    county = division(code) if code else None
    province = province_of(code) if code else None
    city = division(code[:4] + "00") if code and len(code) == 6 else None
    return Attribution(
        ip="", country="CN" if county else None, province=province.name if province else None,
        city=city.name if city and city.level == "city" else None,
        org_name=record.get("organisation") or None, region_code=code if county else None, source="bank_accounts")

"""Detectors of the power dimension, over the power tables of every meter export of a scan:

    load      a mining-shaped load: per-meter aggregates as SQL (DuckDB or Spark), change points with ruptures
              on the candidates alone, a calibrated score with its reasons (docs/power-evaluation.md)

``detect`` turns the meters ``load`` flags into ``mining_load`` findings about the meter: the added kW sized as
machines (``enrich.estimate.size_load``), the account's organisation and region as its attribution (so a
meter meets the network and host findings of the same organisation in one case), and the daily load the
console draws.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from minescope.dimensions.power.detectors.bills import VALLEY_FLAT_SHARE, BilledAccount, billed_accounts
from minescope.dimensions.power.detectors.load import PREPARED, MeterScore, score_candidates
from minescope.dimensions.power.detectors.load import aggregate as aggregate_meters
from minescope.dimensions.power.kinds import MINING_LOAD
from minescope.dimensions.power.tables import ACCOUNTS, READINGS
from minescope.engines.sql import Preparation, SqlEngine, View, open_engine
from minescope.enrich.estimate import METERED, LoadSizing, size_load
from minescope.knowledge.regions import division, province_of
from minescope.model import Attribution, Dimension, Energy, Evidence, Finding, Severity, Subject, SubjectType, Text

KW_BAND = 0.15  # a plateau read from daily means is known to about ±15 % (the evaluation's plateau error)
DAYS_BEFORE = 180  # the daily load kept with a finding for its chart: half a year before the step …
DAYS_SHOWN = 1100  # … and at most three years in all (the latest)


RECORDS = Preparation(
    tables={"readings": READINGS, "accounts": ACCOUNTS},
    views=(View("power_reading_times", "readings", "SELECT meter, ts, input FROM {relation}"),
           View("power_account_records", "accounts", "SELECT * FROM {relation}")))
"""What a finding tells beside the scores: its meter's first and last reading and export, its account record."""


def detect(tables: Mapping[str, pa.Table] | None = None, engine: SqlEngine | None = None, source: str = "power",
           held: Collection[str] = ()) -> list[Finding]:
    """A ``mining_load`` finding for every meter the load detector flags, and for every residential account
    whose bills alone are industrial-size (``bills``) when its readings gave none. With ``tables``, they are
    appended to ``engine`` (default: a DuckDB of their own); without, ``engine`` already holds the tables named
    in ``held`` (a scan appends its exports' batches as it reads them, so memory holds no whole table)."""
    own = engine is None
    eng = engine or open_engine("duckdb")
    try:
        if tables is not None:
            held = {name for name, t in tables.items() if name in ("readings", "accounts", "billing") and t.num_rows}
            for name in sorted(held):  # every table before any view: Spark stages a table's rows until then
                eng.append(name, tables[name])
        if not {"readings", "billing"} & set(held):
            return []
        eng.prepare(PREPARED)
        eng.prepare(RECORDS)
        flagged: list[MeterScore] = []
        daily: dict[str, list[tuple[str, float]]] = {}
        spans: dict[str, tuple[float, float, str]] = {}
        if "readings" in held:
            aggregate_meters(eng)
            flagged = [s for s in score_candidates(eng) if s.flagged]
            if flagged:
                daily = _daily(eng, [s.meter for s in flagged])
                spans = _spans(eng, [s.meter for s in flagged])
        billed = billed_accounts(eng) if "billing" in held else []
        keys = {k for s in flagged for k in (s.meter, s.account) if k} | {b.account for b in billed}
        accounts = _accounts(eng, sorted(keys)) if "accounts" in held and keys else {}
    finally:
        if own:
            eng.close()
    found = [_finding(s, daily.get(s.meter, []), spans.get(s.meter), accounts.get(s.account or "")
                      or accounts.get(s.meter), source) for s in flagged]
    seen = {f.subject.value for f in found} | {s.account for s in flagged if s.account}
    found += [_billed_finding(b, accounts.get(b.account), source) for b in billed
              if b.account not in seen and (b.meter or b.account) not in seen]
    return found


def _listed(values: list[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def _daily(engine: SqlEngine, meters: list[str]) -> dict[str, list[tuple[str, float]]]:
    """Each meter's mean kW per local day (the chart of its load)."""
    rows = engine.query(f"SELECT meter, day, mean_kw FROM power_days WHERE meter IN ({_listed(meters)}) "
                        "ORDER BY meter, day")
    out: dict[str, list[tuple[str, float]]] = {}
    for r in rows:
        if r["mean_kw"] is not None:
            day = datetime.fromtimestamp(int(r["day"]) * 86400, UTC).date().isoformat()
            out.setdefault(r["meter"], []).append((day, round(float(r["mean_kw"]), 4)))
    return out


def _spans(engine: SqlEngine, meters: list[str]) -> dict[str, tuple[float, float, str]]:
    """First and last reading (epoch seconds) and the export it came from, per meter."""
    rows = engine.query("SELECT meter, MIN(ts) AS first_ts, MAX(ts) AS last_ts, MIN(input) AS input "
                        f"FROM power_reading_times WHERE meter IN ({_listed(meters)}) GROUP BY meter")
    return {r["meter"]: (_epoch(r["first_ts"]), _epoch(r["last_ts"]), r["input"] or "") for r in rows}


def _epoch(ts: Any) -> float:
    """A timestamp as an engine returns it (aware, or naive UTC from Spark) in epoch seconds."""
    return (ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)).timestamp()


def _accounts(engine: SqlEngine, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Account records by account number and by meter number, of these accounts or meters."""
    listed = _listed(keys)
    rows = engine.query(f"SELECT * FROM power_account_records WHERE account IN ({listed}) OR meter IN ({listed}) "
                        "ORDER BY account")
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        for key in (row.get("account"), row.get("meter")):
            if key:
                out.setdefault(key, row)
    return out


def _attribution(account: dict[str, Any] | None) -> Attribution | None:
    if not account:
        return None
    code = account.get("region")
    county = division(code)
    province = province_of(code) if code else None
    city = division(code[:4] + "00") if code and len(code) == 6 else None
    return Attribution(
        ip="", country="CN" if county else None, province=province.name if province else None,
        city=city.name if city and city.level == "city" else None, org_name=account.get("organisation")
        or None, region_code=code if county else None, source="accounts")


def _finding(score: MeterScore, daily: list[tuple[str, float]], span: tuple[float, float, str] | None,
             account: dict[str, Any] | None, source: str) -> Finding:
    kw = score.plateau_kw or 0.0
    band = (kw * (1 - KW_BAND), kw, kw * (1 + KW_BAND))
    sizing = size_load(band, as_of_year=int(score.start[:4]) if score.start else None)
    if score.start:
        daily = [d for d in daily if d[0] >= (datetime.fromisoformat(score.start)
                                              - timedelta(days=DAYS_BEFORE)).date().isoformat()]
    daily = daily[-DAYS_SHOWN:]
    first, last, input_name = span or (math.nan, math.nan, source)
    if score.start:
        first = max(first, datetime.fromisoformat(score.start).replace(tzinfo=UTC).timestamp()) \
            if not math.isnan(first) else datetime.fromisoformat(score.start).replace(tzinfo=UTC).timestamp()
    machines = "；".join(f"{s.label_zh} {s.machines[0]:.3g}–{s.machines[2]:.3g} 台" for s in sizing)
    machines_en = "; ".join(f"{s.hw_class} {s.machines[0]:.3g}–{s.machines[2]:.3g}" for s in sizing)
    reasons = (*score.reasons, Text(zh=f"新增负荷约 {kw:.2f} kW，相当于 {machines}",
                                    en=f"the added {kw:.2f} kW is {machines_en} machines"))
    evidence = (
        Evidence("meter_load", f"+{kw:.2f} kW since {score.start or '?'}", {
            "meter": score.meter, "account": score.account, "plateau_kw": score.plateau_kw, "start": score.start,
            "before_kwh_per_day": score.before_kwh_per_day, "after_kwh_per_day": score.after_kwh_per_day,
            "signals": list(score.signals), "score": score.score, "daily_kw": daily,
            "measures": {k: (float(f"{v:.3g}") if isinstance(v, float) else v) for k, v in score.measures.items()},
        }, "power-load"),
        _sizing_evidence(sizing), *_account_evidence(account))
    energy = Energy(algorithm=METERED, kw=band, kwh_per_day=tuple(x * 24 for x in band),  # type: ignore[arg-type]
                    basis="measured at the meter: the plateau's added kW ±15 %")
    return Finding(
        kind=MINING_LOAD, subject_ip=None, peer=None, flows=(), confidence=round(score.score, 3),
        severity=MINING_LOAD.severity, reasons=reasons, evidence=evidence, source=input_name or source,
        energy=energy, dimension=Dimension.POWER, subject=Subject(SubjectType.METER, score.meter),
        attribution=_attribution(account), first_seen=first, last_seen=last, key=score.start or "")


def _sizing_evidence(sizing: tuple[LoadSizing, ...]) -> Evidence:
    return Evidence("sizing", "; ".join(f"{s.hw_class} {s.machines[0]:.3g}–{s.machines[2]:.3g}" for s in sizing), {
        "classes": [{"class": s.hw_class, "label_zh": s.label_zh, "algorithm": s.algorithm, "machines": s.machines,
                     "hps": s.hps, "kwh_per_day": s.kwh_per_day, "basis": s.basis} for s in sizing]},
        "mining-hardware.csv")


def _account_evidence(account: dict[str, Any] | None) -> tuple[Evidence, ...]:
    """The account record a finding's meter belongs to, as the marketing system holds it."""
    if not account:
        return ()
    holder = {k: account.get(k) for k in ("account", "name", "tariff", "voltage_kv", "contract_kva", "running_kva",
                                           "address", "region", "organisation")}
    return (Evidence("account", f"{holder.get('account')} {holder.get('name') or ''}".strip(), holder, "accounts"),)


BILLS_CONFIDENCE = 0.6  # size alone, without a step or a plateau to see: a lead for a visit


def _billed_finding(b: BilledAccount, account: dict[str, Any] | None, source: str) -> Finding:
    kw = b.added_kw
    band = (kw * (1 - KW_BAND), kw, kw * (1 + KW_BAND))
    sizing = size_load(band, as_of_year=b.first_large.year)
    month = kw * 24 * 30
    reasons = [Text(zh=f"居民电价户 {b.periods} 期账单中有 {b.large_periods} 期折合每月超过 3,000 kWh"
                       f"（平均约 {month:,.0f} kWh，相当于持续 {kw:.2f} kW），居民户罕见",
                    en=f"a residential account billed {b.large_periods} of {b.periods} periods above 3,000 kWh a month "
                       f"(about {month:,.0f} kWh, a constant {kw:.2f} kW): homes rarely draw that")]
    if b.valley_share is not None and b.valley_share >= VALLEY_FLAT_SHARE:
        reasons.append(Text(zh=f"谷段电量占 {b.valley_share:.0%}：夜间与白天用电相当，像昼夜不停的负荷",
                            en=f"{b.valley_share:.0%} of the energy in the valley hours: night draws as much as day, "
                               "like a load that never stops"))
    reasons.append(Text(zh="仅凭账单无法看到阶跃与平台：请调取该户的日或分时电量核实",
                        en="bills cannot show a step or a plateau: fetch the account's daily or interval readings to "
                           "verify"))
    evidence = (
        Evidence("bills", f"{b.large_periods}/{b.periods} periods > 3,000 kWh/month", {
            "account": b.account, "meter": b.meter, "periods": b.periods, "large_periods": b.large_periods,
            "plateau_kw": kw, "valley_share": b.valley_share, "start": b.first_large.date().isoformat(),
            "daily_kw": b.monthly_kw}, "power-bills"),
        _sizing_evidence(sizing), *_account_evidence(account))
    energy = Energy(algorithm=METERED, kw=band, kwh_per_day=tuple(x * 24 for x in band),  # type: ignore[arg-type]
                    basis="billed: the mean load of the periods above 3,000 kWh a month ±15 %")
    return Finding(
        kind=MINING_LOAD, subject_ip=None, peer=None, flows=(), confidence=BILLS_CONFIDENCE,
        severity=Severity.MEDIUM, reasons=tuple(reasons), evidence=evidence, source=source, energy=energy,
        dimension=Dimension.POWER, subject=Subject(SubjectType.METER, b.meter or b.account),
        attribution=_attribution(account), first_seen=b.first_large.timestamp(), last_seen=b.last_period.timestamp(),
        key=f"bills|{b.first_large.date().isoformat()}")

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
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from minescope.dimensions.power.detectors.load import MeterScore, load_tables, score_candidates
from minescope.dimensions.power.detectors.load import aggregate as aggregate_meters
from minescope.dimensions.power.kinds import MINING_LOAD
from minescope.engines.sql import SqlEngine, open_engine
from minescope.enrich.estimate import METERED, size_load
from minescope.knowledge.regions import division, province_of
from minescope.model import Attribution, Dimension, Energy, Evidence, Finding, Subject, SubjectType, Text

KW_BAND = 0.15  # a plateau read from daily means is known to about ±15 % (the evaluation's plateau error)
DAYS_SHOWN = 400  # the daily load kept with a finding for its chart: a year and some before it


def detect(tables: Mapping[str, pa.Table], engine: SqlEngine | None = None, source: str = "power") -> list[Finding]:
    """A ``mining_load`` finding for every meter the load detector flags; ``engine`` runs the aggregates
    (default: a DuckDB of their own)."""
    readings = tables.get("readings")
    if readings is None or readings.num_rows == 0:
        return []
    own = engine is None
    eng = engine or open_engine("duckdb")
    try:
        load_tables(eng, {name: t for name, t in tables.items() if name in ("readings", "accounts")})
        aggregate_meters(eng)
        flagged = [s for s in score_candidates(eng) if s.flagged]
        if not flagged:
            return []
        daily = _daily(eng, [s.meter for s in flagged])
    finally:
        if own:
            eng.close()
    spans = _spans(readings, {s.meter for s in flagged})
    accounts = _accounts(tables.get("accounts"))
    return [_finding(s, daily.get(s.meter, []), spans.get(s.meter), accounts.get(s.account or "")
                     or accounts.get(s.meter), source) for s in flagged]


def _daily(engine: SqlEngine, meters: list[str]) -> dict[str, list[tuple[str, float]]]:
    """Each meter's mean kW per local day (the chart of its load), the last ``DAYS_SHOWN`` days."""
    listed = ", ".join("'" + m.replace("'", "''") + "'" for m in meters)
    rows = engine.query(f"SELECT meter, day, mean_kw FROM power_days WHERE meter IN ({listed}) ORDER BY meter, day")
    out: dict[str, list[tuple[str, float]]] = {}
    for r in rows:
        if r["mean_kw"] is not None:
            day = datetime.fromtimestamp(int(r["day"]) * 86400, UTC).date().isoformat()
            out.setdefault(r["meter"], []).append((day, round(float(r["mean_kw"]), 4)))
    return {m: v[-DAYS_SHOWN:] for m, v in out.items()}


def _spans(readings: pa.Table, meters: set[str]) -> dict[str, tuple[float, float, str]]:
    """First and last reading (epoch seconds) and the export it came from, per meter."""
    out: dict[str, tuple[float, float, str]] = {}
    chosen = readings.filter(pa.compute.is_in(readings.column("meter"), value_set=pa.array(sorted(meters))))
    for row in chosen.group_by("meter").aggregate([("ts", "min"), ("ts", "max"), ("input", "min")]).to_pylist():
        out[row["meter"]] = (row["ts_min"].timestamp(), row["ts_max"].timestamp(), row["input_min"] or "")
    return out


def _accounts(accounts: pa.Table | None) -> dict[str, dict[str, Any]]:
    """Account records by account number and by meter number."""
    if accounts is None or accounts.num_rows == 0:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for row in accounts.to_pylist():
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
    first, last, input_name = span or (math.nan, math.nan, source)
    if score.start:
        first = max(first, datetime.fromisoformat(score.start).replace(tzinfo=UTC).timestamp()) \
            if not math.isnan(first) else datetime.fromisoformat(score.start).replace(tzinfo=UTC).timestamp()
    machines = "；".join(f"{s.label_zh} {s.machines[0]:.3g}–{s.machines[2]:.3g} 台" for s in sizing)
    machines_en = "; ".join(f"{s.hw_class} {s.machines[0]:.3g}–{s.machines[2]:.3g}" for s in sizing)
    reasons = (*score.reasons, Text(zh=f"新增负荷约 {kw:.2f} kW，相当于 {machines}",
                                    en=f"the added {kw:.2f} kW is {machines_en} machines"))
    holder = {k: account.get(k) for k in ("account", "name", "tariff", "voltage_kv", "contract_kva", "running_kva",
                                           "address", "region", "organisation")} if account else {}
    evidence = (
        Evidence("meter_load", f"+{kw:.2f} kW since {score.start or '?'}", {
            "meter": score.meter, "account": score.account, "plateau_kw": score.plateau_kw, "start": score.start,
            "before_kwh_per_day": score.before_kwh_per_day, "after_kwh_per_day": score.after_kwh_per_day,
            "signals": list(score.signals), "measures": score.measures, "score": score.score, "daily_kw": daily,
        }, "power-load"),
        Evidence("sizing", machines_en, {
            "classes": [{"class": s.hw_class, "label_zh": s.label_zh, "algorithm": s.algorithm,
                         "machines": s.machines, "hps": s.hps, "kwh_per_day": s.kwh_per_day, "basis": s.basis}
                        for s in sizing]}, "mining-hardware.csv"),
        *((Evidence("account", f"{holder.get('account')} {holder.get('name') or ''}".strip(), holder, "accounts"),)
          if holder else ()),
    )
    energy = Energy(algorithm=METERED, kw=band, kwh_per_day=tuple(x * 24 for x in band),  # type: ignore[arg-type]
                    basis="measured at the meter: the plateau's added kW ±15 %")
    return Finding(
        kind=MINING_LOAD, subject_ip=None, peer=None, flows=(), confidence=round(score.score, 3),
        severity=MINING_LOAD.severity, reasons=reasons, evidence=evidence, source=input_name or source,
        energy=energy, dimension=Dimension.POWER, subject=Subject(SubjectType.METER, score.meter),
        attribution=_attribution(account), first_seen=first, last_seen=last, key=score.start or "")

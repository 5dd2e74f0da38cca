"""Bills alone: a residential account billed industrial-size months is a lead (a finding of medium severity that
asks for the readings); a commercial account of the same size, or one large month, is not; DuckDB and Spark
agree."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from minescope.dimensions.power.detectors import detect
from minescope.dimensions.power.detectors.bills import ACCOUNTS_SQL, PREPARATION
from minescope.dimensions.power.detectors.load import load_tables
from minescope.dimensions.power.tables import ACCOUNTS, BILLING
from minescope.engines.sql import DuckDBEngine, SparkEngine


def _bills(account: str, kwh: list[float], valley_share: float = 0.2) -> list[dict[str, Any]]:
    rows = []
    for i, total in enumerate(kwh):
        start = datetime(2021 + (i // 12), i % 12 + 1, 1, tzinfo=UTC)
        rows.append({"account": account, "period_start": start, "days": 30, "kwh_total": total,
                     "kwh_valley": total * valley_share, "source": "mapped", "input": "bills.csv"})
    return rows


def _tables() -> dict[str, pa.Table]:
    bills = (_bills("R-MINER", [420, 380, 400, 3600, 3550, 3620, 3580], valley_share=0.33)
             + _bills("R-ONCE", [400, 3100, 420, 410])  # one large month: a leak, a move-in
             + _bills("C-SHOP", [3500] * 6)  # a shop: large months are its business
             + _bills("R-HOME", [380, 410, 450, 520, 600]))
    accounts = [{"account": a, "tariff": t, "region": "350102", "organisation": o, "source": "mapped", "input": "a"}
                for a, t, o in (("R-MINER", "residential", "某公司"), ("R-ONCE", "residential", None),
                                ("C-SHOP", "commercial", None), ("R-HOME", "residential", None))]
    return {"billing": pa.Table.from_pylist(bills, schema=BILLING),
            "accounts": pa.Table.from_pylist(accounts, schema=ACCOUNTS)}


def test_a_residential_account_billed_industrial_months_is_a_lead() -> None:
    found = detect(_tables())
    assert [f.subject.value for f in found] == ["R-MINER"]
    f = found[0]
    assert f.severity == "medium" and f.confidence == 0.6
    bills = next(e for e in f.evidence if e.type == "bills").detail
    assert bills["large_periods"] == 4 and bills["periods"] == 7 and bills["start"] == "2021-04-01"
    assert 4.8 < bills["plateau_kw"] < 5.1 and len(bills["daily_kw"]) == 7
    assert any("valley" in r.en for r in f.reasons) and any("readings" in r.en for r in f.reasons)
    assert f.attribution is not None and f.attribution.org_name == "某公司" and f.attribution.province == "福建省"


@pytest.mark.slow
def test_the_bills_aggregate_is_the_same_on_duckdb_and_spark(spark: Any) -> None:
    results = []
    for engine in (DuckDBEngine(), SparkEngine(spark)):
        try:
            tables = _tables()
            engine.append("billing", tables["billing"])
            load_tables(engine, {"accounts": tables["accounts"]})
            engine.prepare(PREPARATION)
            results.append(sorted((r["account"], r["large_periods"], round(r["large_kwh"], 6), r["periods"])
                                  for r in engine.query(ACCOUNTS_SQL)))
        finally:
            engine.close()
    assert results[0] == results[1] == [("R-MINER", 4, 14350.0, 7)]

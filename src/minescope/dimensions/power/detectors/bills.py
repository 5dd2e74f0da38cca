"""Mining in monthly bills alone: a residential account billed industrial-size months.

Many accounts, residential ones above all, have bills and no interval readings in the marketing system. A bill
cannot show a step, a plateau or a rhythm, but it shows size: a home rarely draws 3,000 kWh in a month (DCIC
2022, State Grid Fujian: months above 3,000 kWh were among the strongest features), an ASIC alone draws 2,300. The
per-account aggregate is one SQL text on DuckDB and Spark; Python only shapes the flagged accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from minescope.dimensions.power.detectors.load import RESIDENTIAL_MONTH_KWH
from minescope.dimensions.power.tables import BILLING
from minescope.engines.sql import Preparation, SqlEngine, View

MIN_LARGE_PERIODS = 2  # one large month may be a move-in or a leak; two are a habit
VALLEY_FLAT_SHARE = 0.3  # a load that never stops puts about a third of its energy in 8 valley hours

BILLS_VIEW_SQL = ("SELECT account, meter, period_start, days, kwh_total, kwh_valley FROM {relation} "
                  "WHERE account IS NOT NULL AND days > 0 AND kwh_total >= 0")
PREPARATION = Preparation(tables={"billing": BILLING}, views=(View("power_bills", "billing", BILLS_VIEW_SQL),))

_LARGE = f"b.kwh_total * CAST(30.0 AS DOUBLE) / b.days >= CAST({RESIDENTIAL_MONTH_KWH!r} AS DOUBLE)"
ACCOUNTS_SQL = f"""
SELECT b.account, MAX(b.meter) AS meter, COUNT(*) AS periods,
       SUM(CASE WHEN {_LARGE} THEN 1 ELSE 0 END) AS large_periods,
       SUM(CASE WHEN {_LARGE} THEN b.kwh_total ELSE 0 END) AS large_kwh,
       SUM(CASE WHEN {_LARGE} THEN b.days ELSE 0 END) AS large_days,
       MIN(CASE WHEN {_LARGE} THEN b.period_start END) AS first_large,
       SUM(b.kwh_valley) AS valley_kwh, SUM(CASE WHEN b.kwh_valley IS NOT NULL THEN b.kwh_total END) AS valley_base,
       MIN(b.period_start) AS first_period, MAX(b.period_start) AS last_period, MAX(a.tariff) AS tariff
FROM power_bills b JOIN power_accounts a ON a.account = b.account
GROUP BY b.account
HAVING MAX(a.tariff) = 'residential' AND SUM(CASE WHEN {_LARGE} THEN 1 ELSE 0 END) >= {MIN_LARGE_PERIODS}"""

PERIODS_SQL = """
SELECT account, period_start, days, kwh_total FROM power_bills WHERE account IN ({accounts})
ORDER BY account, period_start"""


@dataclass(frozen=True)
class BilledAccount:
    """A residential account whose bills are industrial-size."""

    account: str
    meter: str | None
    periods: int
    large_periods: int
    added_kw: float  # the mean load of the large periods: the bills cannot tell the household's share apart
    first_large: datetime
    first_period: datetime
    last_period: datetime
    valley_share: float | None
    monthly_kw: list[tuple[str, float]]  # (period start, mean kW) of every bill, for the chart


def billed_accounts(engine: SqlEngine) -> list[BilledAccount]:
    """Flagged accounts of an engine that holds ``billing`` (and ``accounts`` with ``power_accounts`` made)."""
    engine.prepare(PREPARATION)
    rows = engine.query(ACCOUNTS_SQL)
    if not rows:
        return []
    listed = ", ".join("'" + str(r["account"]).replace("'", "''") + "'" for r in rows)
    periods: dict[str, list[tuple[str, float]]] = {}
    for p in engine.query(PERIODS_SQL.format(accounts=listed)):
        periods.setdefault(p["account"], []).append(
            (_date(p["period_start"]), round(float(p["kwh_total"]) / (24.0 * int(p["days"])), 4)))
    return [_account(r, periods.get(r["account"], [])) for r in sorted(rows, key=lambda r: r["account"])]


def _date(ts: Any) -> str:
    value = ts if isinstance(ts, datetime) else datetime.fromisoformat(str(ts))
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return value.astimezone(UTC).date().isoformat()


def _account(r: dict[str, Any], monthly: list[tuple[str, float]]) -> BilledAccount:
    base = r["valley_base"]
    return BilledAccount(
        account=r["account"], meter=r["meter"], periods=int(r["periods"]), large_periods=int(r["large_periods"]),
        added_kw=float(r["large_kwh"]) / (24.0 * float(r["large_days"])), first_large=r["first_large"],
        first_period=r["first_period"], last_period=r["last_period"],
        valley_share=float(r["valley_kwh"]) / float(base) if base else None, monthly_kw=monthly)

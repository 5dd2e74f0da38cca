"""The mining-load detector on real household series (tests/data/power: 10 SGSC households, half-hourly; Contains
Smart-Grid Smart-City Customer Trial Data, © Commonwealth of Australia, CC BY 3.0 AU; packaged by gravitas, GPL-3)
with mining loads injected here, on DuckDB and on Spark.
"""

from __future__ import annotations

import importlib.util
import math
from functools import cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from helpers import DATA
from minescope.dimensions.power.detectors import load
from minescope.dimensions.power.tables import ACCOUNTS, READINGS
from minescope.engines.sql import DuckDBEngine

SERIES = DATA / "power" / "smart_meter10.csv.gz"
SYDNEY_S = 10 * 3600  # the households' clock (standard time; the series ignores daylight saving)
HALF_HOUR_US = 1800 * 1_000_000
DAY_US = 86_400 * 1_000_000


@cache
def households() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per customer: local clock (µs since the epoch, as if UTC) and kWh per half hour."""
    table = pacsv.read_csv(SERIES, convert_options=pacsv.ConvertOptions(
        column_types={"customer_id": pa.string(), "reading_datetime": pa.timestamp("us")}))
    ids = table["customer_id"].to_numpy(zero_copy_only=False)
    local = table["reading_datetime"].to_numpy().astype(np.int64)
    kwh = table["general_supply_kwh"].to_numpy()
    return {cid: (local[ids == cid], kwh[ids == cid]) for cid in sorted(set(ids))}


def span(cid: str, first: str, days: int) -> tuple[np.ndarray, np.ndarray]:
    local, kwh = households()[cid]
    start = np.datetime64(first, "us").astype(np.int64)
    keep = (local >= start) & (local < start + days * DAY_US)
    return local[keep], kwh[keep]


def with_load(local: np.ndarray, kwh: np.ndarray, kw: float, since: str) -> np.ndarray:
    """A constant load of ``kw`` from local midnight of ``since`` (an ASIC does not sleep)."""
    on = local >= np.datetime64(since, "us").astype(np.int64)
    return kwh + np.where(on, kw * 0.5, 0.0)


def readings(series: dict[str, tuple[np.ndarray, np.ndarray]], daily: bool = False) -> pa.Table:
    """``readings`` rows (UTC) from local half-hour series; ``daily`` sums whole local days as a daily register."""
    meters, ts, kwh = [], [], []
    for meter, (local, values) in series.items():
        if daily:
            day = local // DAY_US
            days, counts = np.unique(day, return_counts=True)
            sums = np.bincount(np.searchsorted(days, day), weights=values)
            whole = counts == 48
            local, values = days[whole] * DAY_US, sums[whole]
        meters += [meter] * len(values)
        ts.append(local - SYDNEY_S * 1_000_000)
        kwh.append(values)
    n = len(meters)
    return pa.table({"meter": pa.array(meters, pa.string()), "account": pa.array(meters, pa.string()),
                     "ts": pa.array(np.concatenate(ts), pa.timestamp("us", tz="UTC")),
                     "interval_s": pa.array(np.full(n, 86400 if daily else 1800, np.int32)),
                     "kwh": pa.array(np.concatenate(kwh)), "source": pa.array(["mapped"] * n, pa.string()),
                     "input": pa.array(["test"] * n, pa.string())}, schema=READINGS)


def accounts(meters: list[str], tariff: str = "residential", region: str = "320102") -> pa.Table:
    n = len(meters)
    return pa.table({"account": meters, "meter": meters, "name": [None] * n, "tariff": [tariff] * n,
                     "voltage_kv": [0.22] * n, "contract_kva": [8.0] * n, "running_kva": [8.0] * n,
                     "address": [None] * n, "region": [region] * n, "organisation": [None] * n,
                     "opened": pa.nulls(n, pa.timestamp("us", tz="UTC")), "source": ["mapped"] * n,
                     "input": ["test"] * n}, schema=ACCOUNTS)


def scores(tables: dict[str, pa.Table]) -> dict[str, load.MeterScore]:
    return {s.meter: s for s in load.score_meters(tables, offset_s=SYDNEY_S)}


# --- found, and where ------------------------------------------------------------------------------------

CASE = ("10006414", "2012-06-01", 120, "2012-07-20")  # household, window start, days, the miner's first day


def test_a_1kw_constant_load_is_found_with_its_start_and_size() -> None:
    cid, first, days, since = CASE
    local, kwh = span(cid, first, days)
    found = scores({"readings": readings({"miner": (local, with_load(local, kwh, 1.0, since)),
                                          "same-house": (local, kwh)})})
    miner = found["miner"]
    assert miner.flagged and miner.score >= load.SCORE_THRESHOLD
    assert miner.start is not None
    assert abs((np.datetime64(miner.start) - np.datetime64(since)).astype(int)) <= 2
    assert miner.plateau_kw is not None and abs(miner.plateau_kw - 1.0) <= 0.15
    assert miner.after_kwh_per_day is not None and miner.before_kwh_per_day is not None
    assert miner.after_kwh_per_day - miner.before_kwh_per_day == pytest.approx(24, rel=0.3)
    assert {"step", "flat", "persistent"} <= set(miner.signals)
    assert miner.reasons[0].zh.startswith(since) and "kW" in miner.reasons[0].en
    assert "same-house" not in found or not found["same-house"].flagged


def test_a_300w_constant_load_is_found_by_the_base_load_alone() -> None:
    """300 W is within the household's day-to-day swings of its daily mean: the quietest hours carry it."""
    cid, first, days, since = CASE
    local, kwh = span(cid, first, days)
    found = scores({"readings": readings({"miner": (local, with_load(local, kwh, 0.3, since))})})
    miner = found["miner"]
    assert miner.flagged
    assert abs((np.datetime64(miner.start) - np.datetime64(since)).astype(int)) <= 2
    assert "flat" in miner.signals and miner.plateau_kw is not None and abs(miner.plateau_kw - 0.3) <= 0.06
    assert any("最低负荷" in r.zh and "base load" in r.en for r in miner.reasons)


def test_an_appliance_sized_step_is_not_flagged() -> None:
    """A step of 100 W round the clock is a fridge, an aquarium or a router as much as a miner: not flagged."""
    cid, first, days, since = CASE
    local, kwh = span(cid, first, days)
    found = scores({"readings": readings({"fridge": (local, with_load(local, kwh, 0.1, since))})})
    assert "fridge" not in found or not found["fridge"].flagged


def test_a_machine_switched_off_on_some_days_is_a_machine() -> None:
    """A 3.25 kW load off on a fifth of the days: the days sit at the old level or at the full step."""
    cid, first, days, since = CASE
    local, kwh = span(cid, first, days)
    day = (local - local[0]) // DAY_US
    off_days = np.random.default_rng(3).random(int(day.max()) + 1) < 0.2
    loaded = with_load(local, kwh, 3.25, since)
    kwh = np.where(off_days[day], kwh, loaded)
    miner = scores({"readings": readings({"miner": (local, kwh)})})["miner"]
    assert miner.flagged and "on_off" in miner.signals
    assert any("开停" in r.zh and "switched on and off" in r.en for r in miner.reasons)


def test_untouched_households_give_no_finding() -> None:
    series = households()
    found = load.score_meters({"readings": readings(series)}, offset_s=SYDNEY_S)
    flagged = [(s.meter, s.start, s.signals) for s in found if s.flagged]
    assert flagged == []
    # the candidates SQL let through are scored, and far below the operating point
    assert all(s.score < load.SCORE_THRESHOLD for s in found)


def test_daily_readings_work_as_well_as_half_hours() -> None:
    cid, first, days, since = CASE
    local, kwh = span(cid, first, days)
    injected = {"miner": (local, with_load(local, kwh, 1.0, since)), "same-house": (local, kwh)}
    half_hourly, daily = scores({"readings": readings(injected)}), scores({"readings": readings(injected, True)})
    for result in (half_hourly, daily):
        assert result["miner"].flagged
        assert abs((np.datetime64(result["miner"].start) - np.datetime64(since)).astype(int)) <= 2
        assert "same-house" not in result or not result["same-house"].flagged
    # a daily reading cannot show the base load: the plateau is the daily mean's step, and less precise
    plateau = daily["miner"].plateau_kw
    assert plateau is not None and abs(plateau - 1.0) <= 0.25
    assert "flat" in half_hourly["miner"].signals and "flat" not in daily["miner"].signals


def test_gaps_do_not_break_it() -> None:
    cid, first, days, since = CASE
    local, kwh = span(cid, first, days)
    kwh = with_load(local, kwh, 1.0, since)
    keep = np.ones(len(local), dtype=bool)
    keep[48 * 20:48 * 27] = False  # a week without readings
    keep[48 * 70 + 10:48 * 70 + 40] = False  # most of one day
    result = scores({"readings": readings({"miner": (local[keep], kwh[keep])})})
    plateau = result["miner"].plateau_kw
    assert result["miner"].flagged and plateau is not None and abs(plateau - 1.0) <= 0.15


def test_a_residential_account_drawing_an_industrial_load_says_so() -> None:
    cid, first, days, since = CASE
    local, kwh = span(cid, first, days)
    series = {"miner": (local, with_load(local, kwh, 10.0, since)), "home": (local, kwh)}
    result = scores({"readings": readings(series), "accounts": accounts(["miner", "home"])})
    miner = result["miner"]
    assert miner.flagged and "tariff" in miner.signals
    assert any("居民" in r.zh and "residential" in r.en for r in miner.reasons)
    assert (miner.measures["utilisation"] or 0.0) > 1  # 10 kW on an 8 kVA supply
    # the same load billed as industrial is no tariff anomaly
    industrial = scores({"readings": readings(series), "accounts": accounts(["miner", "home"], "industrial")})
    assert "tariff" not in industrial["miner"].signals


def test_a_small_load_is_not_claimed_beyond_what_the_data_show() -> None:
    """40 W in a household is within its own day-to-day noise here: the detector must not invent a plateau."""
    cid, first, days, since = CASE
    local, kwh = span(cid, first, days)
    result = scores({"readings": readings({"pc": (local, with_load(local, kwh, 0.04, since))})})
    pc = result.get("pc")
    if pc is not None and pc.plateau_kw is not None and pc.flagged:
        assert abs(pc.plateau_kw - 0.04) <= 0.02


# --- the same on Spark ---------------------------------------------------------------------------------------

def _rounded(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    def r(x: Any) -> Any:
        return 0.0 if isinstance(x, float) and (x == 0 or not math.isfinite(x)) else \
            float(f"{x:.9g}") if isinstance(x, float) else x
    return {row["meter"]: {k: r(v) for k, v in row.items()} for row in rows}


@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark is not installed")
def test_spark_gives_the_same_aggregates_and_candidates(spark: Any) -> None:  # spark: tests/conftest.py
    from minescope.engines.sql import SparkEngine

    cid, first, days, since = CASE
    series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for other in sorted(households())[:6]:
        local, kwh = span(other, first, days)
        if len(local):
            series[other] = (local, kwh)
    local, kwh = span(cid, first, days)
    series["miner"] = (local, with_load(local, kwh, 3.25, since))
    tables = {"readings": pa.concat_tables([readings(series), readings({"daily": series["miner"]}, daily=True)]),
              "accounts": accounts(sorted(series))}
    results = []
    for engine in (DuckDBEngine(), SparkEngine(spark)):
        try:
            load.load_tables(engine, tables, SYDNEY_S)
            load.aggregate(engine)
            results.append((_rounded(engine.query("SELECT * FROM power_meters")),
                            sorted(r["meter"] for r in engine.query("SELECT meter FROM power_candidates")),
                            [(s.meter, s.score, s.start) for s in load.score_candidates(engine)]))
        finally:
            engine.close()
    (duck_meters, duck_candidates, duck_scores), (spark_meters, spark_candidates, spark_scores) = results
    assert len(duck_meters) == len(series) + 1 and "miner" in duck_candidates and "daily" in duck_candidates
    assert duck_meters["miner"]["peers"] == len(series) and duck_meters["miner"]["tariff"] == "residential"
    assert spark_meters == duck_meters
    assert spark_candidates == duck_candidates
    assert spark_scores == duck_scores


def test_batches_of_meters_give_the_same_aggregates() -> None:
    cid, first, days, since = CASE
    series = {other: span(other, first, days) for other in sorted(households())[:5]}
    local, kwh = span(cid, first, days)
    series["miner"] = (local, with_load(local, kwh, 1.0, since))
    results = []
    for batches in (1, 3):
        engine = DuckDBEngine()
        try:
            load.load_tables(engine, {"readings": readings({k: v for k, v in series.items() if len(v[0])})},
                             SYDNEY_S)
            load.aggregate(engine, batches)
            results.append(_rounded(engine.query("SELECT * FROM power_meters")))
        finally:
            engine.close()
    assert len(results[0]) >= 3 and results[0] == results[1]

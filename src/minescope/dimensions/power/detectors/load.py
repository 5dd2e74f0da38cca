"""The mining-load detector: a meter whose load steps up to a new flat plateau that runs day and night.

A miner (ASIC, GPU rig, a PC mining on its CPU) draws the same power around the clock, every day, weekends
and holidays alike. On a meter that is a step at the day it was switched on, to a plateau that lifts the
quietest interval of every day (the base load) by as much as the daily mean; the day/night rhythm of a
household or a shop flattens (night/day ratio toward 1), the load factor (mean/max) rises and the daily
kWh vary less. State Grid Fujian's 2022 contest (DCIC) found the same: holiday/workday stability, months
above 3,000 kWh and consumption over running capacity separated miners best.

How it runs (the design's rule: SQL narrows, Python only on candidates):
  1. SQL, one text for DuckDB and Spark (``PREPARED``, ``days_sql``, ``meters_sql``): readings of any
     interval (15, 30, 60 minutes, a day; gaps allowed) become one row per meter and local day: mean kW,
     base kW (the day's 10th-percentile interval), peak kW, night (00–06) and day (10–16) kW. Days with less than
     ``MIN_DAY_COVERAGE`` of their time read are left out, and so are days of no energy at all (a meter
     not yet or no longer in use: a move-in is not a step). Per meter: the load factor, CV, night/day ratio,
     the most kWh in a 30-day block, a diff-based noise level and the largest upward shift of the daily
     mean and of the base load between the ``LOCAL_DAYS`` before a day and those from it (sliding window
     sums), as a t statistic: a switch-on shows, a season's slow drift does not.
     With ``accounts``: tariff, running capacity (kVA) and the median load of the meter's peers (same tariff
     and region). ``aggregate(engine, batches)`` can take the meters in batches, so a million meters' year
     fits a memory limit; the per-day table (``power_days``) is kept for the candidates alone.
  2. Candidates (``CANDIDATES_SQL``): an upward shift of at least ``CANDIDATE_STEP_KW`` with t at least
     ``CANDIDATE_T``, or a residential account drawing more than ``RESIDENTIAL_MONTH_KWH`` in 30 days, or
     running capacity used above ``CAPACITY_UTILISATION``, or ``PEER_FACTOR`` times the peers' median.
  3. Python, candidates only: change points by ``ruptures`` (binary segmentation, L2 cost, a BIC-like
     penalty on the meter's own noise) on the daily base load and the daily mean; every upward change (the
     ``MAX_STEPS`` strongest) is judged and the best judged one is the step. Over the four weeks each side
     of it: the base load's step on the quieter days (``QUIET_DAYS``) and whether the household's own use
     (mean above base) stayed as it was (does the base carry the step: flat day and night?), the night
     hours' step (a night schedule), how abrupt it is, whether day-to-day swings grew, the night/day ratio;
     over the whole plateau: persistence (share of days that stay up, weekends and holidays included) and
     whether the days sit at two levels (on, or off) rather than wander (a season, heating). The plateau's
     size weighs too: steps below ``SMALL_KW`` are what a home's appliances left on add.
  4. The score: log-odds from the signals (``WEIGHTS``) through a logistic, capped at ``SCORE_CAP``.
     ``MeterScore.flagged`` is score >= ``SCORE_THRESHOLD``.

Known false positives: a new always-on appliance (a pool pump on a timer is not, but a server, an
aquarium heater, a dehumidifier or a heat pump left running is), a household that grows (a lodger),
electric heating in a cold spell (it lifts the night too, but not every day alike), a home back from a long
absence whose earlier level lies outside the series. The detector finds
mining-shaped load, not mining: a finding is a lead for a site visit or another dimension's evidence.
Known misses: a miner running since before the series starts shows no step (only the tariff, capacity
and peer signals can find it); loads of 40-200 W in a household look like its own appliances left on (and
40-100 W sit within its day-to-day noise; docs/power-evaluation.md gives the figures).

Time of day: readings are stored in UTC; the local day and hour use ``LOCAL_UTC_OFFSET_S`` (China
Standard Time, no daylight saving), which ``score_meters`` takes as an argument for other grids.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from minescope.dimensions.power.tables import ACCOUNTS, READINGS
from minescope.engines.sql import Preparation, SqlEngine, View, open_engine
from minescope.model import Text

LOCAL_UTC_OFFSET_S = 8 * 3600  # China Standard Time: the grid's clock for days and night hours
MIN_DAY_COVERAGE = 0.5  # a day with less of its time read says too little about its base load
LOCAL_DAYS = 28  # levels before and after a step: four weeks each side (whole weeks keep the weekly rhythm)
MIN_SEGMENT_DAYS = 10  # a step needs this many days each side: fewer cannot tell a plateau from a spell
BASE_QUANTILE = 0.1  # a day's base load: the level its intervals rarely go below (a minimum falls with one restart)
NIGHT_HOURS = (0, 6)  # local hours [from, to): people sleep, a household draws its base load
DAY_HOURS = (10, 16)  # local hours [from, to): the working day

# Candidates: recall first (Python sees every meter that passes). 30 W is below the smallest load tested
# (40 W); t >= 5 on the two-window test keeps out meters whose day-to-day noise alone explains the shift.
CANDIDATE_STEP_KW = 0.03
CANDIDATE_T = 5.0  # the largest of ~300 two-window t's of a year of noise: median 3.5, 90th percentile 4.2
# the base load of sub-daily readings gets a lower bar: a flat load shows there while the household hides it in the mean
CANDIDATE_BASE_T = 3.5
SIGNAL_T = 4.0  # a step (of the mean, the base load, the night hours) that counts as a signal
RESIDENTIAL_MONTH_KWH = 3000.0  # DCIC 2022: a home over 3,000 kWh a month is rare, a miner's is not
CAPACITY_POWER_FACTOR = 0.9  # kVA to kW for a mixed load
CAPACITY_UTILISATION = 0.6  # a site running on average above 60 % of its capacity, day and night
PEER_FACTOR = 3.0  # three times the median of the same tariff and region
MIN_PEERS = 5  # fewer peers give no median worth comparing with

# The score: log-odds of mining-shaped load from the signals. Set by physics (what a flat added load does
# to each signal), then checked on the calibration half of benchmarks/power_eval.py, never on the half it
# reports. SCORE_THRESHOLD is that half's operating point (<= 1 % false alarms on untouched windows).
WEIGHTS = {
    "bias": -7.0,
    "daily_readings": 1.5,  # daily readings: the flat, night and rhythm signals (at most +5) cannot be measured
    "step_t": 1.0,  # per unit of ln(1 + t): the daily mean's step stands above its own noise
    "base_t": 1.0,  # the same for the base load or night hours (sub-daily readings), when they carry the step
    "flat": 2.0,  # the base load carries the step: the added load runs day and night
    "not_flat": -3.0,  # more energy but hardly any at the quietest hours: appliances in use, not a plateau
    "persistent": 2.0,  # every day after the step stays up, weekends and holidays too
    "levels": 1.0,  # the plateau's days sit at the new level (or, switched off, at the old one), not between
    "abrupt": 1.5,  # switched on: the first week after the change is already up (a season drifts)
    "steady": 1.5,  # the day-to-day swings did not grow with the level (an added constant)
    "rhythm": 1.0,  # night/day ratio moves toward 1
    "large": 1.0,  # per doubling of the step above LARGE_KW
    "small": -6.0,  # per halving of the step below SMALL_KW (at most 3 halvings)
    "restores": -3.0,  # the new level was already seen before: back from a holiday, not a new load
    "night": 1.5,  # (not flat) the night hours carry the step: a load on a night schedule
    "tariff": 2.5,  # a residential account drawing an industrial-size month
    "capacity": 1.5,  # running capacity used most of the time
    "peers": 1.5,  # far above its peers
}
NIGHT_SHARE = 2.0  # a night-scheduled load lifts the night hours by 24/hours-on times the daily mean's step
FLAT_MIN_MEAN_T = 2.0  # a base load that rises while the energy does not is a meter's quirk, not a load
SMALL_KW = 0.25  # a step below this is the size of an appliance left on (a fridge, an aquarium heater)
LARGE_KW = 1.0  # steps above this are large for a home (a kettle is 2 kW, but not all day)
# flat: the household's own use (the daily mean above the base load) may not have risen by more than this share
# of the base's step (0.7: the base carries at least ~60 % of the mean's step), or, for a base step with t >= STRONG_T,
# this larger share (~45 %: a winter's own use may rise with a miner's switch-on)
OWN_RISE = 0.7
OWN_RISE_STRONG = 1.25
TWO_LEVEL_TOLERANCE = 0.25  # a day within this share of the step of the old or the new level is at one of them
LEVELS_SHARE = 0.9  # days at one of the two levels: a machine (on, or off)
LEVELS_SPREAD = 0.7  # fewer: the level wanders (a season, heating)
NIGHT_LEVELS = 0.8  # a night schedule's nights at its level (heating follows the weather night by night)
QUIET_DAYS = 0.35  # the base load's step is measured on the quieter days (this quantile of the weeks each side)
MAX_STEPS = 6  # upward changes judged per meter (the largest t's)
T_CAP = 30.0  # beyond this a step is certain: a larger t says the meter is quiet, not that it mines
SWING_MAX = 1.5  # swings grown by half or more are not steady, however small against the step
STRONG_T = 10.0  # a base-load step this far above its noise counts even when the household also drew more
SCORE_CAP = 0.95  # a meter alone is a lead, never proof
SCORE_THRESHOLD = 0.46  # benchmarks/power_eval.py: its calibration half chose 0.464 for <= 1 % false alarms


# --- SQL: one text for both engines ----------------------------------------------------------------------

def _lit(x: float) -> str:
    """A DOUBLE literal both engines read alike (Spark reads 0.5 as DECIMAL)."""
    return f"CAST({float(x)!r} AS DOUBLE)"


def intervals_view_sql(offset_s: int = LOCAL_UTC_OFFSET_S) -> str:
    """Readings with their local day (days since 1970-01-01) and local hour."""
    return (
        "SELECT meter, account, interval_s, kwh, "
        "CAST(FLOOR(CAST(local_s AS DOUBLE) / 86400.0E0) AS BIGINT) AS day, "
        "CAST(FLOOR((CAST(local_s AS DOUBLE) - FLOOR(CAST(local_s AS DOUBLE) / 86400.0E0) * 86400.0E0) / 3600.0E0) "
        "AS INT) AS hour "
        "FROM (SELECT meter, account, interval_s, kwh, "
        f"CAST(FLOOR(CAST({{epoch_us}} AS DOUBLE) / 1000000.0E0) AS BIGINT) + {int(offset_s)} AS local_s "
        "FROM {relation} WHERE meter IS NOT NULL AND kwh IS NOT NULL AND kwh >= 0 AND interval_s > 0) r")


ACCOUNTS_VIEW_SQL = (
    "SELECT account, MAX(meter) AS meter, MAX(lower(tariff)) AS tariff, MAX(running_kva) AS running_kva, "
    "MAX(region) AS region FROM {relation} WHERE account IS NOT NULL GROUP BY account")


def preparation(offset_s: int = LOCAL_UTC_OFFSET_S) -> Preparation:
    return Preparation(tables={"readings": READINGS, "accounts": ACCOUNTS},
                       views=(View("power_intervals", "readings", intervals_view_sql(offset_s)),
                              View("power_accounts", "accounts", ACCOUNTS_VIEW_SQL)))


PREPARED = preparation()


def _hours(hours: tuple[int, int], what: str) -> str:
    inside = f"hour >= {hours[0]} AND hour < {hours[1]}"
    return f"SUM(CASE WHEN {inside} THEN {what} END)"


_HAVING = f"HAVING SUM(interval_s) >= {int(MIN_DAY_COVERAGE * 86400)} AND SUM(kwh) > 0"
# Two parts: daily readings need plain sums (an aggregate DuckDB can spill to disk: a million meters' year is
# 365 million days), sub-daily ones also the base-load percentile (held in memory per day, so only for them).
# A meter is read at one interval; a day read at two would give two rows.
def days_sql(intervals: str = "power_intervals") -> str:
    """One row per meter and local day, from ``intervals`` (the view, or a subquery of it)."""
    return (
        "SELECT meter, MAX(account) AS account, day, SUM(kwh) AS kwh, SUM(interval_s) AS covered_s, "
        "MAX(interval_s) AS interval_s, SUM(kwh) * 3600.0E0 / SUM(interval_s) AS mean_kw, "
        "CAST(NULL AS DOUBLE) AS base_kw, CAST(NULL AS DOUBLE) AS peak_kw, CAST(NULL AS DOUBLE) AS night_kw, "
        "CAST(NULL AS DOUBLE) AS day_kw "
        f"FROM {intervals} WHERE interval_s >= 86400 GROUP BY meter, day {_HAVING} "
        "UNION ALL "
        "SELECT meter, MAX(account) AS account, day, SUM(kwh) AS kwh, SUM(interval_s) AS covered_s, "
        "MAX(interval_s) AS interval_s, SUM(kwh) * 3600.0E0 / SUM(interval_s) AS mean_kw, "
        f"percentile_cont({BASE_QUANTILE!r}) WITHIN GROUP (ORDER BY kwh * 3600.0E0 / interval_s) AS base_kw, "
        "MAX(kwh * 3600.0E0 / interval_s) AS peak_kw, "
        f"{_hours(NIGHT_HOURS, 'kwh')} * 3600.0E0 / {_hours(NIGHT_HOURS, 'interval_s')} AS night_kw, "
        f"{_hours(DAY_HOURS, 'kwh')} * 3600.0E0 / {_hours(DAY_HOURS, 'interval_s')} AS day_kw "
        f"FROM {intervals} WHERE interval_s < 86400 GROUP BY meter, day {_HAVING}")


DAYS_SQL = days_sql()


# noise from the mean absolute day-to-day difference (for Gaussian noise E|d| = σ·2/√π): a few days of a
# restart or a cold snap weigh on it far less than on the root mean square
_L1_NOISE = math.sqrt(math.pi) / 2


def meters_sql(days: str | None = None, days_cte: str = DAYS_SQL) -> str:
    """Per meter (over the table ``days``, else the rows of ``days_cte``): level, shape, noise and the largest
    upward shift of the daily mean and of the base load
    between the ``LOCAL_DAYS`` before a day and the ``LOCAL_DAYS`` from it (a local two-window test: a
    season's drift over a year does not add up to a shift, a switch-on does)."""
    floor = "COALESCE(base_kw, mean_kw)"
    order = "PARTITION BY meter ORDER BY day"
    past = f"{order} ROWS BETWEEN {LOCAL_DAYS} PRECEDING AND 1 PRECEDING"
    ahead = f"{order} ROWS BETWEEN CURRENT ROW AND {LOCAL_DAYS - 1} FOLLOWING"
    seg = MIN_SEGMENT_DAYS

    def shift(past_sum: str, ahead_sum: str) -> str:
        return f"CASE WHEN nb >= {seg} AND na >= {seg} THEN {ahead_sum} / na - {past_sum} / nb END"

    # by default the days are a CTE, never stored: a million meters' year is 365 million of them
    source = days or "day_rows"
    with_days = "" if days else f"day_rows AS ({days_cte}), "
    return f"""
WITH {with_days}d AS (
  SELECT meter, account, day, kwh, covered_s, mean_kw, peak_kw, night_kw, day_kw,
    COUNT(*) OVER ({past}) AS nb, COUNT(*) OVER ({ahead}) AS na,
    SUM(mean_kw) OVER ({past}) AS past_mean, SUM(mean_kw) OVER ({ahead}) AS ahead_mean,
    SUM({floor}) OVER ({past}) AS past_floor, SUM({floor}) OVER ({ahead}) AS ahead_floor,
    mean_kw - LAG(mean_kw) OVER ({order}) AS diff_mean,
    {floor} - LAG({floor}) OVER ({order}) AS diff_floor
  FROM {source}
), s AS (
  SELECT *,
    {shift("past_mean", "ahead_mean")} AS shift_mean,
    {shift("past_floor", "ahead_floor")} AS shift_floor,
    CASE WHEN nb >= {seg} AND na >= {seg} THEN SQRT(1.0E0 / nb + 1.0E0 / na) END AS spread
  FROM d
), m AS (
  SELECT meter, MAX(account) AS account, COUNT(*) AS days, MIN(day) AS first_day, MAX(day) AS last_day,
    AVG(mean_kw) AS mean_kw, MAX(COALESCE(peak_kw, mean_kw)) AS peak_kw,
    AVG(mean_kw) / NULLIF(MAX(COALESCE(peak_kw, mean_kw)), 0) AS load_factor,
    STDDEV_POP(mean_kw) / NULLIF(AVG(mean_kw), 0) AS cv,
    AVG(night_kw) / NULLIF(AVG(day_kw), 0) AS night_day,
    AVG(ABS(diff_mean)) * {_L1_NOISE!r} AS noise_kw,
    AVG(ABS(diff_floor)) * {_L1_NOISE!r} AS floor_noise_kw, COUNT(peak_kw) AS sub_daily_days,
    MAX(shift_mean) AS step_kw, MAX(shift_mean / spread) AS step_w,
    MAX(shift_floor) AS floor_step_kw, MAX(shift_floor / spread) AS floor_step_w
  FROM s GROUP BY meter
), blocks AS (
  SELECT meter, MAX(kwh_30d) AS kwh_30d_max FROM (
    SELECT meter, SUM(kwh) * 2592000.0E0 / SUM(covered_s) AS kwh_30d FROM {source}
    GROUP BY meter, CAST(FLOOR(day / 30.0E0) AS BIGINT) HAVING SUM(covered_s) >= 1296000) b
  GROUP BY meter
)
SELECT m.meter, m.account, m.days, m.first_day, m.last_day, m.mean_kw, m.peak_kw, m.load_factor, m.cv,
  m.night_day, m.noise_kw, m.floor_noise_kw, m.sub_daily_days, m.step_kw, m.floor_step_kw,
  m.step_w / NULLIF(m.noise_kw, 0) AS step_t, m.floor_step_w / NULLIF(m.floor_noise_kw, 0) AS floor_step_t,
  b.kwh_30d_max
FROM m LEFT JOIN blocks b ON b.meter = m.meter"""


PROFILE_SQL = """
SELECT m.*, COALESCE(a1.tariff, a2.tariff) AS tariff, COALESCE(a1.running_kva, a2.running_kva) AS running_kva,
  COALESCE(a1.region, a2.region) AS region
FROM power_meter_stats m
LEFT JOIN power_accounts a1 ON a1.account = m.account
LEFT JOIN power_accounts a2 ON a2.meter = m.meter AND a1.account IS NULL"""

PEERS_SQL = f"""
SELECT p.*, g.peer_kw, g.peers
FROM power_profile p LEFT JOIN (
  SELECT tariff, region, percentile_cont(0.5) WITHIN GROUP (ORDER BY mean_kw) AS peer_kw, COUNT(*) AS peers
  FROM power_profile WHERE tariff IS NOT NULL AND region IS NOT NULL GROUP BY tariff, region
  HAVING COUNT(*) >= {MIN_PEERS}) g
ON g.tariff = p.tariff AND g.region = p.region"""

CANDIDATES_SQL = f"""
SELECT * FROM power_meters
WHERE (step_kw >= {_lit(CANDIDATE_STEP_KW)} AND step_t >= {_lit(CANDIDATE_T)})
   OR (floor_step_kw >= {_lit(CANDIDATE_STEP_KW)} AND floor_step_t >= {_lit(CANDIDATE_T)})
   OR (sub_daily_days > 0 AND floor_step_kw >= {_lit(CANDIDATE_STEP_KW)} AND floor_step_t >= {_lit(CANDIDATE_BASE_T)})
   OR (tariff = 'residential' AND kwh_30d_max >= {_lit(RESIDENTIAL_MONTH_KWH)})
   OR (running_kva > 0 AND mean_kw >= running_kva * {_lit(CAPACITY_POWER_FACTOR * CAPACITY_UTILISATION)})
   OR (peer_kw > 0 AND mean_kw >= peer_kw * {_lit(PEER_FACTOR)})"""

DAY_COLUMNS = ("mean_kw", "base_kw", "night_kw", "day_kw", "peak_kw")


def aggregate(engine: SqlEngine, batches: int = 1) -> None:
    """Make the per-meter (``power_meters``), candidate (``power_candidates``) and the candidates' per-day
    (``power_days``) tables on an engine that holds the power tables and has ``PREPARED`` (or
    ``preparation(offset)``) made."""
    if batches <= 1:
        engine.materialize("power_meter_stats", meters_sql())
    else:
        # meters in batches by the code of their number's last character: each batch's days and windows fit in
        # memory (a million meters' year does not, at 4 GB); per-meter results do not depend on the batching
        parts = []
        for k in range(batches):
            chosen = f"(SELECT * FROM power_intervals WHERE MOD(ASCII(SUBSTR(meter, -1, 1)), {batches}) = {k}) b"
            engine.materialize(f"power_meter_stats_{k}", meters_sql(days_cte=days_sql(chosen)))
            parts.append(f"SELECT * FROM power_meter_stats_{k}")
        engine.materialize("power_meter_stats", " UNION ALL ".join(parts))
    engine.materialize("power_profile", PROFILE_SQL)
    engine.materialize("power_meters", PEERS_SQL)
    engine.materialize("power_candidates", CANDIDATES_SQL)
    # the days are kept for the candidates alone (their change points, a finding's chart)
    engine.materialize("power_days", days_sql(
        "(SELECT * FROM power_intervals WHERE meter IN (SELECT meter FROM power_candidates)) candidate_intervals"))


# --- Python on candidates -------------------------------------------------------------------------------

@dataclass
class MeterScore:
    """What the detector says of one candidate meter. ``plateau_kw`` is the added load (kW) of the step,
    ``start`` its first day (ISO date, local); ``signals`` names the signals that agreed."""

    meter: str
    account: str | None
    score: float
    flagged: bool
    plateau_kw: float | None
    start: str | None
    before_kwh_per_day: float | None
    after_kwh_per_day: float | None
    signals: tuple[str, ...]
    reasons: tuple[Text, ...]
    measures: dict[str, float | None] = field(default_factory=dict)


@dataclass
class Step:
    index: int  # first day (position) of the plateau
    end: int  # one past its last day
    level_kw: float  # median daily mean before
    step_kw: float  # median after minus median before
    t: float


def _robust_noise(x: np.ndarray) -> float:
    """Day-to-day noise from differences (a step or a slow drift barely moves it): MAD of diffs / √2."""
    if len(x) < 3:
        return float("nan")
    d = np.diff(x)
    mad = float(np.median(np.abs(d - np.median(d)))) * 1.4826 / math.sqrt(2)
    sd = float(np.std(d)) / math.sqrt(2)
    return max(mad, 0.25 * sd, 1e-3)  # 1 W floor: a perfectly flat meter would give infinite t


def change_points(x: np.ndarray, noise: float, min_size: int = MIN_SEGMENT_DAYS) -> list[int]:
    """Ends of segments (ruptures' convention, the last is len(x)) by binary segmentation on the L2 cost, with a
    BIC-like
    penalty on the series' own noise: a change must pay for itself in explained variance."""
    import ruptures

    n = len(x)
    if n < 2 * min_size:
        return [n]
    penalty = 3.0 * math.log(n) * noise * noise
    # binary segmentation: O(n log n) splits where PELT in ruptures is O(n²) Python steps (a second per
    # year-long series); a step and a plateau are what it has to find, and it finds them alike
    algo = ruptures.Binseg(model="l2", min_size=min_size, jump=1).fit(x.reshape(-1, 1))
    return [int(b) for b in algo.predict(pen=penalty)]


def _up_steps(series: np.ndarray, noise: float) -> list[Step]:
    """Every upward change between segments, with its t against the segment just before it. Its plateau is the
    segment after it and the segments that follow while they stay above half the step (the miner still
    running)."""
    ends = change_points(series, noise)
    starts = [0, *ends[:-1]]
    out: list[Step] = []
    for k in range(1, len(starts)):
        cp = starts[k]
        level = float(np.median(series[starts[k - 1]:cp]))
        rise = float(np.median(series[cp:ends[k]])) - level
        if rise <= 0:
            continue
        end = ends[k]
        for j in range(k + 1, len(starts)):
            if float(np.median(series[starts[j]:ends[j]])) < level + 0.5 * rise:
                break
            end = ends[j]
        # t of the change itself (the segments either side), so a small change just before a large one
        # does not take the large one's plateau for its own
        t = rise / (noise * math.sqrt(1 / (cp - starts[k - 1]) + 1 / (ends[k] - cp)))
        out.append(Step(cp, end, level, rise, t))
    return out


def _two_levels(rise: np.ndarray, step: float) -> float:
    """Share of days at one of two levels: the old one (a machine off) or the old one plus the step (on), within
    ``TWO_LEVEL_TOLERANCE`` of the step; ``rise`` is each day's level above the old one. Heating and guests
    spread between and beyond them."""
    if step <= 0 or not len(rise):
        return 0.0
    on = rise > 0.5 * step
    step_on = float(np.median(rise[on])) if on.any() else step
    return float(np.mean(np.where(on, np.abs(rise - step_on), np.abs(rise)) <= TWO_LEVEL_TOLERANCE * step_on))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def _day_iso(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not math.isfinite(a) or not math.isfinite(b) or b <= 0:
        return None
    return a / b


def _nanmedian(x: np.ndarray) -> float | None:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else None


def _nanmean(x: np.ndarray) -> float | None:
    x = x[np.isfinite(x)]
    return float(np.mean(x)) if len(x) else None


@dataclass
class _Judged:
    z: float
    signals: list[str]
    reasons: list[Text]
    measures: dict[str, float | None]
    plateau: float | None
    start: str | None
    before_kwh: float | None
    after_kwh: float | None


def _judge(step: Step | None, days: Mapping[str, np.ndarray], mean_kw: np.ndarray, base_kw: np.ndarray,
           day_index: np.ndarray, mean_noise: float, sub_daily: bool) -> _Judged:
    """The log-odds of the step signals for one candidate change (or none), with their reasons."""
    # daily readings cannot show the base load, the night hours or the rhythm: not evidence either way
    z = WEIGHTS["bias"] + (0.0 if sub_daily else WEIGHTS["daily_readings"])
    signals: list[str] = []
    reasons: list[Text] = []
    measures: dict[str, float | None] = {}
    plateau = start = before_kwh = after_kwh = None
    mean_step = base_step = t_base = 0.0
    flat = False
    if step is not None:
        # levels are compared over the weeks each side of the change, so a season's drift over the
        # months before or after does not hide (or make) the step
        before = slice(max(0, step.index - LOCAL_DAYS), step.index)
        after = slice(step.index, min(step.end, step.index + LOCAL_DAYS))
        plateau_days = slice(step.index, step.end)
        nb, na = before.stop - before.start, after.stop - after.start
        spread = math.sqrt(1 / nb + 1 / na)
        mean_step = float(np.median(mean_kw[after]) - np.median(mean_kw[before]))
        if sub_daily:
            # the quieter days' base: a miner lifts every day's base, heating mostly the cold days'
            base_step = float(np.quantile(base_kw[after], QUIET_DAYS) - np.quantile(base_kw[before], QUIET_DAYS))
            t_base = base_step / (_robust_noise(base_kw[before]) * spread)
            # A load added round the clock lifts the quietest interval of every day by its whole draw, and the
            # daily mean by as much, so it leaves the household's own use (the mean above the base) as it was:
            # the base's step is the measurement (the household's use adds noise to the mean, hardly to the
            # base). Heating, cooking and guests raise the own use with the base, or instead of it. The own use
            # may fall meanwhile (a season ending, fewer people at home): the mean's step is not required.
            own = mean_kw - base_kw
            own_step = float(np.median(own[after]) - np.median(own[before]))
            flat = (base_step >= CANDIDATE_STEP_KW and t_base >= SIGNAL_T
                    and own_step <= (OWN_RISE_STRONG if t_base >= STRONG_T else OWN_RISE) * base_step)
            measures.update(own_step_kw=own_step)
    if step is not None and (mean_step > 0 or flat):
        start = _day_iso(int(day_index[step.index]))
        before_kwh = float(np.mean(mean_kw[before])) * 24
        after_kwh = float(np.mean(mean_kw[after])) * 24
        t_mean = mean_step / (mean_noise * spread)
        measures.update(step_kw=mean_step, step_t=t_mean)
        z += WEIGHTS["step_t"] * math.log1p(min(max(t_mean, 0.0), T_CAP))
        if t_mean >= SIGNAL_T:
            signals.append("step")
        plateau = mean_step
        if sub_daily:
            flat_share = base_step / mean_step if mean_step > 0 else math.inf
            measures.update(base_step_kw=base_step, base_step_t=t_base, flat_share=min(flat_share, 99.0))
            if flat:
                # the base load carries the step: the added load runs day and night; its size is the base's step
                z += WEIGHTS["flat"] + WEIGHTS["base_t"] * math.log1p(min(t_base, T_CAP))
                plateau = base_step
                signals.append("flat")
                reasons.append(Text(
                    zh=f"最低负荷同步抬升 {base_step * 1000:.0f} W（日均负荷抬升 {mean_step * 1000:.0f} W，"
                       "在其波动范围内一致）：新增负荷昼夜不停",
                    en=f"the base load rose by {base_step * 1000:.0f} W with it (the daily mean by "
                       f"{mean_step * 1000:.0f} W, the same within its noise): the added load runs day and night"))
            elif mean_step > 0:
                # not round the clock: a load that runs every night (a miner on the cheap valley tariff) lifts
                # the night hours by far more than the daily mean; heating and guests lift both alike
                night = np.asarray(days["night_kw"], dtype=float)
                night = np.where(np.isfinite(night), night, mean_kw)
                night_step = float(np.median(night[after]) - np.median(night[before]))
                t_night = night_step / (_robust_noise(night[before]) * spread)
                measures.update(night_step_kw=night_step, night_step_t=t_night)
                night_persistence = float(np.mean(night[plateau_days] > np.median(night[before]) + 0.5 * night_step))
                # and a timer adds the same draw every night, where heating follows the weather night by night
                night_levels = _two_levels(night[plateau_days] - float(np.median(night[before])), night_step)
                measures["night_levels"] = night_levels
                if (night_step >= NIGHT_SHARE * mean_step and t_night >= SIGNAL_T and t_mean >= FLAT_MIN_MEAN_T
                        and night_persistence >= 0.9 and night_levels >= NIGHT_LEVELS):
                    z += WEIGHTS["night"] + WEIGHTS["base_t"] * math.log1p(min(t_night, T_CAP))
                    plateau = night_step
                    signals.append("night")
                    reasons.append(Text(
                        zh=f"夜间（0–6 时）负荷抬升 {night_step * 1000:.0f} W，"
                           f"为日均增量的 {night_step / mean_step:.1f} 倍："
                           "新增负荷按夜间时段运行",
                        en=f"the night hours (00-06) rose by {night_step * 1000:.0f} W, "
                           f"{night_step / mean_step:.1f}× the "
                           "daily mean's step: the added load runs on a night schedule"))
                elif flat_share < 0.3:
                    z += WEIGHTS["not_flat"]
        # a home rarely adds kilowatts at once; a miner's rack does (+1 per doubling above 1 kW, at most 3); a
        # home does add a fridge, a freezer, an aquarium, a router and a set-top box that never sleep (50-150 W)
        z += WEIGHTS["large"] * min(3.0, max(0.0, math.log2(plateau / LARGE_KW)))
        z += WEIGHTS["small"] * min(3.0, max(0.0, math.log2(SMALL_KW / max(plateau, 1e-3))))
        kw = f"{plateau * 1000:.0f} W" if plateau < 1 else f"{plateau:.2f} kW"
        reasons.insert(0, Text(zh=f"{start} 起负荷阶跃上升约 {kw}（日均 {before_kwh:.1f} → {after_kwh:.1f} kWh，"
                                  f"显著性 t={t_mean:.1f}）",
                               en=f"load stepped up by about {kw} from {start} (daily {before_kwh:.1f} → "
                                  f"{after_kwh:.1f} kWh, t={t_mean:.1f})"))
        series = base_kw if "flat" in signals else night if "night" in signals else mean_kw
        level_before = float(np.median(series[before]))
        series_step = float(np.median(series[after])) - level_before
        persistence = float(np.mean(series[plateau_days] > level_before + 0.5 * series_step))
        measures["persistence"] = persistence
        # a machine switched off on some days leaves those days at the old level and the others at the full
        # step: two levels; heating and guests spread between them
        two_levels = _two_levels(series[plateau_days] - level_before, series_step)
        measures["two_levels"] = two_levels
        # a level seen before (two weeks or more, before the weeks just ahead of the step) is a return: from
        # a holiday, a vacancy, a repair; a miner's plateau is new
        earlier = series[:before.start]
        if len(earlier) >= 14:
            former = float(np.max(np.median(np.lib.stride_tricks.sliding_window_view(earlier, 14), axis=1)))
            measures["former_level_kw"] = former
            if former >= level_before + 0.5 * series_step:
                z += WEIGHTS["restores"]
                signals.append("restores")
                reasons.append(Text(zh="阶跃后的水平此前已出现过（如假期归来），不像新增负荷",
                                    en="the level after the step was seen before (back from a holiday?), unlike "
                                       "a new load"))
        if persistence >= 0.9:
            z += WEIGHTS["persistent"] * (persistence - 0.9) / 0.1
            signals.append("persistent")
            reasons.append(Text(zh=f"阶跃后 {persistence:.0%} 的日子（含周末、节假日）都保持高位",
                                en=f"{persistence:.0%} of the days after the step stay up, weekends and holidays "
                                   "included"))
        elif two_levels >= LEVELS_SHARE and plateau >= LARGE_KW:
            # off on some days, and on the others up by the whole step, a kilowatt or more: a machine on a
            # schedule, less like a miner left running than one that never stops, but a machine (a few hundred
            # watts on some days only is as much a heater on the cold days)
            z -= WEIGHTS["persistent"] * min(1.0, (0.9 - persistence) / 0.3)
            signals.append("on_off")
            reasons.append(Text(zh=f"阶跃后 {persistence:.0%} 的日子升高整个阶跃，其余日子回到原水平：设备按计划开停",
                                en=f"{persistence:.0%} of the days after the step are up by the whole step, the others "
                                   "back at the old level: a machine switched on and off"))
        else:  # down on some days and neither at the old nor at the new level: a season, heating, guests
            z -= WEIGHTS["persistent"] * min(2.0, (0.9 - persistence) / 0.1)
        if two_levels >= LEVELS_SHARE and (persistence >= 0.9 or "on_off" in signals):
            z += WEIGHTS["levels"]
            signals.append("levels")
        elif two_levels < LEVELS_SPREAD:
            z -= WEIGHTS["levels"] * 1.5
        # a switch-on: the week after the change is already up by most of the step (a season drifts up)
        week = min(7, nb, na)
        abrupt = float(np.median(series[step.index:step.index + week]) -
                       np.median(series[step.index - week:step.index])) / max(series_step, 1e-6)
        measures["abrupt"] = abrupt
        if abrupt >= 0.6:
            z += WEIGHTS["abrupt"]
            signals.append("abrupt")
        else:
            z -= WEIGHTS["abrupt"] * min(1.0, (0.6 - abrupt) / 0.4)
        # an added constant moves the level, not the day-to-day swings (heating and guests widen them)
        swing_after, swing_before = _robust_noise(mean_kw[after]), _robust_noise(mean_kw[before])
        swing = swing_after / max(swing_before, 1e-3)
        growth = (swing_after - swing_before) / plateau  # swings grown, as a share of the added load
        measures.update(swing_ratio=swing, swing_growth=growth)
        if "on_off" in signals:
            pass  # days off and on widen the swings by themselves: they tell nothing here
        elif swing <= 1.3 or (growth <= 0.15 and swing <= SWING_MAX):
            z += WEIGHTS["steady"]
            signals.append("steady")
            reasons.append(Text(zh=f"日间波动未随负荷增大（波动比 {swing:.2f}）：新增的是恒定负荷",
                                en=f"day-to-day swings did not grow with the load (ratio {swing:.2f}): the added "
                                   "load is constant"))
        elif swing >= 2.0 and growth >= 0.4:
            z -= WEIGHTS["steady"] * 2
        night_kw, day_kw = np.asarray(days["night_kw"], dtype=float), np.asarray(days["day_kw"], dtype=float)
        nd_before = _ratio(_nanmean(night_kw[before]), _nanmean(day_kw[before]))
        nd_after = _ratio(_nanmean(night_kw[after]), _nanmean(day_kw[after]))
        measures.update(night_day_before=nd_before, night_day_after=nd_after)
        # None or 0 (a meter that draws nothing at night) tells no rhythm; a night schedule moves the ratio by itself
        if nd_before and nd_after and "night" not in signals:
            closer = abs(math.log(nd_before)) - abs(math.log(nd_after))
            if closer > 0.1:
                z += WEIGHTS["rhythm"]
                signals.append("rhythm")
                reasons.append(Text(zh=f"夜间/白天负荷比由 {nd_before:.2f} 趋近 1（{nd_after:.2f}）：作息节律消失",
                                    en=f"night/day ratio moved toward 1 ({nd_before:.2f} → {nd_after:.2f}): the "
                                       "daily rhythm flattened"))
        cv_before = float(np.std(mean_kw[before]) / max(np.mean(mean_kw[before]), 1e-9))
        cv_after = float(np.std(mean_kw[after]) / max(np.mean(mean_kw[after]), 1e-9))
        peak = np.asarray(days["peak_kw"], dtype=float)
        measures.update(cv_before=cv_before, cv_after=cv_after,
                        load_factor_before=_ratio(_nanmean(mean_kw[before]), _nanmedian(peak[before])),
                        load_factor_after=_ratio(_nanmean(mean_kw[after]), _nanmedian(peak[after])))
    return _Judged(z, signals, reasons, measures, plateau, start, before_kwh, after_kwh)


def score_meter(meter: Mapping[str, Any], days: Mapping[str, np.ndarray]) -> MeterScore:
    """Score one candidate from its per-meter row (``power_meters``) and its days (arrays by column)."""
    mean_kw = np.asarray(days["mean_kw"], dtype=float)
    base_raw = np.asarray(days["base_kw"], dtype=float)
    sub_daily = bool(np.isfinite(base_raw).any())
    base_kw = np.where(np.isfinite(base_raw), base_raw, mean_kw)
    day_index = np.asarray(days["day"], dtype=np.int64)
    mean_noise = _robust_noise(mean_kw)
    # The step: every upward change of the daily mean and (sub-daily readings) of the base load, which a flat
    # added load lifts as much as the mean and heating or cooking much less, is judged (the MAX_STEPS with the
    # largest t); the best judged one is the step. A miner switched on in a month when the household also
    # heats shows as two changes, and the one with the larger t (the heating) need not be the miner's.
    steps: list[Step] = []
    if len(mean_kw) >= 2 * MIN_SEGMENT_DAYS:
        steps = _up_steps(mean_kw, mean_noise)
        if sub_daily:
            seen = {st.index for st in steps}
            steps += [st for st in _up_steps(base_kw, _robust_noise(base_kw)) if st.index not in seen]
        steps = sorted(steps, key=lambda st: -st.t)[:MAX_STEPS]
    judged = [_judge(st, days, mean_kw, base_kw, day_index, mean_noise, sub_daily) for st in steps]
    best = max(judged, key=lambda j: j.z, default=None)
    if best is None or best.start is None:
        best = _judge(None, days, mean_kw, base_kw, day_index, mean_noise, sub_daily)
    z, signals, reasons, measures = best.z, best.signals, best.reasons, best.measures
    plateau, start, before_kwh, after_kwh = best.plateau, best.start, best.before_kwh, best.after_kwh

    # Account signals: need no step (a miner since before the series began).
    tariff = meter.get("tariff")
    # the load as it is now: the plateau's when there is a step, else the meter's mean
    level = after_kwh / 24 if after_kwh is not None else float(meter.get("mean_kw") or 0.0)
    month = meter.get("kwh_30d_max")
    if tariff == "residential" and month is not None and month >= RESIDENTIAL_MONTH_KWH:
        z += WEIGHTS["tariff"]
        signals.append("tariff")
        reasons.append(Text(zh=f"居民电价户 30 天用电达 {month:,.0f} kWh，属工业级负荷（居民户罕见超过 "
                               f"{RESIDENTIAL_MONTH_KWH:,.0f} kWh）",
                            en=f"a residential account drew {month:,.0f} kWh in 30 days, an industrial-size load "
                               f"(homes rarely exceed {RESIDENTIAL_MONTH_KWH:,.0f} kWh)"))
    running = meter.get("running_kva")
    if running and running > 0:
        utilisation = level / (running * CAPACITY_POWER_FACTOR)
        measures["utilisation"] = utilisation
        if utilisation >= CAPACITY_UTILISATION:
            z += WEIGHTS["capacity"]
            signals.append("capacity")
            reasons.append(Text(zh=f"平均负荷 {level:.1f} kW，达运行容量 {running:g} kVA 的 {utilisation:.0%}",
                                en=f"mean load {level:.1f} kW uses {utilisation:.0%} of the running capacity "
                                   f"({running:g} kVA)"))
    peer = meter.get("peer_kw")
    if peer and peer > 0:
        measures["peer_ratio"] = level / peer
        if level >= PEER_FACTOR * peer:
            z += WEIGHTS["peers"]
            signals.append("peers")
            reasons.append(Text(zh=f"平均负荷为同类别同地区 {meter.get('peers')} 户中位数的 {level / peer:.1f} 倍",
                                en=f"mean load is {level / peer:.1f}× the median of its {meter.get('peers')} peers "
                                   "(same tariff and region)"))
    score = min(SCORE_CAP, _sigmoid(z))
    measures["log_odds"] = z
    return MeterScore(meter=str(meter["meter"]), account=meter.get("account"), score=round(score, 4),
                      flagged=score >= SCORE_THRESHOLD, plateau_kw=plateau, start=start,
                      before_kwh_per_day=before_kwh, after_kwh_per_day=after_kwh, signals=tuple(signals),
                      reasons=tuple(reasons), measures=measures)


def score_candidates(engine: SqlEngine) -> list[MeterScore]:
    """Score every candidate on an engine where ``aggregate`` has run; best first. The candidates' days come
    back column by column as Arrow (millions of days without a Python object each)."""
    meters = {r["meter"]: r for r in engine.query("SELECT * FROM power_candidates")}
    if not meters:
        return []
    # change points only where SQL saw a shift; the others are candidates for their account signals alone
    stepped = (f"(c.step_t >= {_lit(CANDIDATE_T)} OR c.floor_step_t >= {_lit(CANDIDATE_T)} "
               f"OR (c.sub_daily_days > 0 AND c.floor_step_t >= {_lit(CANDIDATE_BASE_T)}))")
    columns = {name: engine.column(f"SELECT d.{name} FROM power_days d JOIN power_candidates c "
                                   f"ON c.meter = d.meter WHERE {stepped} ORDER BY d.meter, d.day")
               for name in ("meter", "day", *DAY_COLUMNS)}
    ids = columns["meter"].to_numpy(zero_copy_only=False)
    values = {name: columns[name].to_numpy(zero_copy_only=False).astype(float) for name in DAY_COLUMNS}
    day = columns["day"].to_numpy(zero_copy_only=False).astype(np.int64)
    bounds = [0, *(np.flatnonzero(ids[1:] != ids[:-1]) + 1).tolist(), len(ids)]
    out: list[MeterScore] = []
    for lo, hi in itertools.pairwise(bounds):
        days = {name: values[name][lo:hi] for name in DAY_COLUMNS}
        days["day"] = day[lo:hi]
        out.append(score_meter(meters.pop(ids[lo]), days))
    no_days = {name: np.zeros(0) for name in ("day", *DAY_COLUMNS)}
    out += [score_meter(row, no_days) for row in meters.values()]
    return sorted(out, key=lambda s: (-s.score, s.meter))


def load_tables(engine: SqlEngine, tables: Mapping[str, pa.Table] | Sequence[tuple[str, pa.Table]],
                offset_s: int = LOCAL_UTC_OFFSET_S) -> None:
    items = tables.items() if isinstance(tables, Mapping) else tables
    prep = PREPARED if offset_s == LOCAL_UTC_OFFSET_S else preparation(offset_s)
    for name, data in items:
        schema = prep.tables.get(name)
        if schema is not None and data.num_rows:
            engine.append(name, data if data.schema.equals(schema) else data.select(schema.names).cast(schema))
    engine.prepare(prep)


def score_meters(tables: Mapping[str, pa.Table] | None = None, engine: SqlEngine | None = None,
                 offset_s: int = LOCAL_UTC_OFFSET_S) -> list[MeterScore]:
    """Scores of the candidate meters of the power tables (``readings``, optionally ``accounts``), best
    first. With ``tables``, they are loaded into ``engine`` (default: a new DuckDB, closed after); without,
    ``engine`` must already hold them with ``PREPARED`` made."""
    own = engine is None
    eng = engine or open_engine("duckdb")
    try:
        if tables is not None:
            load_tables(eng, tables, offset_s)
        aggregate(eng)
        return score_candidates(eng)
    finally:
        if own:
            eng.close()

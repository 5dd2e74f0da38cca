"""The funds typologies at scale: a generated bank's statement lines through DuckDB (rate and peak memory under a
memory limit) and Spark local (the same findings).

    python benchmarks/funds_scale.py WORK [--persons 1000000] [--days 36] [--engines duckdb,spark]
                                          [--memory 4GB] [--threads 2] [--keep]

WORK receives the bank (``funds_generator.py``, seed 1; about 2.8 lines per person and day: 1,000,000 persons ×
36 days is about 100 million lines) unless it is already there. Each engine runs in its own process (so its peak
resident memory is its own, read from ``getrusage``); DuckDB with ``--memory`` as its memory limit (it spills to
disk beyond it), Spark ``local[threads]`` with a 4 GB driver. Each writes its findings (kind, account, score,
severity) and the engines' lists are compared. Results: benchmarks/results/funds_scale.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "funds_scale.json"
TABLES = ("transactions", "bank_accounts", "known_counterparties", "usdt_rates")


def run_engine(work: Path, engine_name: str, memory: str, threads: int) -> dict[str, object]:
    """One engine over the bank in WORK: seconds, lines per second, peak RSS, findings."""
    from minescope.dimensions.funds.detectors import detect
    from minescope.engines.sql import open_engine

    options: dict[str, object] = {"memory_limit": memory, "threads": threads} if engine_name == "duckdb" else {}
    if engine_name == "spark":
        from minescope.engines.sql import spark_session

        session = spark_session(f"local[{threads}]")
        options = {"session": session}
    engine = open_engine(engine_name, **options)
    files = sorted((work / "transactions").glob("*.parquet"))
    t0 = time.perf_counter()
    try:
        engine.add_parquet("transactions", files)
        for name in TABLES[1:]:
            engine.add_parquet(name, [work / f"{name}.parquet"])
        findings = detect(engine=engine, held=set(TABLES))
    finally:
        engine.close()
    seconds = time.perf_counter() - t0
    lines = json.loads((work / "counts.json").read_text())["lines"]
    found = sorted([f.kind, f.subject.value, next(float(e.detail["score"]) for e in f.evidence if e.type == "typology"),
                    str(f.severity)] for f in findings)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    (work / f"findings-{engine_name}.json").write_text(json.dumps(found))
    return {"engine": engine_name, "seconds": round(seconds, 1), "lines": lines,
            "lines_per_second": round(lines / seconds), "peak_rss_mb": peak_mb, "findings": len(found), "list": found}


KIND_OF = {"money_mule": "money_mule_account", "otc_merchant": "otc_merchant"}


def _against_truth(work: Path, found: list[list[object]]) -> dict[str, dict[str, object]]:
    """Precision and recall per kind of the findings against the bank's truth.csv."""
    import csv

    truth = list(csv.DictReader((work / "truth.csv").open()))
    out = {}
    for typology, kind in KIND_OF.items():
        planted = {r["account"] for r in truth if r["typology"] == typology}
        flagged = {str(f[1]) for f in found if f[0] == kind}
        hit = len(planted & flagged)
        out[kind] = {"flagged": len(flagged), "planted": len(planted), "true": hit,
                     "precision": round(hit / len(flagged), 3) if flagged else None,
                     "recall": round(hit / len(planted), 3) if planted else None}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("work", type=Path)
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--days", type=int, default=36)
    ap.add_argument("--engines", default="duckdb,spark")
    ap.add_argument("--memory", default="4GB")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one engine in this process
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_engine(a.work, a.one, a.memory, a.threads)))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from funds_generator import generate

    if not (a.work / "counts.json").exists():
        t0 = time.perf_counter()
        counts = generate(a.work, persons=a.persons, days=a.days, gangs=max(20, a.persons // 5000),
                          merchants=max(30, a.persons // 3000), seed=1)
        counts["generate_seconds"] = round(time.perf_counter() - t0, 1)
        (a.work / "counts.json").write_text(json.dumps(counts))
    counts = json.loads((a.work / "counts.json").read_text())
    print(json.dumps(counts), flush=True)
    results: dict[str, object] = {"bank": counts, "memory_limit": a.memory, "threads": a.threads}
    lists = {}
    for name in a.engines.split(","):
        proc = subprocess.run([sys.executable, __file__, str(a.work), "--one", name, "--memory", a.memory,
                               "--threads", str(a.threads)], capture_output=True, text=True, check=False)
        if proc.returncode:
            results[name] = {"error": proc.stderr.strip().splitlines()[-1:] }
            print(name, results[name], flush=True)
            continue
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        lists[name] = out.pop("list")
        out["against_truth"] = _against_truth(a.work, lists[name])
        results[name] = out
        print(json.dumps(out), flush=True)
    if len(lists) == 2:
        a_list, b_list = lists.values()
        results["identical_findings"] = [[*x[:2], round(x[2], 6), x[3]] for x in a_list] == \
            [[*x[:2], round(x[2], 6), x[3]] for x in b_list]
        print("identical findings:", results["identical_findings"], flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous[f"{counts['lines']}"] = results
    RESULTS.write_text(json.dumps(previous, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""The host Sigma rules at scale: a million process starts through the compiled SQL on DuckDB.

    python benchmarks/host_sigma.py [--rows 1000000] [--baseline-rows 100000] [--runs 3] [--threads N]

The rows: the real benign command lines of tests/data/host/benign_command_lines.tsv (SigmaHQ regression data,
OTRF Security-Datasets) repeated with varied hosts and process ids, and the documented miner command lines of
tests/data/host/miner_command_lines.tsv planted among them (20 times each). Every rule that runs on
``processes`` (bundled: SigmaHQ's and minescope's) is evaluated.

Measured, each in a fresh process (medians over runs; the machine may be shared):
  duckdb     ``sigma.match_tables`` on a new ``DuckDBEngine``: loading the Arrow table and the views (load),
             then the prefilter, the one query per table and the matches back in Python (detection); rows per
             second of the whole and of the detection alone, and the process's peak RSS
  baseline   the same compiled conditions evaluated row by row in Python (the SQL turned into a Python
             expression over the lower-cased columns: ``in``, ``startswith``, ``endswith``, ``re``), on the first
             ``--baseline-rows`` rows; its rows per second
and whether both found the same rows on the baseline's sample. Results go to benchmarks/results/host_sigma.json.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import RESULTS, ROOT, machine_info

from minescope.dimensions.host.detectors import sigma
from minescope.dimensions.host.tables import PROCESSES
from minescope.engines.sql import DuckDBEngine

DATA = ROOT / "tests" / "data" / "host"
T0 = 1_795_000_000_000_000  # microseconds
PLANTED = 20  # copies of each documented miner line


def _tsv(name: str) -> list[dict[str, str]]:
    with open(DATA / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def build(rows: int) -> tuple[pa.Table, int]:
    """``rows`` process starts (benign lines cycled, miner lines planted), and how many are miners."""
    benign = _tsv("benign_command_lines.tsv")
    miners = _tsv("miner_command_lines.tsv")
    lines = [(r["image"], r["parent_image"], r["command_line"]) for r in benign]
    planted = [(r["image"], "", r["command_line"]) for r in miners] * PLANTED
    n_benign = rows - len(planted)
    index = [i % len(lines) for i in range(n_benign)]
    images = [lines[i][0] for i in index] + [p[0] for p in planted]
    parents = [lines[i][1] or None for i in index] + [None] * len(planted)
    commands = [lines[i][2] for i in index] + [p[2] for p in planted]
    # planted lines spread through the table, not at its end
    order = sorted(range(rows), key=lambda i: (i * 2654435761) % rows)
    names = [re.split(r"[\\/]", image)[-1].lower() or None for image in images]
    data = {
        "ts": pa.array([T0 + i * 1000 for i in range(rows)], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "host": pa.array([f"host-{i % 5000:04d}" for i in range(rows)]),
        "event": pa.array(["sysmon:1"] * rows),
        "pid": pa.array([1000 + i for i in range(rows)], pa.int64()),
        "ppid": pa.array([4 + i % 1000 for i in range(rows)], pa.int64()),
        "user": pa.array([f"CORP\\user{i % 300}" for i in range(rows)]),
        "image": pa.array([images[j] for j in order]),
        "name": pa.array([names[j] for j in order]),
        "command_line": pa.array([commands[j] for j in order]),
        "cwd": pa.nulls(rows, pa.string()),
        "parent_image": pa.array([parents[j] for j in order], pa.string()),
        "parent_command_line": pa.nulls(rows, pa.string()),
        "sha256": pa.nulls(rows, pa.string()), "md5": pa.nulls(rows, pa.string()),
        "original_name": pa.nulls(rows, pa.string()),
        "source": pa.array(["mapped"] * rows), "input": pa.array(["bench.jsonl"] * rows),
    }
    return pa.table(data, schema=PROCESSES), len(planted)


# --- the baseline: the same conditions, row by row in Python ------------------------------------------------

_LITERAL = re.compile(r"'[^']*'")
PY_DIALECT = {"startswith": "_startswith", "endswith": "_endswith", "regexp": "_regexp"}


def python_condition(sql: str) -> str:
    """A compiled condition as a Python expression (outside literals: AND/OR/NOT, =, IN, IS NULL)."""
    parts, pos = [], 0
    for m in _LITERAL.finditer(sql):
        parts.append(_python_code(sql[pos:m.start()]))
        parts.append(m.group())
        pos = m.end()
    parts.append(_python_code(sql[pos:]))
    return "".join(parts)


def _python_code(code: str) -> str:
    code = re.sub(r"\bAND\b", "and", code)
    code = re.sub(r"\bOR\b", "or", code)
    code = re.sub(r"\bNOT\b", "not", code)
    code = re.sub(r"(\w+) IN \(", r"_in(\1, ", code)
    code = re.sub(r"(\w+) IS NULL", r"(\1 is None)", code)
    code = code.replace("contains(", "_contains(")
    return re.sub(r"(?<![<>!=])=(?!=)", "==", code)


def _contains(a: str, b: str) -> bool:
    return b in a


def _startswith(a: str, b: str) -> bool:
    return a.startswith(b)


def _endswith(a: str, b: str) -> bool:
    return a.endswith(b)


def _regexp(a: str, b: str) -> bool:
    return _compiled(b).search(a) is not None


def _compiled(pattern: str) -> re.Pattern[str]:
    found = _PATTERNS.get(pattern)
    if found is None:  # RE2's and Java's end of text is Python's \Z
        found = _PATTERNS[pattern] = re.compile(pattern.replace("\\z", "\\Z"))
    return found


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _concat(*parts: str) -> str:
    return "".join(parts)


def _in(a: Any, *values: Any) -> bool:
    return a in values


def baseline(data: pa.Table, rules: list[sigma.SigmaRule]) -> tuple[float, set[int]]:
    """Seconds and the pids any rule matched, evaluating each row in Python."""
    compiled = [compile(python_condition(r.condition.format(**PY_DIALECT)), r.path, "eval") for r in rules]
    env: dict[str, Any] = {"_contains": _contains, "_startswith": _startswith, "_endswith": _endswith,
                           "_regexp": _regexp, "_in": _in, "chr": chr, "concat": _concat}
    columns = {name: data.column(name).to_pylist() for name in ("pid", "ppid", "host", "user", "image", "name",
                                                                 "command_line", "cwd", "parent_image",
                                                                 "parent_command_line", "original_name", "sha256",
                                                                 "md5")}
    hits: set[int] = set()
    start = time.perf_counter()
    for i in range(data.num_rows):
        row = {f"lc_{k}": (v[i] or "").lower() if k not in ("pid", "ppid") else v[i] for k, v in columns.items()}
        row.update({k: v[i] for k, v in columns.items()})
        row["lc_hashes"] = ""
        for code in compiled:
            if eval(code, env, row):
                hits.add(int(row["lc_pid"]))
                break
    return time.perf_counter() - start, hits


# --- one measurement per process ----------------------------------------------------------------------------

def child(kind: str, rows: int, baseline_rows: int, threads: int | None) -> dict[str, Any]:
    data, planted = build(rows)
    ruleset = sigma.load_rules()
    proc_rules = [r for r in ruleset.rules if r.table == "processes"]
    out: dict[str, Any] = {"rows": rows, "planted": planted, "rules": len(proc_rules)}
    if kind == "duckdb":
        engine = DuckDBEngine(threads=threads)
        start = time.perf_counter()
        engine.append("processes", data)  # what match_tables does, timed in its two parts
        engine.prepare(sigma.PREPARED)
        loaded = time.perf_counter()
        matches = sigma.sigma_matches(engine, ruleset)
        seconds = time.perf_counter() - start
        engine.close()
        out.update(seconds=seconds, rows_per_s=rows / seconds, load_seconds=loaded - start,
                   detect_seconds=seconds - (loaded - start), detect_rows_per_s=rows / (seconds - (loaded - start)),
                   matches=len(matches), matched_rows=len({m.pid for m in matches}))
        sample = data.slice(0, baseline_rows)
        engine = DuckDBEngine(threads=threads)
        out["sample_pids"] = sorted({m.pid for m in sigma.match_tables({"processes": sample}, engine, ruleset)})
        engine.close()
    else:
        seconds, hits = baseline(data.slice(0, baseline_rows), proc_rules)
        out.update(seconds=seconds, rows_per_s=baseline_rows / seconds, sample_pids=sorted(hits))
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--baseline-rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: DuckDB's own)")
    ap.add_argument("--child", choices=("duckdb", "baseline"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.rows, args.baseline_rows, args.threads)))
        return
    results: dict[str, list[dict[str, Any]]] = {"duckdb": [], "baseline": []}
    for kind in results:
        for _ in range(args.runs if kind == "duckdb" else 1):
            cmd = [sys.executable, __file__, "--child", kind, "--rows", str(args.rows),
                   "--baseline-rows", str(args.baseline_rows)] + (["--threads", str(args.threads)] if args.threads
                                                                  else [])
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            results[kind].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    duck, base = results["duckdb"], results["baseline"][0]
    summary = {
        "rows": args.rows, "rules": duck[0]["rules"], "planted_miner_rows": duck[0]["planted"],
        "duckdb": {"seconds_median": statistics.median(r["seconds"] for r in duck),
                   "seconds_all": [round(r["seconds"], 3) for r in duck],
                   "rows_per_s_median": statistics.median(r["rows_per_s"] for r in duck),
                   "load_seconds_median": statistics.median(r["load_seconds"] for r in duck),
                   "detect_seconds_median": statistics.median(r["detect_seconds"] for r in duck),
                   "detect_rows_per_s_median": statistics.median(r["detect_rows_per_s"] for r in duck),
                   "peak_rss_mb_max": max(r["peak_rss_mb"] for r in duck),
                   "matched_rows": duck[0]["matched_rows"], "matches": duck[0]["matches"]},
        "baseline_python": {"rows": args.baseline_rows, "seconds": base["seconds"],
                            "rows_per_s": base["rows_per_s"], "peak_rss_mb": base["peak_rss_mb"]},
        "same_rows_on_sample": duck[0]["sample_pids"] == base["sample_pids"],
        "sample_matched_rows": len(base["sample_pids"]),
        "load_average_1min": os.getloadavg()[0],
        "machine": machine_info(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "host_sigma.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    d, b = summary["duckdb"], summary["baseline_python"]
    print(f"{args.rows:,} process rows, {summary['rules']} rules: DuckDB {d['rows_per_s_median']:,.0f} rows/s "
          f"({d['seconds_median']:.2f} s; detection alone {d['detect_rows_per_s_median']:,.0f} rows/s), "
          f"peak RSS {d['peak_rss_mb_max']:.0f} MB, {d['matched_rows']} rows matched, "
          f"{summary['planted_miner_rows']} planted); Python per row {b['rows_per_s']:,.0f} rows/s "
          f"({b['rows']:,} rows); same rows on the sample: {summary['same_rows_on_sample']}")


if __name__ == "__main__":
    main()

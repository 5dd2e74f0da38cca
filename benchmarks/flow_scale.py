"""The flow-log detectors at carrier scale: DuckDB and Spark on the same partitioned dataset.

    python benchmarks/flowgen.py DATASET --flows 50000000          # once: the data (see flowgen.py)
    python benchmarks/flow_scale.py DATASET [--engines duckdb,spark] [--runs 3] [--memory-limit 4GB]
                                            [--spark-master local[2]] [--behaviour]

For each engine and run, a fresh process loads the dataset's files into a ``FlowLogDetector``
(DuckDB reads the Parquet files in place; Spark ``local[2]`` reads them itself) and runs the list
and passive-DNS detectors (pool addresses, SNI/Host, DNS answers → later flows, DNS askers):
``FlowLogDetector.run``, as ``minescope scan DATASET`` does. With ``--behaviour`` the behaviour
model is timed after it, on the same engine, as its own figure.

Reported per engine (medians over runs; the machine is shared, so spreads are given too):
  detector seconds   from the first query to the last finding, engine start excluded
  flows/s            flow rows of the dataset / detector seconds
  process seconds    the whole process, Python and JVM start included
  peak RSS           the process tree (Python, and Spark's JVM), sampled every 0.2 s from /proc
and, against the dataset's ``truth.json``: planted sessions found (listed, pdns), decoys found,
findings that match nothing planted; and whether both engines gave the very same findings
(every field of every finding). Results go to benchmarks/results/flow_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import RESULTS, BenchError, fail, machine_info


def child(engine_name: str, dataset: Path, out: Path, memory_limit: str | None, master: str | None,
          behaviour: bool) -> None:
    """One measured run, in its own process."""
    from minescope.dimensions.network.detectors.flowlog import FlowLogDetector
    from minescope.dimensions.network.readers.dataset import FlowDataset, select_files
    from minescope.engines.sql import DuckDBEngine, SparkEngine
    from minescope.knowledge.pools import PoolIntel

    feeds = [dataset / "feeds"] if (dataset / "feeds").is_dir() else []
    intel = PoolIntel.load(feeds, user_feeds=False)
    chosen = select_files(FlowDataset(dataset))
    t_engine = time.perf_counter()
    engine = (DuckDBEngine(memory_limit=memory_limit) if engine_name == "duckdb"
              else SparkEngine(master=master))
    detector = FlowLogDetector(intel, engine)
    detector.add_parquet("flows", [f.path for f in chosen.flows])
    detector.add_parquet("dns", [f.path for f in chosen.dns])
    t0 = time.perf_counter()
    findings = detector.run(behaviour=False)
    t1 = time.perf_counter()
    result: dict[str, Any] = {"engine_start_s": t0 - t_engine, "detector_s": t1 - t0,
                              "findings": sorted((f.to_dict() for f in findings), key=lambda d: d["id"])}
    if behaviour:
        from minescope.dimensions.network.detectors.behaviour import behaviour_findings

        t2 = time.perf_counter()
        suspects = behaviour_findings(engine, detector.reported)
        result["behaviour_s"] = time.perf_counter() - t2
        result["behaviour_findings"] = sorted((f.to_dict() for f in suspects), key=lambda d: d["id"])
    detector.close()
    out.write_text(json.dumps(result, default=str))


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
        todo.extend(children.get(p, []))
    return total


def measured_run(engine: str, dataset: Path, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="flow-scale-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, __file__, "--child", engine, str(dataset), "--out", str(out)]
        if args.memory_limit:
            cmd += ["--memory-limit", args.memory_limit]
        if args.spark_master:
            cmd += ["--spark-master", args.spark_master]
        if args.behaviour:
            cmd.append("--behaviour")
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, tree_rss(proc.pid))
                done.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, err = proc.communicate()
        done.set()
        sampler.join()
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not out.exists():
            last = (err.strip().splitlines() or ["(no message)"])[-1]
            raise BenchError(f"{engine} run exited {proc.returncode}: {last}")
        result: dict[str, Any] = json.loads(out.read_text())
    result.update(process_s=wall, peak_rss_mb=peak / 2**20)
    return result


def score(findings: list[dict[str, Any]], truth: dict[str, Any]) -> dict[str, Any]:
    """Planted sessions found, decoys found and unexplained findings (by subject, peer address, port)."""
    got = {(f["subject_ip"], f["peer"]["ip"], f["peer"]["port"]) for f in findings}
    askers = {f["subject_ip"] for f in findings if f["peer"]["port"] == 53}
    out: dict[str, Any] = {}
    expected: set[tuple[str, str, int]] = set()
    for kind in ("listed", "pdns"):
        planted = [(s["subject"], s["pool_ip"], s["port"]) for s in truth["sessions"] if s["kind"] == kind]
        expected |= set(planted)
        out[kind] = {"planted": len(planted), "found": sum(1 for k in planted if k in got)}
    decoys = [d for d in truth["decoys"] if "peer_ip" in d]
    out["decoys"] = {"planted": len(decoys), "found": sum(
        1 for d in decoys if (d["subject"], d["peer_ip"], d.get("port", 443)) in got
        or any(k[0] == d["subject"] and k[1] == d["peer_ip"] for k in got))}
    connection_findings = {k for k in got if k[2] != 53}
    out["unexplained"] = len(connection_findings - expected)
    out["dns_askers"] = len(askers)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--engines", default="duckdb,spark")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--memory-limit", help="DuckDB memory_limit (e.g. 4GB); beyond it DuckDB spills to disk")
    ap.add_argument("--spark-master", help="Spark master URL (default local[2])")
    ap.add_argument("--behaviour", action="store_true", help="also time the behaviour model")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.dataset, args.out, args.memory_limit, args.spark_master, args.behaviour)
        return
    truth_path = args.dataset / "truth.json"
    if not truth_path.is_file():
        fail(f"{truth_path} not found; make the dataset with benchmarks/flowgen.py first")
    truth = json.loads(truth_path.read_text())
    rows = truth["rows"]["flows"]
    report: dict[str, Any] = {"machine": machine_info(), "dataset": {
        "flows": rows, "dns": truth["rows"]["dns"], "parameters": truth["parameters"]}, "engines": {}}
    findings: dict[str, list[dict[str, Any]]] = {}
    leads: dict[str, list[dict[str, Any]]] = {}
    try:
        for engine in args.engines.split(","):
            runs = []
            for i in range(args.runs):
                r = measured_run(engine, args.dataset, args)
                print(f"{engine} run {i + 1}: detector {r['detector_s']:.1f} s "
                      f"({rows / r['detector_s'] / 1e6:.2f} M flows/s), process {r['process_s']:.1f} s, "
                      f"peak RSS {r['peak_rss_mb']:.0f} MB, {len(r['findings'])} findings", flush=True)
                runs.append(r)
            findings[engine] = runs[0]["findings"]
            if args.behaviour:
                leads[engine] = runs[0]["behaviour_findings"]
            same_every_run = all(r["findings"] == runs[0]["findings"] for r in runs)
            det = [r["detector_s"] for r in runs]
            entry: dict[str, Any] = {
                "runs": [{k: v for k, v in r.items() if not k.endswith("findings")} for r in runs],
                "detector_s_median": statistics.median(det), "detector_s_min": min(det), "detector_s_max": max(det),
                "flows_per_s_median": rows / statistics.median(det),
                "process_s_median": statistics.median(r["process_s"] for r in runs),
                "peak_rss_mb_max": max(r["peak_rss_mb"] for r in runs),
                "findings": len(runs[0]["findings"]), "same_findings_every_run": same_every_run,
                "score": score(runs[0]["findings"], truth),
            }
            if args.behaviour:
                beh = [r["behaviour_s"] for r in runs]
                entry["behaviour_s_median"] = statistics.median(beh)
                entry["behaviour_flows_per_s_median"] = rows / statistics.median(beh)
                entry["behaviour_findings"] = len(runs[0]["behaviour_findings"])
                planted = {(s["subject"], s["pool_ip"], s["port"]) for s in truth["sessions"]
                           if s["kind"] == "behaviour"}
                got = {(f["subject_ip"], f["peer"]["ip"], f["peer"]["port"]) for f in runs[0]["behaviour_findings"]}
                entry["behaviour_score"] = {"planted": len(planted), "found": len(planted & got),
                                            "other_findings": len(got - planted)}
            report["engines"][engine] = entry
    except BenchError as e:
        fail(str(e))
    if len(findings) == 2:
        a, b = findings.values()
        report["identical_findings"] = a == b
    if len(leads) == 2:
        a, b = leads.values()
        report["identical_behaviour_findings"] = a == b
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "flow_scale.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    print("\n| engine | detector s (median, min–max) | flows/s | process s | peak RSS MB | findings | "
          "listed found | pdns found | decoys found | unexplained |\n|---|---|---|---|---|---|---|---|---|---|")
    for engine, e in report["engines"].items():
        s = e["score"]
        print(f"| {engine} | {e['detector_s_median']:.1f} ({e['detector_s_min']:.1f}–{e['detector_s_max']:.1f}) | "
              f"{e['flows_per_s_median'] / 1e6:.2f} M | {e['process_s_median']:.1f} | {e['peak_rss_mb_max']:.0f} | "
              f"{e['findings']} | {s['listed']['found']}/{s['listed']['planted']} | "
              f"{s['pdns']['found']}/{s['pdns']['planted']} | {s['decoys']['found']}/{s['decoys']['planted']} | "
              f"{s['unexplained']} |")
    if "identical_findings" in report:
        print(f"\nDuckDB and Spark findings identical: {report['identical_findings']}")
    if "identical_behaviour_findings" in report:
        print(f"DuckDB and Spark behaviour findings identical: {report['identical_behaviour_findings']}")
    for engine, e in report["engines"].items():
        if "behaviour_s_median" in e:
            b = e["behaviour_score"]
            print(f"{engine} behaviour model: {e['behaviour_s_median']:.1f} s "
                  f"({e['behaviour_flows_per_s_median'] / 1e6:.2f} M flows/s), {e['behaviour_findings']} leads, "
                  f"planted behaviour sessions found {b['found']}/{b['planted']}")


if __name__ == "__main__":
    main()

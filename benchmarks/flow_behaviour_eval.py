"""Flow-only detection: the behaviour model held out beside the list detectors, and its leads ranked.

    python benchmarks/flow_behaviour_eval.py [--corpus samples/pcap] [--logs DIR]
                                             [--carrier DIR | --carrier-flows N] [-o results.json]

Two data sets, each scored in one run with today's order and the rank side by side:

**Real flows** (as ``tools/train_behaviour.py`` makes them): every corpus capture as flows of
minescope's capture path, of nfpcapd + nfdump and of softflowd NetFlow v9 (unidirectional), and, with
``--logs`` (the shared corpus's ``logs`` folder), real Zeek/Suricata/nfcapd logs without mining. The
unit is the endpoint (client, server address, server port, input); it is positive when one of its
records belongs to a ground-truth mining session. Held out: leave one group out. A group is a capture
with all its flow views (captures sharing a session — nDPI's mining.pcapng merges three other traces —
form one group), or one log folder; the weights that score a group were fitted without any of its data.
The rule detectors (``detectors.flowlog.detect_tables``: pool lists by address, server name, passive
DNS) get each source's flows and the capture's DNS answers (a DNS log beside the NetFlow); their
DNS-question findings name the resolver, not an endpoint, and are counted apart. The ranking pools every
source into one list of leads (mining sessions among real benign flows), as a carrier's day would be:
today's order is the held-out score, the rank is ``behaviour.rank_sql`` over the held-out log-odds (its
other terms are fixed, not fitted).

**A synthetic carrier day** (``--carrier``: a ``benchmarks/flowgen.py`` dataset; ``--carrier-flows N``
makes one in a temporary folder): the list detectors and the behaviour model's SQL on DuckDB, as
``minescope scan`` runs them. Planted mining sessions are positive; decoys, the generator's benign
long-lived sessions (MQTT, push, IoT heartbeats, XMPP, SSH, WebSocket, VPN) and background endpoints
negative. Two views: *as the scan emits the leads* (the list detectors' endpoints left out; positives
are the behaviour-only sessions) and *flow only* (no list, no DNS: every planted session is a positive
the leads must show).

Precision at N is the share of mining-session endpoints among the first N leads; recall at N the share
of all positive endpoints there. Today's order is the model's score (the confidence the reports sort
leads by); the rank is ``rank_z`` (``behaviour.RANK_WEIGHTS``). Ablations drop one rank term at a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import train_behaviour as tb  # noqa: E402

from minescope.dimensions.network.detectors.behaviour import (  # noqa: E402
    RANK_WEIGHTS,
    rank_leads,
    rank_sql,
)
from minescope.dimensions.network.detectors.flowlog import FlowLogDetector, detect_tables  # noqa: E402
from minescope.dimensions.network.readers.capture_flows import read_capture  # noqa: E402
from minescope.engines.sql import DuckDBEngine  # noqa: E402
from minescope.knowledge.pools import PoolIntel  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
L2_GRID = (0.3, 1.0, 3.0, 10.0)
AT = (10, 20, 50, 100, 1000)  # precision and recall at these N
Key = tuple[str, str, int, str]


# --- real flows ------------------------------------------------------------------------------------
# tools/train_behaviour.py makes the three views; here each capture is read once for all three.

def corpus_sources(corpus: Path, intel: PoolIntel) -> Iterator[tb.Source]:
    truth = json.loads((corpus / "ground-truth.json").read_text())
    group = tb._groups(truth)
    with tempfile.TemporaryDirectory(prefix="minescope-behaviour-") as tmpdir:
        tmp = Path(tmpdir)
        for rel in sorted(truth):
            if rel.split("/")[0] not in tb.FOLDERS:
                continue
            path = corpus / rel
            flows, dns, _ = read_capture(path, lambda n: intel.match_mining_domain(n) is not None)
            pos = tb._session_pairs(truth[rel])
            for view in tb.VIEWS:
                name = f"{rel}#{view}"
                if view == "capture":
                    data = tb._renamed(pa.table(flows), name)
                elif view == "nfdump":
                    data = tb.nfdump_flows(path, name, tmp)
                else:
                    data = tb.netflow_v9_flows(path, name, tmp)
                # a DNS log of the same traffic beside the NetFlow (the capture's passive DNS)
                yield tb.Source(name, view, group[rel], data, tb._renamed(pa.table(dns), name), pos)


def load_sources(corpus: Path, logs: Path | None) -> list[tb.Source]:
    for tool in ("nfpcapd", "nfdump", "softflowd"):
        if not any((Path(d) / tool).exists() for d in ("/usr/bin", "/usr/sbin", "/usr/local/bin")):
            raise SystemExit(f"error: {tool} is missing; apt-get install nfdump softflowd")
    sources = list(corpus_sources(corpus, PoolIntel.load(user_feeds=False)))
    if logs is not None:
        sources += list(tb.log_sources(logs))
    return sources


def _z(f: tb.Fit, x: np.ndarray) -> np.ndarray:
    """The model's log-odds, bounded as the SQL bounds them."""
    return np.clip(f.intercept + ((x - f.mean) / f.sd) @ f.weights, -50, 50)


def held_out_z(rows: list[dict[str, Any]], l2: float) -> np.ndarray:
    """Each candidate's log-odds from weights fitted without its group (non-candidates: -inf)."""
    cand = np.array([bool(r["candidate"]) for r in rows])
    x, y = tb.matrix(rows)
    groups = np.array([r["group"] for r in rows])
    z = np.full(len(rows), -np.inf)
    for g in sorted(set(groups[cand].tolist())):
        train = cand & (groups != g)
        test = cand & (groups == g)
        z[test] = _z(tb.fit(x[train], y[train], l2), x[test])
    return z


def rule_keys(sources: list[tb.Source], intel: PoolIntel) -> tuple[set[Key], int]:
    """Endpoints the list detectors report per source, and how many DNS-question findings they made."""
    keys: set[Key] = set()
    askers = 0
    for s in sources:
        for f in detect_tables(intel, [("flows", s.flows), ("dns", s.dns)], behaviour=False):
            if any(e.type == "dns" and e.summary.startswith("DNS question") for e in f.evidence):
                askers += 1
            else:
                keys.add((f.subject_ip, f.peer.ip, f.peer.port, s.name))
    return keys, askers


def metrics(pred: set[Key], truth: set[Key]) -> dict[str, Any]:
    tp, fp, fn = len(pred & truth), len(pred - truth), len(truth - pred)
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    f1 = 2 * p * r / (p + r) if p and r else (0.0 if p is not None and r is not None else None)
    return {"tp": tp, "fp": fp, "fn": fn, "precision": _r(p), "recall": _r(r), "f1": _r(f1)}


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def _key(r: dict[str, Any]) -> Key:
    return r["subject"], r["peer_ip"], int(r["peer_port"]), r["input"]


def ranked_rows(rows: list[dict[str, Any]], z: np.ndarray, threshold: float) -> list[dict[str, Any]]:
    """The flagged endpoints (score ≥ threshold from ``z``) through ``behaviour.rank_sql`` — the very
    SQL of a scan — with ``z`` as the model's log-odds; best first."""
    cut = math.log(threshold / (1 - threshold))
    flagged = [(r, float(v)) for r, v in zip(rows, z, strict=True) if v >= cut]
    columns: dict[str, pa.Array] = {c: pa.array([r[c] for r, _ in flagged], pa.string())
                                    for c in ("subject", "peer_ip", "input")}
    columns["peer_port"] = pa.array([int(r["peer_port"]) for r, _ in flagged], pa.int32())
    for c in ("down_bytes", "down_packets", "cadence_records", "up_rate_mean", "up_rate_sd"):
        columns[c] = pa.array([None if r[c] is None else float(r[c]) for r, _ in flagged], pa.float64())
    columns["z"] = pa.array([v for _, v in flagged], pa.float64())
    columns["score"] = pa.array([1 / (1 + math.exp(-v)) for _, v in flagged], pa.float64())
    engine = DuckDBEngine()
    try:
        engine.register("flagged", pa.table(columns))
        engine.register("nothing", pa.table({"ex_subject": pa.array([], pa.string()),
                                             "ex_peer_ip": pa.array([], pa.string()),
                                             "ex_peer_port": pa.array([], pa.int32()),
                                             "ex_input": pa.array([], pa.string())}))
        out = engine.query(rank_sql("flagged", "nothing"))
    finally:
        engine.close()
    return sorted(out, key=lambda r: int(r["position"]))


def today_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Today's order of the leads: the model's score (the reports sort leads by confidence = 0.6 × score)."""
    return sorted(rows, key=lambda r: (-round(float(r["z"]), 6), r["subject"], r["peer_ip"], int(r["peer_port"]),
                                       r["input"]))


# A term the rank weighs 0 is tried at this weight instead (what it would do).
TRIED = {"fan_in": 0.25}


def variants() -> dict[str, Callable[[dict[str, Any]], float]]:
    """The rank's log-odds with one term changed: left out (an ablation), or, for a term weighed 0,
    put in at its ``TRIED`` weight."""
    def left_out(term: str) -> Callable[[dict[str, Any]], float]:
        return lambda r: float(r["rank_z"]) - float(r[f"r_{term}"])

    def put_in(term: str) -> Callable[[dict[str, Any]], float]:
        return lambda r: float(r["rank_z"]) + TRIED[term] * float(r[f"f_{term}"])

    out: dict[str, Callable[[dict[str, Any]], float]] = {}
    for term, weight in RANK_WEIGHTS.items():
        if weight:
            out[f"rank without {term}"] = left_out(term)
        elif term in TRIED:
            out[f"rank with {term} at {TRIED[term]:+g}"] = put_in(term)
    return out


def reordered(rows: list[dict[str, Any]], z: Callable[[dict[str, Any]], float]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (-round(z(r), 6), r["subject"], r["peer_ip"], int(r["peer_port"]), r["input"]))


def at_n(order: list[dict[str, Any]], is_positive: Callable[[dict[str, Any]], bool], positives: int,
         at: tuple[int, ...] = AT) -> dict[str, Any]:
    """Precision and recall at each N of ``at`` (N beyond the leads: over all of them), and the median
    position of the positives among the leads."""
    hits = [is_positive(r) for r in order]
    out: dict[str, Any] = {"leads": len(order), "positive_leads": sum(hits), "positives": positives}
    for n in at:
        k = min(n, len(order))
        tp = sum(hits[:k])
        out[f"p@{n}"] = _r(tp / k) if k else None
        out[f"r@{n}"] = _r(tp / positives) if positives else None
        out[f"tp@{n}"] = tp
    where = [i + 1 for i, h in enumerate(hits) if h]
    out["median_position_of_positives"] = statistics.median(where) if where else None
    return out


def real_ranking(rows: list[dict[str, Any]], z: np.ndarray, threshold: float) -> dict[str, Any]:
    """Today's order and the rank over the held-out log-odds of every source pooled, side by side."""
    ranked = ranked_rows(rows, z, threshold)
    label = {_key(r): r for r in rows}
    positives = sum(r["label"] for r in rows)

    def pos(r: dict[str, Any]) -> bool:
        return bool(label[_key(r)]["label"])

    def top(order: list[dict[str, Any]], n: int) -> list[str]:
        return [f"{'+' if pos(r) else '-'} {r['input']} {r['subject']} → {r['peer_ip']}:{r['peer_port']}"
                for r in order[:n]]

    today = today_order(ranked)
    out: dict[str, Any] = {
        "positives": positives, "views": dict(Counter(label[_key(r)]["view"] for r in ranked)),
        "today (held-out score)": at_n(today, pos, positives),
        "rank (held out)": at_n(ranked, pos, positives),
        "ablations": {name: at_n(reordered(ranked, z), pos, positives) for name, z in variants().items()},
        "top_40_today": top(today, 40), "top_40_rank": top(ranked, 40),
    }
    for view in sorted({r["view"] for r in rows}):
        part = [r for r in ranked if label[_key(r)]["view"] == view]
        n_pos = sum(r["label"] for r in rows if r["view"] == view)
        out[f"view {view}"] = {"today (held-out score)": at_n(today_order(part), pos, n_pos, (10, 20)),
                               "rank (held out)": at_n(part, pos, n_pos, (10, 20))}
    return out


def evaluate(sources: list[tb.Source], intel: PoolIntel, l2: float = tb.L2) -> dict[str, Any]:
    rows = tb.endpoint_table(sources)
    view_of = {s.name: s.view for s in sources}
    truth = {_key(r) for r in rows if r["label"]}
    cut = math.log(tb.THRESHOLD / (1 - tb.THRESHOLD))
    z = held_out_z(rows, l2)
    flagged = {_key(r) for r, v in zip(rows, z, strict=True) if v >= cut}
    cand_rows = tb.candidates(rows)
    x, y = tb.matrix(cand_rows)
    in_sample = tb.fit(x, y, l2)
    fitted_flags = {_key(r) for r, s in zip(cand_rows, in_sample.score(x), strict=True) if s >= tb.THRESHOLD}
    rules, askers = rule_keys(sources, intel)
    # a rule finding's endpoint is among the rows (same orientation); any other is judged by the truth alone
    detectors = {"behaviour (held out)": flagged, "rules": rules, "union (held out)": flagged | rules,
                 "behaviour (fitted on all, in sample)": fitted_flags}
    out: dict[str, Any] = {}
    for view in ("all", *sorted({s.view for s in sources})):
        def part(keys: set[Key], view: str = view) -> set[Key]:
            return {k for k in keys if view == "all" or view_of[k[3]] == view}
        out[view] = {name: metrics(part(keys), part(truth)) for name, keys in detectors.items()}
        out[view]["endpoints"] = sum(1 for r in rows if view == "all" or r["view"] == view)
        out[view]["positive_endpoints"] = len(part(truth))
    sweep = {}
    for value in L2_GRID:
        v = held_out_z(rows, value)
        sweep[str(value)] = metrics({_key(r) for r, s in zip(rows, v, strict=True) if s >= cut}, truth)

    def listed(keys: set[Key]) -> list[str]:
        return sorted(f"{k[3]} {k[0]} → {k[1]}:{k[2]}" for k in keys)

    sessions = {frozenset(p) for s in sources for p in s.positives}
    by_group: dict[str, int] = defaultdict(int)
    for s in sources:
        by_group[s.group] += 1
    return {
        "what": "endpoint-level precision/recall: behaviour model (leave-one-group-out) beside the list detectors",
        "unit": "endpoint = (client, server address, server port, input); positive = holds a ground-truth "
                "mining session",
        "sources": len(sources), "groups": len(by_group), "distinct_sessions": len(sessions),
        "candidates": len(cand_rows), "l2": l2, "threshold": tb.THRESHOLD,
        "results": out,
        "l2_sweep_held_out": sweep,
        "dns_question_findings": askers,
        "behaviour_false_positives": listed(flagged - truth),
        "behaviour_missed": listed(truth - flagged),
        "rules_false_positives": listed(rules - truth),
        "ranking": real_ranking(rows, z, tb.THRESHOLD),
    }


# --- a synthetic carrier day -------------------------------------------------------------------------

def carrier_labels(truth: dict[str, Any]) -> dict[tuple[str, str, int, str], str]:
    """(subject, peer, port, input) → what the generator planted there."""
    out = {}
    for s in truth["sessions"]:
        out[(s["subject"], s["pool_ip"], int(s["port"]), s["input"])] = f"mining:{s['kind']}"
    for d in truth["decoys"]:
        if "peer_ip" in d and "port" in d:
            out[(d["subject"], d["peer_ip"], int(d["port"]), d["input"])] = f"decoy:{d['kind']}"
    for b in truth.get("benign", []):
        out[(b["subject"], b["peer_ip"], int(b["port"]), b["input"])] = f"benign:{b['kind']}"
    return out


def carrier_ranking(dataset: Path) -> dict[str, Any]:
    """The list detectors, then the behaviour model's leads (one ``rank_leads`` over every flagged
    endpoint), scored against the dataset's truth.json."""
    from minescope.dimensions.network.readers.dataset import FlowDataset, select_files

    truth = json.loads((dataset / "truth.json").read_text())
    feeds = [dataset / "feeds"] if (dataset / "feeds").is_dir() else []
    intel = PoolIntel.load(feeds, user_feeds=False)
    chosen = select_files(FlowDataset(dataset))
    detector = FlowLogDetector(intel, DuckDBEngine())
    try:
        detector.add_parquet("flows", [f.path for f in chosen.flows])
        detector.add_parquet("dns", [f.path for f in chosen.dns])
        t0 = time.perf_counter()
        detector.run(behaviour=False)
        t1 = time.perf_counter()
        every = rank_leads(detector.engine)  # flow only: nothing left out
        t2 = time.perf_counter()
        reported = set(detector.reported)
    finally:
        detector.close()
    labels = carrier_labels(truth)

    def label(r: dict[str, Any]) -> str:
        return labels.get(_key(r), "background")

    def composition(order: list[dict[str, Any]], n: int) -> dict[str, int]:
        return dict(Counter(label(r).split(":")[-1] if not label(r).startswith("mining") else label(r)
                            for r in order[:n]).most_common())

    planted = [k for k, v in labels.items() if v.startswith("mining:")]
    views: dict[str, Any] = {}
    scan_leads = [r for r in every if _key(r) not in reported]
    for name, leads, positives, is_pos in (
            ("as the scan emits (list detectors' endpoints left out; positives: behaviour-only sessions)",
             scan_leads, sum(1 for k in planted if k not in reported),
             lambda r: label(r).startswith("mining:")),
            ("flow only (no list, no DNS; positives: every planted session)", every, len(planted),
             lambda r: label(r).startswith("mining:"))):
        today = today_order(leads)
        views[name] = {
            "today (score)": at_n(today, is_pos, positives), "rank": at_n(leads, is_pos, positives),
            "ablations": {name: at_n(reordered(leads, z), is_pos, positives) for name, z in variants().items()},
            "top_100_today": composition(today, 100), "top_100_rank": composition(leads, 100),
            "top_1000_today": composition(today, 1000), "top_1000_rank": composition(leads, 1000),
        }
    flagged = Counter(label(r).split(":")[0] + ":" + label(r).split(":")[-1] if ":" in label(r) else label(r)
                      for r in every)
    return {
        "dataset": dataset.name, "flows": truth["rows"]["flows"], "parameters": truth["parameters"],
        "planted": truth["counts"], "benign_sessions": truth.get("benign_counts", {}),
        "list_detector_endpoints": len(reported), "flagged_endpoints": len(every), "flagged_by_class": dict(flagged),
        "list_detectors_s": round(t1 - t0, 1), "behaviour_and_rank_s": round(t2 - t1, 1),
        "views": views,
    }


# --- the report --------------------------------------------------------------------------------------

def _line(name: str, m: dict[str, Any], at: tuple[int, ...] = (100, 1000)) -> str:
    cells = "  ".join(f"P@{n} {m[f'p@{n}']} R@{n} {m[f'r@{n}']}" for n in at)
    return (f"  {name:28s} {cells}  leads {m['leads']} (positive {m['positive_leads']}/{m['positives']}), "
            f"median position of positives {m['median_position_of_positives']}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=tb.CORPUS)
    ap.add_argument("--logs", type=Path, default=None, help="the shared corpus's logs folder")
    ap.add_argument("--carrier", type=Path, default=None, help="a benchmarks/flowgen.py dataset")
    ap.add_argument("--carrier-flows", type=int, default=None,
                    help="make a flowgen dataset of this many flows (seed 1) in a temporary folder and use it")
    ap.add_argument("--no-real", action="store_true", help="only the synthetic carrier day")
    ap.add_argument("-o", "--output", type=Path, default=RESULTS / "flow_behaviour_eval.json")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    result: dict[str, Any] = {"machine": {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                                          "python": platform.python_version()},
                              "rank_weights": RANK_WEIGHTS}
    if not args.no_real:
        sources = load_sources(args.corpus, args.logs)
        result.update(evaluate(sources, PoolIntel.load(user_feeds=False)))
        for view, res in result["results"].items():
            print(f"{view} ({res['positive_endpoints']} positive of {res['endpoints']} endpoints)")
            for name, m in res.items():
                if isinstance(m, dict):
                    print(f"  {name:38s} TP {m['tp']:3d} FP {m['fp']:3d} FN {m['fn']:3d}  P {m['precision']}  "
                          f"R {m['recall']}  F1 {m['f1']}")
        rk = result["ranking"]
        print(f"real flows pooled, ranked ({rk['positives']} positive endpoints):")
        for name in ("today (held-out score)", "rank (held out)"):
            print(_line(name, rk[name], (10, 20, 50, 100)))
        for name, m in rk["ablations"].items():
            print(_line(name, m, (10, 20, 50)))
    with tempfile.TemporaryDirectory(prefix="flowgen-") as tmp:
        dataset = args.carrier
        if dataset is None and args.carrier_flows:
            import flowgen

            dataset = Path(tmp)
            flowgen.generate(dataset, args.carrier_flows, seed=1, progress=False)
        if dataset is not None:
            result["carrier"] = carrier_ranking(dataset)
            c = result["carrier"]
            print(f"synthetic carrier day: {c['flows']:,} flows, {c['flagged_endpoints']:,} flagged endpoints "
                  f"({c['behaviour_and_rank_s']} s)")
            for view, res in c["views"].items():
                print(f" {view}")
                for name in ("today (score)", "rank"):
                    print(_line(name, res[name]))
                for name, m in res["ablations"].items():
                    print(_line(name, m))
    result["wall_seconds"] = round(time.monotonic() - t0, 1)
    args.output.write_text(json.dumps(result, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Held-out accuracy of the behaviour model beside the list (rule) detectors, on flow data.

    python benchmarks/flow_behaviour_eval.py [--corpus samples/pcap] [--logs DIR] [-o results.json]

Data as ``tools/train_behaviour.py`` makes it: every corpus capture as flows of minescope's capture
path, of nfpcapd + nfdump and of softflowd NetFlow v9 (unidirectional), and, with ``--logs`` (the
shared corpus's ``logs`` folder), real Zeek/Suricata/nfcapd logs without mining. The unit is the
endpoint (client, server address, server port, input); it is positive when one of its records
belongs to a ground-truth mining session.

Held out: leave one group out. A group is a capture with all its flow views (captures sharing a
session — nDPI's mining.pcapng merges three other traces — form one group), or one log folder. The
weights that score a group were fitted without any of its data. The rule detectors
(``detect.flowlog.detect_tables``: pool lists by address, server name, passive DNS) get each source's
flows and the capture's DNS answers (a DNS log beside the NetFlow); their DNS-question findings name
the resolver, not an endpoint, and are counted apart.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import train_behaviour as tb  # noqa: E402

from minescope.dimensions.network.detectors.flowlog import detect_tables  # noqa: E402
from minescope.knowledge.pools import PoolIntel  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
L2_GRID = (0.3, 1.0, 3.0, 10.0)
Key = tuple[str, str, int, str]


def held_out_scores(rows: list[dict[str, Any]], l2: float) -> np.ndarray:
    """Each candidate's score from weights fitted without its group (non-candidates: -1)."""
    cand = np.array([bool(r["candidate"]) for r in rows])
    x, y = tb.matrix(rows)
    groups = np.array([r["group"] for r in rows])
    scores = np.full(len(rows), -1.0)
    for g in sorted(set(groups[cand].tolist())):
        train = cand & (groups != g)
        test = cand & (groups == g)
        scores[test] = tb.fit(x[train], y[train], l2).score(x[test])
    return scores


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


def evaluate(sources: list[tb.Source], intel: PoolIntel, l2: float = tb.L2) -> dict[str, Any]:
    rows = tb.endpoint_table(sources)
    view_of = {s.name: s.view for s in sources}
    truth = {_key(r) for r in rows if r["label"]}
    scores = held_out_scores(rows, l2)
    flagged = {_key(r) for r, s in zip(rows, scores, strict=True) if s >= tb.THRESHOLD}
    x, y = tb.matrix(tb.candidates(rows))
    in_sample = tb.fit(x, y, l2)
    cand_rows = tb.candidates(rows)
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
        s = held_out_scores(rows, value)
        sweep[str(value)] = metrics({_key(r) for r, v in zip(rows, s, strict=True) if v >= tb.THRESHOLD}, truth)

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
        "machine": {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "python": platform.python_version()},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=tb.CORPUS)
    ap.add_argument("--logs", type=Path, default=None, help="the shared corpus's logs folder")
    ap.add_argument("-o", "--output", type=Path, default=RESULTS / "flow_behaviour_eval.json")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    sources = tb.load_sources(args.corpus, args.logs)
    result = evaluate(sources, PoolIntel.load(user_feeds=False))
    result["wall_seconds"] = round(time.monotonic() - t0, 1)
    args.output.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for view, res in result["results"].items():
        print(f"{view} ({res['positive_endpoints']} positive of {res['endpoints']} endpoints)")
        for name, m in res.items():
            if isinstance(m, dict):
                print(f"  {name:38s} TP {m['tp']:3d} FP {m['fp']:3d} FN {m['fn']:3d}  P {m['precision']}  "
                      f"R {m['recall']}  F1 {m['f1']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

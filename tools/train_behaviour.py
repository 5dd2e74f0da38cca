"""Fit the behaviour model (``detect/behaviour.py``) and write ``knowledge/data/behaviour-model.json``.

    python tools/train_behaviour.py [--corpus samples/pcap] [--logs DIR] [--l2 1.0] [--out FILE]

Data: every corpus capture turned into flows three ways — minescope's own capture path
(bidirectional, initiator known), nfpcapd + ``nfdump -o csv`` and softflowd NetFlow v9 (both
unidirectional) — plus real Zeek conn, Suricata EVE and nfcapd logs given with ``--logs`` (the
shared corpus's ``logs`` folder; none of them holds mining). An endpoint (client, server address,
server port, input) is positive when one of its records belongs to a mining session of
``ground-truth.json`` (unordered endpoint pair); everything else is negative.

Fit: plain numpy logistic regression on standardised features, L2 penalty on the weights (not the
intercept), classes weighted to equal total weight, Newton steps; only candidate endpoints (TCP,
packets both ways, active ≥ 20 s) are fitted and scored. The port prior's weight is fixed, not
fitted (``FIXED``). Threshold 0.5.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from minescope.dimensions.network.detectors.behaviour import FEATURES, MODEL_PATH, SIDES_SQL, features_sql  # noqa: E402
from minescope.dimensions.network.detectors.flowlog import PREPARED  # noqa: E402
from minescope.dimensions.network.readers.capture_flows import read_capture  # noqa: E402
from minescope.dimensions.network.readers.inputs import read_flow_log  # noqa: E402
from minescope.dimensions.network.tables import FLOWS  # noqa: E402
from minescope.engines.sql import open_engine  # noqa: E402
from minescope.knowledge.pools import PoolIntel  # noqa: E402

CORPUS = ROOT / "samples" / "pcap"
FOLDERS = ("mining", "benign", "crypto-node")
VIEWS = ("capture", "nfdump", "netflow-v9")
Pair = frozenset[tuple[str, int]]
SCALE_FLOOR = 0.5
# Fixed, not fitted: the port prior. In these data nearly every endpoint on a stratum port is a mining
# session, so a fitted weight would make the port decide alone; scanners and other services use
# these ports too. +1 (log-odds, scale 1) for a stratum port: a hint, never enough by itself.
FIXED = {"pool_port": 1.0}
# The direction each feature may push towards mining: a fitted weight of the other sign (a few
# sessions can suggest one) is set to 0 and the rest refitted, so every reason reads the right way.
SIGNS = {"duration": 1, "rate": -1, "up_size": -1, "down_size": -1, "balance": 1, "regular": 1, "initiated": 1,
         "high_port": 1}
L2 = 3.0  # held-out F1 is flat over 0.3–10 (benchmarks/flow_behaviour_eval.py); the firmer one is kept
# With classes weighted equally, 0.5 is the even-odds cut; a cut tuned on the training data was
# tuned to a handful of sessions and did worse held out.
THRESHOLD = 0.5


@dataclass
class Source:
    """One input the detectors see: a capture in one view, or a log. ``group`` keeps data that
    shares sessions (the views of a capture; captures merged from the same traces) in one fold."""

    name: str  # unique, e.g. "mining/ndpi_mining.pcapng#nfdump"
    view: str  # capture | nfdump | netflow-v9 | log
    group: str
    flows: pa.Table
    dns: pa.Table
    positives: set[Pair]  # ground-truth mining sessions of the capture


# --- making flows ---------------------------------------------------------------------------------

def capture_tables(path: Path, intel: PoolIntel, name: str) -> tuple[pa.Table, pa.Table]:
    flows, dns, _ = read_capture(path, lambda n: intel.match_mining_domain(n) is not None)
    return _renamed(pa.table(flows), name), _renamed(pa.table(dns), name)


def nfdump_flows(path: Path, name: str, tmp: Path) -> pa.Table:
    """nfpcapd meters the capture itself; nfdump exports its files as CSV (times in UTC)."""
    d = tmp / "nfcapd"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    subprocess.run(["nfpcapd", "-r", str(path), "-l", str(d)], capture_output=True, check=True)
    if not any(d.iterdir()):
        return FLOWS.empty_table()
    csv = tmp / name.replace("/", "_")
    with csv.open("w") as out:
        subprocess.run(["nfdump", "-R", str(d), "-o", "csv"], stdout=out, check=True,
                       env={**os.environ, "TZ": "UTC"})
    return _renamed(read_flow_log(csv, "nfdump-csv")["flows"], name)


def netflow_v9_flows(path: Path, name: str, tmp: Path) -> pa.Table:
    """softflowd replays the capture as a NetFlow v9 exporter to a receiver on loopback."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.3)
    port = sock.getsockname()[1]
    got: list[bytes] = []
    done = threading.Event()

    def receive() -> None:
        while True:
            try:
                got.append(sock.recv(65535))
            except TimeoutError:
                if done.is_set():
                    return

    t = threading.Thread(target=receive)
    t.start()
    # softflowd deletes its pid file at exit: give it one of its own
    subprocess.run(["softflowd", "-r", str(path), "-n", f"127.0.0.1:{port}", "-v", "9", "-p", str(tmp / "sfd.pid")],
                   capture_output=True, check=False)
    done.set()
    t.join()
    sock.close()
    if not got:
        return FLOWS.empty_table()
    out = tmp / (name.replace("/", "_") + ".v9")
    out.write_bytes(b"".join(got))
    return _renamed(read_flow_log(out, "netflow")["flows"], name)


def _renamed(flows: pa.Table, name: str) -> pa.Table:
    """The input column as the source's name (not a temporary path)."""
    i = flows.schema.get_field_index("input")
    return flows.set_column(i, "input", pa.array([name] * flows.num_rows, pa.string()))


def _session_pairs(truth: dict[str, Any]) -> set[Pair]:
    return {frozenset({(s["client_ip"], int(s["client_port"])), (s["server_ip"], int(s["server_port"]))})
            for s in truth["mining_sessions"]}


def _groups(truth: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Captures sharing a mining session (one trace merged into another) form one group."""
    parent = {k: k for k in truth}

    def find(k: str) -> str:
        while parent[k] != k:
            k = parent[k]
        return k

    seen: dict[Pair, str] = {}
    for k in sorted(truth):
        for p in _session_pairs(truth[k]):
            if p in seen:
                parent[find(k)] = find(seen[p])
            else:
                seen[p] = k
    return {k: find(k) for k in truth}


def corpus_sources(corpus: Path, intel: PoolIntel, views: tuple[str, ...] = VIEWS) -> Iterator[Source]:
    truth = json.loads((corpus / "ground-truth.json").read_text())
    group = _groups(truth)
    with tempfile.TemporaryDirectory(prefix="minescope-behaviour-") as tmpdir:
        tmp = Path(tmpdir)
        for rel in sorted(truth):
            if rel.split("/")[0] not in FOLDERS:
                continue
            path = corpus / rel
            flows, dns = capture_tables(path, intel, rel + "#capture")
            pos = _session_pairs(truth[rel])
            for view in views:
                name = f"{rel}#{view}"
                if view == "capture":
                    data = flows
                elif view == "nfdump":
                    data = nfdump_flows(path, name, tmp)
                else:
                    data = netflow_v9_flows(path, name, tmp)
                # a DNS log of the same traffic beside the NetFlow (the capture's passive DNS)
                yield Source(name, view, group[rel], data, _renamed(dns, name), pos)


LOG_FILES = (  # relative to the shared corpus's logs folder; real logs, no mining
    "slips/test9-mixed-zeek-dir/conn.log", "slips/test9-mixed-zeek-dir/dns.log", "slips/test9-mixed-zeek-dir/ssl.log",
    "slips/test9-mixed-zeek-dir/http.log", "slips/test18-ctu-sme-11/conn.log.labeled",
    "slips/test18-ctu-sme-11/dns.log.labeled", "slips/test6-malicious.suricata.eve.json",
    "slips/test1-malicious.nfcapd", "zat/conn.log", "zat/json_conn.log", "zat/json_dns.log", "zat/json_ssl.log",
    "zeek-baseline/opt.basic_conn.log", "zeek-baseline/opt.basic_dns.log",
)


def log_sources(logs: Path) -> Iterator[Source]:
    """Logs of one folder form one source (DNS and ssl beside conn), one group each."""
    by_folder: dict[str, list[Path]] = {}
    for rel in LOG_FILES:
        path = logs / rel
        if path.exists():
            folder = rel.rsplit("/", 1)[0] if rel.count("/") > 1 else rel
            by_folder.setdefault(folder, []).append(path)
    for folder, paths in sorted(by_folder.items()):
        flows, dns = [], []
        for p in paths:
            log = read_flow_log(p)
            flows.append(_renamed(log["flows"], f"logs/{folder}#log"))
            dns.append(_renamed(log["dns"], f"logs/{folder}#log"))
        yield Source(f"logs/{folder}#log", "log", f"logs/{folder}", pa.concat_tables(flows), pa.concat_tables(dns),
                     set())


# --- features and labels --------------------------------------------------------------------------

def endpoint_table(sources: list[Source]) -> list[dict[str, Any]]:
    """One row per endpoint of every source: raw features, label, source, view and group."""
    engine = open_engine("duckdb")
    meta = {}
    for s in sources:
        engine.append("flows", s.flows.cast(FLOWS))
        meta[s.name] = s
    engine.prepare(PREPARED)
    query = engine.query
    out = query(features_sql())
    # which endpoints hold a ground-truth session: their records' unordered pairs
    positive = set()
    for r in query(f"SELECT DISTINCT client_ip, client_port, server_ip, server_port, input FROM ({SIDES_SQL}) s"):
        s = meta[r["input"]]
        if frozenset({(r["client_ip"], int(r["client_port"])), (r["server_ip"], int(r["server_port"]))}) in s.positives:
            positive.add((r["client_ip"], r["server_ip"], int(r["server_port"]), r["input"]))
    engine.close()
    for r in out:
        s = meta[r["input"]]
        r["label"] = int((r["subject"], r["peer_ip"], int(r["peer_port"]), r["input"]) in positive)
        r["view"], r["group"] = s.view, s.group
    out.sort(key=lambda r: (r["input"], r["subject"], r["peer_ip"], r["peer_port"]))
    return out


def candidates(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The endpoints the model scores (``candidate`` in the SQL); the rest are never flagged."""
    return [r for r in rows if r["candidate"]]


def matrix(rows: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[float(r[f"x_{n}"]) for n in FEATURES] for r in rows], dtype=float)
    y = np.array([r["label"] for r in rows], dtype=float)
    return x, y


# --- the fit --------------------------------------------------------------------------------------

@dataclass
class Fit:
    intercept: float
    weights: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    threshold: float

    def score(self, x: np.ndarray) -> np.ndarray:
        z = self.intercept + ((x - self.mean) / self.sd) @ self.weights
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def fit(x: np.ndarray, y: np.ndarray, l2: float = L2, threshold: float = THRESHOLD) -> Fit:
    """L2-penalised logistic regression (balanced class weights), weights of the wrong sign held at 0."""
    zeroed: set[str] = set()
    while True:
        f = _fit(x, y, l2, threshold, zeroed)
        wrong = {n for i, n in enumerate(FEATURES) if n in SIGNS and n not in zeroed and f.weights[i] * SIGNS[n] < 0}
        if not wrong:
            return f
        zeroed |= wrong


def _fit(x: np.ndarray, y: np.ndarray, l2: float, threshold: float, zeroed: set[str], iters: int = 50) -> Fit:
    names = list(FEATURES)
    mean = x.mean(axis=0)
    # a floor on the scale: a rare 0/1 feature would otherwise be worth many "standard deviations"
    sd = np.maximum(x.std(axis=0), SCALE_FLOOR)
    fixed_w = {**FIXED, **dict.fromkeys(zeroed, 0.0)}
    fixed = np.array([n in fixed_w for n in names])
    for i, n in enumerate(names):
        if n in FIXED:
            mean[i], sd[i] = 0.0, 1.0
    xs = (x - mean) / sd
    offset = xs[:, fixed] @ np.array([fixed_w[n] for n in names if n in fixed_w])
    z = np.hstack([np.ones((len(x), 1)), xs[:, ~fixed]])
    n_pos = max(y.sum(), 1.0)
    n_neg = max(len(y) - y.sum(), 1.0)
    sw = np.where(y == 1, len(y) / (2 * n_pos), len(y) / (2 * n_neg))
    beta = np.zeros(z.shape[1])
    penalty = np.array([0.0] + [l2 for n in names if n not in fixed_w])
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta + offset, -50, 50)))
        grad = z.T @ (sw * (p - y)) + penalty * beta
        hess = (z * (sw * p * (1 - p))[:, None]).T @ z + np.diag(penalty) + 1e-9 * np.eye(z.shape[1])
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-10:
            break
    weights = np.zeros(len(names))
    weights[~fixed] = beta[1:]
    weights[fixed] = [fixed_w[n] for n in names if n in fixed_w]
    return Fit(float(beta[0]), weights, mean, sd, threshold)


# --- the model file ---------------------------------------------------------------------------------

DEFINITIONS = {
    "duration": ("ln(1 + active minutes); active = min(span from the first start to the last end, sum of "
                 "the records' durations)"),
    "rate": "ln(1 + packets per active minute, both directions)",
    "up_size": "ln(1 + mean bytes per packet, client to server)",
    "down_size": "ln(1 + mean bytes per packet, server to client; 0 when none)",
    "balance": "-|ln((bytes up + 1) / (bytes down + 1))|",
    "regular": "1 - min(1, coefficient of variation of per-record up bytes/packet), with >= 3 records; else 0",
    "initiated": "share of records from a client port >= 1024 to a lower server port",
    "high_port": "1 when the server port is >= 1024 (not a well-known service port), else 0",
    "pool_port": "1 when the server port is a conventional stratum port (STRATUM_PORTS), else 0",
}


def model_document(f: Fit, rows: list[dict[str, Any]], l2: float) -> dict[str, Any]:
    y = np.array([r["label"] for r in rows])
    views = sorted({r["view"] for r in rows})
    return {
        "name": "minescope behaviour model",
        "version": 1,
        "fitted": dt.date.today().isoformat(),
        "method": (f"logistic regression (numpy, Newton's method), L2 = {l2} on the scaled weights (not the "
                   "intercept), classes weighted to equal total weight, candidate endpoints only; pool_port "
                   f"weight fixed at {FIXED['pool_port']} (a prior, not fitted); threshold {f.threshold}"),
        "data": (f"{len(rows)} candidate endpoints ({int(y.sum())} mining-session endpoints) from the corpus captures "
                 f"(mining, benign, crypto-node) as {', '.join(v for v in views if v != 'log')} flows, and real "
                 "Zeek/Suricata/nfcapd logs without mining"),
        "reproduce": "python tools/train_behaviour.py --logs <shared corpus>/logs",
        "held_out": "benchmarks/results/flow_behaviour_eval.json",
        "intercept": round(f.intercept, 6),
        "threshold": f.threshold,
        "features": [{"name": n, "definition": DEFINITIONS[n], "weight": round(float(f.weights[i]), 6),
                      "mean": round(float(f.mean[i]), 6), "sd": round(float(f.sd[i]), 6)}
                     for i, n in enumerate(FEATURES)],
    }


def load_sources(corpus: Path, logs: Path | None) -> list[Source]:
    intel = PoolIntel.load(user_feeds=False)
    for tool in ("nfpcapd", "nfdump", "softflowd"):
        if shutil.which(tool) is None:
            raise SystemExit(f"error: {tool} is missing; apt-get install nfdump softflowd")
    sources = list(corpus_sources(corpus, intel))
    if logs is not None:
        sources += list(log_sources(logs))
    return sources


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--logs", type=Path, default=None, help="the shared corpus's logs folder (real logs, no mining)")
    ap.add_argument("--l2", type=float, default=L2)
    ap.add_argument("--out", type=Path, default=MODEL_PATH)
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    rows = candidates(endpoint_table(load_sources(args.corpus, args.logs)))
    x, y = matrix(rows)
    f = fit(x, y, args.l2)
    doc = model_document(f, rows, args.l2)
    args.out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(rows)} endpoints, {int(y.sum())} positive; threshold {f.threshold}; "
          f"{time.monotonic() - t0:.0f} s → {args.out}")
    for i, n in enumerate(FEATURES):
        print(f"  {n:10s} {f.weights[i]:+.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

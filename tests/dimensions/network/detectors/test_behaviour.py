"""The behaviour model (detect.behaviour): pool-like flows without a list match, explained, on both engines."""

from __future__ import annotations

import copy
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from helpers import FLOWLOGS as DATA
from helpers import MINING_PCAP, STRATUM_PCAP, capture_tables, table
from minescope.dimensions.network.detectors.behaviour import (
    CONFIDENCE_CAP,
    FEATURES,
    MODEL_PATH,
    SIDES_SQL,
    behaviour_findings,
    parse_model,
)
from minescope.dimensions.network.detectors.flowlog import PREPARED
from minescope.dimensions.network.kinds import MINING_BEHAVIOUR_SUSPECT
from minescope.dimensions.network.readers.inputs import read_flow_log
from minescope.dimensions.network.tables import FLOWS
from minescope.engines.sql import DuckDBEngine, SqlEngine
from minescope.knowledge.pools import PoolIntel
from minescope.model import Finding, Severity

NETFLOW = DATA / "netflow"
# the four mining sessions of nDPI's mining capture (ground-truth.json): client, pool, pool port
MINING_SESSIONS = {("147.229.13.222", "185.71.66.39", 9999), ("192.168.2.148", "94.23.199.191", 3333),
                   ("192.168.2.148", "116.211.167.195", 3333), ("192.168.2.92", "178.32.196.217", 9050)}
STRATUM_SESSION = ("10.0.2.15", "192.110.160.114", 3333)


@pytest.fixture(scope="module")
def intel() -> PoolIntel:
    return PoolIntel.load(user_feeds=False)


def load(engine: SqlEngine, flows: list[pa.Table]) -> SqlEngine:
    for t in flows:
        engine.append("flows", t.cast(FLOWS))
    engine.prepare(PREPARED)
    return engine


def findings(flows: list[pa.Table], engine: SqlEngine | None = None, **kw: Any) -> list[Finding]:
    e = load(engine or DuckDBEngine(), flows)
    try:
        return behaviour_findings(e, **kw)
    finally:
        e.close()


def keys(found: list[Finding]) -> set[tuple[str, str, int]]:
    return {(f.subject_ip, f.peer.ip, f.peer.port) for f in found}


def log_flows(*paths: Path) -> list[pa.Table]:
    return [read_flow_log(p)["flows"] for p in paths]


def test_capture_session_is_flagged_and_explained(intel: PoolIntel) -> None:
    found = findings([capture_tables(STRATUM_PCAP, intel)[0][1]])
    assert keys(found) == {STRATUM_SESSION}
    f = found[0]
    assert f.kind == MINING_BEHAVIOUR_SUSPECT and f.severity == Severity.LOW
    assert 0 < f.confidence <= CONFIDENCE_CAP
    assert not f.peer.known_pool and f.peer.host is None
    assert f.source == STRATUM_PCAP.name
    assert all(r.zh and r.en for r in f.reasons) and len(f.reasons) >= 3
    assert "pool session" in f.reasons[0].en and "核实" in f.reasons[0].zh
    ev = f.evidence[0]
    assert ev.type == "behaviour"
    assert set(ev.detail["features"]) == set(FEATURES) == set(ev.detail["contributions"])
    assert 0.5 <= ev.detail["score"] <= 1 and ev.detail["records"] == 3
    assert ev.detail["top"] and all(ev.detail["contributions"][n] > 0 for n in ev.detail["top"])
    # the three connections, in time order, all to the pool
    assert len(f.flows) == 3 and [r.first_seen for r in f.flows] == sorted(r.first_seen for r in f.flows)
    assert {(r.dst_ip, r.dst_port) for r in f.flows} == {("192.110.160.114", 3333)}


def test_mining_capture_sessions(intel: PoolIntel) -> None:
    assert keys(findings([capture_tables(MINING_PCAP, intel)[0][1]])) == MINING_SESSIONS


@pytest.mark.parametrize("name", ["v5.bin", "v9.bin", "ipfix.bin", "ipfix-biflow.bin", "nfdump-ndpi_mining.csv"])
def test_netflow_sessions_are_flagged(name: str) -> None:
    """Made by softflowd and nfdump from the mining and STUN captures: unidirectional records (v5, v9,
    IPFIX, nfdump) are paired; softflowd's biflows put the pool first and are turned round."""
    found = findings(log_flows(NETFLOW / name))
    assert keys(found) == MINING_SESSIONS
    for f in found:
        assert f.flows and len(f.flows) <= 20
        # each direction of a unidirectional session is its own record, both listed
        if name in ("v5.bin", "v9.bin", "ipfix.bin"):
            assert {(r.src_ip, r.dst_ip) for r in f.flows} == {(f.subject_ip, f.peer.ip), (f.peer.ip, f.subject_ip)}


def test_benign_logs_are_not_flagged() -> None:
    paths = sorted((DATA / "zeek").iterdir()) + sorted((DATA / "suricata").iterdir())
    assert findings(log_flows(*paths)) == []


def test_exclude_drops_reported_endpoints(intel: PoolIntel) -> None:
    flows = [capture_tables(MINING_PCAP, intel)[0][1]]
    every = findings(flows)
    inp = str(flows[0]["input"][0])
    done = {("192.168.2.148", "94.23.199.191", 3333, inp), ("192.168.2.92", "178.32.196.217", 9050, inp)}
    rest = findings(flows, exclude=done)
    assert keys(rest) == MINING_SESSIONS - {k[:3] for k in done}
    assert [f.to_dict() for f in rest] == [f.to_dict() for f in every if (*keys([f]).pop(), inp) not in done]


def test_unidirectional_records_are_paired() -> None:
    """Lower port = server; with equal ports the side seen first is the client; a bidirectional
    record from below the ephemeral range into it runs server → client."""
    t0 = 1_700_000_000.0
    rows = [
        # the reply direction comes first in the log; the client is still the ephemeral side
        {"ts": t0 + 1, "src_ip": "198.51.100.9", "src_port": 3333, "dst_ip": "10.0.0.5", "dst_port": 50000},
        {"ts": t0, "src_ip": "10.0.0.5", "src_port": 50000, "dst_ip": "198.51.100.9", "dst_port": 3333},
        # NTP-like equal ports: 10.0.0.6 spoke first
        {"ts": t0 + 5, "src_ip": "192.0.2.1", "src_port": 123, "dst_ip": "10.0.0.6", "dst_port": 123},
        {"ts": t0, "src_ip": "10.0.0.6", "src_port": 123, "dst_ip": "192.0.2.1", "dst_port": 123},
    ]
    for r in rows:
        r.update(proto=6, duration_s=10.0, src_packets=5, src_bytes=500)
    rows.append({"ts": t0, "src_ip": "203.0.113.4", "src_port": 4444, "dst_ip": "10.0.0.7", "dst_port": 40000,
                 "proto": 6, "duration_s": 10.0, "src_packets": 5, "src_bytes": 900, "dst_packets": 6,
                 "dst_bytes": 400})
    e = load(DuckDBEngine(), [table(FLOWS, rows)])
    try:
        got = e.query(f"SELECT src_ip, client_ip, server_ip, server_port, up_b, dn_b FROM ({SIDES_SQL}) s")
    finally:
        e.close()
    sides = {(r["src_ip"], r["client_ip"], r["server_ip"], r["server_port"], r["up_b"], r["dn_b"]) for r in got}
    assert sides == {
        ("198.51.100.9", "10.0.0.5", "198.51.100.9", 3333, 0.0, 500.0),
        ("10.0.0.5", "10.0.0.5", "198.51.100.9", 3333, 500.0, 0.0),
        ("192.0.2.1", "10.0.0.6", "192.0.2.1", 123, 0.0, 500.0),
        ("10.0.0.6", "10.0.0.6", "192.0.2.1", 123, 500.0, 0.0),
        ("203.0.113.4", "10.0.0.7", "203.0.113.4", 4444, 400.0, 900.0),
    }


def test_model_file_is_valid() -> None:
    doc = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    model = parse_model(doc)
    assert [f["name"] for f in doc["features"]] == list(FEATURES)
    assert 0 < model.threshold < 1
    assert all(f["definition"] for f in doc["features"])
    for key in ("fitted", "method", "data", "reproduce"):
        assert doc[key]
    bad = copy.deepcopy(doc)
    bad["features"] = bad["features"][1:]
    with pytest.raises(ValueError, match="features"):
        parse_model(bad)
    bad = copy.deepcopy(doc)
    bad["features"][0]["weight"] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        parse_model(bad)


# --- the same SQL on Spark -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from minescope.engines.sql import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()


@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark is not installed")
def test_spark_gives_the_same_findings(intel: PoolIntel, spark: Any) -> None:
    from minescope.engines.sql import SparkEngine

    flows = [capture_tables(STRATUM_PCAP, intel)[0][1], capture_tables(MINING_PCAP, intel)[0][1],
             *log_flows(NETFLOW / "v9.bin", NETFLOW / "nfdump-ndpi_mining.csv", DATA / "zeek" / "zat-conn.log")]
    duck = findings(flows)
    sparked = findings(flows, SparkEngine(spark))
    assert len(duck) == 13  # 1 + 4 sessions per mining input
    assert [f.to_dict() for f in sparked] == [f.to_dict() for f in duck]

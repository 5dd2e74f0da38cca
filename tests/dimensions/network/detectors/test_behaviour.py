"""The behaviour model (detect.behaviour): pool-like flows without a list match, explained, on both engines."""

from __future__ import annotations

import copy
import importlib.util
import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner

from helpers import FLOWLOGS as DATA
from helpers import MINING_PCAP, STRATUM_PCAP, capture_tables, table, zeek_json
from minescope.cli import main
from minescope.dimensions.network.detectors.behaviour import (
    CONFIDENCE_CAP,
    FEATURES,
    MODEL_PATH,
    RANK_TERMS,
    RANK_WEIGHTS,
    SERVICE_PORTS,
    SIDES_SQL,
    behaviour_findings,
    parse_model,
)
from minescope.dimensions.network.detectors.flowlog import PREPARED
from minescope.dimensions.network.kinds import MINING_BEHAVIOUR_SUSPECT
from minescope.dimensions.network.readers.inputs import read_flow_log
from minescope.dimensions.network.tables import FLOWS
from minescope.engines.sql import DuckDBEngine, SqlEngine
from minescope.knowledge.pools import PoolIntel, stratum_ports
from minescope.model import Finding, Severity
from minescope.store.findings import open_store
from minescope.store.intel import suspected_endpoints

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


def _unranked(f: Finding) -> dict[str, Any]:
    """A finding without what depends on the other leads: its place in the ranking."""
    d = f.to_dict()
    d.pop("confidence")
    d["reasons"] = d["reasons"][1:]
    for e in d["evidence"]:
        e["summary"] = e["summary"].split(", lead")[0]
        for k in ("position", "leads"):
            e["detail"]["rank"].pop(k)
    return d


def test_exclude_drops_reported_endpoints(intel: PoolIntel) -> None:
    flows = [capture_tables(MINING_PCAP, intel)[0][1]]
    every = findings(flows)
    inp = str(flows[0]["input"][0])
    done = {("192.168.2.148", "94.23.199.191", 3333, inp), ("192.168.2.92", "178.32.196.217", 9050, inp)}
    rest = findings(flows, exclude=done)
    assert keys(rest) == MINING_SESSIONS - {k[:3] for k in done}
    assert [_unranked(f) for f in rest] == [_unranked(f) for f in every if (*keys([f]).pop(), inp) not in done]
    # the rest keep their order and are ranked among themselves
    assert [f.evidence[0].detail["rank"]["position"] for f in rest] == [1, 2]
    assert [f.evidence[0].detail["rank"]["leads"] for f in every] == [4] * 4
    order = [keys([f]).pop() for f in every]
    assert [keys([f]).pop() for f in rest] == [k for k in order if (*k, inp) not in done]


# --- the ranking of leads ------------------------------------------------------------------------------

MINER = ("10.1.0.5", "198.51.100.7", 3333)  # work handed down: 250-byte packets from the pool
BROKER = ("10.1.0.6", "203.0.113.8", 8883)  # MQTT keep-alives: a known service, pings only
HEARTBEAT = ("10.1.0.7", "203.0.113.9", 7100)  # a vendor heartbeat on a port no list names: pings only


def _session(uid: str, endpoint: tuple[str, str, int], records: int, up: tuple[float, int], down: tuple[float, int],
             t0: float = 1_700_000_000.0, length: float = 1800.0) -> list[dict[str, Any]]:
    """Zeek conn rows of one long session cut into ``records`` pieces; ``up``/``down``: (packets a
    minute, bytes a packet)."""
    client, server, port = endpoint
    minutes = length / 60
    return [{"ts": t0 + i * (length + 5), "uid": f"{uid}{i}", "id.orig_h": client, "id.orig_p": 50000 + i,
             "id.resp_h": server, "id.resp_p": port, "proto": "tcp", "duration": length, "conn_state": "SF",
             "orig_pkts": round(minutes * up[0]), "orig_ip_bytes": round(minutes * up[0] * up[1]),
             "resp_pkts": round(minutes * down[0]), "resp_ip_bytes": round(minutes * down[0] * down[1])}
            for i in range(records)]


@pytest.fixture(scope="module")
def carrier_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A miner among two longer, quieter keep-alive sessions the model likes better."""
    return zeek_json(tmp_path_factory.mktemp("ranked") / "conn.log",
                     _session("Cmine", MINER, 4, (3.0, 150), (2.5, 250))
                     + _session("Cmqtt", BROKER, 12, (1.1, 70), (1.1, 62))
                     + _session("Cbeat", HEARTBEAT, 12, (1.0, 66), (1.0, 58)))


def test_leads_are_ranked_keep_alives_last(carrier_log: Path) -> None:
    found = findings(log_flows(carrier_log))
    assert [keys([f]).pop() for f in found] == [MINER, HEARTBEAT, BROKER]
    rank = {keys([f]).pop(): f.evidence[0].detail["rank"] for f in found}
    score = {keys([f]).pop(): f.evidence[0].detail["score"] for f in found}
    # today's order (the model's score) would put both keep-alives first
    assert score[BROKER] > score[MINER] and score[HEARTBEAT] > score[MINER]
    assert [r["position"] for r in rank.values()] == [1, 2, 3] and {r["leads"] for r in rank.values()} == {3}
    assert rank[MINER]["terms"]["service"] == rank[MINER]["terms"]["heartbeat"] == 0
    assert rank[BROKER]["terms"]["service"] == RANK_WEIGHTS["service"] and rank[BROKER]["service"] == "MQTT over TLS"
    assert rank[HEARTBEAT]["terms"]["service"] == 0 and rank[HEARTBEAT]["service"] is None
    assert rank[HEARTBEAT]["terms"]["heartbeat"] == rank[BROKER]["terms"]["heartbeat"] == RANK_WEIGHTS["heartbeat"]
    for r in rank.values():  # the rank is the model's log-odds plus the terms, all in the evidence
        assert set(r["terms"]) == set(RANK_TERMS)
        assert r["z"] == pytest.approx(sum(r["terms"].values()), abs=1e-4)
        assert r["rank"] == pytest.approx(1 / (1 + math.exp(-r["z"])), rel=1e-5)
    # confidence follows the rank (reports and the probe take leads by confidence)
    assert [f.confidence for f in found] == sorted((f.confidence for f in found), reverse=True)
    assert all(f.confidence == pytest.approx(CONFIDENCE_CAP * rank[keys([f]).pop()]["rank"], abs=1e-4)
               for f in found)
    assert all(f.severity == Severity.LOW for f in found)
    broker = found[2]
    assert "lead 3 of 3" in broker.reasons[0].en and "第 3/3 位" in broker.reasons[0].zh
    assert "known long-lived service (MQTT over TLS)" in broker.reasons[1].en
    assert "已知的长连接服务" in broker.reasons[1].zh
    assert "keep-alive-sized packets (62 B mean)" in broker.reasons[2].en and "心跳大小的包" in broker.reasons[2].zh
    assert not any("keep-alive-sized" in r.en or "known long-lived" in r.en for r in found[0].reasons)


def test_leads_top_keeps_the_best(carrier_log: Path) -> None:
    found = findings(log_flows(carrier_log), top=1)
    assert keys(found) == {MINER}
    assert found[0].evidence[0].detail["rank"]["position"] == 1 and found[0].evidence[0].detail["rank"]["leads"] == 3
    assert found[0].flows  # its flow references are sampled as before


def test_fan_in_is_told_not_weighed(tmp_path: Path) -> None:
    """Other hosts holding pool-like sessions with the same endpoint are said (one probe checks them all),
    but do not move the rank (RANK_WEIGHTS: at a carrier the most shared endpoints are services)."""
    other = ("10.1.0.8", MINER[1], MINER[2])
    rows = _session("Ca", MINER, 4, (3.0, 150), (2.5, 250)) + _session("Cb", other, 4, (3.0, 150), (2.5, 250))
    found = findings(log_flows(zeek_json(tmp_path / "conn.log", rows)))
    assert keys(found) == {MINER, other}
    for f in found:
        r = f.evidence[0].detail["rank"]
        assert r["fan_in"] == 2 and r["features"]["fan_in"] == pytest.approx(math.log(2), rel=1e-5)
        assert r["terms"]["fan_in"] == 0
        assert any("1 other host(s) hold pool-like sessions" in t.en and "另有 1 台主机" in t.zh for t in f.reasons)


def test_service_ports_are_no_pool_ports() -> None:
    assert not set(SERVICE_PORTS) & set(stratum_ports())
    assert all(name and source for name, source in SERVICE_PORTS.values())


def test_scan_keeps_the_top_leads_and_probe_takes_them_first(carrier_log: Path, tmp_path: Path) -> None:
    """``minescope scan --leads-top N`` stores the N best leads; ``probe --from-findings`` lists the most
    confident first, so its budget goes to the top of the ranking."""
    env = {"MINESCOPE_LANG": "en", "MINESCOPE_DB": None, "MINESCOPE_DEBUG": None}
    every, top = tmp_path / "every.db", tmp_path / "top.db"
    for db, extra in ((every, []), (top, ["--leads-top", "2"])):
        result = CliRunner().invoke(main, ["scan", str(carrier_log), "--db", str(db), "--format", "json",
                                           "-o", str(tmp_path / "out.json"), *extra], env=env)
        assert result.exit_code == 0, result.output
    assert [(e.ip, e.port) for e in suspected_endpoints(open_store(every))] == [x[1:] for x in
                                                                              (MINER, HEARTBEAT, BROKER)]
    assert [(e.ip, e.port) for e in suspected_endpoints(open_store(top))] == [x[1:] for x in (MINER, HEARTBEAT)]


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

@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark is not installed")
def test_spark_gives_the_same_findings(intel: PoolIntel, spark: Any) -> None:
    from minescope.engines.sql import SparkEngine

    flows = [capture_tables(STRATUM_PCAP, intel)[0][1], capture_tables(MINING_PCAP, intel)[0][1],
             *log_flows(NETFLOW / "v9.bin", NETFLOW / "nfdump-ndpi_mining.csv", DATA / "zeek" / "zat-conn.log")]
    duck = findings(flows)
    sparked = findings(flows, SparkEngine(spark))
    assert len(duck) == 13  # 1 + 4 sessions per mining input
    assert [f.to_dict() for f in sparked] == [f.to_dict() for f in duck]

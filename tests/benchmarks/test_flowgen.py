"""The synthetic carrier flow dataset (benchmarks/flowgen.py): layout, schemas, planted truth — no timings."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from helpers import ROOT
from minescope.dimensions.network.tables import DNS, FLOWS
from minescope.knowledge.pools import PoolIntel, load_list, pool_ports

sys.path.insert(0, str(ROOT / "benchmarks"))

import flowgen

FLOWS_N = 200_000
HOURS = 4
START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("flowgen")
    truth = flowgen.generate(out, FLOWS_N, seed=3, hours=HOURS, start=START, planted=200, progress=False)
    return out, truth


@pytest.fixture(scope="module")
def flows(dataset: tuple[Path, dict[str, Any]]) -> pa.Table:
    return ds.dataset(dataset[0] / "flows", format="parquet", partitioning="hive").to_table()


@pytest.fixture(scope="module")
def dns(dataset: tuple[Path, dict[str, Any]]) -> pa.Table:
    return ds.dataset(dataset[0] / "dns", format="parquet", partitioning="hive").to_table()


def _epoch(iso: str) -> float:
    return dt.datetime.fromisoformat(iso).timestamp()


def _ts(table: pa.Table) -> list[float]:
    return [v / 1e6 for v in pc.cast(table.column("ts"), pa.int64()).to_pylist()]


def test_hive_layout_and_exact_schemas(dataset: tuple[Path, dict[str, Any]], flows: pa.Table, dns: pa.Table) -> None:
    out, truth = dataset
    for table, schema in (("flows", FLOWS), ("dns", DNS)):
        files = sorted((out / table).rglob("*.parquet"))
        parts = [f.relative_to(out / table).parent.as_posix() for f in files]
        assert parts == [f"day=2026-11-01/hour={h:02d}" for h in range(HOURS)]
        assert all(f.name == "part-00000.parquet" for f in files)
        for f in files:
            assert pq.read_schema(f).equals(schema, check_metadata=False)
            hour = int(f.parent.name.split("=")[1])
            ts = _ts(pq.read_table(f))
            lo = START.timestamp() + hour * 3600
            assert ts and min(ts) >= lo and max(ts) < lo + 3600  # partition = the row's own UTC hour
            assert ts == sorted(ts)
    assert flows.num_rows == truth["rows"]["flows"] == FLOWS_N  # background + planted = --flows
    assert dns.num_rows == truth["rows"]["dns"]
    assert FLOWS_N / 30 < dns.num_rows < FLOWS_N / 12  # about one DNS row per 20 flows
    assert (out / "truth.json").is_file() and json.loads((out / "truth.json").read_text()) == truth


def test_background_looks_like_a_carrier_export(flows: pa.Table, dns: pa.Table) -> None:
    n = flows.num_rows
    protos = dict(zip(*[c.to_pylist() for c in pc.value_counts(flows.column("proto")).flatten()], strict=True))
    assert 0.66 < protos[6] / n < 0.74 and 0.24 < protos[17] / n < 0.32
    assert 0.01 < (protos.get(1, 0) + protos.get(58, 0)) / n < 0.03
    assert set(pc.unique(flows.column("source")).to_pylist()) == {"ipfix"}
    assert len(pc.unique(flows.column("input"))) == len(flowgen.EXPORTERS)
    uni = pc.is_null(flows.column("dst_packets"))
    assert 0.3 < pc.sum(uni).as_py() / n < 0.6  # unidirectional exporters: dst_* null
    assert pc.all(pc.equal(pc.is_null(flows.column("dst_bytes")), uni)).as_py()
    assert pc.sum(pc.is_valid(flows.column("server_name"))).as_py() < 0.2 * n
    assert flows.column("sensor_uid").null_count == n
    v6 = pc.sum(pc.match_substring(flows.column("src_ip"), ":")).as_py()
    assert 0.05 < v6 / n < 0.2
    assert pc.max(flows.column("src_packets")).as_py() > 1000  # heavy tail
    icmp = pc.is_in(flows.column("proto"), pa.array([1, 58], pa.uint8()))
    assert pc.all(pc.equal(pc.is_null(flows.column("dst_port")), icmp)).as_py()
    # answers and ttls aligned
    assert pc.all(pc.equal(pc.list_value_length(dns.column("answers")),
                           pc.list_value_length(dns.column("ttls")))).as_py() is True
    assert pc.all(pc.equal(pc.is_null(dns.column("answers")), pc.is_null(dns.column("ttls")))).as_py()


def test_only_planted_traffic_uses_stratum_ports(dataset: tuple[Path, dict[str, Any]], flows: pa.Table) -> None:
    _, truth = dataset
    ports = pa.array(sorted(pool_ports()), pa.int32())
    on_ports = flows.filter(pc.or_(pc.is_in(flows.column("dst_port"), ports),
                                   pc.is_in(flows.column("src_port"), ports)))
    pairs = set(zip(on_ports.column("src_ip").to_pylist(), on_ports.column("dst_ip").to_pylist(), strict=True))
    planted = {(s["subject"], s["pool_ip"]) for s in truth["sessions"]}
    planted |= {(b, a) for a, b in planted}
    assert pairs and pairs <= planted


def test_planted_sessions_are_in_the_flows(dataset: tuple[Path, dict[str, Any]], flows: pa.Table) -> None:
    _, truth = dataset
    sessions = truth["sessions"]
    assert len(sessions) == 200
    assert {k: v for k, v in truth["counts"].items() if v} == truth["counts"] and set(truth["counts"]) == {
        "listed", "pdns", "behaviour"}
    groups = flows.group_by(["src_ip", "dst_ip", "dst_port"]).aggregate([
        ("ts", "min"), ("ts", "max"), ("ts", "count"), ("src_port", "min"), ("src_port", "max"),
        ("src_packets", "sum"), ("src_bytes", "sum")])
    by_key = {(r["src_ip"], r["dst_ip"], r["dst_port"]): r for r in groups.to_pylist()}
    rows = 0
    for s in sessions:
        g = by_key[(s["subject"], s["pool_ip"], s["port"])]
        assert g["ts_count"] == s["flows"] >= 1
        assert g["src_port_min"] == g["src_port_max"] == s["src_port"]
        assert g["ts_min"].timestamp() == pytest.approx(_epoch(s["first_ts"]), abs=1e-3)
        assert g["ts_max"].timestamp() == pytest.approx(_epoch(s["last_ts"]), abs=1e-3)
        assert 100 <= g["src_bytes_sum"] / g["src_packets_sum"] <= 300  # small packets
        if s["reverse_rows"]:  # unidirectional exporter: the pool's records are rows of their own
            assert by_key[(s["pool_ip"], s["subject"], s["src_port"])]["ts_count"] == s["reverse_rows"]
        rows += s["flows"] + s["reverse_rows"]
        if s["kind"] != "pdns":
            assert _epoch(s["end_ts"]) - _epoch(s["first_ts"]) >= 1800  # long-lived
    rows += sum(d["flows"] + d.get("reverse_rows", 0) for d in truth["decoys"])
    assert rows == truth["rows"]["planted_flow_rows"]


def test_feed_loads_and_names_the_listed_pools(dataset: tuple[Path, dict[str, Any]], flows: pa.Table) -> None:
    out, truth = dataset
    feed = out / "feeds" / "pool-addresses.txt"
    lines = feed.read_text().splitlines()
    assert lines[:4] == ["# category: pool", "# name: flowgen-pools", "# source: flowgen synthetic",
                         "# licence: CC0-1.0"]
    loaded = load_list(feed)
    assert loaded.bad_lines == [] and loaded.info.licence == "CC0-1.0" and loaded.info.category == "pool"
    intel = PoolIntel.load([feed], bundled=True, user_feeds=False)
    listed = {s["pool_ip"] for s in truth["sessions"] if s["kind"] == "listed"}
    assert listed and listed <= set(truth["feed_addresses"])
    for ip in listed:
        m = intel.match_ip(ip)
        assert m is not None and m.category == "pool" and m.source == "flowgen synthetic"
    others = {s["pool_ip"] for s in truth["sessions"] if s["kind"] != "listed"}
    others |= {d.get("peer_ip") for d in truth["decoys"] if d.get("peer_ip")}
    assert all(intel.match_ip(ip) is None for ip in others)
    # nothing in the background is on the feed: the matched destinations are exactly the listed pools
    matched = {ip for ip in pc.unique(flows.column("dst_ip")).to_pylist() if intel.match_ip(ip)}
    assert matched == listed


def _answers_for(dns: pa.Table, address: str) -> list[dict[str, Any]]:
    contains = pa.array([address in (a or []) for a in dns.column("answers").to_pylist()])
    return dns.filter(contains).to_pylist()


def test_pdns_sessions_follow_a_pool_name_answer(dataset: tuple[Path, dict[str, Any]], dns: pa.Table) -> None:
    _, truth = dataset
    intel = PoolIntel.load(user_feeds=False)
    assert truth["pool_names"] and all(intel.match_mining_domain(n) for n in truth["pool_names"])
    pdns = [s for s in truth["sessions"] if s["kind"] == "pdns"]
    assert pdns
    feed = set(truth["feed_addresses"])
    for s in pdns:
        assert s["pool_ip"] not in feed
        first = _epoch(s["first_ts"])
        before = [r for r in _answers_for(dns, s["pool_ip"])
                  if r["client_ip"] == s["subject"] and r["ts"].timestamp() < first]
        assert before, s["id"]
        r = max(before, key=lambda r: r["ts"])
        assert intel.match_mining_domain(r["query"]) is not None
        assert r["query"] == s["dns"]["query"] and r["qtype"] in {"A", "AAAA"} and r["rcode"] == "NOERROR"
        ttl = r["ttls"][r["answers"].index(s["pool_ip"])]
        assert 0 < first - r["ts"].timestamp() <= ttl
    # the other kinds have no DNS at all for their pool
    for s in truth["sessions"]:
        if s["kind"] != "pdns":
            assert _answers_for(dns, s["pool_ip"]) == []


def test_decoys_lie_outside_the_dns_window(dataset: tuple[Path, dict[str, Any]], flows: pa.Table,
                                           dns: pa.Table) -> None:
    _, truth = dataset
    kinds = {d["kind"] for d in truth["decoys"]}
    assert kinds == {"late_connection", "dns_only", "mqtt_keepalive", "ssh_keepalive"}
    dst = flows.column("dst_ip")
    for d in truth["decoys"]:
        if d["kind"] == "late_connection":
            to_peer = flows.filter(pc.equal(dst, d["peer_ip"]))
            assert to_peer.num_rows == d["flows"] and set(to_peer.column("src_ip").to_pylist()) == {d["subject"]}
            first = min(_ts(to_peer))
            answers = _answers_for(dns, d["peer_ip"])
            assert len(answers) == 1 and answers[0]["client_ip"] != d["subject"]
            a = answers[0]
            assert first - a["ts"].timestamp() > max(a["ttls"][0], 3600) + 3600  # > TTL and > 2 h
        elif d["kind"] == "dns_only":
            for ip in d["peer_ips"]:
                assert flows.filter(pc.equal(dst, ip)).num_rows == 0
                assert len(_answers_for(dns, ip)) == 1
        else:
            rows = flows.filter(pc.and_(pc.equal(dst, d["peer_ip"]), pc.equal(flows.column("dst_port"), d["port"])))
            assert rows.num_rows == d["flows"] and d["port"] in {8883, 22}
            assert _answers_for(dns, d["peer_ip"]) == []


def test_background_names_are_benign(dataset: tuple[Path, dict[str, Any]], flows: pa.Table, dns: pa.Table) -> None:
    _, truth = dataset
    intel = PoolIntel.load(user_feeds=False)
    queries = set(pc.unique(dns.column("query")).to_pylist())
    mining = {q for q in queries if intel.match_mining_domain(q)}
    assert mining <= set(truth["pool_names"])
    names = set(pc.unique(flows.column("server_name")).drop_null().to_pylist())
    assert names and not any(intel.match_mining_domain(n) for n in names)
    for domain in flowgen.benign_domains():
        assert intel.match_domain(f"x.{domain}") is None


def test_same_seed_same_dataset(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"seed": 5, "hours": 3, "planted": 20, "progress": False}
    a = flowgen.generate(tmp_path / "a", 30_000, **kwargs)
    b = flowgen.generate(tmp_path / "b", 30_000, **kwargs)
    c = flowgen.generate(tmp_path / "c", 30_000, **{**kwargs, "seed": 6})
    assert a == b and a["sessions"] != c["sessions"]
    sa, sb = flowgen.summary(tmp_path / "a"), flowgen.summary(tmp_path / "b")
    for table in ("flows", "dns"):
        assert sa[table]["rows"] == sb[table]["rows"] == a["rows"][table]
        assert sa[table]["distinct"] == sb[table]["distinct"]
        ta = ds.dataset(tmp_path / "a" / table, format="parquet", partitioning="hive").to_table()
        tb = ds.dataset(tmp_path / "b" / table, format="parquet", partitioning="hive").to_table()
        assert ta.equals(tb)


def test_summary_and_check(dataset: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    out, truth = dataset
    s = flowgen.summary(out)
    assert s["flows"]["rows"] == truth["rows"]["flows"] and s["dns"]["rows"] == truth["rows"]["dns"]
    assert s["flows"]["partitions"] == s["dns"]["partitions"] == HOURS
    d = s["flows"]["distinct"]
    assert d["addresses"] >= max(d["src_ip"], d["dst_ip"]) > 1000
    assert s["bytes_total"] > s["flows"]["bytes"] + s["dns"]["bytes"]
    assert flowgen.main([str(out), "--check"]) == 0
    printed = capsys.readouterr().out
    assert f"flows: {truth['rows']['flows']:,} rows" in printed


def test_bad_arguments(tmp_path: Path, dataset: tuple[Path, dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match="whole hour"):
        flowgen.generate(tmp_path, 1000, start=START + dt.timedelta(minutes=30), progress=False)
    with pytest.raises(ValueError, match="not empty"):
        flowgen.generate(dataset[0], 1000, progress=False)
    assert flowgen.main([str(tmp_path / "nothing"), "--check"]) == 1

"""exchange_access (detectors.exchanges): who reaches the exchanges, by TLS server name, HTTP Host, DNS and
addresses, in captures and flow logs, the same on DuckDB and Spark; an exchange is never a pool."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from helpers import FLOWLOGS, exchange_capture, table, zeek_json
from minescope.dimensions.network.detectors.flowlog import detect_tables
from minescope.dimensions.network.kinds import EXCHANGE_ACCESS, MINING_BEHAVIOUR_SUSPECT
from minescope.dimensions.network.readers.inputs import read_flow_log
from minescope.dimensions.network.tables import DNS, FLOWS
from minescope.engines.sql import DuckDBEngine, SparkEngine
from minescope.knowledge.exchanges import channel
from minescope.knowledge.pools import PoolIntel, load_list
from minescope.model import Finding, Severity
from minescope.pipeline import Scanner, ScanOptions

NO_FEEDS = tempfile.mkdtemp(prefix="minescope-feeds-")
T0 = 1_700_000_000.0


@pytest.fixture(scope="module")
def intel() -> PoolIntel:
    return PoolIntel.load(user_feeds=False)


def exchange(findings: list[Finding]) -> dict[tuple[str, str], Finding]:
    """exchange_access findings by (host, exchange)."""
    out = {}
    for f in findings:
        if f.kind == EXCHANGE_ACCESS:
            ev = next(e for e in f.evidence if e.type == "exchange")
            out[(f.subject_ip, ev.detail["exchange"])] = f
    return out


def detail(f: Finding) -> dict[str, Any]:
    return next(e for e in f.evidence if e.type == "exchange").detail


def test_a_capture_shows_who_reaches_which_exchange_and_how(tmp_path: Path) -> None:
    capture = exchange_capture(tmp_path / "exchanges.pcap")
    result = Scanner(ScanOptions(feeds=[Path(NO_FEEDS)])).scan([capture])
    found = exchange(result.findings)
    assert set(found) == {("10.5.5.5", "binance"), ("10.5.5.6", "okx"), ("10.5.5.7", "huobi")}

    app = found[("10.5.5.5", "binance")]
    d = detail(app)
    assert d["sessions"] == 3 and d["channels"] == {"api": 2, "websocket": 1} and d["app_api"]
    assert d["names"] == ["api.binance.com", "stream.binance.com"] and d["type"] == "exchange"
    assert d["via"][0] == "tls_sni" and "dns" in d["via"]
    assert app.confidence == 0.9 and app.severity == Severity.MEDIUM
    assert app.peer.host == "api.binance.com" and app.source == "exchanges.pcap"
    assert app.last_seen - app.first_seen > 7000  # the stream's two hours
    assert any("币安" in r.zh for r in app.reasons) and any("Binance" in r.en for r in app.reasons)
    assert any(e.type == "list_match" and e.detail["entry"] == "binance.com" for e in app.evidence)

    web = detail(found[("10.5.5.6", "okx")])
    assert web["channels"] == {"web": 1} and not web["app_api"] and web["via"] == ["http_host"]

    asked = found[("10.5.5.7", "huobi")]
    assert asked.severity == Severity.LOW and asked.confidence == 0.5
    assert detail(asked)["sessions"] == 0 and detail(asked)["questions"] == 1
    assert asked.peer.ip == "10.0.0.53" and asked.peer.port == 53

    # trading is not mining: no pool contact for an exchange, no behaviour lead for the long stream
    hosts = {f.subject_ip for f in result.findings if f.kind != EXCHANGE_ACCESS}
    assert not hosts & {"10.5.5.5", "10.5.5.6", "10.5.5.7", "10.5.5.8"}
    assert all(f.kind != MINING_BEHAVIOUR_SUSPECT for f in result.findings)


def zeek_logs(folder: Path) -> list[Path]:
    """Zeek JSON logs of a host using OKX's API and websocket by name, and asking DNS for Bybit."""
    ends = {"id.orig_h": "10.7.7.7", "id.resp_p": 443}
    ssl = zeek_json(folder / "ssl.log", [
        {"ts": T0 + 1.5, "uid": "Capi", **ends, "id.orig_p": 51000, "id.resp_h": "198.51.100.30",
         "server_name": "www.okx.com", "version": "TLSv13", "established": True},
        {"ts": T0 + 60.5, "uid": "Cws", **ends, "id.orig_p": 51001, "id.resp_h": "198.51.100.31",
         "server_name": "ws.okx.com", "version": "TLSv13", "established": True}])
    counters = {"proto": "tcp", "service": "ssl", "orig_pkts": 50, "orig_ip_bytes": 6000, "resp_pkts": 60,
                "resp_ip_bytes": 90000, "conn_state": "SF"}
    conn = zeek_json(folder / "conn.log", [
        {"ts": T0 + 1.0, "uid": "Capi", **ends, "id.orig_p": 51000, "id.resp_h": "198.51.100.30", "duration": 5.0,
         **counters},
        {"ts": T0 + 60.0, "uid": "Cws", **ends, "id.orig_p": 51001, "id.resp_h": "198.51.100.31",
         "duration": 7200.0, **counters}])
    dns = zeek_json(folder / "dns.log", [
        {"ts": T0 + 100.0, "uid": "Cdns", "id.orig_h": "10.7.7.8", "id.orig_p": 53000, "id.resp_h": "10.0.0.53",
         "id.resp_p": 53, "proto": "udp", "query": "api.bybit.com", "qtype_name": "A", "rcode_name": "NXDOMAIN"}])
    return [ssl, conn, dns]


def flow_only() -> list[tuple[str, Any]]:
    """NetFlow-like records without names, and a resolver's log: passive DNS names the exchange."""
    dns = table(DNS, [{"ts": T0, "client_ip": "10.8.8.8", "resolver_ip": "10.0.0.53", "query": "fapi.binance.com",
                       "rcode": "NOERROR", "answers": ["203.0.113.90"], "ttls": [60.0]}])
    rows = [{"ts": T0 + 2 + i, "src_ip": "10.8.8.8", "src_port": 52000 + i, "dst_ip": "203.0.113.90", "dst_port": 443,
             "proto": 6, "duration_s": 1.0, "src_packets": 10, "src_bytes": 1500, "dst_packets": 12,
             "dst_bytes": 9000} for i in range(5)]
    # the same address an hour later, after the answer's window: no longer explained by it
    rows.append({**rows[0], "ts": T0 + 7200, "src_ip": "10.8.8.9"})
    return [("flows", table(FLOWS, rows)), ("dns", dns)]


def logs_tables(folder: Path) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for path in zeek_logs(folder):
        log = read_flow_log(path)
        assert not log.report.problems
        out += [("flows", log["flows"]), ("dns", log["dns"])]
    return out


def test_zeek_logs_and_flow_records_with_passive_dns(intel: PoolIntel, tmp_path: Path) -> None:
    found = exchange(detect_tables(intel, logs_tables(tmp_path)))
    okx = detail(found[("10.7.7.7", "okx")])
    # counters come from conn.log rows of the same uid
    assert okx["sessions"] == 2 and okx["bytes"] == 2 * 96000 and okx["channels"] == {"web": 1, "websocket": 1}
    assert found[("10.7.7.8", "bybit")].severity == Severity.LOW

    flows = exchange(detect_tables(intel, flow_only()))
    assert set(flows) == {("10.8.8.8", "binance")}
    f = flows[("10.8.8.8", "binance")]
    assert detail(f)["sessions"] == 5 and detail(f)["channels"] == {"api": 5} and f.confidence == 0.8
    assert any(e.type == "dns" and e.detail["answer"] == "203.0.113.90" for e in f.evidence)


def test_a_feed_of_exchange_addresses_and_a_pool_feed_naming_an_exchange_host(tmp_path: Path) -> None:
    (tmp_path / "exchange-ips.txt").write_text("# category: exchange\n# name: examplex\n198.18.7.0/24\n")
    (tmp_path / "pools.txt").write_text("# category: pool\nmining.okx.com\n")
    intel = PoolIntel([*PoolIntel.load(user_feeds=False).lists, load_list(tmp_path / "exchange-ips.txt"),
                       load_list(tmp_path / "pools.txt")])
    rows = [{"ts": T0, "src_ip": "10.9.1.1", "src_port": 53000, "dst_ip": "198.18.7.9", "dst_port": 443, "proto": 6,
             "duration_s": 2.0, "src_packets": 5, "src_bytes": 700, "dst_packets": 5, "dst_bytes": 4000}]
    named = [{"ts": T0 + 10, "src_ip": "10.9.1.2", "src_port": 53001, "dst_ip": "198.51.100.99", "dst_port": 3333,
              "proto": 6, "server_name": "mining.okx.com", "app": "tls", "duration_s": 600.0, "src_packets": 50,
              "src_bytes": 7000, "dst_packets": 50, "dst_bytes": 9000}]
    findings = detect_tables(intel, [("flows", table(FLOWS, rows + named))], behaviour=False)
    found = exchange(findings)
    assert set(found) == {("10.9.1.1", "examplex")}
    assert found[("10.9.1.1", "examplex")].confidence == 0.6
    # the pool feed wins: a pool is never an exchange
    (pool,) = [f for f in findings if f.subject_ip == "10.9.1.2"]
    assert pool.kind != EXCHANGE_ACCESS and pool.peer.host == "mining.okx.com"


def test_duckdb_and_spark_give_identical_exchange_findings(intel: PoolIntel, spark: Any, tmp_path: Path) -> None:
    capture_dir = tmp_path / "logs"
    capture_dir.mkdir()
    for tables in (logs_tables(capture_dir), flow_only()):
        duck = [f.to_dict() for f in detect_tables(intel, tables, DuckDBEngine())]
        sparked = [f.to_dict() for f in detect_tables(intel, tables, SparkEngine(spark))]
        assert duck == sparked
        assert any(f["kind"] == EXCHANGE_ACCESS for f in duck)


@pytest.mark.parametrize(("name", "expected"), [
    ("api.binance.com", "api"), ("fapi.binance.com", "api"), ("api3.binance.com", "api"), ("bsappapi.com", "api"),
    ("stream.binance.com", "websocket"), ("ws.okx.com", "websocket"), ("wspap.okx.com", "web"),
    ("download.huobi.pro", "download"), ("www.okx.com", "web"), ("static.binance.com", "web"),
])
def test_channel_of_a_host_name(name: str, expected: str) -> None:
    assert channel(name) == expected


def test_the_crypto_list_holds_services_that_are_no_exchange(intel: PoolIntel) -> None:
    from minescope.knowledge.exchanges import exchange_of

    def venue(name: str) -> str | None:
        m = intel.match_exchange(name)
        ex = exchange_of(m) if m is not None else None
        return ex.service if ex is not None else None

    assert venue("www.binance.com") == "binance" and venue("api.bitget.com") == "bitget"
    assert venue("www.coinex.com") == "coinex"  # minescope's own additions to the list
    # wallets, explorers, news, node providers: on the list, neither exchange nor pool
    for name in ("bitcoin.org", "metamask.io", "www.coindesk.com", "mainnet.infura.io", "trezor.io"):
        assert venue(name) is None and intel.match_mining_domain(name) is None, name
    assert venue("pool.binance.com") is None  # Binance Pool: pool words, no exchange


def test_the_flow_log_samples_reach_no_exchange(intel: PoolIntel) -> None:
    tables = []
    for path in sorted((FLOWLOGS / "zeek").iterdir()) + sorted((FLOWLOGS / "suricata").iterdir()):
        log = read_flow_log(path)
        tables += [("flows", log["flows"]), ("dns", log["dns"])]
    assert exchange(detect_tables(intel, tables)) == {}

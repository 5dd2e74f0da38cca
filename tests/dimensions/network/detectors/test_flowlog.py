"""Payload-less detectors over flow-log tables (detect.flowlog) and ``minescope scan`` on flow logs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from helpers import CORPUS, FLOWLOGS, MINING_PCAP, STRATUM_PCAP, capture_tables, sni_logs, table
from minescope.dimensions.network.detectors.flowlog import detect_tables
from minescope.dimensions.network.kinds import (
    ENCRYPTED_MINING_SUSPECT,
    EXCHANGE_ACCESS,
    MINING_SESSION,
    POOL_CONTACT,
)
from minescope.dimensions.network.readers.inputs import read_flow_log
from minescope.dimensions.network.tables import DNS, FLOWS
from minescope.knowledge.pools import PoolIntel
from minescope.model import Finding
from minescope.pipeline import Scanner, ScanOptions

DATA = FLOWLOGS
NO_FEEDS = tempfile.mkdtemp(prefix="minescope-feeds-")


@pytest.fixture(scope="module")
def intel() -> PoolIntel:
    return PoolIntel.load(user_feeds=False)


def by_peer(findings: list[Finding]) -> dict[tuple[str, str, int], Finding]:
    return {(f.subject_ip, f.peer.ip, f.peer.port): f for f in findings}


def test_capture_flows_with_passive_dns_give_pool_contact(intel: PoolIntel) -> None:
    findings = detect_tables(intel, capture_tables(STRATUM_PCAP, intel))
    f = by_peer(findings)[("10.0.2.15", "192.110.160.114", 3333)]
    assert f.kind == POOL_CONTACT
    assert f.peer.host == "la01.supportxmr.com" and f.peer.known_pool
    assert len(f.flows) == 3 and f.flows == tuple(sorted(f.flows, key=lambda r: r.first_seen))
    dns = [e for e in f.evidence if e.type == "dns"]
    assert dns and dns[0].detail["qname"] == "la01.supportxmr.com" and dns[0].detail["answer"] == "192.110.160.114"
    assert any(e.type == "list_match" and e.detail["entry"] == "supportxmr.com" for e in f.evidence)
    assert all(r.zh and r.en for r in f.reasons)
    assert 0.4 <= f.confidence <= 0.75
    assert f.source == STRATUM_PCAP.name
    # stable ids: the same data gives the same findings
    again = detect_tables(intel, capture_tables(STRATUM_PCAP, intel))
    assert sorted(x.id for x in again) == sorted(x.id for x in findings)
    assert all(x.kind == POOL_CONTACT for x in findings)


def test_pdns_window_and_aggregation(intel: PoolIntel) -> None:
    t0 = 1_700_000_000.0
    dns = table(DNS, [{"ts": t0, "client_ip": "10.1.1.1", "resolver_ip": "10.0.0.53", "query": "xmr.f2pool.com",
                       "rcode": "NOERROR", "answers": ["xmr.f2pool.cname", "203.0.113.7"], "ttls": [60.0, 60.0]}])
    conn = {"src_port": 50000, "dst_ip": "203.0.113.7", "dst_port": 13531, "proto": 6, "duration_s": 600.0,
            "src_packets": 10, "src_bytes": 1000, "dst_packets": 8, "dst_bytes": 800}
    rows = [{**conn, "ts": t0 + 5 + i, "src_ip": "10.2.2.2", "src_port": 50000 + i} for i in range(50)]
    rows.append({**conn, "ts": t0 + 2 * 3600, "src_ip": "10.3.3.3"})  # after the window: not explained
    # (the behaviour model may flag 10.3.3.3's pool-like flow: only the list detectors are tested here)
    findings = [f for f in detect_tables(intel, [("flows", table(FLOWS, rows)), ("dns", dns)])
                if f.kind == POOL_CONTACT]
    found = by_peer(findings)
    f = found[("10.2.2.2", "203.0.113.7", 13531)]
    assert len(f.flows) == 20  # a sample of the flows; the counts cover them all
    behaviour = next(e for e in f.evidence if e.type == "behaviour")
    assert behaviour.detail["flows"] == 50 and behaviour.detail["bytes"] == 50 * 1800
    assert ("10.3.3.3", "203.0.113.7", 13531) not in found
    # the asking host, with the resolver as peer
    asker = found[("10.1.1.1", "10.0.0.53", 53)]
    assert asker.peer.host == "xmr.f2pool.com"
    assert any("resolver" in r.en for r in asker.reasons)
    assert len(findings) == 2


def test_sample_logs_give_no_findings(intel: PoolIntel) -> None:
    tables = []
    for path in sorted((DATA / "zeek").iterdir()) + sorted((DATA / "suricata").iterdir()):
        log = read_flow_log(path)
        tables += [("flows", log["flows"]), ("dns", log["dns"])]
    assert detect_tables(intel, tables) == []


def test_sni_to_pool_flagged_exchange_not(intel: PoolIntel, tmp_path: Path) -> None:
    tables = []
    for path in sni_logs(tmp_path):
        log = read_flow_log(path)
        assert not log.report.problems and log.report.error is None
        tables += [("flows", log["flows"]), ("dns", log["dns"])]
    found = detect_tables(intel, tables)
    findings = [f for f in found if f.kind != EXCHANGE_ACCESS]
    assert [(f.subject_ip, f.peer.ip, f.peer.host) for f in findings] == [("10.9.9.9", "198.51.100.10",
                                                                            "xmr.f2pool.com")]
    # the exchange is reached, and is no pool
    assert [(f.kind, f.subject_ip, f.peer.host) for f in found if f.kind == EXCHANGE_ACCESS] == [
        (EXCHANGE_ACCESS, "10.9.9.9", "www.binance.com")]
    f = findings[0]
    sni = next(e for e in f.evidence if e.type == "tls_sni")
    assert sni.detail["server_name"] == "xmr.f2pool.com" and sni.source == "zeek_ssl"
    # counters come from the conn.log row of the same uid
    assert f.flows[0].bytes == 150000 and f.flows[0].packets == 900 and f.flows[0].duration == 3600.0
    assert f.source == "conn.log"


def test_learned_pool_from_capture_applies_to_flow_log(tmp_path: Path) -> None:
    """A pool learned from a capture's mining session flags the same endpoint in a flow log."""
    scanner = Scanner(ScanOptions(feeds=[Path(NO_FEEDS)]))
    result = scanner.scan([MINING_PCAP, DATA / "netflow" / "nfdump-ndpi_mining.csv"])
    assert [i.format for i in result.inputs] == ["pcapng", "nfdump-csv"]
    mining = [f for f in result.findings if f.kind == MINING_SESSION]
    assert mining
    from_log = [f for f in result.findings if f.source == "nfdump-ndpi_mining.csv"]
    assert from_log and all(f.kind == POOL_CONTACT for f in from_log)
    pool = mining[0].peer
    hit = next(f for f in from_log if f.peer.ip == pool.ip)
    assert any(e.type == "learned_pool" for e in hit.evidence)
    assert hit.attribution is not None  # enrichment applies to flow-log findings too
    assert result.inputs[1].flows == 36 and result.inputs[1].first_seen is not None


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MINESCOPE_LANG": "en", "MINESCOPE_FEEDS": NO_FEEDS}
    cmd = [sys.executable, "-m", "minescope", "scan", *args, "--no-store"]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def test_scan_directory_mixing_capture_and_zeek_logs(tmp_path: Path) -> None:
    shutil.copy(STRATUM_PCAP, tmp_path / STRATUM_PCAP.name)
    sni_logs(tmp_path)
    p = run_cli(str(tmp_path), "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    formats = {Path(i["path"]).name: i["format"] for i in doc["inputs"]}
    assert formats == {STRATUM_PCAP.name: "pcap", "conn.log": "zeek-json", "ssl.log": "zeek-json"}
    sources = {f["source"] for f in doc["findings"]}
    assert STRATUM_PCAP.name in sources and "conn.log" in sources


def test_malformed_line_is_a_bilingual_problem_and_findings_remain(tmp_path: Path) -> None:
    ssl, conn = sni_logs(tmp_path)
    with conn.open("ab") as f:
        f.write(b'{"ts": 1700000200.0, "uid": "Cbroken", "id.orig_h": \n')
    scanner = Scanner(ScanOptions(feeds=[Path(NO_FEEDS)]))
    result = scanner.scan([ssl, conn])
    problems = result.problems
    assert len(problems) == 1
    assert "conn.log" in problems[0].en and "line 3" in problems[0].en and "第 3 行" in problems[0].zh
    assert sorted((f.kind, f.peer.host) for f in result.findings) == [(ENCRYPTED_MINING_SUSPECT, "xmr.f2pool.com"),
                                                                       (EXCHANGE_ACCESS, "www.binance.com")]
    p = run_cli(str(ssl), str(conn), "--format", "json")
    assert p.returncode == 2
    assert "line 3" in p.stderr
    assert len(json.loads(p.stdout)["findings"]) == 2


# --- one definition: a capture scanned directly or imported as flows ------------------------------

COINHIVE_PCAP = CORPUS / "mining" / "zeekcm_coinhive.pcap"  # a browser miner over TLS to authedmine.com


def test_a_capture_scanned_or_imported_gives_the_same_findings(intel: PoolIntel) -> None:
    """Without a mining protocol in the payload, `scan FILE` and `flows import` + scan agree finding by finding,
    but for what only payload shows: the encrypted-mining classifier's evidence (message shapes, ClientHello),
    its reasons and the confidence it adds."""
    scanned = Scanner(ScanOptions(feeds=[Path(NO_FEEDS)])).scan([COINHIVE_PCAP]).findings
    imported = detect_tables(intel, capture_tables(COINHIVE_PCAP, intel))
    classified = "detectors.encrypted"

    def plain(findings: list[Finding]) -> list[dict[str, Any]]:
        out = []
        for f in findings:
            d = {k: v for k, v in f.to_dict().items() if k not in ("attribution", "reasons", "confidence")}
            d["evidence"] = [e for e in d["evidence"] if e["source"] != classified]
            out.append(d)
        return sorted(out, key=lambda d: d["id"])

    assert plain(scanned) == plain(imported)
    by_id = {f.id: f for f in imported}
    for f in scanned:
        assert set(by_id[f.id].reasons) <= set(f.reasons) and f.confidence >= by_id[f.id].confidence
    assert any(e.source == classified for f in scanned for e in f.evidence)
    assert not any(e.source == classified for f in imported for e in f.evidence)
    kinds = sorted(f.kind for f in scanned)
    assert kinds == ["encrypted_mining_suspect", "encrypted_mining_suspect", "pool_contact", "pool_contact"]
    # the TLS connections to one endpoint are one finding; the DNS questions name the asking client
    tls = {f.peer.ip: f for f in scanned if f.kind == "encrypted_mining_suspect"}
    assert len(tls["217.182.164.10"].flows) == 3 and tls["217.182.164.10"].peer.host == "authedmine.com"
    askers = {f.peer.host: f for f in scanned if f.kind == POOL_CONTACT}
    assert set(askers) == {"authedmine.com", "ws027.authedmine.com"}
    assert all(f.subject_ip == "10.0.2.15" and f.peer.ip == "192.168.1.1" for f in askers.values())


def test_capture_dns_rows_name_the_asking_client(intel: PoolIntel) -> None:
    (_, _), (_, dns) = capture_tables(STRATUM_PCAP, intel)
    asked = {(r["client_ip"], r["resolver_ip"], r["query"], r["qtype"]) for r in dns.to_pylist()}
    assert ("10.0.2.15", "192.168.1.1", "la01.supportxmr.com", "A") in asked
    answer = next(r for r in dns.to_pylist() if r["query"] == "la01.supportxmr.com" and r["qtype"] == "A")
    assert answer["rcode"] == "NOERROR" and answer["answers"] == ["192.110.160.114"] and answer["ttls"] == [90.0]


def test_mining_sessions_are_not_judged_again_and_their_pools_are_learned() -> None:
    """The payload's mining sessions are the findings of their flows; the DNS question for the pool
    name is judged with the pool learned from them."""
    found = Scanner(ScanOptions(feeds=[Path(NO_FEEDS)])).scan([STRATUM_PCAP]).findings
    sessions = [f for f in found if f.kind == MINING_SESSION]
    assert len(sessions) == 3
    assert not [f for f in found if f.kind != MINING_SESSION and f.peer.ip == "192.110.160.114"]
    asker = next(f for f in found if f.kind == POOL_CONTACT and f.peer.host == "la01.supportxmr.com")
    assert any(e.type == "learned_pool" for e in asker.evidence)


def test_first_and_last_seen_cover_the_whole_group(intel: PoolIntel) -> None:
    t0 = 1_700_000_000.0
    dns = table(DNS, [{"ts": t0, "client_ip": "10.1.1.1", "resolver_ip": "10.0.0.53", "query": "xmr.f2pool.com",
                       "rcode": "NOERROR", "answers": ["203.0.113.7"], "ttls": [60.0]}])
    rows = [{"ts": t0 + 5 + 60 * i, "src_ip": "10.2.2.2", "src_port": 50000 + i, "dst_ip": "203.0.113.7",
             "dst_port": 13531, "proto": 6, "duration_s": 30.0, "src_packets": 10, "src_bytes": 1000,
             "dst_packets": 8, "dst_bytes": 800} for i in range(50)]
    (f,) = [f for f in detect_tables(intel, [("flows", table(FLOWS, rows)), ("dns", dns)], behaviour=False)
            if f.subject_ip == "10.2.2.2"]
    assert len(f.flows) == 20  # the sample
    assert f.first_seen == t0 + 5 and f.last_seen == t0 + 5 + 60 * 49 + 30.0  # the group
    assert f.last_seen > max(r.last_seen for r in f.flows)

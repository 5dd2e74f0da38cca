"""The encrypted-mining classifier (``detectors.encrypted``): real XMRig TLS sessions, session shapes written
to captures (shares and their acknowledgements, pushed jobs, keep-alive timers, Stratum V2 handshakes), and
benign TLS of the corpus; every feature's part in the evidence, reasons in both languages."""

from __future__ import annotations

import json
import random
import struct
import sys
from pathlib import Path

import pytest

from helpers import CORPUS, ROOT, Conversation, write_pcap
from minescope.dimensions.network.detectors import encrypted
from minescope.dimensions.network.detectors.encrypted import FEATURES, THRESHOLD, score_connection
from minescope.model import Finding
from minescope.pipeline import Scanner, ScanOptions

sys.path.insert(0, str(ROOT / "benchmarks"))

# XMRig 6.16.0's ClientHello (OpenSSL 1.1.1l) to an address, recorded by benchmarks/real_miner.py tls_443.
XMRIG_HELLO = bytes.fromhex(
    "16030101200100011c0303e33f361dcffcc4007718ed7f8ae5f8e68c8da1b4a4e95f837bbfeea4547f7c0c207b1fefdc43e8a3e087"
    "638888e4a9efb1c0ba1f2fc2bbb36c636a384cca990557003e130213031301c02cc030009fcca9cca8ccaac02bc02f009ec024c028"
    "006bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f00ff01000095000b000403000102000a000c000a00"
    "1d0017001e00190018002300000016000000170000000d0030002e040305030603080708080809080a080b08040805080604010501"
    "0601030302030301020103020202040205020602002b0009080304030303020301002d00020101003300260024001d0020b8fdd780"
    "58de5b29de00c04fbc3fcbebd49c1a6e043751b497ad6eae0aba5f01")
MINER, POOL = "10.20.30.40", "198.51.100.7"


def record(size: int, seed: int = 0) -> bytes:
    """One TLS 1.3 application-data record of ``size`` bytes on the wire (5-byte header included)."""
    body = random.Random(seed * 100_003 + size).randbytes(size - 5)
    return b"\x17\x03\x03" + struct.pack("!H", size - 5) + body


def hello_with_sni(name: str) -> bytes:
    """XMRig's hello with an SNI extension added (as a client dialling a name sends it)."""
    entry = b"\x00" + struct.pack("!H", len(name)) + name.encode()
    ext = struct.pack("!HH", 0, len(entry) + 2) + struct.pack("!H", len(entry)) + entry
    body = XMRIG_HELLO[9:]
    ext_at = len(body) - 0x95 - 2  # the extensions block (0x95 bytes) ends the hello
    body = body[:ext_at] + struct.pack("!H", 0x95 + len(ext)) + ext + body[ext_at + 2:]
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def tls_session(times: list[float], port: int = 9000, hello: bytes = XMRIG_HELLO, share: int = 232, ack: int = 85,
                jobs: tuple[float, ...] = (12.0, 47.0)) -> Conversation:
    """A TLS 1.3 pool session as XMRig holds one: hello, the server's flight, Finished with the login, the job;
    then a share (one record) answered by a small record at each of ``times``, and jobs pushed unasked."""
    messages: list[tuple[int, float, bytes]] = [
        (0, 0.0, hello), (1, 0.01, b"\x16\x03\x03\x00\x7a" + bytes(122) + b"\x14\x03\x03\x00\x01\x01" + record(700)),
        (0, 0.02, b"\x14\x03\x03\x00\x01\x01" + record(74) + record(597)), (1, 0.03, record(414))]
    for i, t in enumerate(times):
        messages += [(0, t, record(share + (i > 9), i)), (1, t + 0.04, record(ack, i))]
    messages += [(1, t, record(326, int(t))) for t in jobs]
    return Conversation(MINER, 40312, POOL, port, sorted(messages, key=lambda m: m[1]))


def poisson(n: int, mean: float, seed: int = 7) -> list[float]:
    rng, t, out = random.Random(seed), 1.0, []
    for _ in range(n):
        t += rng.expovariate(1 / mean)
        out.append(round(t, 3))
    return out


def scan(path: Path, feeds: list[Path] | None = None) -> list[Finding]:
    result = Scanner(ScanOptions(behaviour=False, feeds=feeds or [])).scan([path])
    return [f for f in result.findings if f.kind == "encrypted_mining_suspect"]


def classifier_evidence(finding: Finding) -> dict:
    return next(e.detail for e in finding.evidence if e.source == "detectors.encrypted")


def test_real_xmrig_tls_sessions_are_reported_with_every_part(tmp_path: Path) -> None:
    """XMRig 6.16.0 with tls: true, on 443 and on 9000 with a pinned certificate (benchmarks/real_miner.py:
    loopback only, one thread, every process stopped)."""
    from real_miner import record as record_real

    for config, port in (("tls_443", 443), ("tls_9000", 9000)):
        found = scan(record_real(config, tmp_path))
        assert [(f.subject_ip, f.peer.ip, f.peer.port) for f in found if f.peer] == [("127.0.0.1", "127.0.0.2", port)]
        detail = classifier_evidence(found[0])
        assert detail["ja4"] == "t13i310900_e8f1e7e78f70_5ac7197df9d2"
        assert {"share_exchanges", "constant_share_size", "miner_tls_stack", "no_sni", "no_alpn"} <= set(
            detail["features"])
        assert detail["score"] == pytest.approx(sum(p["weight"] for p in detail["features"].values()))
        assert detail["score"] >= THRESHOLD and 0.45 <= found[0].confidence <= 0.75
        texts = found[0].reasons
        assert any("XMRig 6.16.0" in t.en and "+0.45" in t.en for t in texts)
        assert any("矿工程序" in t.zh for t in texts) and all(t.zh and t.en for t in texts)


def test_share_shaped_session_to_an_address_is_suspect(tmp_path: Path) -> None:
    """Shares at random (Poisson) times, constant sizes, pushed jobs: every mining feature holds."""
    found = scan(write_pcap(tmp_path / "xmrig.pcap", [tls_session(poisson(12, 5.0))]))
    assert len(found) == 1
    features = classifier_evidence(found[0])["features"]
    assert set(features) == {"share_exchanges", "constant_share_size", "pool_pushes", "share_cadence",
                             "miner_tls_stack", "no_sni", "no_alpn", "non_web_port"}
    assert features["share_exchanges"] == {"weight": 0.3, "value": 12}
    assert classifier_evidence(found[0])["score"] == 1.85 and found[0].confidence == encrypted.confidence(1.85) == 0.62


def test_same_miner_dialling_a_name_on_443_is_suspect(tmp_path: Path) -> None:
    """With SNI (the name's pool word counts too) and on a web port, the stack is still XMRig's."""
    hello = hello_with_sni("xmr.pool.example.net")
    found = scan(write_pcap(tmp_path / "named.pcap", [tls_session(poisson(4, 5.0), port=443, hello=hello)]))
    assert len(found) == 1 and found[0].peer is not None and found[0].peer.host == "xmr.pool.example.net"
    features = classifier_evidence(found[0])["features"]
    assert "miner_tls_stack" in features and "no_sni" not in features and "non_web_port" not in features
    assert features["pool_like_name"] == {"weight": 0.3, "value": "xmr.pool.example.net"}
    assert json.loads(json.dumps(found[0].to_dict()))["kind"] == "encrypted_mining_suspect"


def test_keep_alive_timer_is_not_mining(tmp_path: Path) -> None:
    """The same sizes on a fixed 5-s timer (a heartbeat and its acknowledgement): the timer's part is
    negative, and the connection stays under the threshold even from XMRig's stack to an address."""
    conv = tls_session([1.0 + 5 * i for i in range(12)], jobs=())
    assert scan(write_pcap(tmp_path / "timer.pcap", [conv])) == []
    row = {"exchanges": 12, "exchange_min": 232, "exchange_max": 233, "answer_min": 85, "answer_max": 85,
           "exchange_cv": 0.001, "pushes": 0, "ja4": encrypted_ja4(), "peer_port": 9000}
    parts = {p.feature: p.weight for p in score_connection(row)}
    assert parts["timer_cadence"] < 0 and sum(parts.values()) < THRESHOLD


def encrypted_ja4() -> str:
    return next(k for k in encrypted.MINER_STACKS if "_" in k)


def test_long_quiet_session_to_a_non_web_port_without_sni_is_not_suspect(tmp_path: Path) -> None:
    """A VPN-like or messaging session: long, slow, no SNI, odd port, OpenSSL-like stack, but no exchanges."""
    messages = [(0, 0.0, XMRIG_HELLO), (1, 0.01, record(900))]
    for i in range(60):
        messages += [(0, 10.0 * i + 1, record(700 + 9 * i, i)), (1, 10.0 * i + 1.05, record(1300 - 7 * i, i))]
    conv = Conversation(MINER, 51000, POOL, 1194, messages)
    assert scan(write_pcap(tmp_path / "vpn.pcap", [conv])) == []


def test_context_alone_never_reaches_the_threshold() -> None:
    """Everything a benign session can show without a sign of mining traffic weighs less than the threshold:
    the best port (stratum), long and slow, no SNI, no ALPN, OpenSSL's default stack, a pool-like name."""
    context = ("stratum_port", "long_low_rate", "no_sni", "no_alpn", "openssl_default")
    assert sum(FEATURES[f].weight for f in context) < THRESHOLD
    row = {"exchanges": 0, "ja4": "t13i310900_e8f1e7e78f70_1f22a2ca17c4", "peer_port": 3333, "t_start": 0.0,
           "t_end": 3600.0, "bytes_fwd": 1000, "bytes_rev": 1000}
    assert {p.feature for p in score_connection(row)} == set(context)


def sv2_conversation(first: int, answer: int, port: int) -> Conversation:
    rng = random.Random(port)
    messages = [(0, 0.0, rng.randbytes(first)), (1, 0.02, rng.randbytes(answer)),
                (0, 0.05, rng.randbytes(22 + 76 + 16)), (1, 0.07, rng.randbytes(22 + 10 + 16))]
    for i in range(5):
        messages += [(0, 2.0 + 3 * i, rng.randbytes(22 + 28 + 16)), (1, 2.1 + 3 * i, rng.randbytes(22 + 12 + 16))]
    return Conversation(MINER, 44100 + port % 100, POOL, port, messages)


def sv2_setup_connection() -> bytes:
    """A clear-text Stratum V2 SetupConnection (sv2-spec: Mining Protocol, protocol 0, versions 2..2)."""
    def str0_255(s: str) -> bytes:
        return bytes([len(s)]) + s.encode()
    payload = (b"\x00" + struct.pack("<HHI", 2, 2, 0) + str0_255("pool.example.net") + struct.pack("<H", 34254)
               + str0_255("Bitmain") + str0_255("S19") + str0_255("1.0") + str0_255("rig-1"))
    return struct.pack("<HB", 0, 0x00) + len(payload).to_bytes(3, "little") + payload


def test_stratum_v2_on_any_port(tmp_path: Path) -> None:
    """The Noise NX handshake sizes (64 then 234 bytes) on an unusual port, a clear-text SetupConnection on
    another: both reported, the handshake named; 64 bytes answered by 200 is not Stratum V2."""
    plain = Conversation(MINER, 44999, POOL, 4000, [(0, 0.0, sv2_setup_connection()), (1, 0.1, b"\x00" * 12)])
    path = write_pcap(tmp_path / "sv2.pcap", [sv2_conversation(64, 234, 34254), sv2_conversation(64, 200, 23456),
                                              plain])
    found = {f.peer.port: f for f in scan(path) if f.peer is not None}
    assert set(found) == {34254, 4000}
    assert classifier_evidence(found[34254])["handshake"] == "sv2_noise"
    assert classifier_evidence(found[4000])["handshake"] == "sv2_plain"
    assert any("Stratum V2" in t.en and "Stratum V2" in t.zh for t in found[34254].reasons)


def test_listed_pool_gets_one_finding_with_both_verdicts(tmp_path: Path) -> None:
    """TLS to a name a pool feed lists, with the share shape: one finding, the list's hit and the classifier's
    parts (the intel as a part of its own), and the higher confidence."""
    feed = tmp_path / "pools.txt"
    feed.write_text("# category: pool\npool.example.net\n")
    conv = tls_session(poisson(8, 4.0), port=443, hello=hello_with_sni("pool.example.net"))
    found = scan(write_pcap(tmp_path / "listed.pcap", [conv]), feeds=[feed])
    assert len(found) == 1
    types = [e.type for e in found[0].evidence]
    assert "list_match" in types and "pool_intel" in classifier_evidence(found[0])["features"]
    assert found[0].confidence == 0.75


def test_benign_tls_of_the_corpus_is_not_suspect() -> None:
    """Browsers, messaging, VPN, Tor, conferencing, streaming: no encrypted_mining_suspect."""
    names = ("ndpi_443-firefox.pcap", "ndpi_zoom.pcap", "ndpi_opera-vpn.pcapng", "ndpi_tor.pcap", "ndpi_signal.pcap",
             "ndpi_webex.pcap", "ndpi_alexa-app.pcapng", "ndpi_netflix.pcap", "ndpi_reddit.pcap",
             "ndpi_anydesk.pcapng", "ndpi_mysql.pcapng", "ndpi_steam.pcapng")
    result = Scanner(ScanOptions(behaviour=False)).scan([CORPUS / "benign" / n for n in names])
    assert [f for f in result.findings if f.kind == "encrypted_mining_suspect"] == []


def test_engine_counts_messages_not_segments(tmp_path: Path) -> None:
    """What the capture engine hands over: exchanges and pushes from segments holding exactly one record; a
    share sent together with another record in one segment is no message of its own, nor is a big answer."""
    from minescope.dimensions.network.capture.flows import FlowTracker
    from minescope.dimensions.network.readers.capture_flows import tls_from_capture
    from minescope.dimensions.network.readers.pcap import CaptureFile

    conv = tls_session([2.0, 4.5, 9.0], jobs=(6.0,))
    conv.messages = [*conv.messages, (0, 11.0, record(232) + record(40)), (1, 11.1, record(85)),
                     (0, 13.0, record(232)), (1, 13.1, record(200))]
    tracker = FlowTracker(3600.0, lambda name: False)
    for block in CaptureFile(write_pcap(tmp_path / "shape.pcap", [conv])).blocks():
        tracker.feed(block)
    row = tls_from_capture(tracker.finish(), tracker.payload, "shape.pcap").to_pylist()[0]
    assert (row["exchanges"], row["exchange_min"], row["exchange_max"], row["answer_min"], row["answer_max"],
            row["pushes"]) == (3, 232, 232, 85, 85, 1)
    assert row["ja4"] == "t13i310900_e8f1e7e78f70_5ac7197df9d2" and row["handshake"] is None
    assert row["exchange_cv"] is not None and 0 < row["exchange_cv"] < 1


# --- flow logs that give ClientHello fingerprints (Zeek's JA3/JA4 packages, Suricata 7's tls.ja4) ---------

XMRIG_JA4, XMRIG_JA3 = "t13i310900_e8f1e7e78f70_5ac7197df9d2", "c34a54599a1fbaf1786aa6d633545a60"
CHROME_JA4 = "t13d1516h2_8daaf6152771_02713d6af862"  # the JA4 README's example: Chrome to a name, h2 offered


def zeek_fingerprinted(folder: Path, ja4: str | None, ja3: str | None, port: int, duration: float,
                       server_name: str | None = None) -> list[Path]:
    from helpers import zeek_json

    ends = {"id.orig_h": MINER, "id.orig_p": 40400, "id.resp_h": POOL, "id.resp_p": port}
    hello = {k: v for k, v in (("ja4", ja4), ("ja3", ja3), ("server_name", server_name)) if v}
    ssl = zeek_json(folder / "ssl.log", [{"ts": 1700000000.1, "uid": "Cfp1", **ends, "version": "TLSv13",
                                          "established": True, **hello}])
    conn = zeek_json(folder / "conn.log", [{"ts": 1700000000.0, "uid": "Cfp1", **ends, "proto": "tcp",
                                            "service": "ssl", "duration": duration, "orig_pkts": 60,
                                            "orig_ip_bytes": 20000, "resp_pkts": 60, "resp_ip_bytes": 30000,
                                            "conn_state": "SF"}])
    return [ssl, conn]


def logged(paths: list[Path]) -> list[Finding]:
    result = Scanner(ScanOptions(behaviour=False, feeds=[])).scan(paths)
    return [f for f in result.findings if f.kind == "encrypted_mining_suspect"]


def test_a_zeek_log_with_a_miners_fingerprint_on_a_pool_port_for_hours_is_suspect(tmp_path: Path) -> None:
    from minescope.dimensions.network.readers.inputs import read_flow_log

    paths = zeek_fingerprinted(tmp_path, XMRIG_JA4, XMRIG_JA3, 3333, 7200.0)
    assert read_flow_log(paths[0])["tls"].to_pylist()[0]["ja4"] == XMRIG_JA4
    (f,) = logged(paths)
    features = next(e for e in f.evidence if e.type == "behaviour").detail["features"]
    assert set(features) == {"miner_tls_stack", "no_sni", "no_alpn", "stratum_port", "long_low_rate"}
    assert f.subject_ip == MINER and f.peer.port == 3333 and f.flows[0].duration == 7200.0
    # the JA3 package alone: the stack by JA3, no SNI from the log's empty server name
    jafolder = tmp_path / "ja3"
    jafolder.mkdir()
    (g,) = logged(zeek_fingerprinted(jafolder, None, XMRIG_JA3, 3333, 7200.0))
    assert "miner_tls_stack" in next(e for e in g.evidence if e.type == "behaviour").detail["features"]


@pytest.mark.parametrize(("ja4", "port", "duration", "name"), [
    (XMRIG_JA4, 443, 60.0, None),  # the miner's stack for a minute on 443: 0.65
    (CHROME_JA4, 3333, 7200.0, None),  # a browser's stack is no sign of mining traffic: not scored
    (XMRIG_JA4, 443, 7200.0, "api.example.com"),  # the stack to a named web service for hours: 0.65
])
def test_a_fingerprint_alone_never_decides(tmp_path: Path, ja4: str, port: int, duration: float,
                                           name: str | None) -> None:
    assert logged(zeek_fingerprinted(tmp_path, ja4, None, port, duration, name)) == []


def test_suricata_eve_tls_ja4_with_its_flow_event(tmp_path: Path) -> None:
    ends = {"src_ip": MINER, "src_port": 40500, "dest_ip": POOL, "dest_port": 14433, "proto": "TCP",
            "flow_id": 1234567}
    events = [
        {"timestamp": "2023-11-14T22:13:20.100000+0000", "event_type": "tls", **ends,
         "tls": {"version": "TLS 1.3", "ja3": {"hash": XMRIG_JA3, "string": "771,4866-…"}, "ja4": XMRIG_JA4}},
        {"timestamp": "2023-11-14T23:13:20.000000+0000", "event_type": "flow", **ends, "app_proto": "tls",
         "flow": {"pkts_toserver": 80, "pkts_toclient": 70, "bytes_toserver": 21000, "bytes_toclient": 40000,
                  "start": "2023-11-14T22:13:20.000000+0000", "end": "2023-11-14T23:13:20.000000+0000"}},
    ]
    eve = tmp_path / "eve.json"
    eve.write_text("".join(json.dumps(e) + "\n" for e in events))
    (f,) = logged([eve])
    assert next(e for e in f.evidence if e.type == "behaviour").detail["ja4"] == XMRIG_JA4
    assert f.peer.port == 14433


def test_logged_fingerprints_give_the_same_findings_on_duckdb_and_spark(tmp_path: Path, spark) -> None:  # type: ignore[no-untyped-def]
    from minescope.dimensions.network.detectors.flowlog import detect_tables
    from minescope.dimensions.network.readers.inputs import read_flow_log
    from minescope.engines.sql import DuckDBEngine, SparkEngine
    from minescope.knowledge.pools import PoolIntel

    intel = PoolIntel.load(user_feeds=False)
    tables = []
    for path in zeek_fingerprinted(tmp_path, XMRIG_JA4, XMRIG_JA3, 3333, 7200.0):
        log = read_flow_log(path)
        tables += [(name, log[name]) for name in ("flows", "dns", "tls")]
    duck = [f.to_dict() for f in detect_tables(intel, tables, DuckDBEngine(), behaviour=False)]
    assert [f["kind"] for f in duck] == ["encrypted_mining_suspect"]
    assert duck == [f.to_dict() for f in detect_tables(intel, tables, SparkEngine(spark), behaviour=False)]

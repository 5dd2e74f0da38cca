"""Flow-log readers on real sample logs (tests/data/flowlogs, see its MANIFEST.tsv): NetFlow v5/v9/IPFIX
from softflowd, nfdump, Zeek, Suricata EVE, mapped CSV/Parquet, flows from captures; bad input is
skipped line by line with bilingual problems; the NetFlow/IPFIX parser is fuzzed."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import CORPUS, sni_logs
from helpers import DATA as TEST_DATA
from minescope.dimensions.network.readers import (
    ALERTS,
    DNS,
    FLOWS,
    Collector,
    FlowLogInput,
    Mapping,
    MappingError,
    detect_format,
    iter_batches,
    read_flow_log,
)
from minescope.dimensions.network.readers.netflow import Decoder
from minescope.readers.report import InputReport

DATA = TEST_DATA / "flowlogs"
NF = DATA / "netflow"
ZEEK = DATA / "zeek"
EVE = DATA / "suricata" / "eve-sample.json.gz"
CAPTURES = CORPUS

# One mining session of the nDPI mining capture, seen by every exporter: the miner
# 192.168.2.148:46838 → pool 94.23.199.191:3333 (159 packets, 140,929 IP bytes), and the pool's answers.
MINER = ("192.168.2.148", "94.23.199.191", 46838, 3333)


def flows_of(path: Path, fmt: str | None = None, **options) -> pa.Table:
    log = read_flow_log(path, fmt, **options)
    assert log.report.error is None, log.report.error
    assert log.report.skipped == 0, [p.en for p in log.report.problems]
    return log["flows"]


def one(table: pa.Table, src: str, dst: str, sport: int | None, dport: int | None) -> dict:
    rows = [r for r in table.to_pylist()
            if (r["src_ip"], r["dst_ip"], r["src_port"], r["dst_port"]) == (src, dst, sport, dport)]
    assert len(rows) == 1, rows
    return rows[0]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- NetFlow v5 / v9 / IPFIX -----------------------------------------------------------------


@pytest.mark.parametrize("name, rows, source", [
    ("v5.bin", 21, "netflow_v5"), ("v5.pcap", 21, "netflow_v5"),
    ("v9.bin", 24, "netflow_v9"), ("v9.pcap", 24, "netflow_v9"),
    ("ipfix.bin", 24, "ipfix"), ("ipfix.pcap", 24, "ipfix"),
])
def test_netflow_exports_from_softflowd(name: str, rows: int, source: str) -> None:
    t = flows_of(NF / name)
    assert t.schema == FLOWS
    assert t.num_rows == rows
    assert set(t["source"].to_pylist()) == {source}
    miner = one(t, *MINER)
    assert (miner["proto"], miner["src_packets"], miner["src_bytes"]) == (6, 159, 140929)
    assert miner["dst_packets"] is None and miner["dst_bytes"] is None  # unidirectional records
    assert miner["tcp_flags"] == 0x1A  # SYN PSH ACK
    assert miner["duration_s"] == pytest.approx(1091.419, abs=0.002)
    assert abs(miner["ts"] - utc(2017, 12, 25, 10, 3, 8)).total_seconds() < 1.5
    pool = one(t, "94.23.199.191", "192.168.2.148", 3333, 46838)
    assert (pool["src_packets"], pool["src_bytes"]) == (113, 11622)
    icmp = [r for r in t.to_pylist() if r["proto"] == 1]
    assert icmp and all(r["src_port"] is None and r["dst_port"] is None for r in icmp)


def test_v9_and_ipfix_carry_ipv6_which_v5_cannot() -> None:
    for name in ("v9.pcap", "ipfix.bin"):
        t = flows_of(NF / name)
        r = one(t, "2a38:e156:8167:a333:face:b00c:0:24d9", "3516:bf0b:fc53:75e7:70af:f67f:8e49:f603", 3478, 56880)
        assert (r["proto"], r["src_packets"], r["src_bytes"]) == (17, 21, 1932)
    assert not any(":" in ip for ip in flows_of(NF / "v5.pcap")["src_ip"].to_pylist())


def test_ipfix_biflow_reverse_elements_fill_dst_counters() -> None:
    t = flows_of(NF / "ipfix-biflow.pcap")
    assert t.num_rows == 13
    r = one(t, "94.23.199.191", "192.168.2.148", 3333, 46838)  # softflowd names the pool side first
    assert (r["src_packets"], r["src_bytes"], r["dst_packets"], r["dst_bytes"]) == (113, 11622, 159, 140929)
    assert pc.all(pc.is_valid(t["dst_packets"])).as_py()


def test_same_flows_from_v5_v9_ipfix_and_nfdump() -> None:
    """softflowd (v5, v9, IPFIX) and nfpcapd→nfdump meter the same captures independently: packets
    agree on every flow, bytes on all but three flows (within 1 %), start times within a second."""

    def totals(t: pa.Table) -> dict[tuple, tuple[int, int]]:
        g = t.group_by(["src_ip", "dst_ip", "src_port", "dst_port", "proto"]).aggregate(
            [("src_packets", "sum"), ("src_bytes", "sum")])
        return {(r["src_ip"], r["dst_ip"], r["src_port"], r["dst_port"], r["proto"]):
                (r["src_packets_sum"], r["src_bytes_sum"]) for r in g.to_pylist()}

    nfd = pa.concat_tables([flows_of(NF / "nfdump-ndpi_mining.csv"), flows_of(NF / "nfdump-ndpi_stun.csv")])
    reference = totals(nfd)
    v9 = totals(flows_of(NF / "v9.pcap"))
    assert v9 == totals(flows_of(NF / "ipfix.pcap")) == totals(flows_of(NF / "v9.bin"))
    assert set(v9) == set(reference)
    assert totals(flows_of(NF / "v5.pcap")).items() <= v9.items()  # v5: the IPv4 ones
    for key, (packets, octets) in v9.items():
        assert packets == reference[key][0], key
        assert abs(octets - reference[key][1]) <= 0.01 * octets, key
    assert sum(v9[k][1] != reference[k][1] for k in v9) == 3
    # nfpcapd cuts long flows into several records; the first starts with the session
    first = nfd.filter(pc.and_(pc.equal(nfd["src_ip"], MINER[0]), pc.equal(nfd["src_port"], MINER[2])))
    ipfix = one(flows_of(NF / "ipfix.pcap"), *MINER)
    assert abs(ipfix["ts"] - pc.min(first["ts"]).as_py()).total_seconds() < 1.0


def test_netflow_counts_agree_with_the_capture_engine() -> None:
    """The packet engine's own flows of the same capture, converted to the flows schema."""
    from minescope.dimensions.network.capture.flows import FlowTracker
    from minescope.dimensions.network.readers.capture_flows import flows_from_capture
    from minescope.dimensions.network.readers.pcap import CaptureFile

    tracker = FlowTracker(3600.0, lambda name: False)
    for block in CaptureFile(CAPTURES / "mining" / "ndpi_mining.pcapng").blocks():
        tracker.feed(block)
    t = flows_from_capture(tracker.finish(), tracker.payload, "ndpi_mining.pcapng")
    assert t.schema == FLOWS and t.num_rows == 4
    miner = one(pa.Table.from_batches([t]), *MINER)  # the engine knows the miner initiated
    assert (miner["src_packets"], miner["dst_packets"], miner["app"], miner["source"]) == (159, 113, "json", "capture")
    ipfix = one(flows_of(NF / "ipfix-biflow.pcap"), "94.23.199.191", "192.168.2.148", 3333, 46838)
    assert (ipfix["dst_packets"], ipfix["src_packets"]) == (miner["src_packets"], miner["dst_packets"])
    assert abs(miner["ts"] - ipfix["ts"]).total_seconds() < 0.01
    assert miner["src_bytes"] > ipfix["dst_bytes"]  # the engine counts whole frames, NetFlow IP bytes


def test_netflow_stream_reports_garbage_and_keeps_packets(tmp_path: Path) -> None:
    good = (NF / "v9.bin").read_bytes()
    bad = tmp_path / "dump.bin"
    bad.write_bytes(b"\xff" * 37 + good + b"junk!" + (NF / "v5.bin").read_bytes()[:-10])
    log = read_flow_log(bad, "netflow")
    assert log["flows"].num_rows == 24 + 20  # the v5 packet cut short loses its last record only
    assert log.report.skipped == 3
    first, second, third = log.report.problems
    assert "byte 0" in first.en and "37 bytes that are not export packets" in first.en and "第 0 字节" in first.zh
    assert f"byte {37 + len(good)}" in second.en
    assert "says 13 records but holds 12" in third.en and "记录" in third.zh


def test_data_set_before_its_template_is_skipped_and_counted() -> None:
    packets = _udp_payloads(NF / "ipfix.pcap")
    report = InputReport("udp")
    dec = Decoder(report, "udp")
    second = packets[1]
    # the second message without its template sets: keep the header, drop sets with id 2/3
    body, pos = bytearray(second[:16]), 16
    while pos < len(second):
        set_id, length = struct.unpack_from("!HH", second, pos)
        if set_id >= 256:
            body += second[pos : pos + length]
        pos += length
    struct.pack_into("!H", body, 2, len(body))
    dec.feed(bytes(body), "10.0.0.1:1", 0)
    rows = sum(b.num_rows for b in dec.batches(final=True))
    assert rows == 0
    assert report.skipped == 6  # its six data sets: options (256), then templates 1024, 1025, 2048, 1024, 2048
    assert "byte 16: data set for template 256 that has not been received" in report.problems[0].en
    assert any("template 1024 that has not been received" in p.en for p in report.problems)
    assert any("模板 1024 尚未收到" in p.zh for p in report.problems)
    dec.feed(second, "10.0.0.1:1", 0)  # templates arrive: records decode
    assert sum(b.num_rows for b in dec.batches(final=True)) == 16


def test_ipfix_template_withdrawal() -> None:
    """RFC 7011 §8.1: a template record with no fields withdraws that template; id 2 withdraws all."""
    first, second = _udp_payloads(NF / "ipfix.pcap")[:2]

    def message(*sets: bytes) -> bytes:
        body = b"".join(sets)
        return struct.pack("!HHIII", 10, 16 + len(body), 1514197279, 9, 0) + body

    def data_only(packet: bytes) -> bytes:
        sets, pos = [], 16
        while pos < len(packet):
            set_id, length = struct.unpack_from("!HH", packet, pos)
            if set_id >= 256:
                sets.append(packet[pos : pos + length])
            pos += length
        return message(*sets)

    # the second message: 12 IPv4 TCP/UDP flows (template 1024), 1 ICMP (1025), 3 IPv6 (2048)
    for withdraw, decoded in ((struct.pack("!HHHH", 2, 8, 1024, 0), 4), (struct.pack("!HHHH", 2, 8, 2, 0), 0)):
        report = InputReport("w")
        dec = Decoder(report, "w")
        dec.feed(first, "e:1", 0)
        list(dec.batches(final=True))
        dec.feed(message(withdraw), "e:1", 0)
        dec.feed(data_only(second), "e:1", 0)
        assert sum(b.num_rows for b in dec.batches(final=True)) == decoded
        assert any("template 1024 that has not been received" in p.en for p in report.problems)


def test_truncated_and_malformed_packets_never_raise() -> None:
    packets = _udp_payloads(NF / "ipfix.pcap") + _udp_payloads(NF / "v9.pcap") + _udp_payloads(NF / "v5.pcap")
    report = InputReport("cuts")
    dec = Decoder(report, "cuts")
    for p in packets:
        for cut in range(0, len(p), 7):
            dec.feed(p[:cut], "e:1", 0)
    list(dec.batches(final=True))
    assert report.skipped > 0
    assert all(t.en and t.zh for t in report.problems)


def _udp_payloads(pcap: Path) -> list[bytes]:
    """UDP payloads of a small classic pcap (Ethernet/IPv4), read by hand."""
    data = pcap.read_bytes()
    out, pos = [], 24
    while pos + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, pos + 8)[0]
        frame = data[pos + 16 : pos + 16 + caplen]
        ihl = (frame[14] & 15) * 4
        out.append(frame[14 + ihl + 8 :])
        pos += 16 + caplen
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=300), max_size=6), st.data())
def test_fuzz_netflow_parser(chunks: list[bytes], data: st.DataObject) -> None:
    """Random bytes, and real packets with random bytes changed: only the reader's own problems."""
    real = _REAL_PACKETS[data.draw(st.integers(0, len(_REAL_PACKETS) - 1))]
    mutated = bytearray(real)
    for _ in range(data.draw(st.integers(0, 8))):
        mutated[data.draw(st.integers(0, len(mutated) - 1))] = data.draw(st.integers(0, 255))
    report = InputReport("fuzz")
    dec = Decoder(report, "fuzz", batch_rows=16)
    dec.feed(real, "e:1", 0)  # templates first, so mutated data sets reach the decoder
    for chunk in [*chunks, bytes(mutated), real[: data.draw(st.integers(0, len(real)))]]:
        dec.feed(chunk, "e:1", 0)
        for batch in dec.batches():
            assert batch.schema == FLOWS
    for batch in dec.batches(final=True):
        assert batch.schema == FLOWS


_REAL_PACKETS = _udp_payloads(NF / "ipfix.pcap") + _udp_payloads(NF / "v9.pcap") + _udp_payloads(NF / "v5.pcap")


def test_fuzz_export_stream_file(tmp_path: Path) -> None:
    """The file reader on real streams with bytes cut out and flipped: rows and problems, no raise."""
    import random

    rng = random.Random(5)
    for name in ("v9.bin", "ipfix.bin", "v5.bin", "ipfix-biflow.bin"):
        raw = bytearray((NF / name).read_bytes())
        for i in range(20):
            data = raw[:]
            for _ in range(rng.randint(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            del data[rng.randrange(len(data)) :][: rng.randint(0, 40)]
            f = tmp_path / f"{name}.{i}"
            f.write_bytes(bytes(data))
            log = read_flow_log(f, "netflow")
            assert log["flows"].schema == FLOWS


@pytest.mark.skipif(shutil.which("softflowd") is None, reason="Debian softflowd not installed")
def test_collector_receives_softflowd_ipfix_on_loopback(tmp_path: Path) -> None:
    collector = Collector("127.0.0.1", 0, flush_s=0.5, duration_s=20)
    got: list[pa.RecordBatch] = []

    def run() -> None:
        for batch in collector:
            got.append(batch)
            if sum(b.num_rows for b in got) >= 24:
                collector.close()

    thread = threading.Thread(target=run)
    thread.start()
    for capture in ("mining/ndpi_mining.pcapng", "benign/ndpi_stun.pcap"):
        # a pid file of its own (softflowd removes it when it ends); the default control socket,
        # since with one given by -c softflowd stays running after the capture ends
        subprocess.run(["softflowd", "-r", str(CAPTURES / capture), "-n", f"127.0.0.1:{collector.port}", "-v", "10",
                        "-a", "-p", str(tmp_path / "softflowd.pid")], check=True, capture_output=True, timeout=60)
    thread.join(timeout=25)
    collector.close()
    t = pa.Table.from_batches(got)
    assert t.num_rows == 24
    assert collector.report.skipped == 0
    assert (one(t, *MINER)["src_packets"], one(t, *MINER)["src_bytes"]) == (159, 140929)


def test_collector_decodes_packets_sent_to_it() -> None:
    collector = Collector("127.0.0.1", 0, flush_s=0.2, max_packets=2, duration_s=10)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for p in _udp_payloads(NF / "v9.pcap"):
            s.sendto(p, ("127.0.0.1", collector.port))
    t = pa.Table.from_batches(list(collector))
    assert t.num_rows == 24 and set(t["source"].to_pylist()) == {"netflow_v9"}
    assert collector.report.input.startswith("udp://127.0.0.1:")


# --- nfdump ----------------------------------------------------------------------------------


def test_nfdump_csv() -> None:
    t = flows_of(NF / "nfdump-ndpi_stun.csv")
    assert t.num_rows == 16 and set(t["source"].to_pylist()) == {"nfdump"}
    r = one(t, "10.77.110.51", "10.206.50.239", 41588, 42000)
    assert (r["ts"], r["duration_s"], r["proto"], r["src_packets"], r["src_bytes"]) == (
        utc(2019, 9, 17, 11, 9, 59), 1.0, 6, 7, 880)
    assert r["tcp_flags"] == 0x1A  # "...AP.S."
    v6 = one(t, "2600:1900:4160:5999:0:19::", "2001:b07:a3d:c112:48a1:1094:1227:281e", 3478, 48094)
    assert (v6["proto"], v6["src_packets"], v6["src_bytes"], v6["tcp_flags"]) == (17, 3, 372, None)


def test_nfdump_newer_csv_header_and_local_time(tmp_path: Path) -> None:
    """nfdump 1.7.5+ names its csv columns differently; times in a given zone."""
    f = tmp_path / "new.csv"
    f.write_text("firstSeen,duration,proto,srcAddr,srcPort,dstAddr,dstPort,packets,bytes,flows\n"
                 "2024-06-28 23:17:41.123,3.000,UDP,128.14.118.163,443,38.250.154.56,10693,9,11214,1\n")
    assert detect_format(f) == "nfdump-csv"
    r = flows_of(f, tz="Asia/Shanghai").to_pylist()[0]
    assert r["ts"] == utc(2024, 6, 28, 15, 17, 41, 123000)
    assert (r["duration_s"], r["proto"], r["src_packets"], r["src_bytes"]) == (3.0, 17, 9, 11214)


@pytest.mark.skipif(shutil.which("nfdump") is None, reason="Debian nfdump not installed")
def test_nfcapd_file_through_nfdump() -> None:
    t = flows_of(NF / "ndpi_mining.nfcapd")
    assert detect_format(NF / "ndpi_mining.nfcapd") == "nfcapd"
    assert t.num_rows == 9
    r = one(t, "94.23.199.191", "192.168.2.148", 3333, 46838)
    assert (r["ts"], r["src_packets"], r["src_bytes"]) == (utc(2017, 12, 25, 10, 10, 1), 35, 3745)


def test_nfcapd_without_nfdump_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    log = read_flow_log(NF / "ndpi_mining.nfcapd")
    assert log["flows"].num_rows == 0
    assert "apt-get install nfdump" in log.report.error.en and "nfdump" in log.report.error.zh


# --- Zeek ------------------------------------------------------------------------------------


def test_zeek_tsv_conn() -> None:
    t = flows_of(ZEEK / "zat-conn.log")
    assert t.num_rows == 360
    r = one(t, "192.168.33.10", "54.245.228.191", 1032, 80)
    assert r["ts"] == utc(2013, 9, 15, 23, 44, 27, 706265)
    assert (r["duration_s"], r["proto"], r["app"], r["sensor_uid"]) == (0.44746, 6, "http", "CoyZrY2g74UvMMgp4a")
    assert (r["src_packets"], r["src_bytes"], r["dst_packets"], r["dst_bytes"]) == (22, 1489, 31, 39641)  # IP bytes
    counts = dict(zip(*pc.value_counts(t["proto"]).flatten(), strict=True))
    assert {k.as_py(): v.as_py() for k, v in counts.items()} == {6: 115, 17: 225, 1: 20}
    icmp = t.filter(pc.equal(t["proto"], 1))
    assert pc.all(pc.is_null(icmp["src_port"])).as_py()


def test_zeek_labelled_conn_keeps_the_label() -> None:
    t = flows_of(ZEEK / "ctu-sme-11-conn.log.labeled")
    assert t.num_rows == 150
    labels = t["label"].to_pylist()
    assert labels.count("Malicious:From_malicious-To_malicious-Malware_data_exfiltration-RemcosRAT") == 143
    assert labels.count("Benign:From_benign-To_benign-Multicast") == 1


def test_zeek_json_conn_dns_ssl_http() -> None:
    conn = flows_of(ZEEK / "zat-json_conn.log")
    assert conn.num_rows == 50
    r = conn.to_pylist()[0]
    assert (r["src_ip"], r["dst_port"], r["app"]) == ("10.18.20.97", 88, "krb_tcp")
    assert (r["src_bytes"], r["dst_bytes"]) == (414, 455)
    dns = read_flow_log(ZEEK / "zat-json_dns.log")["dns"]
    assert dns.num_rows == 50 and dns.schema == DNS
    v6 = next(x for x in dns.to_pylist() if x["qtype"] == "AAAA" and x["answers"])
    assert (v6["query"], v6["answers"], v6["ttls"]) == ("dns.msftncsi.com", ["fd3e:4f5a:5b81::1"], [2534.0])
    ssl = flows_of(ZEEK / "zat-json_ssl.log")
    names = ssl["server_name"].to_pylist()
    assert ssl.num_rows == 50 and names.count("cms.analytics.yahoo.com") == 5 and "mail.aol.com" in names
    assert pc.all(pc.is_null(ssl["src_packets"])).as_py()  # name rows carry no counters
    http = flows_of(ZEEK / "slips-http.json.log")
    hosts = http["server_name"].to_pylist()
    assert http.num_rows == 60 and hosts.count("img-s-msn-com.akamaized.net") == 40
    assert set(http["app"].to_pylist()) == {"http"}


def test_zeek_tsv_gzip_dns_ssl_notice() -> None:
    dns = read_flow_log(ZEEK / "wrccdc-dns.log.gz")
    assert dns.report.format == "zeek-tsv" and dns["dns"].num_rows == 302
    first = dns["dns"].to_pylist()[0]
    assert first["query"] == "ise.wrccdc.org"
    assert (first["answers"], first["ttls"]) == (["ise.wrccdc.cpp.edu", "134.71.3.16"], [2230.0, 41830.0])
    txt = [x for x in dns["dns"].to_pylist() if x["qtype"] == "TXT"]
    assert txt[0]["answers"] == ["TXT 41 0.99.4:58:24416:1521911211:1:63:47174:319"]  # record data as given
    ssl = flows_of(ZEEK / "wrccdc-ssl.log.gz")
    assert ssl["server_name"].to_pylist().count("ise.wrccdc.org") == 39
    alerts = read_flow_log(ZEEK / "wrccdc-notice.log.gz")["alerts"]
    assert alerts.num_rows == 207 and alerts.schema == ALERTS
    assert set(alerts["category"].to_pylist()) == {"SSL::Invalid_Server_Cert"}


def test_zeek_tsv_bad_lines_are_skipped_with_their_line_numbers(tmp_path: Path) -> None:
    lines = (ZEEK / "zat-conn.log").read_bytes().splitlines(keepends=True)
    # header is 8 lines; data line 9 is the first row
    lines[9] = b"1379288668.093470\tCaJxA82D4HGxRzEgjc\t192.168.33.10\n"  # wrong field count
    fields = lines[10].split(b"\t")
    fields[3] = b"notaport"  # id.orig_p
    lines[10] = b"\t".join(fields)
    lines[11] = b"\xff\xfe\x00garbage\x80\n"  # not UTF-8
    bad = tmp_path / "conn.log"
    bad.write_bytes(b"".join(lines))
    log = read_flow_log(bad)
    assert log["flows"].num_rows == 357
    assert log.report.skipped == 3
    # lines are checked as they are read, values a batch at a time: order by line to compare
    en = sorted(p.en.split(", ", 1)[1] for p in log.report.problems)
    assert en == ["line 10: 3 fields where #fields has 20; line skipped",
                  "line 11: unparsable value (id.orig_p 'notaport'); line skipped",
                  "line 12: not UTF-8 text; line skipped"]
    assert "第 10 行" in log.report.problems[0].zh and "已跳过该行" in log.report.problems[0].zh


def test_zeek_json_truncated_line_and_gzip_cut_short(tmp_path: Path) -> None:
    lines = (ZEEK / "zat-json_dns.log").read_bytes().splitlines(keepends=True)
    lines[4] = lines[4][:40] + b"\n"  # truncated JSON
    f = tmp_path / "dns.log.gz"
    f.write_bytes(gzip.compress(b"".join(lines))[:-30])  # and the gzip stream cut short
    log = read_flow_log(f)
    assert 40 < log["dns"].num_rows < 50
    assert "line 5: not a complete JSON object" in log.report.problems[0].en
    assert log.report.error is not None and "breaks off" in log.report.error.en and "中断" in log.report.error.zh


# --- Suricata --------------------------------------------------------------------------------


def test_suricata_eve_sample() -> None:
    log = read_flow_log(EVE)
    assert log.report.format == "suricata" and log.report.skipped == 0
    assert log.report.rows == {"flows": 135, "dns": 60, "alerts": 23}
    flows = log["flows"]
    by_source = {k.as_py(): v.as_py() for k, v in zip(*pc.value_counts(flows["source"]).flatten(), strict=True)}
    assert by_source == {"suricata_flow": 119, "suricata_http": 15, "suricata_tls": 1}
    tls = flows.filter(pc.equal(flows["source"], "suricata_tls")).to_pylist()[0]
    assert (tls["server_name"], tls["dst_ip"], tls["dst_port"], tls["sensor_uid"]) == (
        "www.myedimax.com", "122.248.252.67", 55443, "262898731971351")
    assert tls["ts"] == utc(2021, 6, 6, 14, 54, 0, 74627)  # +0200 in the log
    # the false-positive trap: pool ports, but every flow is inbound to the monitored host
    pool = flows.filter(pc.is_in(flows["dst_port"], pa.array([3333, 4444, 5555, 7777], pa.int32())))
    assert pool.num_rows == 19 and set(pool["dst_ip"].to_pylist()) == {"192.168.1.129"}
    f = one(flows, "185.167.97.31", "192.168.1.129", 60509, 6008)
    assert (f["src_packets"], f["src_bytes"], f["dst_packets"], f["dst_bytes"]) == (2, 120, 2, 120)
    assert f["tcp_flags"] == 0x16
    dns = log["dns"].to_pylist()
    chain = next(d for d in dns if d["query"] == "www.myedimax.com" and d["answers"])
    assert chain["answers"] == ["ddns.myedimax.com", "ns.myedimax.com", "122.248.252.67"]
    assert chain["ttls"] == [580.0, 280.0, 580.0] and chain["rcode"] == "NOERROR"
    assert sum(d["rcode"] is None for d in dns) == 30  # query events
    alerts = log["alerts"]
    a = alerts.filter(pc.equal(alerts["dst_port"], 4444)).to_pylist()[0]
    assert (a["signature_id"], a["severity"], a["category"]) == (2403334, 2, "Misc Attack")
    assert a["signature"] == "ET CINS Active Threat Intelligence Poor Reputation IP group 35"


def test_suricata_dns_v1_and_v3_formats(tmp_path: Path) -> None:
    """v1 lines as in Suricata's EVE documentation; v3 (Suricata 8) logs a response in its own direction."""
    f = tmp_path / "eve.json"
    f.write_text(
        '{"timestamp":"2009-11-24T21:27:09.534255","event_type":"dns","src_ip":"192.168.2.7","src_port":53815,'
        '"dest_ip":"192.168.2.1","dest_port":53,"proto":"UDP","dns":{"type":"query","id":16000,"rrname":"twitter.com",'
        '"rrtype":"A"}}\n'
        '{"timestamp":"2009-11-24T21:27:09.534255","event_type":"dns","src_ip":"192.168.2.1","src_port":53,'
        '"dest_ip":"192.168.2.7","dest_port":53815,"proto":"UDP","dns":{"type":"answer","id":16000,"rcode":"NOERROR",'
        '"rrname":"twitter.com","rrtype":"A","ttl":8,"rdata":"199.16.156.6"}}\n'
        '{"timestamp":"2026-03-02T09:14:05.118204+0900","flow_id":1234,"event_type":"dns","src_ip":"192.168.10.1",'
        '"src_port":53,"dest_ip":"192.168.10.23","dest_port":51544,"proto":"UDP","dns":{"version":3,"type":"response",'
        '"id":4711,"rcode":"NOERROR","queries":[{"rrname":"Pool.Example.COM.","rrtype":"A"}],"answers":[{"rrname":'
        '"pool.example.com","rrtype":"CNAME","ttl":300,"rdata":"eu.example.com"},{"rrname":"eu.example.com",'
        '"rrtype":"AAAA","ttl":60,"rdata":"2001:0db8:0000:0000:0000:0000:0000:0010"}]}}\n')
    rows = read_flow_log(f)["dns"].to_pylist()
    assert [(r["client_ip"], r["resolver_ip"], r["query"], r["rcode"]) for r in rows] == [
        ("192.168.2.7", "192.168.2.1", "twitter.com", None),
        ("192.168.2.7", "192.168.2.1", "twitter.com", "NOERROR"),
        ("192.168.10.23", "192.168.10.1", "pool.example.com", "NOERROR"),
    ]
    assert (rows[1]["answers"], rows[1]["ttls"]) == (["199.16.156.6"], [8.0])
    assert rows[2]["answers"] == ["eu.example.com", "2001:db8::10"] and rows[2]["sensor_uid"] == "1234"
    assert rows[2]["ts"] == utc(2026, 3, 2, 0, 14, 5, 118204)


def test_suricata_bad_lines(tmp_path: Path) -> None:
    lines = gzip.decompress(EVE.read_bytes()).splitlines(keepends=True)
    replaced = [json.loads(lines[i])["event_type"] for i in (2, 5, 7, 9)]
    lines[2] = lines[2][: len(lines[2]) // 2] + b"\n"  # truncated
    lines[5] = b'{"timestamp":"2021-06-06T16:00:00+0200","event_type":"flow","src_ip":"1.2.3.4"}\n'  # sparse but valid
    lines[7] = b'{"no_event_type": 1}\n'
    lines[9] = b"\x00\x01\x02 binary garbage\n"
    f = tmp_path / "eve.json"
    f.write_bytes(b"".join(lines))
    log = read_flow_log(f)
    read_types = {"flow", "netflow", "dns", "tls", "http", "alert"}
    assert sum(log.report.rows.values()) == 218 - sum(t in read_types for t in replaced) + 1
    assert log.report.skipped == 3
    en = [p.en for p in log.report.problems]
    assert en[0].endswith("line 3: not a complete JSON object; line skipped")
    assert "line 8: no event_type" in en[1] and "line 10: not a complete JSON object" in en[2]


# --- mapped CSV / Parquet ----------------------------------------------------------------------


def test_mapped_csv_with_toml_mapping(tmp_path: Path) -> None:
    csv_file = tmp_path / "carrier.csv"
    csv_file.write_text(
        "start_ms,end_ms,sip,dip,sport,dport,prot,up_pkts,up_bytes,host\n"
        "1514196188350,1514197279769,192.168.2.148,94.23.199.191,46838,3333,TCP,159,140929,Pool.MineXMR.com.\n"
        "1514196188350,1514197279769,2001:0DB8::1,94.23.199.191,46838,3333,6,1,40,\n"
        "1514196188350,oops,192.168.2.149,94.23.199.191,46839,3333,TCP,1,40,\n"
        "1514196188350,1514197279769,192.168.2.150,94.23.199.191\n")
    mapping = tmp_path / "map.toml"
    mapping.write_text('table = "flows"\n[columns]\nts = "start_ms"\nend_ts = "end_ms"\nsrc_ip = "sip"\n'
                       'dst_ip = "dip"\nsrc_port = "sport"\ndst_port = "dport"\nproto = "prot"\n'
                       'src_packets = "up_pkts"\nsrc_bytes = "up_bytes"\nserver_name = "host"\n'
                       '[time]\nformat = "epoch_ms"\n')
    assert detect_format(csv_file) == "csv"
    log = read_flow_log(csv_file, mapping=mapping)
    rows = log["flows"].to_pylist()
    assert len(rows) == 2
    assert rows[0]["ts"] == utc(2017, 12, 25, 10, 3, 8, 350000)
    assert (rows[0]["duration_s"], rows[0]["proto"], rows[0]["server_name"]) == (1091.419, 6, "pool.minexmr.com")
    assert rows[1]["src_ip"] == "2001:db8::1" and rows[1]["source"] == "mapped"
    assert sorted(p.en.split(", ", 1)[1] for p in log.report.problems) == [
        "line 4: unparsable value (end_ms: could not convert string to float: 'oops'); line skipped",
        "line 5: 4 fields where the header has 10; line skipped",
    ]


def test_mapped_parquet_and_identity_round_trip(tmp_path: Path) -> None:
    """A flows table written to Parquet reads back unchanged without a mapping."""
    t = flows_of(NF / "ipfix.pcap")
    pq.write_table(t, tmp_path / "flows.parquet")
    assert detect_format(tmp_path / "flows.parquet") == "parquet"
    back = read_flow_log(tmp_path / "flows.parquet")["flows"]
    cols = [c for c in FLOWS.names if c not in ("source", "input")]
    assert back.select(cols).equals(t.select(cols))
    # a Parquet of another shape, through a dict mapping with ISO times in a local zone
    other = pa.table({"when": ["2021-06-06 15:59:46.5", "bad"], "a": ["10.0.0.1", "10.0.0.2"], "b": ["10.0.0.9"] * 2})
    pq.write_table(other, tmp_path / "other.parquet")
    log = read_flow_log(tmp_path / "other.parquet", mapping={
        "columns": {"ts": "when", "src_ip": "a", "dst_ip": "b"},
        "time": {"format": "iso", "timezone": "Asia/Shanghai"}})
    assert log["flows"].to_pylist()[0]["ts"] == utc(2021, 6, 6, 7, 59, 46, 500000)
    assert log.report.skipped == 1 and "line 2" in log.report.problems[0].en


def test_mapping_errors_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(MappingError) as e:
        Mapping.load({"columns": {"start": "x"}})
    assert "unknown target fields in the mapping: start" in e.value.en and "未知的目标字段" in e.value.zh
    f = tmp_path / "x.csv"
    f.write_text("a,b\n1,2\n")
    log = read_flow_log(f)
    assert log.report.error is not None and "column mapping is needed" in log.report.error.en


# --- detection and the entry points -------------------------------------------------------------


@pytest.mark.parametrize("path, fmt", [
    (NF / "v5.bin", "netflow"), (NF / "ipfix-biflow.bin", "netflow"), (NF / "v9.pcap", "netflow-pcap"),
    (NF / "nfdump-ndpi_mining.csv", "nfdump-csv"), (NF / "ndpi_mining.nfcapd", "nfcapd"),
    (ZEEK / "zat-conn.log", "zeek"), (ZEEK / "wrccdc-dns.log.gz", "zeek"), (ZEEK / "zat-json_ssl.log", "zeek"),
    (EVE, "suricata"), (CAPTURES / "mining" / "ndpi_mining.pcapng", "capture"),
])
def test_detect_format_by_content(path: Path, fmt: str, tmp_path: Path) -> None:
    assert detect_format(path) == fmt
    renamed = tmp_path / "no-hint.dat"  # the name is never needed
    shutil.copyfile(path, renamed)
    assert detect_format(renamed) == fmt


def test_captures_and_unknown_files_are_refused_clearly(tmp_path: Path) -> None:
    log = read_flow_log(CAPTURES / "mining" / "ndpi_mining.pcapng")
    assert "scan it as a capture" in log.report.error.en and "抓包" in log.report.error.zh
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    assert "unrecognised flow-log format" in read_flow_log(junk).report.error.en
    assert "no such file" in read_flow_log(tmp_path / "missing").report.error.en
    forced = read_flow_log(ZEEK / "zat-conn.log", "suricata")  # a wrong override: every line reported
    assert forced["flows"].num_rows == 0 and forced.report.skipped > 300 and len(forced.report.summary()) == 6


def test_batches_are_bounded_and_iter_batches_walks_inputs() -> None:
    batches = list(FlowLogInput(ZEEK / "zat-conn.log", batch_rows=100))
    assert [b.num_rows for _, b in batches] == [100, 100, 100, 60]
    seen = {(r.input, table) for r, table, _ in iter_batches([ZEEK / "zat-conn.log", EVE], batch_rows=1000)}
    # the EVE sample's tls events carry Suricata's JA3 hashes: they give ``tls`` rows too
    assert seen == {(str(ZEEK / "zat-conn.log"), "flows"), (str(EVE), "flows"), (str(EVE), "dns"), (str(EVE), "alerts"),
                    (str(EVE), "tls")}


def test_reports_summarise_beyond_the_first_problems(tmp_path: Path) -> None:
    f = tmp_path / "eve.json"
    f.write_text("{broken\n" * 12 + gzip.decompress(EVE.read_bytes()).decode().splitlines()[0] + "\n")
    log = read_flow_log(f)
    summary = log.report.summary()
    assert len(summary) == 6 and summary[-1].en.endswith("7 more bad lines or records skipped (12 in all)")
    assert "另有 7 处" in summary[-1].zh
    assert log.report.rows == {"alerts": 1} or sum(log.report.rows.values()) == 1


def test_time_values_are_utc_microseconds() -> None:
    t = flows_of(NF / "ipfix.pcap")
    assert t.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert time.gmtime(0).tm_year == 1970  # sanity: epoch math is UTC


# --- values out of range or of the wrong shape: one problem line, never a lost scan ---------------------


def _zeek_tsv(bad_row: bytes | None = None, first: bytes = b"") -> bytes:
    """The header and first 4 rows of a Zeek conn log; ``bad_row`` replaces the 2nd row (line 10)."""
    lines = (ZEEK / "zat-conn.log").read_bytes().splitlines(keepends=True)[:12]
    if bad_row is not None:
        lines[9] = bad_row
    return first + b"".join(lines)


def _tsv_row(**values: bytes) -> bytes:
    """The 2nd row of zat-conn.log with some fields replaced."""
    lines = (ZEEK / "zat-conn.log").read_bytes().splitlines(keepends=True)
    header = lines[6].rstrip(b"\n").split(b"\t")[1:]  # #fields
    row = lines[9].rstrip(b"\n").split(b"\t")
    for name, value in values.items():
        row[header.index(name.encode())] = value
    return b"\t".join(row) + b"\n"


def _zeek_json(bad: dict | None) -> bytes:
    """The first 4 records of a Zeek JSON conn log; ``bad`` updates the 2nd (line 2)."""
    recs = [json.loads(line) for line in (ZEEK / "zat-json_conn.log").read_text().splitlines()[:4]]
    if bad is not None:
        recs[1].update(bad)
    return "".join(json.dumps(r) + "\n" for r in recs).encode()


def _zeek_dns(bad: dict) -> bytes:
    """Three Zeek JSON dns records; ``bad`` updates the 2nd (line 2)."""
    rec = {"ts": 1700000000.5, "uid": "Cdns1", "id.orig_h": "10.0.0.1", "id.orig_p": 5000, "id.resp_h": "10.0.0.2",
           "id.resp_p": 53, "proto": "udp", "trans_id": 1, "query": "pool.example", "qtype_name": "A",
           "rcode_name": "NOERROR", "answers": ["198.51.100.7"], "TTLs": [60.0]}
    return "".join(json.dumps(r) + "\n" for r in (rec, {**rec, **bad}, rec)).encode()


def _eve(event_type: str, change: Callable[[dict], None]) -> bytes:
    """One event of each type read from the EVE sample; ``change`` alters the first of ``event_type``."""
    firsts: dict[str, dict] = {}
    for line in gzip.decompress(EVE.read_bytes()).splitlines():
        e = json.loads(line)
        if e["event_type"] in ("alert", "flow", "dns", "tls"):
            firsts.setdefault(e["event_type"], e)
    change(firsts[event_type])
    return "".join(json.dumps(e) + "\n" for e in firsts.values()).encode()


def _ipfix(records: list[tuple[int, int]]) -> bytes:
    """An IPFIX message: a template (addresses, ports, protocol, counters, flowStart/EndMilliseconds)
    and one data record per (start ms, end ms)."""
    fields = ((8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 8), (2, 8), (152, 8), (153, 8))
    tmpl = struct.pack("!HH", 256, len(fields)) + b"".join(struct.pack("!HH", ie, n) for ie, n in fields)
    data = b"".join(struct.pack("!4s4sHHBQQQQ", socket.inet_aton("10.0.0.1"), socket.inet_aton(f"198.51.100.{i + 1}"),
                                40000 + i, 3333, 6, 1500, 10, start, end)
                    for i, (start, end) in enumerate(records))
    sets = struct.pack("!HH", 2, 4 + len(tmpl)) + tmpl + struct.pack("!HH", 256, 4 + len(data)) + data
    return struct.pack("!HHIII", 10, 16 + len(sets), 1_700_000_100, 1, 0) + sets


MS = 1_700_000_000_000
MAX64 = (1 << 64) - 1
# name, file name, content, rows read (of the file's records), what the problem line says
VALUE_CASES = [
    ("tsv-ts-1e300", "conn.log", _zeek_tsv(_tsv_row(ts=b"1e300")), 3, "line 10: unparsable value (ts 1e+300)"),
    ("tsv-ts-inf", "conn.log", _zeek_tsv(_tsv_row(ts=b"inf")), 3, "line 10: unparsable value (ts inf)"),
    ("tsv-ts-nan", "conn.log", _zeek_tsv(_tsv_row(ts=b"nan")), 3, "line 10: unparsable value (ts nan)"),
    ("json-ts-1e300", "conn.log", _zeek_json({"ts": 1e300}), 3, "line 2: unparsable value (ts 1e+300)"),
    ("json-ts-inf", "conn.log", _zeek_json({"ts": "inf"}), 3, "line 2: unparsable value (ts inf)"),
    ("json-ts-nan", "conn.log", _zeek_json({"ts": "nan"}), 3, "line 2: unparsable value (ts nan)"),
    ("json-ts-year-30000", "conn.log", _zeek_json({"ts": 1e12}), 3, "line 2: unparsable value (ts 1000000000000.0)"),
    ("json-field-object", "conn.log", _zeek_json({"proto": {"a": 1}}), 3, "line 2: unparsable value (proto {'a': 1})"),
    ("eve-numeric-timestamp-huge", "eve.json", _eve("alert", lambda e: e.update(timestamp=1e300)), 3,
     "line 1: alert event with an unparsable value (timestamp 1e+300)"),
    ("eve-flow-start-huge", "eve.json", _eve("flow", lambda e: e["flow"].update(start=1e300)), 3,
     "line 3: flow event with an unparsable value (timestamp 1e+300)"),
    ("eve-src-ip-object", "eve.json", _eve("alert", lambda e: e.update(src_ip={"v4": "1.2.3.4"})), 3,
     "line 1: alert event with an unparsable value (src_ip {'v4': '1.2.3.4'})"),
    ("eve-signature-object", "eve.json", _eve("alert", lambda e: e["alert"].update(signature={"x": 1})), 3,
     "line 1: alert event with an unparsable value (signature {'x': 1})"),
    ("eve-proto-object", "eve.json", _eve("alert", lambda e: e.update(proto=["TCP"])), 3,
     "line 1: alert event with an unparsable value (proto ['TCP'])"),
    ("eve-app-proto-object", "eve.json", _eve("flow", lambda e: e.update(app_proto={"x": 1})), 3,
     "line 3: flow event with an unparsable value (app_proto {'x': 1})"),
    ("eve-tcp-flags-object", "eve.json", _eve("flow", lambda e: e.update(tcp={"tcp_flags": {"x": 1}})), 3,
     "line 3: flow event with an unparsable value (tcp_flags {'x': 1})"),
    ("eve-sni-object", "eve.json", _eve("tls", lambda e: e.update(tls={"sni": {"x": 1}})), 3,
     "line 4: tls event with an unparsable value (hostname/sni {'x': 1})"),
    ("eve-rrname-object", "eve.json", _eve("dns", lambda e: e["dns"].update(rrname={"x": 1}, rrtype=["A"])), 3,
     "line 2: dns event with an unparsable value (rrname {'x': 1})"),
    ("eve-bytes-beyond-int64", "eve.json", _eve("flow", lambda e: e["flow"].update(bytes_toserver=10**30)), 3,
     "line 3: flow event with an unparsable value (bytes"),
    ("json-dns-answers-object", "dns.log", _zeek_dns({"answers": {"x": 1}}), 2,
     "line 2: unparsable value (answers {'x': 1})"),
    ("json-dns-ttls-nested", "dns.log", _zeek_dns({"answers": ["1.2.3.4"], "TTLs": [[60.0]]}), 2,
     "line 2: unparsable value (TTLs [[60.0]])"),
    ("eve-dns-ttl-object", "eve.json",
     _eve("dns", lambda e: e["dns"].update(type="answer", answers=[{"rdata": "1.2.3.4", "ttl": {"x": 1}}])), 3,
     "line 2: dns event with an unparsable value (ttl [{'x': 1}])"),
    ("ipfix-start-2^64-1", "export.bin", _ipfix([(MS, MS + 5000), (MAX64, MS + 5000), (MS, MS + 9000)]), 2,
     "flowStartMilliseconds gives no valid time (1.84467e+16 s, not within years 1–9999); 1 record(s) skipped"),
    ("zeek-bogus-separator", "conn.log", b"#separator \\xZZ\n" + _zeek_tsv()[len(b"#separator \\x09\n"):], 4,
     "line 1: bad #separator line ('#separator \\\\xZZ'), read as tab-separated"),
]


def _scan(*paths: Path, lang: str = "en") -> subprocess.CompletedProcess[str]:
    feeds = paths[0].parent / "no-feeds"  # keep a user's own feeds out of the test
    feeds.mkdir(exist_ok=True)
    env = {**os.environ, "MINESCOPE_LANG": lang, "MINESCOPE_FEEDS": str(feeds)}
    return subprocess.run([sys.executable, "-m", "minescope", "scan", *map(str, paths), "--format", "json",
                           "--no-store"], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize(("name", "file_name", "content", "rows", "says"), VALUE_CASES, ids=[c[0] for c in VALUE_CASES])
def test_bad_values_are_one_problem_line_and_the_scan_goes_on(name: str, file_name: str, content: bytes, rows: int,
                                                              says: str, tmp_path: Path) -> None:
    bad = tmp_path / f"bad-{file_name}"
    bad.write_bytes(content)
    log = read_flow_log(bad)  # the healthy records of the same file are read
    assert log.report.error is None and sum(log.report.rows.values()) == rows, log.report.rows
    assert [p.en for p in log.report.problems] == [p.en for p in log.report.summary()]
    assert len(log.report.problems) == 1 and says in log.report.problems[0].en, log.report.problems[0].en
    zh = log.report.problems[0].zh
    assert ("第 " in zh or "条记录" in zh) and ("已跳过" in zh), zh
    # through the command: exit 2, one line for the problem, the healthy second file's findings kept
    ssl, _ = sni_logs(tmp_path)
    p = _scan(bad, ssl)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr and "unexpected" not in p.stderr.lower()
    problem_lines = [line for line in p.stderr.splitlines() if str(bad) in line or bad.name in line]
    assert len(problem_lines) == 1 and says in problem_lines[0], p.stderr
    findings = json.loads(p.stdout)["findings"]
    assert any(f["kind"] == "encrypted_mining_suspect" for f in findings)


def test_ipfix_end_time_out_of_range_nulls_the_duration(tmp_path: Path) -> None:
    f = tmp_path / "export.bin"
    f.write_bytes(_ipfix([(MS, MS + 5000), (MS, MAX64)]))
    log = read_flow_log(f)
    flows = log["flows"].sort_by("dst_ip")
    assert flows["duration_s"].to_pylist() == [5.0, None]
    assert flows["ts"].to_pylist() == [datetime.fromtimestamp(MS / 1e3, UTC)] * 2
    assert log.report.skipped == 0 and len(log.report.problems) == 1
    assert "flowEndMilliseconds gives no valid time" in log.report.problems[0].en
    assert "duration left empty" in log.report.problems[0].en and "时长置空" in log.report.problems[0].zh


def test_zeek_log_starting_with_a_utf8_bom_is_read(tmp_path: Path) -> None:
    tsv, js = tmp_path / "conn.log", tmp_path / "json_conn.log"
    tsv.write_bytes(_zeek_tsv(first=b"\xef\xbb\xbf"))
    js.write_bytes(b"\xef\xbb\xbf" + _zeek_json(None))
    assert flows_of(tsv).num_rows == 4 and flows_of(js).num_rows == 4
    p = _scan(tsv, js)
    assert p.returncode == 0, p.stderr


def test_timestamps_at_the_ends_of_datetime_range(tmp_path: Path) -> None:
    f = tmp_path / "conn.log"
    f.write_bytes(_zeek_json({"ts": 253402300799.0}))  # 9999-12-31T23:59:59Z: the last second kept
    assert flows_of(f)["ts"].to_pylist()[1] == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    g = tmp_path / "eve.json"
    g.write_bytes(_eve("alert", lambda e: e.update(timestamp="0000-01-01T00:00:00+00:00")))  # year 0: no datetime
    log = read_flow_log(g)
    assert log.report.skipped == 1 and "timestamp '0000-01-01T00:00:00+00:00'" in log.report.problems[0].en


def test_a_damaged_binary_read_as_csv_is_one_problem_line(tmp_path: Path) -> None:
    """A bit-flipped nfcapd no longer looks like one and falls through to CSV; a carriage return inside
    its first 'line' made Python's csv raise (a traceback) instead of a line about the file."""
    damaged = bytearray((TEST_DATA / "flowlogs" / "netflow" / "ndpi_mining.nfcapd").read_bytes())
    damaged[0] ^= 0x80  # one bit of the magic: not an nfcapd any more; its bytes hold a lone \r and no \n
    f = tmp_path / "flows.nfcapd"
    f.write_bytes(bytes(damaged))
    p = _scan(f)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr and "unexpected" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "flows.nfcapd" in p.stderr

"""What the tests share, in one module (no test imports another test file): the repository's paths,
the corpus ground truth, cached corpus scans, and small well-formed captures written for tests
(TCP and UDP conversations with real framing).

The captures put protocol transcripts the corpus does not have (from protocol specifications and
miner documentation) on the wire with fresh addresses, ports, segmenting, VLAN tags, IPv6 and pcapng,
so the tests show detection follows the protocol rather than the corpus files.
"""

from __future__ import annotations

import csv
import gzip
import ipaddress
import json
import os
import re
import struct
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
from fastapi.testclient import TestClient

from minescope.dimensions.network.readers.capture_flows import read_capture
from minescope.knowledge.pools import PoolIntel
from minescope.model import ScanResult
from minescope.pipeline import Scanner


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


@dataclass
class Conversation:
    """A TCP (or UDP) conversation: client → server messages in order, with times in seconds."""

    client: str
    cport: int
    server: str
    sport: int
    messages: Sequence[tuple[int, float, bytes]]  # (0 client→server | 1 server→client, time, payload)
    handshake: bool = True  # False: the capture starts mid-session
    mss: int = 1400
    vlan: int | None = None
    udp: bool = False
    seq: list[int] = field(default_factory=lambda: [1_000_000, 5_000_000])


def _ip_header(src: str, dst: str, proto: int, payload_len: int) -> bytes:
    s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if s.version == 4:
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + payload_len, 0, 0x4000, 64, proto, 0, s.packed, d.packed)
        return hdr[:10] + struct.pack("!H", _checksum(hdr)) + hdr[12:]
    return struct.pack("!IHBB16s16s", 6 << 28, payload_len, proto, 64, s.packed, d.packed)


def _frame(conv: Conversation, src: str, dst: str, l4: bytes, proto: int) -> bytes:
    ip = _ip_header(src, dst, proto, len(l4))
    etype = 0x0800 if ipaddress.ip_address(src).version == 4 else 0x86DD
    eth = b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02"
    if conv.vlan is not None:
        eth += struct.pack("!HH", 0x8100, conv.vlan)
    return eth + struct.pack("!H", etype) + ip + l4


def _tcp(conv: Conversation, side: int, flags: int, payload: bytes = b"") -> bytes:
    sport, dport = (conv.cport, conv.sport) if side == 0 else (conv.sport, conv.cport)
    seq, ack = conv.seq[side], conv.seq[1 - side]
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
    conv.seq[side] += len(payload) + (1 if flags & 0x03 else 0)
    src, dst = (conv.client, conv.server) if side == 0 else (conv.server, conv.client)
    return _frame(conv, src, dst, hdr + payload, 6)


def packets(conv: Conversation, t0: float) -> list[tuple[float, bytes]]:
    out: list[tuple[float, bytes]] = []
    if conv.udp:
        for side, t, payload in conv.messages:
            sport, dport = (conv.cport, conv.sport) if side == 0 else (conv.sport, conv.cport)
            src, dst = (conv.client, conv.server) if side == 0 else (conv.server, conv.client)
            udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
            out.append((t0 + t, _frame(conv, src, dst, udp, 17)))
        return out
    if conv.handshake:
        out += [(t0, _tcp(conv, 0, 0x02)), (t0 + 0.01, _tcp(conv, 1, 0x12)), (t0 + 0.02, _tcp(conv, 0, 0x10))]
    for side, t, payload in conv.messages:
        for i in range(0, len(payload), conv.mss):
            out.append((t0 + t + i * 1e-6, _tcp(conv, side, 0x18, payload[i : i + conv.mss])))
        out.append((t0 + t + 0.001, _tcp(conv, 1 - side, 0x10)))
    return out


def write_pcap(path: Path, convs: Sequence[Conversation], t0: float = 1_700_000_000.0) -> Path:
    pkts = sorted(p for c in convs for p in packets(c, t0))
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for t, frame in pkts:
            f.write(struct.pack("<IIII", int(t), round((t % 1) * 1e6) % 1000000, len(frame), len(frame)))
            f.write(frame)
    return path


def write_pcapng(path: Path, convs: Sequence[Conversation], t0: float = 1_700_000_000.0) -> Path:
    def block(btype: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    pkts = sorted(p for c in convs for p in packets(c, t0))
    with open(path, "wb") as f:
        f.write(block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
        # if_tsresol = 9: nanosecond timestamps, to exercise the option
        f.write(block(1, struct.pack("<HHI", 1, 0, 262144) + struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)))
        for t, frame in pkts:
            ns = round(t * 1e9)
            f.write(block(6, struct.pack("<IIIII", 0, ns >> 32, ns & 0xFFFFFFFF, len(frame), len(frame)) + frame))
    return path


def dns_query(name: str, qid: int = 0x1234) -> bytes:
    """A DNS query for ``name`` (type A), as RFC 1035 lays it out."""
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", 1, 1)


def dns_answer(name: str, ip: str, qid: int = 0x1234) -> bytes:
    """The answer to ``dns_query(name)``: one A record."""
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    rr = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + bytes(int(x) for x in ip.split("."))
    return struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + q + struct.pack("!HH", 1, 1) + rr



def client_hello(sni: str) -> bytes:
    """A minimal TLS ClientHello (RFC 8446 §4.1.2) that names ``sni`` in its server_name extension."""
    name = sni.encode()
    ext_sni = struct.pack("!HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00" + struct.pack("!H", 2) + b"\x13\x01" + b"\x01\x00"
    body += struct.pack("!H", len(ext_sni)) + ext_sni
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def https(client: str, cport: int, server: str, name: str, records: int = 3, every: float = 1.0,
          start: float = 1.0) -> Conversation:
    """A TLS connection naming ``name``: the hello, the server's flight, then small records both ways."""
    messages = [(0, start, client_hello(name)), (1, start + 0.05, b"\x16\x03\x03\x00\x40" + bytes(64))]
    for i in range(records):
        t = start + 0.1 + i * every
        messages += [(0, t, b"\x17\x03\x03\x00\x30" + bytes(48)), (1, t + 0.02, b"\x17\x03\x03\x00\x90" + bytes(144))]
    return Conversation(client, cport, server, 443, messages)


def looked_up(client: str, name: str, ip: str | None, qid: int) -> Conversation:
    messages = [(0, 0.0, dns_query(name, qid))]
    if ip is not None:
        messages.append((1, 0.01, dns_answer(name, ip, qid)))
    return Conversation(client, 40000 + qid, "10.0.0.53", 53, messages, udp=True)


def exchange_capture(path: Path) -> Path:
    """A capture of hosts reaching exchanges: 10.5.5.5 Binance's app (its API, looked up first, and a websocket
    stream held open two hours), 10.5.5.6 OKX's web site in clear text, 10.5.5.7 only asks DNS for Huobi;
    10.5.5.8 visits bitcoin.org (on the crypto list, no exchange) and 10.5.5.9 Binance's pool site."""
    return write_pcap(path, [
        # the app: its API (looked up first) and a websocket stream held open for two hours
        looked_up("10.5.5.5", "api.binance.com", "203.0.113.50", 1),
        https("10.5.5.5", 50001, "203.0.113.50", "api.binance.com"),
        https("10.5.5.5", 50002, "203.0.113.50", "api.binance.com", start=30.0),
        https("10.5.5.5", 50003, "203.0.113.51", "stream.binance.com", records=120, every=60.0),
        # the web site in clear text
        Conversation("10.5.5.6", 50010, "203.0.113.60", 80, [
            (0, 1.0, b"GET / HTTP/1.1\r\nHost: www.okx.com\r\nUser-Agent: Mozilla/5.0\r\n\r\n"),
            (1, 1.1, b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://www.okx.com/\r\n"
                     b"Content-Length: 0\r\n\r\n")]),
        # only a question, never answered (blocked by the resolver)
        looked_up("10.5.5.7", "www.huobi.com", None, 2),
        # on the crypto list but no trading venue; Binance's mining pool site
        https("10.5.5.8", 50020, "203.0.113.70", "bitcoin.org"),
        https("10.5.5.9", 50030, "203.0.113.80", "pool.binance.com"),
    ])


# listed pool names (knowledge/data/pools) one client may ask for together
POOL_NAMES = ("authedmine.com", "ws027.authedmine.com", "www.supportxmr.com")


def one_dns_flow_asking(names: tuple[str, ...]) -> Conversation:
    """A resolver client that keeps one source port and asks all its questions at once (as flow logs of
    one-second resolution show them too): the same flow, the same first-seen time."""
    asked = [(0, 0.0, dns_query(name, 0x100 + i)) for i, name in enumerate(names)]
    answered = [(1, 0.01, dns_answer(name, f"203.0.113.{i + 1}", 0x100 + i)) for i, name in enumerate(names)]
    return Conversation("10.20.30.40", 41000, "10.0.0.53", 53, asked + answered, udp=True)


# --- the repository and its corpus ---------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
# The PostgreSQL server the store tests also run on (make test starts one); without it they skip, or fail in CI.
PG_URL = os.environ.get("MINESCOPE_TEST_PG", "")
DATA = ROOT / "tests" / "data"
CORPUS = ROOT / "samples" / "pcap"


@cache
def ground_truth() -> dict[str, dict]:
    return json.loads((CORPUS / "ground-truth.json").read_text())


@cache
def _scanner() -> Scanner:
    return Scanner()


@cache
def scan_file(rel: str) -> ScanResult:
    """Scan one corpus capture (cached: several tests look at the same result)."""
    return _scanner().scan([CORPUS / rel])
FLOWLOGS = DATA / "flowlogs"


# --- captures and logs the flow detectors and engines are tested on ------------------------------

# DNS look-ups of la01.supportxmr.com, then the XMRig session to its address on port 3333
STRATUM_PCAP = CORPUS / "mining" / "zeekcm_coinhive-stratum.pcap"


MINING_PCAP = CORPUS / "mining" / "ndpi_mining.pcapng"
# 319 packets, 172 kB: small enough that one step of gzip.GzipFile held all of it (issue 11)
MONERO_PCAP = CORPUS / "mining" / "ndpi_2018_monero_mining.pcap"


def first_frame(capture: Path) -> bytes:
    """The first packet of a little-endian pcap capture (the corpus's), as recorded."""
    data = capture.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1", capture
    caplen = struct.unpack_from("<I", data, 24 + 8)[0]
    return data[24 + 16 : 24 + 16 + caplen]


def write_pcapng_ticks(path: Path, frame: bytes, tsresol: int, ticks: Sequence[int]) -> Path:
    """A pcapng file laid out as its specification says (draft-ietf-opsawg-pcapng): a section header
    block, one interface description block (Ethernet) whose ``if_tsresol`` option is ``tsresol`` (bit 7
    set: units of 2^-n seconds, else 10^-n), and one enhanced packet block holding ``frame`` per
    timestamp of ``ticks``, in those units (64 bits: high word, then low word)."""

    def block(btype: int, body: bytes) -> bytes:
        body += b"\0" * (-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    options = struct.pack("<HHB3x", 9, 1, tsresol) + struct.pack("<HH", 0, 0)  # if_tsresol, opt_endofopt
    out = [block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)),
           block(1, struct.pack("<HHI", 1, 0, 262144) + options)]
    for t in ticks:
        out.append(block(6, struct.pack("<IIIII", 0, t >> 32, t & 0xFFFFFFFF, len(frame), len(frame)) + frame))
    path.write_bytes(b"".join(out))
    return path


def without_read_override() -> None:
    """For ``subprocess``'s ``preexec_fn``: the child cannot read what its mode bits forbid, even as
    root (tests run as root in CI). Root reads a ``chmod 000`` file through the capabilities
    CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; dropping them from the bounding set keeps them from the
    program the child runs."""
    import ctypes

    if os.geteuid() != 0:
        return  # the mode bits already apply
    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop, cap_dac_override, cap_dac_read_search = 24, 1, 2
    for cap in (cap_dac_override, cap_dac_read_search):
        if libc.prctl(pr_capbset_drop, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed: cannot test unreadable files as root")


def capture_tables(path: Path, intel: PoolIntel) -> list[tuple[str, pa.Table]]:
    flows, dns, _ = read_capture(path, lambda name: intel.match_mining_domain(name) is not None)
    return [("flows", pa.table(flows)), ("dns", pa.table(dns))]


def table(schema: pa.Schema, rows: list[dict[str, Any]]) -> pa.Table:
    for row in rows:
        row["ts"] = datetime.fromtimestamp(row["ts"], tz=UTC)
        row.setdefault("source", "mapped")
        row.setdefault("input", "synthetic.csv")
    return pa.Table.from_pylist(rows, schema=schema)


def zeek_json(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def sni_logs(folder: Path) -> tuple[Path, Path]:
    ends = {"id.orig_h": "10.9.9.9", "id.orig_p": 51000, "id.resp_p": 443}
    ssl = zeek_json(folder / "ssl.log", [
        {"ts": 1700000000.5, "uid": "Cpool1", **ends, "id.resp_h": "198.51.100.10", "server_name": "xmr.f2pool.com",
         "version": "TLSv12", "established": True},
        {"ts": 1700000100.5, "uid": "Cexch1", **ends, "id.resp_h": "198.51.100.20", "server_name": "www.binance.com",
         "version": "TLSv12", "established": True},
    ])
    counters = {"proto": "tcp", "service": "ssl", "duration": 3600.0, "orig_pkts": 500, "orig_ip_bytes": 60000,
                "resp_pkts": 400, "resp_ip_bytes": 90000, "conn_state": "SF"}
    conn = zeek_json(folder / "conn.log", [
        {"ts": 1700000000.0, "uid": "Cpool1", **ends, "id.resp_h": "198.51.100.10", **counters},
        {"ts": 1700000100.0, "uid": "Cexch1", **ends, "id.resp_h": "198.51.100.20", **counters},
    ])
    return ssl, conn


# --- miner transcripts, from the corpus captures (see test_mining.py for their sources) ----------------
# Each item: (side, time offset, bytes); side 0 is the miner.

# ndpi_2018_ethereum_stratum.pcap, 192.168.2.92:57726 -> 94.23.36.128:4444 (Claymore-style ethproxy)
ETHPROXY: list[tuple[int, float, bytes]] = [
    (
        0,
        0.0,
        (
            b'{"worker": "eth1.0", "jsonrpc": "2.0", "params": ["0x0fccfff9e61a230ff380530c6827caf475933'
            b'7c6.rig2", "x"], "id": 2, "method": "eth_submitLogin"}\n'
        ),
    ),
    (1, 0.798, (b'{"id":2,"jsonrpc":"2.0","result":true}\n')),
    (0, 0.806, (b'{"worker": "", "jsonrpc": "2.0", "params": [], "id": 3, "method": "eth_getWork"}\n')),
    (
        1,
        0.889,
        (
            b'{"id":3,"jsonrpc":"2.0","result":["0x22b597d7bf24ef9a605a5d4fb6f7e155b7d0ce28ba6a9aa9eda6b'
            b'74b34685d71","0x88615dc9f6fe84975a471ca044adecdfde8c8fcdde97d2a3416254d590c52d0c","0x0112e'
            b'0be826d694b2e62d01511f12a6061fbaec8bc02357593e70e52ba","0x492609"]}\n'
        ),
    ),
    (
        0,
        20.899,
        (
            b'{"id":6,"jsonrpc":"2.0","method":"eth_submitHashrate","params":["0x375198a", "0x0000000000'
            b'000000000000000000000000000000000000000000000016526810"]}\n'
        ),
    ),
    (1, 20.985, (b'{"id":6,"jsonrpc":"2.0","result":true}\n')),
    (
        1,
        40.927,
        (
            b'{"id":0,"jsonrpc":"2.0","result":["0x4b9768056004ba22d19c6fdfbcd0027c06f06a6a22c28e5808100'
            b'4792b76d123","0x88615dc9f6fe84975a471ca044adecdfde8c8fcdde97d2a3416254d590c52d0c","0x0112e'
            b'0be826d694b2e62d01511f12a6061fbaec8bc02357593e70e52ba","0x49260b"]}\n'
        ),
    ),
    (
        0,
        167.24,
        (
            b'{"id":4,"method":"eth_submitWork","params":["0xdd9707281644bea0","0x1069e1b5ebc80bd2c5163f'
            b'5eeadd33c8347885e6b19c59e51b77a7025e92b616","0x11a2d31c834eb7058511908b06d94d14c3e1590e72b'
            b'cae405212f69ff0ca8248"]}\n'
        ),
    ),
    (1, 167.327, (b'{"id":4,"jsonrpc":"2.0","result":true}\n')),
]

# ndpi_mining.pcapng, 192.168.2.148:46838 -> 94.23.199.191:3333 (EWBF, Zcash stratum)
ZCASH: list[tuple[int, float, bytes]] = [
    (
        0,
        0.0,
        (
            b'{"id":1,"method":"mining.subscribe","params":["EWBF 0.3.4b",null,"eu1-zcash.flypool.org","'
            b'3333"]}\n'
        ),
    ),
    (1, 0.083, (b'{"id":1,"result":["04d567b212", "04d567b212"], "error": null}\n')),
    (
        0,
        0.083,
        (b'{"id":2,"method":"mining.authorize","params":["t1fAhZF5aUJdY7CikGULHmeYk7id8qmvbAd.rig4","x"]}\n'),
    ),
    (1, 0.164, (b'{"id":2,"result":true, "error": null}\n')),
    (
        1,
        0.164,
        (
            b'{"id":null,"method":"mining.set_target","params":["0004189374bc6a7ef9db22d0e5604189374bc6a'
            b'7ef9db22d0e5604189374bc6a"]}\n'
        ),
    ),
    (0, 0.164, (b'{"id":3,"method":"mining.extranonce.subscribe","params":[]}\n')),
    (
        1,
        1.164,
        (
            b'{"id":null,"method":"mining.notify","params":["8c6f2d4c6d2c7014fb26","04000000","9e2fc768b'
            b'd1977528c8d6096d46376758179e25bf3293428b65f120100000000","35d341a8b19a38cd584cb5494185b4db'
            b'f1a7eaa91a9ff6541e851de50cbc88a2","0000000000000000000000000000000000000000000000000000000'
            b'000000000","a9cc405a","09d8151c",true]}\n'
        ),
    ),
    (
        0,
        72.777,
        (
            b'{"id":100,"method":"mining.submit","params":["t1fAhZF5aUJdY7CikGULHmeYk7id8qmvbAd.rig4","8'
            b'c6f2d4c6d2c7014fb26","a9cc405a","3e2700000000000000000000000000000000000000000000000000","'
            b"fd400500175f90a42059650b66c04348ca157a2f48f7763b2627062b573bc29df8cb584e29cc5c776e12ff4fc5"
            b"18d8990f13ee4b09c082729492277451a5cbf253a72500ec3180144850d3cb4817b8766f5fdb415f534000c3ed"
            b"6e59c759d56bfcc06755e61224954b7478bb1bc811418cd86899185894b3fa55aff359bd5e46350801b0a28694"
            b"8d89ebd9c22d3d5351f8c1d31c3b0a201b1e6051a95b4982bf32cfabc6c0aa5750f5f15d039f5aab21e4440960"
            b"6cd14079ac0c38dc7b7e5fa52912fe07acb5d75ffe0ab34fbfced8863d33dd890006069fcddbabffeba7a4138a"
            b"c3b7ef86fe7037fdf60ac58a54b605db665ab171a8cbea2915a85353a446074b2d882c1d4dc90241078f79649c"
            b"0247453d4e840b30dd6d86a89fe17dd5438abef7553f07c31c31ee0ec552cff9059f4fe79d510637930b49866e"
            b"bcdac443d0c74ee360ee97a093d47f1ec405ce3dc5f47f3b01236a5fe08e3e587ceb1470552bc7da05cefee163"
            b"0333bfb84f644fbbf4e0d78926d446ba0af4b7c9ce1e82059d6ce7ce714f28840883a26e51063a5d6730459e9f"
            b"96a9de964b7fc4953aac2deca1662255a3b7050d0d534cd315094369441c6329f5e64da0f3fc093fc8bca55757"
            b"714ec25e79c3cf78885693fada883610528d4240b7c9bbe3d662ec7663104525f78b51084af82db9be3e1ec7fb"
            b"21a626cb5f82fe1744fe59b10177cc5403b0bd25cd032143c71f1a2ceda88d1a9a35db0b48bb263c83dd4bc5e2"
            b"016c87862f8636634815a3ad947bcc35f97dfc52bdcfdebc11e533b4effc2089512da65377029c3a023a7f4bab"
            b"c90d064c7b7007d993c1b282d9d69c23a634e75aaa42476bbf034e2da19ecf8d97439561fe72e6a2f0638d0b35"
            b"ebb471196389a3bd4fbfdf60b9c2ea56f0ee2174879456dd25ee8d70fd93d354efbb4497154f7562011e3d68d2"
            b"01f12cda7ddc2233837810e5559788cd7af21aa0a14bafc49cfebc2945f49b360aaacffa25b62391df170bce76"
            b"8b62215319d852c58654e1336d80dab15f6e71a723bf8f69c7896f35d91dac651d9706b93eba12127dcd937518"
            b"a2e7a05c3483084aff79922bdae13219c5cff2b009e10aa3e6620bc2a05f5d5e5b2bab6a1ee5942ed862758f7c"
            b"c775b0f746f7eea87ab889f42f4febd49e9a44f2daf4960f107e17f311e1febfaa033ec5a06991de9ca3641140"
            b"c8d8b0717f542d6bb309d0b6db4ae5656deb7aa1438ed97b15570ab7c32f082261868745587d0bbf30f7964478"
            b"2dc2ab5204411f15f3e7c3880a138151f1fa6064924e11099a2dd5071b87b71f4e7d86b785d34bf54c0705e9d4"
            b"58a6a9197fd1c5fc553831f92b762c77ef325e30d3b967dd1e8ed657285a512b000653259c2ed4cce7929f9a84"
            b"2c7497ffd4b6e369bb9e5515e1e61a954dd4b2915f03b182806c905ff5f5a412c4f22e16acb3bbd598420e19b1"
            b"3292670af3bda2240ea8a1c5ad11a43138d7074865f7e8daf3d91a9ca433573fc91a6249bfeb251aec80fee20d"
            b"de0913497cf484e7c22f96153d372f13bbf269649b8663cc419877e275882f0b5779d5c2271f21390ecfb00ae2"
            b"c968230866084a32b477858c1ef59f99bd27e1fb646748d5d2fee27271bb99b5712db764ba89596b2dd18bc37a"
            b"1cec1601176169ee39119861d8839dbbedbafbc6ca397e2c0f6bb47c66dd4c35671747a170bfee72f7f6e066d7"
            b"6618cdfccbdc14b68f732fed97d1bb99362b52c918d1d3589f62f22a96355d3d625637609be3f2e4cf716984af"
            b"b396a916516cd4946dbb91c889a29e46bf8c8cbf88ad6bcc23f63b7858e5180b6a0c9344544449d50a19b7d010"
            b'1e7d97c145f80a2bc42f52e0207cae19d85b97ce312c492526eee26bbf8701252272bda751e865309a56"]}\n'
        ),
    ),
    (1, 72.858, (b'{"id":100,"result":true}\n')),
    (
        0,
        337.728,
        (
            b'{"id":113,"method":"mining.submit","params":["t1fAhZF5aUJdY7CikGULHmeYk7id8qmvbAd.rig4","1'
            b'9c71cd020d261271968","8ecd405a","8bbe00000000000000000000000000000000000000000000000000","'
            b"fd40050008470db303026fe8a0daccefe768dbdb92bfaac44737425b03a87ac3e197e75b11eb6f15ed3d969578"
            b"030d2856dbe23295a3edf354f3d9451d2d561d0daa11ec78fda7c5e5eaa850c1b353eeff7d92fdfb201402d2a9"
            b"9cf906d07704c351c7c5dd99c79a773ed1f5166d4e153c8f35bf90cf82b7eec434d1ae466de67604efb0f70c5d"
            b"fa2768ddf0e17d871436c39edcbbc3162b0a405fcf94009939c2651f481788f6489bddb20a10a276b65ab95ce9"
            b"12155cf5fbe8ce258ad43f6732a1855f50133281d11ca410bcdb4b253212b48d782adfad3423737357e4638307"
            b"9acafed55125f8187d38738668b16ce995c8c467410dd7bd274f76db9fef0a10e175a298ff0d78f2e3ebc2a742"
            b"5d74bdd904580e9f86d8325c852bc6c9171f076623e1fe9cdeaed92418b9493ae5e59deede92a8cb5497fb23e4"
            b"9c8b69435582c5a1d97ab1b172058cd8ead07a76b0d934e502f6166a1088182c8a4803ffafe40e497c9d4d7aa7"
            b"1e505b0f23de1b9f0133c6985b73b23703387b866e31e79611b556279589905823056745d3888abe430e47a4bd"
            b"ae4418b0715eca35900e315ea172a2f8645106d43f195e844151458602ca57f5beade5c40fa6c30a488e98eb0b"
            b"95c060fab0d71073856d1a168f48a91d44c98a000a7e390c35b6ef8668dd0307ebbf2343525044e6e155eb4fc5"
            b"7377411a64bcef01153eb90f0ab41f148b2cdc9d92bfe66dc6548de2d420190970172159bbf7879b57bc1271d5"
            b"98c796810f6c74d6d925cad3dff06caab7d5857373f8da6d91293156fd086c9b36987adf58a9cb7a8bae637b03"
            b"c724b0bf1b48252c92d2e3e23cd320502949d87460aedfaa7f0e9574d207263f5db5453c43e8c1987f555ac308"
            b"5ef967597395e0272128fbd4f6159d54cfcb4a847e9a080b62c96cb512e5a6a19662090a4be3b23f57403f6fcf"
            b"010204eef0906f893d08e1c381eaf0dd3ccd36c3830c7e527bc4e603f1e45be323b1303111c52a8fbe92066a1f"
            b"724a754cebf9d2b38d9cbe447d8f8833c751090db2da718cd1a712a4f21468210ac300a519c1910b79dfc5f058"
            b"955f591132da30fde6b314f27ffd192d4394835a519eb9d1cf037b18723d8b3bcdbd98b121cce6e68ef8809dd9"
            b"9db52515e07fdeb6f79950864db82a897b97a788ef00e53c30b259eac6d65d70f50179606383c4ac989fb3b347"
            b"60b942692bfba9ed49103dd33c767b04bdf06d11c2d8d1a3f0fcf02eb54110018bc26cc6537f00edb59cd6bf52"
            b"0e82f2dfed0134ffab26d114c53963e7d753d95e62eecf649f3d150437d9f5a95da3fff903c1408730a5a1070d"
            b"384e9a24fd8163410c9bc697d5c5fbd2cc1491d21236f9b105b2d1228e8b4707e33596894afbafee1e34599ba6"
            b"0ab9e6ef3f696bbdc691a4d75edb2686585b7d938d0239427407d2aeeb0a6ec50e09c85d39f030f797af1c954a"
            b"481f12cf52f918624cf8bdc0e0991b90d085084585406c097a706acb727e367950a8d8e6ea1fd0195e81d9270e"
            b"f9b387c6757aca50ba295eefcc2a3308135d503703ed817880c0c13e937574d9ba7f8f4441f7fe774a9e498714"
            b"80e8dff87833f66c67f906c70d9092d39ba68e83439115814a6dcb6d8555500ac41d13bfbb3ce647cdc582d410"
            b"d72e3b7d0c606d1ecc040868406709c0e997081248df3a3f0d41f18ad46927f7dc5b478f9339201d22917ae377"
            b"38d7d2fa98080735eaa48ca045ff67b6113c3a68b90c65516fca5116b3c36c3287fc96bcc968d4f37376575c78"
            b"9ca9040653a89babcf0d41abb8e09d67495699026b16991b4ecb0fa76f7784cbd9eb65aa14b7b1329873598cb9"
            b'06d2c39df050e52fc4b541fdb5c7b8df13fbbb0cb520ba2a9bfd111af4dc6cf62bd3d64d23a2f0bf51db"]}\n'
        ),
    ),
    (1, 337.809, (b'{"id":113,"result": null,"error": [21, "Stale job!"]}\n')),
]

# ndpi_mining.pcapng, 192.168.2.92:55190 -> 178.32.196.217:9050 (xmr-stak-cpu, CryptoNote)
XMRSTAK: list[tuple[int, float, bytes]] = [
    (
        0,
        0.0,
        (
            b'{"method":"login","params":{"login":"4BCeEPhodgPMbPWFN1dPwhWXdRX8q4mhhdZdA1dtSMLTLCEYvAj9Q'
            b"XjXAfF7CugEbmfBhgkqHbdgK9b2wKA6nqRZQCgvCDm.cb2b73415c4faf214035a73b9d947c202342f3bf3bdf632"
            b'132bd6d7af98cb257.ryzen","pass":"x","agent":"xmr-stak-cpu/1.3.0-1.5.0"},"id":1}\n'
        ),
    ),
    (
        1,
        0.084,
        (
            b'{"id":1,"jsonrpc":"2.0","error":null,"result":{"id":"479059546883218","job":{"blob":"0606e'
            b"89883d205a65d8ee78991838a1cf3ec2ebbc5fb1fa43dec5fa1cd2bee4069212a549cd731000000005a8823565"
            b'3097aa3e97ef2ceef4aee610751a828f9be1a0758a78365fb0a4c8c05","job_id":"722134174127131","tar'
            b'get":"dc460300"},"status":"OK"}}\n'
        ),
    ),
    (
        0,
        12.234,
        (
            b'{"method":"submit","params":{"id":"479059546883218","job_id":"722134174127131","nonce":"98'
            b'024001","result":"c9be9381a68d533c059d614d961e0534d7d8785dd5c339c2f9596eb95f320100"},"id":'
            b"1}\n"
        ),
    ),
    (1, 12.345, (b'{"id":1,"jsonrpc":"2.0","error":null,"result":{"status":"OK"}}\n')),
    (
        0,
        14.964,
        (
            b'{"method":"submit","params":{"id":"479059546883218","job_id":"722134174127131","nonce":"b1'
            b'038001","result":"f84596a48e57683f6b5608cc5d34f4ea1f64dbfa2ba397b9142626b9d9b90100"},"id":'
            b"1}\n"
        ),
    ),
    (1, 15.078, (b'{"id":1,"jsonrpc":"2.0","error":null,"result":{"status":"OK"}}\n')),
    (
        0,
        22.009,
        (
            b'{"method":"submit","params":{"id":"479059546883218","job_id":"722134174127131","nonce":"63'
            b'058000","result":"c811131a6b977c72f0b0f9cdc848973ce4be8fbd286f3583fde0eaefa8f70000"},"id":'
            b"1}\n"
        ),
    ),
    (1, 22.122, (b'{"id":1,"jsonrpc":"2.0","error":null,"result":{"status":"OK"}}\n')),
    (
        1,
        29.971,
        (
            b'{"jsonrpc":"2.0","method":"job","params":{"blob":"06069c9983d2052e885e6d1f99749ae1c263f36c'
            b"b423bd1b71eafb4c84eeadb83b5dc8e1a84be60000000017a6f964a2409168ca9e88b304d405e6119728483fc4"
            b'0c588a9be058d78beaf904","job_id":"652010620664805","target":"dc460300"}}\n'
        ),
    ),
]

# zeekcm_bitcoin-mining.pcap, 10.0.2.15:53310 -> 74.84.128.158:3333 (bfgminer, Bitcoin stratum)
BFGMINER: list[tuple[int, float, bytes]] = [
    (0, 0.0, (b'{"id": 1, "method": "mining.subscribe", "params": ["bfgminer/5.2.0", "1"]}\n')),
    (
        1,
        0.037,
        (
            b'{"result":[[["mining.notify","1"],["mining.set_difficulty","2"]],"00b617a3",4],"error":nul'
            b'l,"id":1}\n'
        ),
    ),
    (1, 0.037, (b'{"method":"mining.set_difficulty","params":[4096],"id":1}\n')),
    (0, 0.037, (b'{"id": "auth", "method": "mining.authorize", "params": ["broatcast", "123"]}\n')),
    (
        1,
        0.038,
        (
            b'{"method":"mining.notify","params":["274d-13","fbba9401ee005faba18d7bcd8444d9a2a3ec320d002'
            b'ac0380000000000000000","010000000100000000000000000000000000000000000000000000000000000000'
            b"00000000ffffffff4d03ea2908094269744d696e7465722cfabe6d6d4ceef3541b9f2ced2dd32b76d4985f03b7"
            b'b87bbb7c28f0317ca46e23c176d48b010000000000000009757334274d00000013","ffffffff026a77f84b000'
            b"000001976a9145c0e4a6830ff6ea9aea773d75bc207299cd50b7488ac0000000000000000266a24aa21a9eda35"
            b'5a8469fa55e3b9623b3b26fbe11e1ab65b757f19be0b2d4115f78211d0ac700000000",["bc688ddc1c1d698f8'
            b'3d20b66172b5442d7414f5f4b1acbf8818c79e4823b72a6","048287b3124edeb8d703794cb48787d69b1317e0'
            b'5b7a4168199767e129db63aa","8ebb462ee4cd9f791df98ee06be6da340b8819303506baf3331d07a90f82fb6'
            b'e","cdac4916f66ad91a18644f0bb5754b5824f32db3ddba9567d814a3fba32835b1","1bf002d11eb1d7d50a6'
            b'e41025139020f21b0bec78df107069fc523eaefe7a3cf","709b8e729c6c7d58b4d7927d89ff8e913d9c7776a3'
            b'c8828db965f2a975ec666a","9feaf865564ed0e9dd6364097f64edf8706a81cd4bb21a4af4a26baf7f002675"'
            b',"fe85f59df440bb3a040aeafeb7c8a6bd532c4de4e78d024de9a837b3395d281b","7a822b15a768470d058d8'
            b'4be72dbfdb78a9a904f0cc5979ea4086853134cd565","4b854256b442564e5e7a137305e00490a36c5d20fe23'
            b'5927d986ef88a5401a5b","e55e45977c2f9eb0547b6c5017b2572d7ff803407f78f2b93dfc791bd050905a"],'
            b'"20000000","172f4f7b","5b64649b",true],"id":1}\n'
        ),
    ),
    (1, 0.175, (b'{"result":true,"error":null,"id":"auth"}\n')),
    (0, 0.175, (b'{"params": ["274d-13"], "id": "txlist274d-13", "method": "mining.get_transactions"}\n')),
    (
        1,
        0.211,
        (
            b'{"result":null,"error":[20,"Unknown method \'mining.get_transactions\'",null],"id":"txlist27'
            b'4d-13"}\n'
        ),
    ),
]


# --- the console: a miner's conversation and signing in ---------------------------------------------

PASSWORD = "correct horse battery"
SUBMIT = b'{"id": 4, "method": "mining.submit", "params": ["w.rig", "bf", "00000001", "504e86ed", "b2"]}\n'
NOTIFY = (b'{"id": null, "method": "mining.notify", "params": ["bf", "4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0'
          b'440b921e00000000", "01", "02", [], "00000002", "1c2ac4af", "504e86b9", false]}\n')
STRATUM = [(0, 0.0, b'{"id": 1, "method": "mining.subscribe", "params": []}\n'), (1, 0.1, NOTIFY), (0, 5.0, SUBMIT)]


def login(client: TestClient, username: str) -> None:
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    r = client.post("/login", data={"username": username, "password": PASSWORD, "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303


# --- inputs that once cost minutes per megabyte (issue 11, "bounded cost per input byte") ----------
_V9_FIELDS = ((8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 4), (2, 4), (22, 4), (21, 4))  # src, dst, ports,
# proto, bytes, packets, first/last switched


def write_v9_template_churn(path: Path, packets: int, t0: int = 1_700_000_000) -> Path:
    """A NetFlow v9 export stream in which every packet redefines template 256 (two field orders in
    turn) before one data record: the decoder must flush a one-row batch per packet."""
    out = bytearray()
    for i in range(packets):
        fields = _V9_FIELDS if i % 2 == 0 else _V9_FIELDS[:5] + _V9_FIELDS[6:7] + _V9_FIELDS[5:6] + _V9_FIELDS[7:]
        tmpl = struct.pack("!HH", 256, len(fields)) + b"".join(struct.pack("!HH", ie, n) for ie, n in fields)
        value = {8: 0x0A000001 + i % 200, 12: 0xC6336401, 7: 40000 + i % 1000, 11: 3333, 4: 6, 1: 1500 + i,
                 2: 10, 22: 1_000, 21: 2_000}
        record = b"".join(value[ie].to_bytes(n, "big") for ie, n in fields)
        record += b"\0" * (-len(record) % 4)
        body = struct.pack("!HH", 0, 4 + len(tmpl)) + tmpl + struct.pack("!HH", 256, 4 + len(record)) + record
        out += struct.pack("!HHIIII", 9, 2, 10_000, t0 + i, i, 0) + body
    path.write_bytes(bytes(out))
    return path


def write_empty_lines_zeek(path: Path, empty: int) -> Path:
    """A gzip Zeek conn log: its header, ``empty`` empty lines, then one record."""
    import gzip

    head = (b"#separator \\x09\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\t"
            b"orig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\n")
    with gzip.open(path, "wb", compresslevel=9) as f:
        f.write(head)
        chunk = b"\n" * (1 << 20)
        for _ in range(empty >> 20):
            f.write(chunk)
        f.write(b"\n" * (empty & ((1 << 20) - 1)))
        f.write(b"1700000000.5\tC1\t10.0.0.1\t40000\t198.51.100.1\t3333\ttcp\t10\t1500\t10\t1500\n")
    return path


# --- the fault-injection suite (tests/faults/): processes, stores, mutations ------------------------
# MINESCOPE_FAULTS_SEED shifts every seed and MINESCOPE_FAULTS_SCALE multiplies the number of cases and
# repetitions; benchmarks/soak.py turns both for a longer run (docs/reliability.md, "How it is tested").
FAULTS_SEED = int(os.environ.get("MINESCOPE_FAULTS_SEED") or 0)
FAULTS_SCALE = max(1, int(os.environ.get("MINESCOPE_FAULTS_SCALE") or 1))
CLI_TIMEOUT = 180.0  # no command of the suite takes a tenth of this: reaching it is a hang


@dataclass
class Run:
    """A finished ``minescope`` process: its exit code (negative: the signal that ended it) and output."""

    args: Sequence[str]
    rc: int
    stdout: bytes
    stderr: str

    @property
    def lines(self) -> list[str]:
        """What it said on stderr, one item a line: blank lines and failpoint markers left out."""
        return [line for line in self.stderr.splitlines()
                if line.strip() and not line.startswith("minescope failpoint ")]

    def explain(self) -> str:
        return f"minescope {' '.join(map(str, self.args))} → {self.rc}\n{self.stderr[-3000:]}"


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a child ``minescope``: this one without settings that would change its store,
    language or faults, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not (k.startswith("MINESCOPE_") and k not in
                                                       ("MINESCOPE_TEST_PG", "MINESCOPE_DUCKDB_MEMORY"))}
    env.update(extra)
    return env


def start_cli(*args: object, env: dict[str, str] | None = None, cwd: Path | None = None) -> Any:
    """``minescope ARGS`` as a child in a process group of its own (``stop`` ends the group)."""
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-m", "minescope", *map(str, args)], env=env or cli_env(),
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def stop(proc: Any) -> None:
    """End a child's process group, if anything of it is left, and reap the child."""
    import contextlib
    import signal

    with contextlib.suppress(ProcessLookupError, PermissionError):  # the child, and anything it started
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def finish(proc: Any, timeout: float = CLI_TIMEOUT, said: bytes = b"") -> Run:
    """Wait for a child started by ``start_cli``; a child still running after ``timeout`` is a hang (killed).
    ``said``: what ``wait_for`` already read of its stderr."""
    import subprocess

    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise AssertionError(f"minescope {proc.args[3:]} still ran after {timeout:.0f} s: a hang") from None
    finally:
        stop(proc)
    return Run(proc.args[3:], proc.returncode, out, (said + err).decode("utf-8", "replace"))


def wait_for(proc: Any, marker: bytes, timeout: float = 120.0) -> bytes:
    """Read a child's stderr until ``marker`` (a failpoint's line) appears; what was read, for ``finish``.
    Fails if the child ends or stays silent for ``timeout`` without saying it."""
    import selectors
    import time

    said = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stderr, selectors.EVENT_READ)
        while marker not in said:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                stop(proc)
                raise AssertionError(f"no {marker!r} from minescope after {timeout:.0f} s: {said[-2000:]!r}")
            chunk = os.read(proc.stderr.fileno(), 65536)
            if not chunk:
                proc.wait()
                raise AssertionError(f"minescope ended ({proc.returncode}) before {marker!r}: {said[-2000:]!r}")
            said += chunk
    return said


def cli(*args: object, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = CLI_TIMEOUT) -> Run:
    """Run ``minescope ARGS`` to its end (bounded by ``timeout``)."""
    return finish(start_cli(*args, env=env, cwd=cwd), timeout)


def no_traceback(run: Run) -> None:
    assert "Traceback" not in run.stderr and "unexpected error" not in run.stderr, run.explain()


def store_url(target: str | Path) -> str:
    return str(target) if "://" in str(target) else f"sqlite:///{target}"


def store_tables(target: str | Path) -> dict[str, int]:
    """Rows in every table of a store (whatever tables its schema has)."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy import text as sql

    engine = create_engine(store_url(target))
    try:
        with engine.connect() as conn:
            names = sorted(inspect(conn).get_table_names())
            return {n: int(conn.execute(sql(f'SELECT count(*) FROM "{n}"')).scalar_one()) for n in names}
    finally:
        engine.dispose()


def store_state(target: str | Path) -> dict[str, Any]:
    """What two stores holding the same scans must agree on, whichever database and whatever order: rows
    per table, finding ids, cases with their state and findings, the dataset files marked as scanned."""
    from sqlalchemy import create_engine
    from sqlalchemy import text as sql

    engine = create_engine(store_url(target))
    try:
        with engine.connect() as conn:
            def rows(query: str) -> list[tuple[Any, ...]]:
                return sorted(tuple(r) for r in conn.execute(sql(query)))

            return {
                "tables": {k: v for k, v in store_tables(target).items() if k not in ("alembic_version",)},
                "findings": rows("SELECT id, kind FROM findings"),
                "cases": rows("SELECT c.subject_key, c.state, count(cf.finding_id) FROM cases c "
                              "LEFT JOIN case_findings cf ON cf.case_id = c.id GROUP BY c.subject_key, c.state"),
                "dataset_files": rows("SELECT path, bytes FROM dataset_files"),
                "scans": rows("SELECT findings_total FROM scans"),
            }
    finally:
        engine.dispose()


def store_problems(target: str | Path) -> list[str]:
    """What is wrong with a store, in words (empty when nothing is): SQLite's own checks, then the rules
    a store of whole scans keeps whatever happened to the processes that wrote it."""
    from sqlalchemy import create_engine
    from sqlalchemy import text as sql

    from minescope.cases.workflow import case_kinds

    bad: list[str] = []
    engine = create_engine(store_url(target))
    try:
        with engine.connect() as conn:
            def one(query: str, **params: Any) -> Any:
                return conn.execute(sql(query), params).scalar_one()

            if engine.dialect.name == "sqlite":
                checks = [r[0] for r in conn.execute(sql("PRAGMA integrity_check"))]
                if checks != ["ok"]:
                    bad.append(f"integrity_check: {checks[:5]}")
                if conn.execute(sql("PRAGMA foreign_key_check")).first() is not None:
                    bad.append("foreign_key_check: rows point at rows that are not there")
            rules = {
                "a case subject held by two cases": "SELECT count(*) FROM (SELECT subject_key FROM cases "
                                                    "GROUP BY subject_key HAVING count(*) > 1) d",
                "a finding in two cases": "SELECT count(*) FROM (SELECT finding_id FROM case_findings "
                                          "GROUP BY finding_id HAVING count(*) > 1) d",
                "a finding no scan saw": "SELECT count(*) FROM findings f WHERE f.first_scan_id IS NOT NULL AND "
                                         "NOT EXISTS (SELECT 1 FROM sightings s WHERE s.finding_id = f.id)",
                "a finding whose first scan did not see it": (
                    "SELECT count(*) FROM findings f WHERE f.first_scan_id IS NOT NULL AND NOT EXISTS "
                    "(SELECT 1 FROM sightings s WHERE s.finding_id = f.id AND s.scan_id = f.first_scan_id)"),
                "a sighting of no finding": "SELECT count(*) FROM sightings s WHERE NOT EXISTS "
                                            "(SELECT 1 FROM findings f WHERE f.id = s.finding_id)",
                "a scan whose sightings are not its findings_total": (
                    "SELECT count(*) FROM scans c WHERE c.findings_total <> "
                    "(SELECT count(*) FROM sightings s WHERE s.scan_id = c.id)"),
                "a dataset file marked by no scan": "SELECT count(*) FROM dataset_files d WHERE NOT EXISTS "
                                                    "(SELECT 1 FROM scans c WHERE c.id = d.scan_id)",
                "a case without findings": "SELECT count(*) FROM cases c WHERE NOT EXISTS "
                                           "(SELECT 1 FROM case_findings cf WHERE cf.case_id = c.id)",
            }
            for what, query in rules.items():
                n = one(query)
                if n:
                    bad.append(f"{what}: {n}")
            kinds = ", ".join(f"'{k}'" for k in case_kinds())
            loose = one(f"SELECT count(*) FROM findings f WHERE f.kind IN ({kinds}) AND NOT EXISTS "
                        "(SELECT 1 FROM case_findings cf WHERE cf.finding_id = f.id)")
            if loose:
                bad.append(f"a finding of a case kind in no case: {loose}")
            new, stored = one("SELECT coalesce(sum(findings_new), 0) FROM scans"), one(
                "SELECT count(*) FROM findings WHERE first_scan_id IS NOT NULL")
            if new != stored:
                bad.append(f"the scans counted {new} findings as new, the store holds {stored}")
    finally:
        engine.dispose()
    return bad


# Mutations of real inputs: deterministic for a seed; each a (label, bytes) pair.

ABSURD_INTS = (0, 1, 0x7F, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
ABSURD_TOKENS = (b"1e300", b"-1e300", b"inf", b"nan", b"-1", b"99999999999999999999999999", b"", b"-",
                 b"\x00", b"\xff\xfe", b"\xe6\x8c\x96\xe7\x9f\xbf", b"\xcd\xda\xbf\xf3", b"9999-12-31T23:59:59Z",
                 b"0000-00-00 00:00:00", b"1.2.3.4.5", b"::ffff:999.1.1.1", b"65536", b"18446744073709551615",
                 b'{"a": {"b": 1}}', b"[1, 2, 3]", b"true", b"null", b"\t\t\t", b"\\x09", b"\xef\xbb\xbf")


def pcap_layout(data: bytes) -> tuple[list[int], list[tuple[int, int]]]:
    """Record boundaries of a classic pcap, and its header fields as (offset, width): snaplen, link type,
    and each record's captured and original lengths."""
    order = "<" if data[:4] == b"\xd4\xc3\xb2\xa1" or data[:4] == b"\x4d\x3c\xb2\xa1" else ">"
    bounds, fields = [0, 24], [(16, 4), (20, 4)]
    off = 24
    while off + 16 <= len(data):
        caplen = struct.unpack(order + "I", data[off + 8 : off + 12])[0]
        fields += [(off, 4), (off + 8, 4), (off + 12, 4)]
        off += 16 + caplen
        bounds.append(min(off, len(data)))
    return bounds, fields


def pcapng_layout(data: bytes) -> tuple[list[int], list[tuple[int, int]]]:
    """Block boundaries of a pcapng file, and its header fields: block types and lengths (both copies),
    the section length, interface link types and snap lengths, packet captured and original lengths."""
    bounds, fields = [0], []
    off = 0
    while off + 12 <= len(data):
        btype, blen = struct.unpack("<II", data[off : off + 8])
        if blen < 12 or off + blen > len(data):
            break
        fields += [(off, 4), (off + 4, 4), (off + blen - 4, 4)]
        if btype == 0x0A0D0D0A:
            fields.append((off + 16, 8))
        elif btype == 1:
            fields += [(off + 8, 2), (off + 12, 4)]
        elif btype == 6:
            fields += [(off + 12, 4), (off + 20, 4), (off + 24, 4)]
        off += blen
        bounds.append(off)
    return bounds, fields


def netflow_layout(data: bytes) -> tuple[list[int], list[tuple[int, int]]]:
    """Packet and set boundaries of NetFlow v5/v9/IPFIX export packets written back to back, and their
    header fields: version, count or length, set ids and lengths, template field counts."""
    bounds, fields = [0], []
    off = 0
    while off + 4 <= len(data):
        version, count = struct.unpack("!HH", data[off : off + 4])
        fields += [(off, 2), (off + 2, 2)]
        if version == 5:
            end = off + 24 + 48 * count
            bounds += list(range(off + 24, min(end, len(data)), 48))
        elif version in (9, 10):
            head = 20 if version == 9 else 16
            end = off + count if version == 10 else len(data)
            sets = off + head
            while sets + 4 <= min(end, len(data)):
                set_id, set_len = struct.unpack("!HH", data[sets : sets + 4])
                if version == 9 and set_id == 9:  # the next packet's header (set ids 2-255 are reserved)
                    end = sets
                    break
                fields += [(sets, 2), (sets + 2, 2)]
                if set_id in (0, 2) and sets + 8 <= len(data):
                    fields += [(sets + 4, 2), (sets + 6, 2)]
                bounds.append(sets)
                if set_len < 4:
                    break
                sets += set_len
        else:
            break
        off = min(end, len(data))
        bounds.append(off)
    return sorted(set(bounds)), fields


def line_layout(data: bytes) -> list[int]:
    """The offset after every line break."""
    return [0] + [i + 1 for i, b in enumerate(data) if b == 0x0A]


def mutants(data: bytes, seed: int, count: int, bounds: Sequence[int] = (),
            fields: Sequence[tuple[int, int]] = (), tokens: bool = False) -> list[tuple[str, bytes]]:
    """``count`` mutations of ``data``: cuts at structural boundaries (and a byte either side), bit flips,
    bytes inserted and deleted, a chunk between boundaries repeated, absurd values in header fields
    (``fields``: offset and width), and for text (``tokens``) one field replaced by an absurd token."""
    import random

    rng = random.Random(seed)
    bounds = sorted({b for b in bounds if 0 < b < len(data)}) or [len(data) // 2]
    kinds = ["cut", "flip", "insert", "delete", "repeat"] + ["field"] * bool(fields) + ["token"] * 2 * tokens
    out: list[tuple[str, bytes]] = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        b = bytearray(data)
        if kind == "cut":
            at = max(1, bounds[rng.randrange(len(bounds))] + rng.choice((-1, 0, 0, 1)))
            label, b = f"cut@{at}", b[:at]
        elif kind == "flip":
            spots = [rng.randrange(len(b)) for _ in range(rng.choice((1, 2, 4, 16)))]
            for p in spots:
                b[p] ^= 1 << rng.randrange(8)
            label = f"flip@{','.join(map(str, spots[:4]))}"
        elif kind == "insert":
            at = rng.choice((rng.randrange(len(b)), bounds[rng.randrange(len(bounds))]))
            junk = bytes(rng.randrange(256) for _ in range(rng.choice((1, 3, 16, 300))))
            label, b[at:at] = f"insert{len(junk)}@{at}", junk
        elif kind == "delete":
            at = rng.randrange(len(b))
            n = rng.choice((1, 2, 7, 64, 1000))
            label = f"delete{n}@{at}"
            del b[at : at + n]
        elif kind == "repeat":
            i0 = rng.randrange(len(bounds))
            lo = bounds[i0]
            hi = bounds[i0 + 1] if i0 + 1 < len(bounds) else len(b)
            chunk = bytes(b[lo:hi]) * rng.choice((2, 3, 50))
            label, b[lo:hi] = f"repeat{lo}-{hi}", chunk
        elif kind == "field":
            off, width = fields[rng.randrange(len(fields))]
            value = rng.choice(ABSURD_INTS) & ((1 << (8 * width)) - 1)
            order = rng.choice(("big", "little"))
            label = f"field@{off}={value:#x}"
            b[off : off + width] = value.to_bytes(width, order)[: max(0, len(b) - off)]
        else:  # one separated field of one line replaced by an absurd token
            lines = line_layout(bytes(b))
            n = rng.randrange(len(lines) - 1) if len(lines) > 1 else 0
            lo, hi = lines[n], lines[n + 1] if n + 1 < len(lines) else len(b)
            line = bytes(b[lo:hi])
            sep = b"\t" if b"\t" in line else b","
            parts = line.rstrip(b"\n").split(sep)
            k = rng.randrange(len(parts))
            if line.lstrip().startswith(b"{"):  # a JSON log: a value, quoted or not
                tok = rng.choice(ABSURD_TOKENS)
                value = b":" + (tok if rng.random() < 0.5 else b'"' + tok + b'"')
                parts[k] = re.sub(rb':\s*("[^"]*"|[^,}]*)', lambda _m, v=value: v, parts[k], count=1)
            else:
                parts[k] = rng.choice(ABSURD_TOKENS)
            label, b[lo:hi] = f"token@line{n + 1}.{k}", sep.join(parts) + b"\n"
        out.append((label, bytes(b)))
    return out


# --- the host dimension: a host-check report as minescope host check writes it ---------------------------

def write_host_check(path: Path, host: str, addresses: Sequence[str], processes: Sequence[dict[str, Any]],
                     now: float, files: Sequence[dict[str, Any]] = ()) -> Path:
    """A ``minescope host check`` report of one machine: its processes and files (host-table rows without
    ts/host/event), and its interface addresses."""
    from minescope.dimensions.host.check import FORMAT, VERSION

    def rows(event: str, items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"ts": now, "host": host, "event": event, **item} for item in items]

    tables = {"processes": rows("check:process", processes), "connections": [], "persistence": [],
              "files": rows("check:file", files),
              "resources": rows("check:resources", [{"cpu_percent": 3.0, "hugepages": 0, "msr_loaded": False,
                                                      "addresses": list(addresses)}])}
    path.write_text(json.dumps({"format": FORMAT, "version": VERSION, "host": host, "tables": tables}),
                    encoding="utf-8")
    return path


# --- meter exports (the power dimension) ---------------------------------------------------------------

POWER_DATA = Path(__file__).parent / "data" / "power"
ORG = "示例大学 计算机学院实验室"
METER_REGISTRY = f"cidr,organisation,type,region_code,contact\n192.168.2.0/24,{ORG},university,320102,网络中心\n"
# the mappings of a metering system's readings and a marketing system's account records (docs/mapping.md)
METER_READINGS = {"table": "readings", "columns": {"account": "户号", "ts": "采集时间", "kwh": "有功电量"},
                  "time": {"timezone": "Australia/Sydney"}}
METER_ACCOUNTS = {"table": "accounts", "columns": {"account": "户号", "name": "户名", "tariff": "用电类别",
                                                   "running_kva": "运行容量", "region": "行政区划",
                                                   "organisation": "单位"}}


def households() -> dict[str, list[tuple[datetime, float]]]:
    """The real half-hourly series bundled for the tests, by customer."""
    path = next(p for p in sorted(POWER_DATA.glob("*.csv*")) if "smart_meter" in p.name)
    opener = gzip.open if path.suffix == ".gz" else open
    out: dict[str, list[tuple[datetime, float]]] = defaultdict(list)
    with opener(path, "rt", encoding="utf-8") as f:  # type: ignore[operator]
        for row in csv.DictReader(f):
            out[row["customer_id"]].append((datetime.fromisoformat(row["reading_datetime"]),
                                            float(row["general_supply_kwh"])))
    return dict(out)


def write_long(path: Path, series: dict[str, list[tuple[datetime, float]]], added_kw: dict[str, float],
               since: datetime) -> Path:
    """Readings as a metering system exports them: one row per account and half hour; ``added_kw`` is a
    constant load from ``since`` (an ASIC does not sleep)."""
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["户号", "采集时间", "有功电量"])
        for account, rows in series.items():
            extra = added_kw.get(account, 0.0) / 2  # kWh in half an hour
            for t, kwh in rows:
                w.writerow([account, t.strftime("%Y-%m-%d %H:%M:%S"), round(kwh + (extra if t >= since else 0), 3)])
    return path


# --- funds: a small bank with one of each planted shape (tests/dimensions/funds) ---------------------------------

FUNDS_T0 = 1_767_196_800  # 2026-01-01 00:00 local (UTC+8), in UTC seconds
FUNDS_RATE = 7.23  # CNY per USDT on every day of the small bank (made up for the tests)


def funds_bank() -> dict[str, list[dict[str, Any]]]:
    """Statement lines (both sides of every transfer), account records, known counterparties and USDT prices of a
    small bank: a 跑分 card ``MULE1`` (dormant, then 60 one-off payers at night, forwarded within the hour to
    ``CONS1``), an OTC merchant ``OTC1`` (whole-USDT amounts, a known exchange counterparty, remarks naming USDT),
    a three-account cycle ``CYC1`` → ``CYC2`` → ``CYC3`` → ``CYC1`` moving about 50,000 three times, and what
    must not be flagged: a shop ``SHOP1`` (regular customers by day, swept every evening to ``OWNER1``), an employer
    paying salaries, a landlord collecting rent."""
    import random

    rng = random.Random(7)
    lines: list[dict[str, Any]] = []
    serial = [0]

    def transfer(src: str, dst: str, amount: float, ts: float, remark: str | None = None, device: str | None = None,
                 outside: bool = False) -> None:
        serial[0] += 1
        base = {"txn_id": f"T{serial[0]}", "amount": round(amount, 2), "currency": "CNY", "ts": ts,
                "channel": "mobile", "remark": remark}
        lines.append({**base, "account": src, "counterparty": dst, "direction": "out", "device": device})
        if not outside:
            lines.append({**base, "account": dst, "counterparty": src, "direction": "in", "device": None})

    day = 86400.0
    people = [f"P{i:03d}" for i in range(300)]
    for d in range(30):
        t = FUNDS_T0 + d * day
        for _ in range(40):  # the shop's regulars, by day
            transfer(rng.choice(people[:40]), "SHOP1", rng.uniform(10, 200), t + rng.uniform(9, 20) * 3600)
        transfer("SHOP1", "OWNER1", 5000 + d, t + 22 * 3600, "归集")
        for _ in range(20):  # friends
            a, b = rng.sample(people, 2)
            transfer(a, b, rng.choice([50, 100, 200]), t + rng.uniform(9, 22) * 3600, "饭钱", device=f"D{a}")
        if d == 9:
            for p in people[:100]:
                transfer("EMPLOYER1", p, 8000, t + 9 * 3600, "工资")
        if d == 0:
            for p in people[100:110]:
                transfer(p, "LANDLORD1", 3000, t + 10 * 3600, "房租", device=f"D{p}")
            transfer("MULE1", "UTILITY", 80, t + 12 * 3600, "电费", device="GANG1")
        if d >= 20:  # the card wakes up: one-off payers at night, forwarded within the hour
            payers = people[150 + (d - 20) * 6: 156 + (d - 20) * 6]
            for k, p in enumerate(payers):
                ts = t + (1 + k * 0.4) * 3600 - day / 24 * 3
                transfer(p, "MULE1", 498 + 100 * k + 0.5, ts, "勿备注" if k == 0 else None, device=f"D{p}")
                transfer("MULE1", "CONS1", 498 + 100 * k + 0.5, ts + 1800, None, device="GANG1")
        if d in (5, 12, 19):  # a cycle: 50,000 round three accounts within hours, a small fee off each hop
            amount = 50_000.0
            for k, (src, dst) in enumerate((("CYC1", "CYC2"), ("CYC2", "CYC3"), ("CYC3", "CYC1"))):
                transfer(src, dst, amount, t + (10 + k) * 3600, None, device="GANG2")
                amount *= 0.99
        for k in range(8):  # the OTC merchant: whole USDT at the day's price, both ways, with strangers
            q = 200 + 37 * k + d
            stranger = people[(d * 8 + k) % 300]
            if k % 2:
                transfer(stranger, "OTC1", q * FUNDS_RATE, t + (10 + k) * 3600, "USDT" if k == 1 else None)
            else:
                transfer("OTC1", stranger, q * FUNDS_RATE, t + (10 + k) * 3600, None, device="DOTC")
        transfer("OTC1", "EXCH1", 3000 * FUNDS_RATE, t + 21 * 3600, None, device="DOTC", outside=True)
    accounts = [{"account": a, "holder": f"C{a}", "account_type": "debit", "owner_type": "person",
                 "region": "320505"} for a in sorted({x["account"] for x in lines})]
    known = [{"account": "EXCH1", "name": "某交易所结算户", "type": "exchange", "service": "binance"}]
    rates = [{"ts": FUNDS_T0 + d * day, "rate": FUNDS_RATE, "reference": "made up for the tests"} for d in range(30)]
    return {"transactions": lines, "bank_accounts": accounts, "known_counterparties": known, "usdt_rates": rates}


def funds_tables() -> dict[str, pa.Table]:
    """``funds_bank`` as the funds tables (Arrow)."""
    from minescope.dimensions.funds.tables import TABLES

    out = {}
    for name, rows in funds_bank().items():
        schema = TABLES[name]
        fixed = []
        for row in rows:
            r = dict(row)
            for f in ("ts", "opened"):
                if r.get(f) is not None:
                    r[f] = datetime.fromtimestamp(r[f], tz=UTC)
            r.setdefault("source", "mapped")
            r.setdefault("input", f"{name}.csv")
            fixed.append(r)
        out[name] = pa.Table.from_pylist(fixed, schema=schema)
    return out


def write_funds_statement(path: Path, bad_line: bool = True) -> Path:
    """``funds_bank``'s lines as a core bank exports them (local time, 借/贷; the mapping is
    tests/data/funds/statement.toml), with one line of a bad direction (冲正) unless ``bad_line`` is false."""
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["流水号", "交易卡号", "对方账号", "对方户名", "交易金额", "币种", "借贷标志", "交易时间",
                    "交易渠道", "摘要", "设备号", "IP地址"])
        for r in funds_bank()["transactions"]:
            local = datetime.fromtimestamp(r["ts"], UTC) + timedelta(hours=8)
            w.writerow([r["txn_id"], r["account"], r["counterparty"], "", f"{r['amount']:.2f}", "人民币",
                        "贷" if r["direction"] == "in" else "借", local.strftime("%Y-%m-%d %H:%M:%S"), "手机银行",
                        r["remark"] or "", r["device"] or "", ""])
        if bad_line:
            w.writerow(["X1", "MULE1", "P001", "", "10.00", "人民币", "冲正", "2026-01-05 10:00:00", "柜面", "", "",
                        ""])
    return path

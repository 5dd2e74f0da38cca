"""A carrier-scale synthetic flow dataset with planted mining sessions, for benchmarking the flow-log detectors.

    python benchmarks/flowgen.py OUT_DIR --flows 50000000 [--seed 1] [--hours 24]
                                 [--start 2026-11-01T00:00:00Z] [--planted 200] [--benign N]
    python benchmarks/flowgen.py OUT_DIR --check          # read an existing dataset back, print figures

Writes, under OUT_DIR (the columns inside the files are exactly ``minescope.dimensions.network.tables.FLOWS`` and
``DNS``; ``day`` and ``hour`` exist only as hive partition directories, from each row's ``ts`` in UTC):

    flows/day=2026-11-01/hour=00/part-00000.parquet   one file per hour, row groups of up to --chunk-rows
    dns/day=2026-11-01/hour=00/part-00000.parquet
    feeds/pool-addresses.txt                          a user feed of pool addresses (PoolIntel format)
    truth.json                                        parameters, planted sessions and decoys

Generation is chunked (``--chunk-rows``, default 1M rows: one chunk is generated, merged with the
planted rows of its time slice, sorted by ``ts`` and handed to a writer thread while the next one
is generated), so memory stays bounded whatever ``--flows`` is. Everything is vectorised with
numpy and Arrow: addresses and names are precomputed pools of strings picked by index
(``pyarrow.compute.take``); no per-flow Python object is made. Same seed, same dataset.

What the data is meant to look like — a province carrier's IPFIX export as a collector keeps it
(counters as exported: sampling is not modelled, one row per exported record):

- Volume over the day: a residential broadband curve in local time (UTC+8), trough about a fifth
  of the peak at 04:00–06:00, peak at 21:00 (``DIURNAL``); flat within each hour.
- Exporters (``input``, ``source`` = "ipfix"; ``EXPORTERS``): two probes exporting RFC 5103
  biflows with an active timeout of 1800 s (one of them also exports TLS SNI / HTTP Host, the
  only source of ``server_name``), and two BRAS routers exporting unidirectional records
  (``dst_*`` null; about 45 % of their rows are the responder → initiator direction) with an
  active timeout of 300 s — one as a live collector address, one as a collected file.
- Clients: subscribers in eight /16 access networks (100.64.0.0/16–100.69.0.0/16 of the CGNAT
  range, 10.20.0.0/16, 10.21.0.0/16) and about 10 % IPv6 subscribers with random interface ids
  in 2001:db8::/32 (documentation prefix, standing for the carrier's customer prefix). Activity
  per client is skewed (a few heavy users). Up to 300k clients.
- Servers: up to 2M distinct addresses (about 12 % IPv6, canonical RFC 5952 text) in public
  space, picked with Zipf (s = 1) popularity, so the popular few carry a large share.
- Protocols: 70 % TCP, 28 % UDP, 2 % ICMP (58 for IPv6). TCP: 443 (62 %), 80 (20 %), mail,
  SSH, RDP, RTMP, XMPP, alternative HTTP ports and some random high ports; UDP: DNS to the
  carrier's resolvers, QUIC on 443, NTP, STUN, random high ports (P2P, games). Client ports are
  ephemeral (32768–65535). Background traffic never uses a well-known stratum port
  (``pool_ports()``), so the planted sessions are the pool-port traffic there is.
- Counters are heavy-tailed: packets 1 + log-normal (median about 4), 2 % of flows Pareto
  (alpha 1.1, from 50 packets: bulk transfers and video, tail to the 5M cap), packet
  sizes log-normal (small upstream, near-MTU downstream), durations growing with packets and cut
  at the exporter's active timeout (such records have no SYN/FIN: flags 0x18). Failed TCP
  attempts (SYN only), DNS and NTP single-packet exchanges. Times in milliseconds, as IPFIX
  ``flowStartMilliseconds``.
- DNS (``source`` = "zeek_dns", two taps in front of the carrier's resolvers): about one answer
  row per 20 flows, benign generated names (``cdn-123.example-cdn.net`` style, checked against
  the bundled pool lists), A/AAAA answers that are addresses of the server pool (a name resolves
  to the servers it is the SNI of), CNAMEs for a fifth, NXDOMAIN/SERVFAIL/no-answer rows;
  ``answers`` and ``ttls`` aligned. ``sensor_uid`` is null in both tables.

Planted mining (recorded in truth.json ``sessions``; every one a TCP session from one
subscriber, client-initiated, long-lived, low-rate: 2–4 packets a minute upstream of 100–220
bytes, 1.5–3 a minute downstream of 180–320 bytes; one record per active timeout of its
exporter, and for unidirectional exporters the pool → client records as their own rows):

- ``listed``: to pool addresses in feeds/pool-addresses.txt (ports 3333, 4444, 5555, 7777, 14444,
  443, …). The feed also lists addresses nobody contacts, as real feeds do.
- ``pdns``: to addresses in no list, preceded 5 s … 0.9 × TTL (TTL 60–600 s) by a DNS answer to
  the same client for a pool host name the bundled lists know (``POOL_NAME_CANDIDATES`` that
  ``PoolIntel.match_mining_domain`` matches; printed and kept in truth.json).
- ``behaviour``: to addresses in no list, with no DNS: only the behaviour gives them away.

Decoys (truth.json ``decoys``; the connection they describe must not be found):

- ``late_connection``: a pool name resolved to an address; a *different* client connects to it
  (a few short HTTPS visits) 2 h + 5–30 min after the answer — past the TTL and past the 1 h
  window of the passive-DNS detector. The asking client is still an expected DNS-question finding.
- ``dns_only``: answers for pool names that no flow follows (the asker is an expected
  DNS-question finding; no connection finding).
- ``mqtt_keepalive`` (8883) and ``ssh_keepalive`` (22): benign long-lived, low-rate sessions.

Benign long-lived sessions (truth.json ``benign``, ``benign_counts``; rows counted in
``rows.benign_flow_rows``, not among the planted ones): what a carrier sees all day that holds one TCP
connection open with a keep-alive now and then — the shape the behaviour model looks for — and is not
mining. One session per ``BENIGN_PER_FLOWS`` (5,000) flows unless ``--benign N``; drawn from their own
seed after the planted sessions, which do not change with their number. Each class (``BENIGN_CLASSES``)
has its ports, its packets per minute and bytes per packet each way, and a few server addresses that
many clients share (a broker, a push service, a vendor cloud), except SSH (one server per session):

- ``mqtt`` (1883, 8883; 25 %): an IoT device's broker connection, PINGREQ/PINGRESP every keep-alive and
  telemetry PUBLISHes up (70–160 B up, 54–90 B down); 24 brokers.
- ``push`` (5228 FCM, 5223 APNs; 25 %): a phone's push channel, a heartbeat every 2–10 min and now and
  then a notification down; 16 servers.
- ``iot_heartbeat`` (6668, 7100, 8600, 9530, 12001 — made up; 15 %): a device's vendor-cloud heartbeat on
  a port no list names (the ranking cannot know it by port), 56–90 B packets; 8 servers.
- ``xmpp`` (5222; 10 %), ``ssh`` (22; 10 %), ``websocket`` (443, pings every 25 s and pushed updates; 10 %),
  ``vpn`` (OpenVPN over TCP 1194, PPTP 1723: an idle tunnel's keep-alives; 5 %).

None uses a stratum port (server or client side). UDP classes (NTP, IKE, QUIC) are in the background
already and are never behaviour candidates (TCP only).

Python API (``benchmarks`` is no package; put this directory on ``sys.path``):
``generate(out_dir, flows, seed=1, hours=24, start=None, planted=200, progress=True, benign=None) -> truth``
and ``summary(out_dir) -> dict`` (rows, files, partitions, distinct addresses, bytes on disk).
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import math
import queue
import shutil
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from minescope.dimensions.network.tables import DNS, FLOWS
from minescope.knowledge.pools import PoolIntel, pool_ports

CHUNK_ROWS = 1_000_000
DNS_PER_FLOWS = 20  # one DNS row per this many background flows
DEFAULT_START = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
COMPRESSION = "zstd"
HOUR_S = 3600

# Relative load per local hour (UTC+8), 00:00 … 23:00: residential broadband.
LOCAL_OFFSET_H = 8
DIURNAL = (0.62, 0.45, 0.32, 0.24, 0.20, 0.19, 0.22, 0.32, 0.45, 0.55, 0.60, 0.64,
           0.68, 0.66, 0.64, 0.65, 0.68, 0.72, 0.80, 0.90, 0.97, 1.00, 0.95, 0.80)


@dataclass(frozen=True)
class Exporter:
    input: str
    biflow: bool  # RFC 5103 reverse counters (dst_*) filled
    active_timeout: int  # seconds: a long connection becomes one record per this
    share: float
    sni: bool  # exports TLS SNI / HTTP Host as server_name


EXPORTERS = (
    Exporter("udp://10.0.0.1:4739", True, 1800, 0.30, True),
    Exporter("udp://10.0.0.2:4739", True, 1800, 0.25, False),
    Exporter("udp://10.0.1.1:4739", False, 300, 0.25, False),
    Exporter("bras-07.ipfix", False, 300, 0.20, False),
)
DNS_INPUTS = ("zeek/dns-tap01/dns.log", "zeek/dns-tap02/dns.log")
RESOLVERS_V4 = ("10.255.53.1", "10.255.53.2")
RESOLVERS_V6 = ("2001:db8:ffff:53::1", "2001:db8:ffff:53::2")

CLIENT_NETS_V4 = ((100, 64), (100, 65), (100, 66), (100, 67), (100, 68), (100, 69), (10, 20), (10, 21))
V6_CLIENT_SHARE = 0.10
V6_SERVER_SHARE = 0.12
# First octets of public IPv4 space used for servers and pools (no private, CGNAT, loopback,
# link-local, benchmark, documentation or multicast blocks inside these).
PUBLIC_V4_FIRST = np.array([o for o in range(1, 224) if o not in {10, 100, 127, 169, 172, 192, 198, 203}],
                           dtype=np.uint32)
V6_SERVER_PREFIXES = (0x2400, 0x2404, 0x2406, 0x2408, 0x240E, 0x2600, 0x2606, 0x2607, 0x2A00, 0x2A01,
                      0x2A03, 0x2A04)

TCP_PORTS = ((443, 0.62), (80, 0.20), (8080, 0.025), (8443, 0.015), (22, 0.01), (25, 0.004), (465, 0.004),
             (587, 0.005), (993, 0.012), (995, 0.003), (143, 0.002), (110, 0.002), (1935, 0.008), (5222, 0.01),
             (5228, 0.012), (3389, 0.003), (853, 0.003), (8000, 0.01), (0, 0.052))  # 0: random high port
UDP_PORTS = ((53, 0.33), (443, 0.36), (123, 0.05), (3478, 0.03), (19302, 0.02), (5353, 0.005),
             (500, 0.005), (4500, 0.01), (0, 0.19))

# Pool host names to try; those the bundled lists match are used for the "pdns" sessions.
POOL_NAME_CANDIDATES = (
    "xmr.f2pool.com", "pool.supportxmr.com", "eth.2miners.com", "stratum.antpool.com", "btc.viabtc.com",
    "xmr-eu1.nanopool.org", "gulf.moneroocean.stream", "pool.hashvault.pro", "rx.unmineable.com",
    "xmr.2miners.com", "pool.minexmr.com", "mine.c3pool.com", "de.monero.herominers.com",
)
LISTED_PORTS = ((3333, 0.25), (4444, 0.12), (5555, 0.15), (7777, 0.10), (14444, 0.12), (443, 0.14),
                (9999, 0.04), (10128, 0.08))
BEHAVIOUR_PORTS = ((3333, 0.25), (4444, 0.15), (5555, 0.15), (7777, 0.10), (443, 0.15), (10128, 0.10),
                   (2222, 0.10))

# Benign generated names: host prefixes × number × second-level × top-level domain.
NAME_PREFIXES = ("cdn", "img", "static", "api", "www", "m", "video", "edge", "push", "log", "dl", "update",
                 "ws", "gw", "s")
NAME_SLDS = ("example-cdn", "shopmart", "newsdaily", "videohub", "cloudstore", "mapsvc", "chatapp", "musicbox",
             "gamezone", "edu-portal", "govinfo", "bankonline", "travelgo", "weatherly", "photoshare",
             "fooddeliver", "ridehail", "adnetwork", "analytics-svc", "updates-os", "appstore-cdn", "mailhost",
             "searchly", "socialnet", "livestream", "e-reader", "fintrack", "healthinfo", "jobsearch",
             "carsales")
NAME_TLDS = ("com", "net", "cn", "com.cn", "org", "io")
EDGE_DOMAINS = ("edgecache-cdn.net", "fastedge.net", "globalcdn.com")

TS_MS = pa.timestamp("ms", tz="UTC")
STRATUM_AVOID = np.array(sorted(pool_ports()), dtype=np.int32)  # no client port of a session is a stratum port


# ------------------------------------------------------------------------------------ pools


def _v4_text(addrs: np.ndarray) -> pa.Array:
    """uint32 addresses → dotted-quad strings, vectorised."""
    a = addrs.astype(np.uint32)
    octets = [pa.array(((a >> s) & 0xFF).astype(np.uint8)).cast(pa.string()) for s in (24, 16, 8, 0)]
    return pc.binary_join_element_wise(*octets, ".")


def _v6_text(values: Sequence[int]) -> list[str]:
    return [str(ipaddress.IPv6Address(v)) for v in values]


def _public_v4(rng: np.random.Generator, n: int) -> np.ndarray:
    first = rng.choice(PUBLIC_V4_FIRST, n)
    rest = rng.integers(0, 1 << 16, n, dtype=np.uint32)
    last = rng.integers(1, 255, n, dtype=np.uint32)
    return (first << 24) | (rest << 8) | last


def _v6_server_ints(rng: np.random.Generator, n: int) -> list[int]:
    prefix = rng.choice(np.array(V6_SERVER_PREFIXES, dtype=np.uint64), n)
    g2 = rng.integers(0, 1 << 16, n, dtype=np.uint64)
    g3 = rng.integers(0, 1 << 16, n, dtype=np.uint64)
    subnet = rng.integers(0, 1 << 8, n, dtype=np.uint64)  # /64 subnet: small numbers, like real plans
    high = (prefix << np.uint64(48)) | (g2 << np.uint64(32)) | (g3 << np.uint64(16)) | subnet
    small = rng.random(n) < 0.5  # servers often have short interface ids (::1, ::200e)
    iid = np.where(small, rng.integers(1, 1 << 16, n, dtype=np.uint64),
                   rng.integers(1 << 32, np.iinfo(np.int64).max, n, dtype=np.int64).astype(np.uint64))
    return [(int(h) << 64) | int(i) for h, i in zip(high.tolist(), iid.tolist(), strict=True)]


@dataclass
class Pools:
    """Precomputed strings that rows pick by index."""
    addrs: pa.Array  # clients (v4 then v6), then servers (v4 then v6), then resolvers (v4 then v6)
    n_c4: int
    n_c6: int
    n_s4: int
    n_s6: int
    names: pa.Array  # benign host names; server s has name s % len(names)
    edge_names: pa.Array  # CNAME targets
    server_v4_sorted: np.ndarray  # for keeping planted addresses out of the background
    server_v6_set: frozenset[str]

    @property
    def n_clients(self) -> int:
        return self.n_c4 + self.n_c6

    @property
    def server0(self) -> int:
        return self.n_clients

    @property
    def resolver0(self) -> int:
        return self.n_clients + self.n_s4 + self.n_s6

    def client_text(self, i: int) -> str:
        return str(self.addrs[i].as_py())


def _sizes(flows: int) -> tuple[int, int, int]:
    clients = min(300_000, max(1000, flows // 150))
    servers = min(2_000_000, max(2000, flows // 25))
    names = min(200_000, max(1000, flows // 250))
    return clients, servers, names


def build_pools(rng: np.random.Generator, flows: int) -> Pools:
    n_clients, n_servers, n_names = _sizes(flows)
    n_c6 = max(10, round(n_clients * V6_CLIENT_SHARE))
    n_c4 = n_clients - n_c6
    n_s6 = max(10, round(n_servers * V6_SERVER_SHARE))
    n_s4 = n_servers - n_s6

    # clients: distinct hosts of the access /16s, in random order (order = activity rank)
    host = rng.choice(len(CLIENT_NETS_V4) * 65536, n_c4, replace=False).astype(np.uint32)
    nets = np.array([(a << 24) | (b << 16) for a, b in CLIENT_NETS_V4], dtype=np.uint32)
    c4 = nets[host >> 16] | (host & 0xFFFF)
    low = c4 & 0xFF
    c4 = np.where(low == 0, c4 | 1, np.where(low == 255, c4 - 1, c4))
    c4 = np.unique(c4)
    n_c4 = len(c4)
    c4 = rng.permutation(c4)
    sub = rng.integers(0, 1 << 32, n_c6, dtype=np.uint64)  # 2001:db8:XXXX:XXXX::/64 per subscriber
    iid = rng.integers(1 << 48, np.iinfo(np.int64).max, n_c6, dtype=np.int64).astype(np.uint64)
    c6 = _v6_text([(0x20010DB8 << 96) | (int(s) << 64) | int(i) for s, i in zip(sub.tolist(), iid.tolist(),
                                                                               strict=True)])

    # servers: distinct public addresses; order = popularity rank
    s4 = np.unique(_public_v4(rng, int(n_s4 * 1.02) + 16))
    s4 = rng.permutation(s4)[:n_s4]
    n_s4 = len(s4)
    s6 = list(dict.fromkeys(_v6_text(_v6_server_ints(rng, n_s6))))
    n_s6 = len(s6)

    addrs = pa.concat_arrays([
        _v4_text(c4), pa.array(c6, pa.string()), _v4_text(s4), pa.array(s6, pa.string()),
        pa.array(RESOLVERS_V4 + RESOLVERS_V6, pa.string()),
    ])
    return Pools(addrs=addrs, n_c4=n_c4, n_c6=n_c6, n_s4=n_s4, n_s6=n_s6,
                 names=pa.array(_benign_names(rng, n_names), pa.string()),
                 edge_names=pa.array([f"e{k}.a.{d}" for d in EDGE_DOMAINS for k in range(1, 3001)], pa.string()),
                 server_v4_sorted=np.sort(s4), server_v6_set=frozenset(s6))


def _benign_names(rng: np.random.Generator, n: int) -> list[str]:
    p, k, s, t = len(NAME_PREFIXES), 999, len(NAME_SLDS), len(NAME_TLDS)
    combos = rng.choice(p * k * s * t, n, replace=False)
    out = []
    for c in combos.tolist():
        c, pi = divmod(c, p)
        c, ki = divmod(c, k)
        ti, si = divmod(c, s)
        out.append(f"{NAME_PREFIXES[pi]}-{ki + 1}.{NAME_SLDS[si]}.{NAME_TLDS[ti]}")
    return out


def benign_domains() -> list[str]:
    """Every registered domain the background names and CNAMEs use (to check against the lists)."""
    return [f"{sld}.{tld}" for sld in NAME_SLDS for tld in NAME_TLDS] + list(EDGE_DOMAINS)


def pool_names(intel: PoolIntel) -> list[str]:
    """The candidate pool host names the bundled lists call mining names."""
    return [n for n in POOL_NAME_CANDIDATES if intel.match_mining_domain(n) is not None]


# ------------------------------------------------------------------------------------ background


def _zipf(rng: np.random.Generator, n_pool: int, size: int) -> np.ndarray:
    """Ranks 0..n_pool-1 with Zipf (s = 1) popularity: log-uniform rank."""
    if n_pool <= 1:
        return np.zeros(size, dtype=np.int64)
    r = np.floor(np.exp(rng.random(size) * math.log(n_pool))).astype(np.int64) - 1
    return np.minimum(r, n_pool - 1)


def _skewed(rng: np.random.Generator, n_pool: int, size: int) -> np.ndarray:
    """Client activity: index = floor(n · u³) — the first 1 % of clients make about a fifth of flows."""
    return np.minimum((n_pool * rng.random(size) ** 3).astype(np.int64), n_pool - 1)


def _ports(rng: np.random.Generator, table: tuple[tuple[int, float], ...], size: int,
           avoid: np.ndarray) -> np.ndarray:
    values = np.array([p for p, _ in table], dtype=np.int32)
    probs = np.array([w for _, w in table])
    out = rng.choice(values, size, p=probs / probs.sum())
    high = out == 0
    n = int(high.sum())
    if n:
        h = rng.integers(1024, 65536, n, dtype=np.int32)
        out[high] = _off(h, avoid)  # keep off the stratum ports
    return out


def _off(ports: np.ndarray, avoid: np.ndarray) -> np.ndarray:
    """Ports moved up past the stratum ports (some are adjacent: 3333, 3334)."""
    while (hit := np.isin(ports, avoid)).any():
        ports = np.where(hit, ports + 1, ports)
    return ports


def _masked(values: np.ndarray, null: np.ndarray | None, typ: pa.DataType) -> pa.Array:
    return pa.array(values, typ, mask=null if null is not None and null.any() else None)


def _take(strings: pa.Array, idx: np.ndarray, null: np.ndarray | None = None) -> pa.Array:
    indices = pa.array(idx, pa.int64(), mask=null if null is not None and null.any() else None)
    return pc.take(strings, indices)


def background_flows(rng: np.random.Generator, pools: Pools, n: int, t0_ms: int, t1_ms: int) -> pa.Table:
    """``n`` background flow rows with start times in [t0_ms, t1_ms), sorted by time."""
    ts = np.sort(rng.integers(t0_ms, t1_ms, n, dtype=np.int64))
    shares = np.array([e.share for e in EXPORTERS])
    exp = rng.choice(len(EXPORTERS), n, p=shares / shares.sum())
    biflow = np.array([e.biflow for e in EXPORTERS])[exp]
    timeout = np.array([e.active_timeout for e in EXPORTERS], dtype=np.float64)[exp]
    sni = np.array([e.sni for e in EXPORTERS])[exp]

    v6 = rng.random(n) < V6_CLIENT_SHARE
    client = np.where(v6, pools.n_c4 + _skewed(rng, pools.n_c6, n), _skewed(rng, pools.n_c4, n))
    server = np.where(v6, pools.n_s4 + _zipf(rng, pools.n_s6, n), _zipf(rng, pools.n_s4, n))  # within servers

    r = rng.random(n)
    tcp, udp = r < 0.70, (r >= 0.70) & (r < 0.98)
    icmp = ~(tcp | udp)
    proto = np.where(tcp, 6, np.where(udp, 17, np.where(v6, 58, 1))).astype(np.uint8)
    avoid = np.array(sorted(pool_ports()), dtype=np.int32)
    dport = np.where(tcp, _ports(rng, TCP_PORTS, n, avoid), _ports(rng, UDP_PORTS, n, avoid)).astype(np.int32)
    cport = rng.integers(32768, 65536, n, dtype=np.int32)
    cport = _off(cport, avoid)  # 45560, 45700: stratum ports too
    dns = udp & (dport == 53)
    resolver = pools.resolver0 + np.where(v6, 2, 0) + (rng.random(n) < 0.5)
    server_g = np.where(dns, resolver, pools.server0 + server)

    # counters: heavy-tailed packets, log-normal packet sizes
    hdr = np.where(v6, 20, 0)
    pk_f = 1 + np.floor(rng.lognormal(1.2, 1.5, n)).astype(np.int64)
    elephant = (tcp | udp) & (rng.random(n) < 0.02)  # bulk transfers, video: Pareto tail (alpha 1.1)
    pk_f = np.where(elephant, 50 + (50 * rng.pareto(1.1, n)).astype(np.int64), pk_f)
    pk_f = np.minimum(pk_f, 5_000_000)
    pk_r = np.maximum(0, np.rint(pk_f * rng.lognormal(0.2, 0.5, n))).astype(np.int64)
    size_f = np.clip(rng.lognormal(math.log(110), 0.7, n), 40, 1500)
    size_r = np.clip(rng.lognormal(math.log(900), 0.5, n), 40, 1500)
    quic = udp & (dport == 443)
    size_f = np.where(quic, np.clip(size_f * 2.0, 60, 1350), size_f)
    single = dns | (udp & (dport == 123))
    pk_f = np.where(single, 1, pk_f)
    pk_r = np.where(single, (rng.random(n) < 0.97).astype(np.int64), pk_r)
    size_f = np.where(dns, rng.integers(60, 100, n), np.where(single, 76, size_f))
    size_r = np.where(dns, rng.integers(90, 500, n), np.where(single, 76, size_r))
    failed = tcp & (rng.random(n) < 0.06)  # SYN unanswered or refused
    pk_f = np.where(failed, rng.integers(1, 3, n), pk_f)
    pk_r = np.where(failed, (rng.random(n) < 0.4).astype(np.int64), pk_r)
    size_f = np.where(failed, 60 + hdr, size_f)
    size_r = np.where(failed, 40 + hdr, size_r)
    pk_f = np.where(icmp, rng.integers(1, 5, n), pk_f)
    pk_r = np.where(icmp, np.minimum(pk_f, pk_r), pk_r)
    size_f = np.where(icmp, 84 + hdr, size_f)
    size_r = np.where(icmp, 84 + hdr, size_r)
    by_f = (pk_f * size_f).astype(np.int64)
    by_r = (pk_r * size_r).astype(np.int64)

    gap = rng.lognormal(math.log(0.05), 1.2, n)  # seconds between packets
    dur = np.minimum(timeout, (pk_f + pk_r - 1) * gap)
    dur = np.where(single, rng.uniform(0.001, 0.06, n) * (pk_r > 0), dur)
    dur = np.round(dur, 3)
    cut = tcp & (dur >= timeout)

    fr = rng.random(n)
    flags = np.where(fr < 0.78, 0x1B, np.where(fr < 0.88, 0x1F, np.where(fr < 0.97, 0x1A, 0x19)))
    flags = np.where(cut, 0x18, np.where(failed, 0x02, flags))
    rflags = np.where(failed, 0x14, np.where(cut, 0x18, flags))  # responder: SYN-ACK … or RST-ACK

    # unidirectional exporters: part of their rows are the responder → initiator direction
    rev = ~biflow & (pk_r > 0) & (rng.random(n) < 0.45)
    c_g = client
    src_g = np.where(rev, server_g, c_g)
    dst_g = np.where(rev, c_g, server_g)
    sport = np.where(rev, dport, cport)
    dport_row = np.where(rev, cport, dport)
    src_pk = np.where(rev, pk_r, pk_f)
    src_by = np.where(rev, by_r, by_f)
    tcp_flags = np.where(rev, rflags, flags).astype(np.uint8)
    uni = ~biflow

    has_name = sni & tcp & ~failed & ((dport == 443) | (dport == 80)) & (rng.random(n) < 0.8)
    name_idx = np.where(server < pools.n_s4, server, server - pools.n_s4) % len(pools.names)

    inputs = pa.array([e.input for e in EXPORTERS], pa.string())
    null_str = pa.nulls(n, pa.string())
    return pa.Table.from_arrays([
        pa.array(ts, pa.int64()).cast(TS_MS).cast(FLOWS.field("ts").type),
        pa.array(dur, pa.float64()),
        _take(pools.addrs, src_g), _take(pools.addrs, dst_g),
        _masked(sport, icmp, pa.int32()), _masked(dport_row, icmp, pa.int32()),
        pa.array(proto, pa.uint8()),
        pa.array(src_pk, pa.int64()), pa.array(src_by, pa.int64()),
        _masked(pk_r, uni, pa.int64()), _masked(by_r, uni, pa.int64()),
        _masked(tcp_flags, ~tcp, pa.uint8()),
        _take(pools.names, name_idx, ~has_name),
        null_str, null_str, null_str,
        _take(pa.array(["ipfix"], pa.string()), np.zeros(n, dtype=np.int64)),
        _take(inputs, exp),
    ], schema=FLOWS)


def background_dns(rng: np.random.Generator, pools: Pools, n: int, t0_ms: int, t1_ms: int) -> pa.Table:
    """``n`` DNS rows with times in [t0, t1), sorted; answers are server-pool addresses / CNAMEs."""
    ts = np.sort(rng.integers(t0_ms * 1000, t1_ms * 1000, n, dtype=np.int64))
    v6 = rng.random(n) < V6_CLIENT_SHARE
    client = np.where(v6, pools.n_c4 + _skewed(rng, pools.n_c6, n), _skewed(rng, pools.n_c4, n))
    resolver = pools.resolver0 + np.where(v6, 2, 0) + (rng.random(n) < 0.5)
    n_names = len(pools.names)
    q = _zipf(rng, n_names, n)
    qr = rng.random(n)
    qtype = np.where(qr < 0.72, 0, np.where(qr < 0.97, 1, 2))  # A, AAAA, HTTPS
    rr = rng.random(n)
    rcode = np.where(rr < 0.94, 0, np.where(rr < 0.98, 1, np.where(rr < 0.99, 2, 3)))  # …, null
    answered = (rcode == 0) & (qtype < 2) & ~((qtype == 1) & (rng.random(n) < 0.3))
    k = rng.random(n)
    n_addr = np.where(qtype == 0, np.where(k < 0.5, 1, np.where(k < 0.75, 2, np.where(k < 0.9, 3, 4))),
                      np.where(k < 0.7, 1, 2))
    has_cname = answered & (rng.random(n) < 0.2)
    count = np.where(answered, n_addr + has_cname, 0)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(count, out=offsets[1:])
    row = np.repeat(np.arange(n), count)
    pos = np.arange(int(offsets[-1])) - offsets[row]
    cname = has_cname[row] & (pos == 0)
    ordinal = pos - has_cname[row]
    qv = q[row]
    addr = np.where(qtype[row] == 1, pools.n_s4 + (qv + ordinal * n_names) % pools.n_s6,
                    (qv + ordinal * n_names) % pools.n_s4)
    n_servers = pools.n_s4 + pools.n_s6
    answer_strings = pa.concat_arrays([pools.addrs.slice(pools.server0, n_servers), pools.edge_names])
    value_idx = np.where(cname, n_servers + qv % len(pools.edge_names), addr)
    ttl_choices = np.array([60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0])
    ttl_row = rng.choice(ttl_choices, n, p=[0.15, 0.15, 0.30, 0.20, 0.10, 0.10])
    ttl_vals = np.where(cname, 3600.0, ttl_row[row])
    offsets32 = pa.array(offsets.astype(np.int32))
    no_answer = pa.array(~answered)
    answers = pa.ListArray.from_arrays(offsets32, pc.take(answer_strings, pa.array(value_idx, pa.int64())),
                                       mask=no_answer)
    ttls = pa.ListArray.from_arrays(offsets32, pa.array(ttl_vals, pa.float64()), mask=no_answer)
    qtypes = pa.array(["A", "AAAA", "HTTPS"], pa.string())
    rcodes = pa.array(["NOERROR", "NXDOMAIN", "SERVFAIL"], pa.string())
    return pa.Table.from_arrays([
        pa.array(ts, pa.int64()).cast(DNS.field("ts").type),
        _take(pools.addrs, client), _take(pools.addrs, resolver),
        _take(pools.names, q), _take(qtypes, qtype), _take(rcodes, np.minimum(rcode, 2), rcode == 3),
        answers, ttls, pa.nulls(n, pa.string()),
        _take(pa.array(["zeek_dns"], pa.string()), np.zeros(n, dtype=np.int64)),
        _take(pa.array(DNS_INPUTS, pa.string()), rng.integers(0, len(DNS_INPUTS), n)),
    ], schema=DNS)


# ------------------------------------------------------------------------------------ planted


class Planter:
    """Planted sessions and decoys: rows gathered as Python lists (tens of thousands at most)."""

    def __init__(self, rng: np.random.Generator, pools: Pools, t0_ms: int, t1_ms: int) -> None:
        self.rng = rng
        self.pools = pools
        self.t0, self.t1 = t0_ms, t1_ms
        self.flows: dict[str, list[Any]] = {f.name: [] for f in FLOWS}
        self.dns: dict[str, list[Any]] = {f.name: [] for f in DNS}
        self.used_v4: set[int] = set()
        self.used_v6: set[str] = set()
        self.used_clients: set[int] = set()

    # addresses
    def fresh_address(self, v6: bool) -> str:
        """A public address used nowhere else: not a background server, not planted before."""
        while True:
            if v6:
                text = _v6_text(_v6_server_ints(self.rng, 1))[0]
                if text not in self.pools.server_v6_set and text not in self.used_v6:
                    self.used_v6.add(text)
                    return text
            else:
                value = int(_public_v4(self.rng, 1)[0])
                i = np.searchsorted(self.pools.server_v4_sorted, value)
                known = i < len(self.pools.server_v4_sorted) and int(self.pools.server_v4_sorted[i]) == value
                if not known and value not in self.used_v4:
                    self.used_v4.add(value)
                    return str(ipaddress.IPv4Address(value))

    def fresh_client(self, v6: bool) -> str:
        """A subscriber (with background traffic of its own) not yet a planted subject."""
        p = self.pools
        while True:
            i = int(p.n_c4 + self.rng.integers(0, p.n_c6)) if v6 else int(self.rng.integers(0, p.n_c4))
            if i not in self.used_clients:
                self.used_clients.add(i)
                return p.client_text(i)

    def resolver(self, v6: bool) -> str:
        return str(self.rng.choice(RESOLVERS_V6 if v6 else RESOLVERS_V4))

    def exporter(self) -> Exporter:
        shares = np.array([e.share for e in EXPORTERS])
        return EXPORTERS[int(self.rng.choice(len(EXPORTERS), p=shares / shares.sum()))]

    def port(self, table: tuple[tuple[int, float], ...]) -> int:
        probs = np.array([w for _, w in table])
        return int(table[int(self.rng.choice(len(table), p=probs / probs.sum()))][0])

    # rows
    def add_flow(self, ts_ms: int, dur: float, src: str, dst: str, sport: int, dport: int,
                 pk: int, by: int, rpk: int | None, rby: int | None, flags: int, exporter: Exporter) -> None:
        row = {"ts": ts_ms, "duration_s": round(dur, 3), "src_ip": src, "dst_ip": dst, "src_port": sport,
               "dst_port": dport, "proto": 6, "src_packets": pk, "src_bytes": by, "dst_packets": rpk,
               "dst_bytes": rby, "tcp_flags": flags, "source": "ipfix", "input": exporter.input}
        for name, col in self.flows.items():
            col.append(row.get(name))

    def add_dns(self, ts_ms: int, client: str, query: str, answers: list[str], ttl: float, v6: bool) -> None:
        row = {"ts": ts_ms * 1000, "client_ip": client, "resolver_ip": self.resolver(v6), "query": query,
               "qtype": "AAAA" if v6 else "A", "rcode": "NOERROR", "answers": answers,
               "ttls": [ttl] * len(answers), "source": "zeek_dns",
               "input": DNS_INPUTS[int(self.rng.integers(0, len(DNS_INPUTS)))]}
        for name, col in self.dns.items():
            col.append(row.get(name))

    def session(self, subject: str, peer: str, dport: int, start_ms: int, end_ms: int, exporter: Exporter,
                up: tuple[float, float, float, float], down: tuple[float, float, float, float]) -> dict[str, Any]:
        """A long-lived TCP connection cut into one record per active timeout.

        ``up``/``down``: (packets per minute low, high, bytes per packet low, high).
        """
        rng = self.rng
        sport = int(_off(np.array([rng.integers(32768, 65536)], dtype=np.int32), STRATUM_AVOID)[0])
        timeout_ms = exporter.active_timeout * 1000
        t = start_ms
        records: list[tuple[int, int]] = []
        while t < end_ms - 1000:
            d = min(timeout_ms - int(rng.integers(0, 3000)), end_ms - t)
            records.append((t, d))
            t += timeout_ms + int(rng.integers(200, 5000))
        fwd = rev = 0
        total = 0
        for k, (t, d) in enumerate(records):
            minutes = d / 60000
            pk = max(1, round(minutes * rng.uniform(up[0], up[1])))
            by = int(pk * rng.uniform(up[2], up[3]))
            rpk = max(1, round(minutes * rng.uniform(down[0], down[1])))
            rby = int(rpk * rng.uniform(down[2], down[3]))
            first, last = k == 0, k == len(records) - 1
            flags = 0x1A if first else 0x19 if last else 0x18
            if exporter.biflow:
                self.add_flow(t, d / 1000, subject, peer, sport, dport, pk, by, rpk, rby, flags, exporter)
            else:
                self.add_flow(t, d / 1000, subject, peer, sport, dport, pk, by, None, None, flags, exporter)
                rt = t + int(rng.integers(20, 400))  # the reverse record starts with the first reply
                self.add_flow(rt, max(0, d - (rt - t)) / 1000, peer, subject, dport, sport, rpk, rby, None, None,
                              flags, exporter)
                rev += 1
            fwd += 1
            total += by + rby
        return {"subject": subject, "pool_ip": peer, "port": dport, "proto": 6, "src_port": sport,
                "input": exporter.input, "active_timeout_s": exporter.active_timeout,
                "first_ts": _iso(records[0][0]), "last_ts": _iso(records[-1][0]),
                "end_ts": _iso(records[-1][0] + records[-1][1]), "flows": fwd, "reverse_rows": rev, "bytes": total}

    def span(self, min_len_ms: int, median_h: float) -> tuple[int, int]:
        """A session's start and end inside the dataset: log-normal length, at least min_len_ms."""
        total = self.t1 - self.t0
        min_len = min(min_len_ms, total // 2)
        length = int(self.rng.lognormal(math.log(median_h * 3600_000), 0.6))
        length = max(min_len, min(length, total - 120_000))
        start = self.t0 + int(self.rng.integers(60_000, max(60_001, total - length - 60_000)))
        return start, min(start + length, self.t1 - 60_000)

    def table(self, schema: pa.Schema, cols: dict[str, list[Any]]) -> pa.Table:
        arrays = []
        for f in schema:
            if f.name == "ts":  # flows: milliseconds (IPFIX); dns: microseconds (Zeek)
                unit = TS_MS if schema is FLOWS else f.type
                arrays.append(pa.array(cols["ts"], pa.int64()).cast(unit).cast(f.type))
            else:
                arrays.append(pa.array(cols[f.name], f.type))
        return pa.Table.from_arrays(arrays, schema=schema).sort_by("ts")


MINING_UP = (2.0, 4.0, 100.0, 220.0)
MINING_DOWN = (1.5, 3.0, 180.0, 320.0)


def plant(rng: np.random.Generator, pools: Pools, t0_ms: int, t1_ms: int, planted: int,
          names: list[str], benign: int = 0,
          benign_rng: np.random.Generator | None = None) -> tuple[pa.Table, pa.Table, dict[str, Any]]:
    """The planted sessions and decoys: (flows rows, dns rows, truth parts); and ``benign`` benign
    long-lived sessions (``plant_benign``, drawn from ``benign_rng`` after everything else, so the planted
    sessions do not depend on their number) as ``parts["benign_flows"]`` and ``parts["benign"]``."""
    p = Planter(rng, pools, t0_ms, t1_ms)
    n_behaviour = max(1, round(planted * 0.10)) if planted >= 3 else 0
    n_pdns = round(planted * 0.35) if names else 0
    n_listed = planted - n_behaviour - n_pdns
    n_decoy = max(2, planted // 20) if planted > 0 else 0
    sessions: list[dict[str, Any]] = []
    decoys: list[dict[str, Any]] = []

    # feed: pools that are contacted, and as many again that nobody contacts
    listed_pools = [p.fresh_address(rng.random() < 0.15) for _ in range(max(3, n_listed // 3))]
    feed = listed_pools + [p.fresh_address(rng.random() < 0.15) for _ in range(len(listed_pools))]

    for i in range(n_listed):
        pool = listed_pools[int(rng.integers(0, len(listed_pools)))]
        v6 = ":" in pool
        start, end = p.span(3600_000, 4.0)
        s = p.session(p.fresh_client(v6), pool, p.port(LISTED_PORTS), start, end, p.exporter(),
                      MINING_UP, MINING_DOWN)
        sessions.append({"id": f"listed-{i:04d}", "kind": "listed", **s})

    # pdns: each pool name resolves to 1–2 addresses of its own (v4), a few also to one v6
    name_addrs: dict[str, dict[bool, list[str]]] = {}
    for n in names:
        name_addrs[n] = {False: [p.fresh_address(False) for _ in range(int(rng.integers(1, 3)))],
                         True: [p.fresh_address(True)] if rng.random() < 0.3 else []}
    for i in range(n_pdns):
        name = names[int(rng.integers(0, len(names)))]
        v6 = bool(name_addrs[name][True]) and rng.random() < 0.3
        answers = name_addrs[name][v6]
        pool = answers[int(rng.integers(0, len(answers)))]
        subject = p.fresh_client(v6)
        ttl = float(rng.choice([60.0, 120.0, 300.0, 600.0]))
        start, end = p.span(3600_000, 3.0)
        gap_ms = int(rng.uniform(5.0, 0.9 * ttl) * 1000)
        start = max(start, p.t0 + gap_ms + 60_000)
        dns_ms = start - gap_ms
        p.add_dns(dns_ms, subject, name, answers, ttl, v6)
        s = p.session(subject, pool, p.port(LISTED_PORTS), start, end, p.exporter(), MINING_UP, MINING_DOWN)
        sessions.append({"id": f"pdns-{i:04d}", "kind": "pdns", **s,
                         "dns": {"ts": _iso(dns_ms), "query": name, "answers": answers, "ttl": ttl,
                                 "client_ip": subject}})

    for i in range(n_behaviour):
        v6 = rng.random() < 0.15
        start, end = p.span(3600_000, 4.0)
        s = p.session(p.fresh_client(v6), p.fresh_address(v6), p.port(BEHAVIOUR_PORTS), start, end, p.exporter(),
                      MINING_UP, MINING_DOWN)
        sessions.append({"id": f"behaviour-{i:04d}", "kind": "behaviour", **s})

    # decoys ------------------------------------------------------------------------------
    total = t1_ms - t0_ms
    for i in range(n_decoy if names else 0):
        name = names[int(rng.integers(0, len(names)))]
        ttl = float(rng.choice([60.0, 300.0, 600.0]))
        gap_ms = int((7200 + rng.uniform(300, 1800)) * 1000)
        if total < gap_ms + 600_000:
            break  # too short a dataset for a late connection
        addr = p.fresh_address(False)
        asker, visitor = p.fresh_client(False), p.fresh_client(False)
        dns_ms = t0_ms + int(rng.integers(60_000, total - gap_ms - 300_000))
        p.add_dns(dns_ms, asker, name, [addr], ttl, False)
        exporter = p.exporter()
        first = dns_ms + gap_ms
        visits = int(rng.integers(1, 4))
        sport0 = int(rng.integers(32768, 60000))
        for v in range(visits):
            t = first + v * int(rng.integers(30_000, 90_000))
            pk, rpk = int(rng.integers(8, 40)), int(rng.integers(10, 60))
            by, rby = pk * int(rng.integers(90, 200)), rpk * int(rng.integers(600, 1400))
            dur = float(rng.uniform(1.0, 20.0))
            if exporter.biflow:
                p.add_flow(t, dur, visitor, addr, sport0 + v, 443, pk, by, rpk, rby, 0x1B, exporter)
            else:
                p.add_flow(t, dur, visitor, addr, sport0 + v, 443, pk, by, None, None, 0x1B, exporter)
        decoys.append({"id": f"late-{i:04d}", "kind": "late_connection", "subject": visitor, "peer_ip": addr,
                       "port": 443, "input": exporter.input, "flows": visits, "first_ts": _iso(first),
                       "dns": {"ts": _iso(dns_ms), "query": name, "answers": [addr], "ttl": ttl, "client_ip": asker},
                       "why": "connection starts more than 2 h after the only answer for the address, past its TTL "
                              "and the passive-DNS window",
                       "expected": "no finding for subject/peer; the asker is a DNS-question finding"})
    for i in range(n_decoy if names else 0):
        name = names[int(rng.integers(0, len(names)))]
        ttl = float(rng.choice([60.0, 300.0, 600.0]))
        addrs = [p.fresh_address(False) for _ in range(int(rng.integers(1, 3)))]
        asker = p.fresh_client(False)
        dns_ms = t0_ms + int(rng.integers(60_000, total - 60_000))
        p.add_dns(dns_ms, asker, name, addrs, ttl, False)
        decoys.append({"id": f"dns-only-{i:04d}", "kind": "dns_only", "subject": asker, "peer_ips": addrs,
                       "flows": 0, "dns": {"ts": _iso(dns_ms), "query": name, "answers": addrs, "ttl": ttl,
                                           "client_ip": asker},
                       "why": "a pool name was resolved but no flow goes to its addresses",
                       "expected": "no connection finding; the asker is a DNS-question finding"})
    keepalives = (("mqtt_keepalive", 8883, (1.0, 1.2, 60.0, 90.0), (1.0, 1.2, 60.0, 90.0),
                   "MQTT over TLS: an IoT device's keep-alive PINGREQ/PINGRESP every 60 s"),
                  ("ssh_keepalive", 22, (1.0, 2.2, 90.0, 150.0), (1.0, 2.2, 90.0, 150.0),
                   "an idle SSH session with ServerAliveInterval 30–60 s"))
    for kind, port, up, down, why in keepalives:
        for i in range(n_decoy):
            v6 = rng.random() < 0.1
            start, end = p.span(3600_000, 6.0)
            s = p.session(p.fresh_client(v6), p.fresh_address(v6), port, start, end, p.exporter(), up, down)
            s["peer_ip"] = s.pop("pool_ip")
            decoys.append({"id": f"{kind.split('_')[0]}-{i:04d}", "kind": kind, **s, "why": why,
                           "expected": "no finding"})

    flows = p.table(FLOWS, p.flows)
    dns = p.table(DNS, p.dns)
    p.flows = {f.name: [] for f in FLOWS}
    p.rng = benign_rng if benign_rng is not None else p.rng
    benign_sessions = plant_benign(p, benign)
    return flows, dns, {"sessions": sessions, "decoys": decoys, "feed_addresses": feed,
                        "listed_pools": listed_pools,
                        "pdns_names": {n: a[False] + a[True] for n, a in name_addrs.items()},
                        "benign": benign_sessions, "benign_flows": p.table(FLOWS, p.flows)}


@dataclass(frozen=True)
class BenignClass:
    """Long-lived TCP sessions a carrier sees all day that are not mining: ground truth negatives."""
    kind: str
    share: float  # of the benign sessions
    ports: tuple[tuple[int, float], ...]
    up: tuple[float, float, float, float]  # packets per minute low, high; mean bytes per packet low, high
    down: tuple[float, float, float, float]
    servers: int  # distinct server addresses the class's sessions go to (0: a fresh one per session)
    median_h: float  # session length
    why: str


# IP bytes per packet: an ACK-only packet is 52 (IPv4, TCP timestamps), an MQTT PINGRESP 54, a ping
# wrapped in TLS about 85. Rates count both pings and their ACKs.
BENIGN_CLASSES = (
    BenignClass("mqtt", 0.25, ((1883, 0.4), (8883, 0.6)), (1.5, 3.0, 70.0, 160.0), (1.0, 2.0, 54.0, 90.0), 24, 12.0,
                "an IoT device's MQTT connection to its cloud broker: PINGREQ/PINGRESP every keep-alive "
                "(MQTT 3.1.1 section 3.1.2.10, commonly 60 s) and telemetry PUBLISHes up, acknowledged down"),
    BenignClass("push", 0.25, ((5228, 0.6), (5223, 0.4)), (0.1, 0.5, 80.0, 110.0), (0.1, 0.6, 80.0, 300.0), 16,
                12.0, "a phone's push channel, Google FCM (5228) or Apple APNs (5223): a heartbeat every 2-10 min "
                      "and now and then a notification down"),
    BenignClass("iot_heartbeat", 0.15, ((6668, 0.2), (7100, 0.2), (8600, 0.2), (9530, 0.2), (12001, 0.2)),
                (0.5, 2.0, 60.0, 90.0), (0.5, 2.0, 56.0, 80.0), 8, 12.0,
                "a camera's or plug's heartbeat to its vendor cloud on a vendor port (made up here: a service "
                "the ranking's port list does not know)"),
    BenignClass("xmpp", 0.10, ((5222, 1.0),), (0.5, 2.0, 70.0, 160.0), (0.5, 2.5, 70.0, 300.0), 12, 6.0,
                "a chat app on XMPP's port 5222: whitespace keep-alives (RFC 6120 section 4.6.1) and short "
                "messages"),
    BenignClass("ssh", 0.10, ((22, 1.0),), (1.0, 2.2, 90.0, 150.0), (1.0, 2.2, 90.0, 150.0), 0, 3.0,
                "an idle SSH session with ServerAliveInterval 30-60 s"),
    BenignClass("websocket", 0.10, ((443, 1.0),), (2.0, 3.0, 70.0, 120.0), (2.0, 6.0, 100.0, 900.0), 16, 2.0,
                "a web app's WebSocket over TLS: a ping every 25 s (Socket.IO's default) and pushed updates"),
    BenignClass("vpn", 0.05, ((1194, 0.6), (1723, 0.4)), (6.0, 12.0, 80.0, 140.0), (6.0, 12.0, 80.0, 160.0), 20,
                4.0, "an idle VPN tunnel: OpenVPN over TCP (a keep-alive ping every 10 s) or a PPTP control "
                     "channel"),
)
BENIGN_PER_FLOWS = 5000  # one benign long-lived session per this many flow rows (default)


def plant_benign(p: Planter, n: int) -> list[dict[str, Any]]:
    """``n`` benign long-lived sessions of ``BENIGN_CLASSES`` into ``p``'s flows; their truth entries."""
    rng = p.rng
    if n <= 0:
        return []
    shares = np.array([c.share for c in BENIGN_CLASSES])
    servers = {c.kind: [p.fresh_address(rng.random() < 0.12) for _ in range(c.servers)] for c in BENIGN_CLASSES}
    out = []
    for i in range(n):
        c = BENIGN_CLASSES[int(rng.choice(len(BENIGN_CLASSES), p=shares / shares.sum()))]
        if servers[c.kind]:
            peer = servers[c.kind][int(rng.integers(0, len(servers[c.kind])))]
            v6 = ":" in peer
        else:
            v6 = rng.random() < 0.1
            peer = p.fresh_address(v6)
        start, end = p.span(3600_000, c.median_h)
        client = p.pools.client_text(int(p.pools.n_c4 + rng.integers(0, p.pools.n_c6)) if v6
                                     else int(rng.integers(0, p.pools.n_c4)))
        s = p.session(client, peer, p.port(c.ports), start, end, p.exporter(), c.up, c.down)
        s["peer_ip"] = s.pop("pool_ip")
        out.append({"id": f"benign-{i:05d}", "kind": c.kind, **s, "why": c.why, "expected": "not mining"})
    return out


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_feed(path: Path, addresses: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# category: pool", "# name: flowgen-pools", "# source: flowgen synthetic", "# licence: CC0-1.0",
             *addresses]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------ writing


class Writer:
    """Writes (path, table, last) items on a thread of its own while the next chunk is generated."""

    def __init__(self) -> None:
        self.items: queue.Queue[tuple[Path, pa.Table, bool] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.writers: dict[Path, pq.ParquetWriter] = {}
        self.thread = threading.Thread(target=self._run, name="flowgen-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.items.get()
            if item is None:
                return
            if self.error is not None:
                continue
            path, table, last = item
            try:
                w = self.writers.get(path)
                if w is None and table.num_rows:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    w = self.writers[path] = pq.ParquetWriter(path, table.schema, compression=COMPRESSION)
                if w is not None and table.num_rows:
                    w.write_table(table, row_group_size=max(table.num_rows, 1))
                if last and w is not None:
                    w.close()
                    del self.writers[path]
            except BaseException as e:
                self.error = e

    def put(self, path: Path, table: pa.Table, last: bool) -> None:
        if self.error is not None:
            raise self.error
        self.items.put((path, table, last))

    def close(self) -> None:
        self.items.put(None)
        self.thread.join()
        for w in self.writers.values():
            w.close()
        if self.error is not None:
            raise self.error


def _hour_counts(total: int, start: dt.datetime, hours: int) -> list[int]:
    weights = np.array([DIURNAL[((start + dt.timedelta(hours=h)).hour + LOCAL_OFFSET_H) % 24] for h in range(hours)])
    exact = total * weights / weights.sum()
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    counts[np.argsort(-(exact - counts), kind="stable")[:short]] += 1
    return [int(c) for c in counts]


def _partition(start: dt.datetime) -> str:
    return f"day={start:%Y-%m-%d}/hour={start:%H}"


def _slice(table: pa.Table, ts_us: np.ndarray, lo_us: int, hi_us: int) -> pa.Table:
    a, b = np.searchsorted(ts_us, [lo_us, hi_us])
    return table.slice(int(a), int(b - a))


def _ts_us(table: pa.Table) -> np.ndarray:
    return np.asarray(table.column("ts").cast(pa.int64()).to_numpy(), dtype=np.int64)


def generate(out_dir: Path, flows: int, *, seed: int = 1, hours: int = 24, start: dt.datetime | None = None,
             planted: int = 200, progress: bool = True, chunk_rows: int = CHUNK_ROWS,
             benign: int | None = None) -> dict[str, Any]:
    """Write the dataset under ``out_dir`` (see the module docstring) and return the truth dict.

    ``flows`` is the total of flow rows (background, planted and benign long-lived rows); ``planted`` the
    number of mining sessions; ``benign`` the number of benign long-lived sessions (default: one per
    ``BENIGN_PER_FLOWS`` flows). ``start`` must be on a whole UTC hour. Refuses a non-empty ``out_dir/flows``.
    """
    start = start or DEFAULT_START
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)
    start = start.astimezone(dt.UTC)
    if start.minute or start.second or start.microsecond:
        raise ValueError(f"start {start.isoformat()} is not on a whole hour (partitions are hours)")
    if hours < 1 or flows < 0 or planted < 0 or chunk_rows < 1000 or (benign is not None and benign < 0):
        raise ValueError("hours must be ≥ 1, flows, planted and benign ≥ 0, chunk_rows ≥ 1000")
    out_dir = Path(out_dir)
    for sub in ("flows", "dns"):
        if (out_dir / sub).exists() and any((out_dir / sub).iterdir()):
            raise ValueError(f"{out_dir / sub} is not empty; remove it first (or use --overwrite)")
    began = time.monotonic()
    seeds = np.random.SeedSequence(seed)
    pools_seed, plant_seed, chunk_seed, benign_seed = seeds.spawn(4)
    console = Console(stderr=True)

    intel = PoolIntel.load(user_feeds=False)
    bad = [d for d in benign_domains() if intel.match_domain(f"x.{d}") is not None]
    if bad:
        raise RuntimeError(f"generated background names are on a bundled list: {bad}")
    names = pool_names(intel)
    if progress:
        console.print(f"pool names the bundled lists match ({len(names)}/{len(POOL_NAME_CANDIDATES)}): "
                      f"{', '.join(names)}")

    pools = build_pools(np.random.default_rng(pools_seed), flows)
    t0_ms = int(start.timestamp() * 1000)
    t1_ms = t0_ms + hours * HOUR_S * 1000
    n_benign = round(flows / BENIGN_PER_FLOWS) if benign is None else benign
    p_flows, p_dns, parts = plant(np.random.default_rng(plant_seed), pools, t0_ms, t1_ms, planted, names,
                                  n_benign, np.random.default_rng(benign_seed))
    b_flows = parts.pop("benign_flows")
    extra_flows = pa.concat_tables([p_flows, b_flows]).sort_by("ts").combine_chunks()
    write_feed(out_dir / "feeds" / "pool-addresses.txt", parts["feed_addresses"])
    extra_us, p_dns_us = _ts_us(extra_flows), _ts_us(p_dns)

    background = max(0, flows - extra_flows.num_rows)
    per_hour = _hour_counts(background, start, hours)
    written = {"flows": 0, "dns": 0}
    writer = Writer()
    chunk_no = 0
    columns = (TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("flows"), TimeElapsedColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=console, disable=not progress) as bar:
            task = bar.add_task("flowgen", total=background + extra_flows.num_rows)
            for h, n_h in enumerate(per_hour):
                hour_start = start + dt.timedelta(hours=h)
                bar.update(task, description=f"{hour_start:%Y-%m-%d %H}h")
                part = _partition(hour_start)
                f_path = out_dir / "flows" / part / "part-00000.parquet"
                d_path = out_dir / "dns" / part / "part-00000.parquet"
                n_chunks = max(1, math.ceil(n_h / chunk_rows))
                h0 = t0_ms + h * HOUR_S * 1000
                for c in range(n_chunks):
                    a_ms = h0 + (HOUR_S * 1000 * c) // n_chunks
                    b_ms = h0 + (HOUR_S * 1000 * (c + 1)) // n_chunks
                    n = n_h // n_chunks + (1 if c < n_h % n_chunks else 0)
                    rng = np.random.default_rng(np.random.SeedSequence(chunk_seed.entropy,
                                                                       spawn_key=(*chunk_seed.spawn_key, chunk_no)))
                    chunk_no += 1
                    ftab = background_flows(rng, pools, n, a_ms, b_ms)
                    extra = _slice(extra_flows, extra_us, a_ms * 1000, b_ms * 1000)
                    if extra.num_rows:
                        ftab = pa.concat_tables([ftab, extra]).sort_by("ts").combine_chunks()
                    dtab = background_dns(rng, pools, round(n / DNS_PER_FLOWS), a_ms, b_ms)
                    extra = _slice(p_dns, p_dns_us, a_ms * 1000, b_ms * 1000)
                    if extra.num_rows:
                        dtab = pa.concat_tables([dtab, extra]).sort_by("ts").combine_chunks()
                    last = c == n_chunks - 1
                    writer.put(f_path, ftab, last)
                    writer.put(d_path, dtab, last)
                    written["flows"] += ftab.num_rows
                    written["dns"] += dtab.num_rows
                    bar.advance(task, ftab.num_rows)
    finally:
        writer.close()

    seconds = round(time.monotonic() - began, 1)
    sessions = parts["sessions"]
    truth: dict[str, Any] = {
        "generator": "benchmarks/flowgen.py",
        "parameters": {"flows": flows, "seed": seed, "hours": hours, "start": _iso(t0_ms), "end": _iso(t1_ms),
                       "planted": planted, "chunk_rows": chunk_rows, "compression": COMPRESSION},
        "layout": {"flows": "flows/day=YYYY-MM-DD/hour=HH/part-00000.parquet",
                   "dns": "dns/day=YYYY-MM-DD/hour=HH/part-00000.parquet", "partitioning": "hive (UTC of ts)",
                   "feed": "feeds/pool-addresses.txt"},
        "rows": {"flows": written["flows"], "dns": written["dns"], "background_flows": background,
                 "planted_flow_rows": p_flows.num_rows, "planted_dns_rows": p_dns.num_rows,
                 "benign_flow_rows": b_flows.num_rows},
        "pools": {"clients": pools.n_clients, "servers": pools.n_s4 + pools.n_s6, "names": len(pools.names)},
        "exporters": [asdict(e) for e in EXPORTERS],
        "pool_names": names,
        "pdns_names": parts["pdns_names"],
        "feed_addresses": parts["feed_addresses"],
        "listed_pools": parts["listed_pools"],
        "counts": {k: sum(1 for s in sessions if s["kind"] == k) for k in ("listed", "pdns", "behaviour")},
        "sessions": sessions,
        "decoys": parts["decoys"],
        "benign_counts": {c.kind: sum(1 for b in parts["benign"] if b["kind"] == c.kind) for c in BENIGN_CLASSES},
        "benign": parts["benign"],
    }
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    if progress:
        size = sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file())
        console.print(f"wrote {written['flows']:,} flows and {written['dns']:,} DNS rows in {seconds} s, "
                      f"{size / 1e9:.2f} GB; planted {len(sessions)} sessions ({truth['counts']}), "
                      f"{len(parts['decoys'])} decoys, {len(parts['benign'])} benign long-lived sessions "
                      f"({b_flows.num_rows:,} rows)")
    return truth


# ------------------------------------------------------------------------------------ reading back


EXACT_DISTINCT_ROWS = 5_000_000  # above this, distinct counts are HyperLogLog estimates (about ±2 %)


def _distinct(dataset: ds.Dataset, columns: Sequence[str], together: bool, exact: bool) -> dict[str, int]:
    """Distinct values per column (and over the columns together), counted by DuckDB scanning the
    Arrow dataset: exactly, or estimated (``approx_count_distinct``) — exact counting of 2M+
    distinct strings over 50M rows costs a minute and more than a GB."""
    import duckdb

    count = "COUNT(DISTINCT {})" if exact else "approx_count_distinct({})"
    con = duckdb.connect()
    try:
        con.register("t", dataset)
        row = con.execute("SELECT " + ", ".join(count.format(c) for c in columns) + " FROM t").fetchone() or ()
        out = {c: int(v) for c, v in zip(columns, row, strict=True)}
        if together:
            union = " UNION ALL ".join(f"SELECT {c} AS v FROM t" for c in columns)
            both = con.execute(f"SELECT {count.format('v')} FROM ({union})").fetchone()
            out["addresses"] = int(both[0]) if both else 0
    finally:
        con.close()
    return out


def _files(root: Path) -> Iterator[Path]:
    return (p for p in sorted(root.rglob("*.parquet")) if p.is_file())


def summary(out_dir: Path, *, distinct: bool = True, exact: bool | None = None) -> dict[str, Any]:
    """Rows, files, partitions, row groups, bytes on disk and distinct addresses of a written dataset.

    Distinct counts are exact up to ``EXACT_DISTINCT_ROWS`` rows, estimates above (``exact`` forces
    either); ``distinct_exact`` says which.
    """
    out_dir = Path(out_dir)
    result: dict[str, Any] = {}
    distinct_cols = {"flows": (("src_ip", "dst_ip"), True), "dns": (("client_ip", "query"), False)}
    for table in ("flows", "dns"):
        root = out_dir / table
        files = list(_files(root))
        dataset = ds.dataset(root, format="parquet", partitioning="hive")
        info: dict[str, Any] = {
            "rows": dataset.count_rows(),
            "files": len(files),
            "partitions": len({f.parent for f in files}),
            "row_groups": sum(pq.ParquetFile(f).metadata.num_row_groups for f in files),
            "bytes": sum(f.stat().st_size for f in files),
        }
        if distinct:
            is_exact = exact if exact is not None else info["rows"] <= EXACT_DISTINCT_ROWS
            info["distinct"] = _distinct(dataset, *distinct_cols[table], exact=is_exact)
            info["distinct_exact"] = is_exact
        result[table] = info
    result["bytes_total"] = sum(f.stat().st_size for f in out_dir.rglob("*") if f.is_file())
    return result


def print_summary(s: dict[str, Any]) -> None:
    for table in ("flows", "dns"):
        t = s[table]
        line = (f"{table}: {t['rows']:,} rows, {t['files']} files, {t['partitions']} hour partitions, "
                f"{t['row_groups']} row groups, {t['bytes'] / 1e6:,.1f} MB")
        if "distinct" in t:
            counts = ", ".join(f"{k} {v:,}" for k, v in t["distinct"].items())
            line += f"; distinct{'' if t['distinct_exact'] else ' (estimated)'} {counts}"
        print(line)
    print(f"on disk (all files): {s['bytes_total'] / 1e6:,.1f} MB")


# ------------------------------------------------------------------------------------ command line


def _parse_start(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--flows", type=int, default=50_000_000, help="flow rows in all (default 50M)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--start", type=_parse_start, default=DEFAULT_START, help="ISO time on a whole UTC hour")
    parser.add_argument("--planted", type=int, default=200, help="planted mining sessions")
    parser.add_argument("--benign", type=int, default=None,
                        help=f"benign long-lived sessions (default: one per {BENIGN_PER_FLOWS} flows)")
    parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, help="rows generated and written at once")
    parser.add_argument("--overwrite", action="store_true", help="replace flows/, dns/, feeds/, truth.json there")
    parser.add_argument("--check", action="store_true", help="only read the dataset back and print its figures")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--exact", action="store_true", help="with --check: exact distinct counts at any size")
    args = parser.parse_args(argv)
    try:
        if not args.check:
            if args.overwrite:
                for sub in ("flows", "dns", "feeds"):
                    shutil.rmtree(args.out_dir / sub, ignore_errors=True)
                (args.out_dir / "truth.json").unlink(missing_ok=True)
            generate(args.out_dir, args.flows, seed=args.seed, hours=args.hours, start=args.start,
                     planted=args.planted, progress=not args.quiet, chunk_rows=args.chunk_rows,
                     benign=args.benign)
        else:
            if not (args.out_dir / "flows").is_dir():
                raise ValueError(f"{args.out_dir} holds no flows/ dataset")
            print_summary(summary(args.out_dir, exact=True if args.exact else None))
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

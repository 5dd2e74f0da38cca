"""Flows of one capture: the compiled flow table, and the payload it hands to Python.

``FlowTracker`` feeds capture blocks through ``packets.decode_and_track`` (compiled or interpreted, as the
block's reader chose) and keeps:
  * ``flows``: the flows worth keeping once they end (classified payload, long-lived, or on a
    port pools use), as columns; short unclassified flows are only counted, so memory follows
    the interesting traffic, not the capture size;
  * per-flow payload state (``FlowPayload``) for the flows whose payload is read: mining-protocol
    streams, TLS server names, HTTP heads, node-protocol details;
  * passive DNS: the names each address was given in DNS answers, and who asked for which name;
  * every DNS message with its client and resolver (``dns_seen``), once its flow has ended.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from minescope.dimensions.network.capture import packets as pk
from minescope.dimensions.network.protocols import nodes
from minescope.dimensions.network.protocols.dns import DnsMessage, parse_dns
from minescope.dimensions.network.protocols.http import request_head
from minescope.dimensions.network.protocols.mining import MiningStream
from minescope.dimensions.network.protocols.tls import ClientHello, client_hello
from minescope.dimensions.network.protocols.tunnels import TunnelTarget, tunnel_target
from minescope.dimensions.network.readers.pcap import Block
from minescope.knowledge.pools import capture_ports

# Flows that end up kept even without a payload class: long sessions (pool sessions can hide
# behind unknown framing) and flows on ports pools use (every port of knowledge/data/pools/pool-ports.txt),
# for list and learned-pool matching.
KEEP_MIN_DURATION = 300.0
POOL_PORTS = np.array(sorted(capture_ports()), dtype=np.uint16)
CLASSIFIED = [pk.C_JSON, pk.C_HTTP, pk.C_TLS, pk.C_NODE_BTC, pk.C_NODE_XMR, pk.C_NODE_ETH, pk.C_NODE_NANO]
TLS_HEAD_BYTES = 16384
# Stratum V2's Noise NX handshake (sv2-spec "Protocol Security"), as (initiator's, responder's) first payload:
# the initiator's ephemeral key (64-byte ElligatorSwift encoding), then the responder's ephemeral key (64),
# encrypted static key + MAC (80) and encrypted SIGNATURE_NOISE_MESSAGE + MAC (74 + 16) = 234 bytes; the
# spec's earlier drafts, with 32-byte x-only keys, had 32 and 170.
SV2_HANDSHAKE = ((64, 234), (32, 170))


def sv2_shape(t: Mapping[str, np.ndarray], rows: np.ndarray | slice = slice(None)) -> np.ndarray:
    """Flows that open as Stratum V2 does: the first payloads of ``SV2_HANDSHAKE`` (Noise NX), or a clear-text
    SetupConnection from the initiator (the engine's ``sv2``)."""
    a_first = t["initiator"][rows] == 0
    first_i = np.where(a_first, t["first_ab"][rows], t["first_ba"][rows])
    first_r = np.where(a_first, t["first_ba"][rows], t["first_ab"][rows])
    shape = t["sv2"][rows] == 1
    for mine, theirs in SV2_HANDSHAKE:
        shape |= (first_i == mine) & (first_r == theirs)
    return shape


def ip_str(hi: int, lo: int) -> str:
    """Address text from the engine's (hi, lo) 128-bit form; IPv4 is stored IPv4-mapped."""
    if hi == 0 and (lo >> 32) == 0xFFFF:
        return socket.inet_ntoa((lo & 0xFFFFFFFF).to_bytes(4, "big"))
    return socket.inet_ntop(socket.AF_INET6, ((hi << 64) | lo).to_bytes(16, "big"))


@dataclass
class FlowPayload:
    """What Python read from one flow's payload."""

    cls: int
    mining: MiningStream | None = None
    next_seq: list[int | None] = field(default_factory=lambda: [None, None])
    tls_head: bytes = b""
    sni: str | None = None
    alpn: list[str] = field(default_factory=list)
    hello: ClientHello | None = None  # its JA3 and JA4 are worked out when asked for (``protocols.tls``)
    http: dict[str, str] | None = None
    node: dict[str, str] | None = None
    tunnel: TunnelTarget | None = None  # where a proxy tunnel this flow opened goes


@dataclass
class DnsAnswer:
    name: str
    ts: float


@dataclass(frozen=True, slots=True)
class DnsSeen:
    """One DNS message of the capture, with who asked (the query's sender, the response's receiver)
    and who was asked; ``serial`` is its flow's."""

    ts: float
    client_ip: str
    resolver_ip: str
    serial: int
    message: DnsMessage


class FlowTracker:
    """Tracks the flows of one capture, block by block."""

    def __init__(self, idle_timeout: float, interesting_name: Callable[[str], bool]) -> None:
        self.idle_timeout = idle_timeout
        self.interesting_name = interesting_name
        self._interesting: dict[str, bool] = {}  # the same names come back in every DNS exchange
        self.capacity = 0
        self.table: dict[str, np.ndarray] = pk.new_flow_table(0)
        self.free = np.empty(0, dtype=np.int64)
        self.n_free = 0
        self.engine: pk.PacketEngine | None = None  # the one that framed the first block
        self.index: Any = None
        self.next_serial = 0
        self.kept_flows: list[dict[str, np.ndarray]] = []
        self.payload: dict[int, FlowPayload] = {}
        self.pdns: dict[str, list[DnsAnswer]] = {}  # address → names it was given
        self.dns_hits: dict[int, list[str]] = {}  # DNS flow serial → listed names it asked for
        self.dns_seen: list[DnsSeen] = []  # DNS messages of ended flows, with client and resolver
        self._dns_pending: dict[int, list[tuple[float, int, DnsMessage]]] = {}  # serial → (ts, side, message)
        self.packets = 0
        self.ip_packets = 0
        self.bytes = 0
        self.flows_total = 0
        self._hosts: list[np.ndarray] = []  # (hi, lo) address pairs of ended flows, deduplicated per batch
        self.first_ts: float | None = None
        self.last_ts: float | None = None
        self._keep = self._keep_arrays(0)

    # --- capacity -------------------------------------------------------------------------
    def _ensure_free(self, need: int) -> None:
        if self.n_free >= need:
            return
        grow = max(need - self.n_free, self.capacity, 65536)
        new_cap = self.capacity + grow
        self.table = pk.grow_flow_table(self.table, new_cap)
        new_slots = np.arange(self.capacity, new_cap, dtype=np.int64)[::-1]
        free = np.empty(new_cap, dtype=np.int64)
        free[: self.n_free] = self.free[: self.n_free]
        free[self.n_free : self.n_free + grow] = new_slots
        self.free = free
        self.n_free += grow
        self.capacity = new_cap

    @staticmethod
    def _keep_arrays(n: int) -> tuple[np.ndarray, ...]:
        return (np.empty(n, np.int64), np.empty(n, np.uint8), np.empty(n, np.uint8), np.empty(n, np.float64),
                np.empty(n, np.uint64), np.empty(n, np.int64), np.empty(n, np.int64))

    # --- blocks ---------------------------------------------------------------------------
    def feed(self, block: Block) -> None:
        n = block.n
        if n == 0:
            return
        if self.engine is None:
            self.engine = block.engine
            self.index = block.engine.new_flow_index()
        packets = self.engine
        self._ensure_free(n)
        if self._keep[0].shape[0] < n:
            self._keep = self._keep_arrays(n)
        ended = np.empty(n, dtype=np.int64)
        cols = tuple(self.table[name] for name, _ in pk.FLOW_FIELDS)
        kept, self.n_free, self.next_serial, ip_packets, n_ended = packets.decode_and_track(
            block.buf, n, block.data_off, block.caplen, block.wirelen, block.ts, block.linktype, block.default_lt,
            self.index, cols, self.free, self.n_free, self.next_serial, self.idle_timeout, ended, *self._keep,
        )
        self.packets += n
        self.ip_packets += ip_packets
        self.bytes += int(block.wirelen[:n].sum())
        ts = block.ts[:n]
        lo, hi = float(ts.min()), float(ts.max())
        self.first_ts = lo if self.first_ts is None else min(self.first_ts, lo)
        self.last_ts = hi if self.last_ts is None else max(self.last_ts, hi)
        self._read_payload(block.buf, kept)
        if n_ended:
            self._end(ended[:n_ended])
        # flows idle past the timeout are finished: hand them on and reuse their slots. Idle is
        # measured from the block's earliest packet: files joined end to end (mergecap -a) can put
        # a later capture's times into a block while an earlier capture's session is still going.
        out = np.empty(packets.flow_count(self.index), dtype=np.int64)
        n_idle = packets.expire_idle(self.index, self.table["last_ts"], lo, self.idle_timeout, out)
        if n_idle:
            self._end(out[:n_idle])

    def hosts(self) -> frozenset[str]:
        """Every address seen (ended flows), as text."""
        if not self._hosts:
            return frozenset()
        pairs = np.unique(np.concatenate(self._hosts), axis=0)
        return frozenset(ip_str(int(hi), int(lo)) for hi, lo in pairs)

    def finish(self) -> dict[str, np.ndarray]:
        if self.engine is not None:
            out = np.empty(self.engine.flow_count(self.index), dtype=np.int64)
            n = self.engine.drain_all(self.index, out)
            if n:
                self._end(out[:n])
        if not self.kept_flows:
            return pk.new_flow_table(0)
        return {name: np.concatenate([f[name] for f in self.kept_flows]) for name, _ in pk.FLOW_FIELDS}

    def _end(self, slots: np.ndarray) -> None:
        """Flows in these slots are over: keep the interesting ones, free the slots."""
        t = self.table
        self.flows_total += len(slots)
        pairs = np.concatenate([np.stack([t["a_hi"][slots], t["a_lo"][slots]], axis=1),
                                np.stack([t["b_hi"][slots], t["b_lo"][slots]], axis=1)])
        self._hosts.append(np.unique(pairs, axis=0))
        cls = t["cls"][slots]
        serial = t["serial"][slots]
        keep = np.isin(cls, CLASSIFIED)
        keep |= (t["last_ts"][slots] - t["first_ts"][slots]) >= KEEP_MIN_DURATION
        keep |= np.isin(t["a_port"][slots], POOL_PORTS) | np.isin(t["b_port"][slots], POOL_PORTS)
        keep |= sv2_shape(t, slots)
        if self.dns_hits:
            keep |= np.isin(serial, np.fromiter(self.dns_hits, np.int64, len(self.dns_hits)))
        if self._dns_pending:
            self._resolve_dns(slots, serial)
        chosen = slots[keep]
        if len(chosen):
            self.kept_flows.append({name: t[name][chosen].copy() for name, _ in pk.FLOW_FIELDS})
        if self.payload:
            for s in serial[~keep].tolist():
                self.payload.pop(s, None)
        self.free[self.n_free : self.n_free + len(slots)] = slots
        self.n_free += len(slots)

    def _resolve_dns(self, slots: np.ndarray, serial: np.ndarray) -> None:
        """The DNS messages of these ended flows, with their addresses: side 0 sent from the initiator."""
        t = self.table
        ended = np.isin(serial, np.fromiter(self._dns_pending, np.int64, len(self._dns_pending)))
        for slot, s in zip(slots[ended].tolist(), serial[ended].tolist(), strict=True):
            messages = self._dns_pending.pop(s)
            a = ip_str(int(t["a_hi"][slot]), int(t["a_lo"][slot]))
            b = ip_str(int(t["b_hi"][slot]), int(t["b_lo"][slot]))
            initiator, other = (a, b) if t["initiator"][slot] == 0 else (b, a)
            for ts, side, msg in messages:
                sender, receiver = (initiator, other) if side == 0 else (other, initiator)
                client, resolver = (receiver, sender) if msg.is_response else (sender, receiver)
                self.dns_seen.append(DnsSeen(ts, client, resolver, s, msg))

    # --- payload ----------------------------------------------------------------------------
    def _read_payload(self, buf: np.ndarray, kept: int) -> None:
        if kept == 0:
            return
        k_serial, k_side, k_cls, k_ts, k_seq, k_off, k_len = (a[:kept] for a in self._keep)
        # Zero-copy views of the block: bytes are made only for what a reader keeps or parses (most TLS
        # and node packets after the first are not read at all). No view outlives this call: the buffer is
        # reused for the next block.
        raw = memoryview(buf.data)
        payload = self.payload
        c_dns, c_json, c_http, c_tls, c_other = pk.C_DNS, pk.C_JSON, pk.C_HTTP, pk.C_TLS, pk.C_OTHER
        for serial, side, cls, ts, seq, off, ln in zip(
            k_serial.tolist(), k_side.tolist(), k_cls.tolist(), k_ts.tolist(), k_seq.tolist(),
            k_off.tolist(), k_len.tolist(), strict=True,
        ):
            if cls == c_dns:
                self._dns(serial, side, ts, bytes(raw[off : off + ln]))
                continue
            state = payload.get(serial)
            if state is None:
                state = payload[serial] = FlowPayload(cls)
            if cls in (c_json, c_http):
                data = self._in_order(state, side, seq, raw[off : off + ln])
                if not data:
                    continue
                if cls == c_http and side == 0 and state.http is None:
                    state.http = request_head(bytes(data))
                mining = state.mining
                if mining is None:
                    mining = state.mining = MiningStream()
                if not mining.gave_up:
                    mining.feed(side, ts, bytes(data))
            elif cls == c_tls:
                if side == 0 and state.sni is None and len(state.tls_head) < TLS_HEAD_BYTES:
                    state.tls_head += raw[off : off + ln]
                    hello = client_hello(state.tls_head)
                    if hello is not None:
                        state.sni, state.alpn, state.hello = hello.sni, list(hello.alpn), hello
                        state.tls_head = b""
            elif cls == c_other:  # kept only as a proxy's CONNECT request (``packets._tunnel_request``)
                if side == 0 and state.tunnel is None:
                    state.tunnel = tunnel_target(bytes(raw[off : off + ln]))
                continue
            elif state.node is None:
                state.node = nodes.describe(pk.CLASS_NAMES[cls], bytes(raw[off : off + ln]))
            state.cls = cls

    @staticmethod
    def _in_order(state: FlowPayload, side: int, seq: int, data: memoryview) -> memoryview:
        """Drop retransmitted bytes; TCP sequence numbers wrap at 2**32. Datagrams come whole."""
        if seq >= pk.DATAGRAM_SEQ:
            return data
        expected = state.next_seq[side]
        if expected is not None:
            ahead = (seq - expected) % (1 << 32)
            if ahead >= (1 << 31):  # behind: some or all of it was seen already
                behind = (1 << 32) - ahead
                if behind >= len(data):
                    return data[:0]
                data = data[behind:]
                seq = expected
        state.next_seq[side] = (seq + len(data)) % (1 << 32)
        return data

    def _dns(self, serial: int, side: int, ts: float, data: bytes) -> None:
        msg = parse_dns(data)
        if msg is None:
            return
        if msg.qnames or msg.answers:
            self._dns_pending.setdefault(serial, []).append((ts, side, msg))
        for name, address in msg.answers:
            answers = self.pdns.setdefault(address, [])
            if not answers or answers[-1].name != name:
                answers.append(DnsAnswer(name, ts))
        if not msg.is_response:
            for q in msg.qnames:
                listed = self._interesting.get(q)
                if listed is None:
                    if len(self._interesting) >= 1 << 16:  # a DNS tunnel asks for a new name each time
                        self._interesting.clear()
                    listed = self._interesting[q] = self.interesting_name(q)
                if listed:
                    names = self.dns_hits.setdefault(serial, [])
                    if q not in names:
                        names.append(q)

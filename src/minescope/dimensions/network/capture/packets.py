"""Compiled packet path: capture records → decoded headers → bidirectional flows.

The functions marked ``@jit`` run under numba for large captures (compiled to machine code once, cached
on disk), so no Python object is made per packet; small captures run the same code interpreted, which
costs less than numba's start-up (``capture.jit``; ``engine`` picks). The Python side (``FlowTracker``)
only sees:
  * per-packet arrays for the few packets whose payload it must read (mining-protocol candidates,
    DNS, TLS ClientHellos, HTTP heads), and
  * per-flow arrays for flows that ended (idle timeout, end of input).

Why not nfstream: on the same 1M-packet capture nfstream took ~5× ndpiReader's wall time and
hands no payload to Python without a per-packet plugin (see docs/engine.md).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from minescope.dimensions.network.capture.jit import compile_module, jit

# --- link types (pcap LINKTYPE_*) ---
LT_NULL, LT_ETHERNET, LT_RAW, LT_RAW_OLD1, LT_RAW_OLD2 = 0, 1, 101, 12, 14
LT_LOOP, LT_SLL, LT_IPV4, LT_IPV6, LT_SLL2 = 108, 113, 228, 229, 276

# --- flow payload classes (first payload decides; see classify_payload) ---
C_NONE, C_JSON, C_HTTP, C_TLS, C_DNS, C_NODE_BTC, C_NODE_XMR, C_NODE_ETH, C_NODE_NANO, C_OTHER = range(10)
CLASS_NAMES = ("none", "json", "http", "tls", "dns", "bitcoin", "monero", "ethereum", "nano", "other")

# How many payload packets per side of a flow are kept for classes read only at the start.
HEAD_PACKETS = 4
# Payload bytes per side kept from HTTP flows (getwork/getblocktemplate requests are small).
HTTP_KEEP_BYTES = 262144

# The sequence number kept for a UDP payload: past any TCP one (32 bits), so the reader takes each datagram
# whole rather than as a stream.
DATAGRAM_SEQ = np.uint64(1 << 32)

# Columns of the flow table, in one place so Python and numba agree.
FLOW_FIELDS = (
    ("serial", np.int64), ("a_hi", np.uint64), ("a_lo", np.uint64), ("b_hi", np.uint64), ("b_lo", np.uint64),
    ("a_port", np.uint16), ("b_port", np.uint16), ("proto", np.uint8), ("ipver", np.uint8),
    ("initiator", np.uint8),  # 0: a started the flow (sent SYN, or first packet), 1: b did
    ("first_ts", np.float64), ("last_ts", np.float64),
    ("pkts_ab", np.int64), ("pkts_ba", np.int64), ("bytes_ab", np.int64), ("bytes_ba", np.int64),
    ("payload_ab", np.int64), ("payload_ba", np.int64),
    ("cls", np.uint8), ("head_ab", np.uint8), ("head_ba", np.uint8),
    ("syn", np.uint8), ("closed", np.uint8),
    # What encrypted sessions show without decryption (``detectors.encrypted``). The first payload length of
    # each side (Stratum V2's Noise NX handshake: 64 bytes, then 234), and a plain-text Stratum V2
    # SetupConnection as the initiator's first payload (``sv2`` = 1).
    ("first_ab", np.int32), ("first_ba", np.int32), ("sv2", np.uint8),
    # TLS flows, from TCP segments that hold exactly one whole application-data record (a message):
    # exchanges — an initiator record of XCHG_MIN..XCHG_MAX bytes answered by the very next payload, a
    # responder record of ACK_MIN..ACK_MAX bytes at most half its size (a share and its acknowledgement),
    # with the smallest and largest of both sizes and the sum and sum of squares of the times between
    # exchanges; pushes — responder records of PUSH_MIN..PUSH_MAX bytes that follow a responder payload (a
    # job the pool sends unasked). prev_side/prev_rec: who sent the last payload (1 initiator, 2 responder)
    # and its record size when it was a request-sized record.
    ("xchg", np.int32), ("xchg_min", np.int32), ("xchg_max", np.int32), ("ack_min", np.int32),
    ("ack_max", np.int32), ("push", np.int32), ("xchg_t", np.float64), ("gap_sum", np.float64),
    ("gap_sq", np.float64), ("prev_side", np.uint8), ("prev_rec", np.int32),
)
# Record sizes (bytes on the wire, the 5-byte record header included) of those TLS messages.
XCHG_MIN, XCHG_MAX = 100, 600  # a share: CryptoNote submit, Stratum mining.submit, eth_submitWork
ACK_MIN, ACK_MAX = 40, 160  # the pool's answer: {"id":4,"result":true,"error":null} and kin
PUSH_MIN, PUSH_MAX = 160, 1600  # a job: CryptoNote job, mining.notify


def new_flow_table(capacity: int) -> dict[str, np.ndarray]:
    return {name: np.zeros(capacity, dtype=dt) for name, dt in FLOW_FIELDS}


def grow_flow_table(table: dict[str, np.ndarray], capacity: int) -> dict[str, np.ndarray]:
    grown = new_flow_table(capacity)
    n = len(table["serial"])
    for name in table:
        grown[name][:n] = table[name]
    return grown


# ---------------------------------------------------------------------------------------------
# Capture file framing
# ---------------------------------------------------------------------------------------------


@jit(nogil=True)
def _u32(buf, off, swapped):
    if swapped:
        return ((np.uint32(buf[off]) << 24) | (np.uint32(buf[off + 1]) << 16)
                | (np.uint32(buf[off + 2]) << 8) | np.uint32(buf[off + 3]))
    return ((np.uint32(buf[off + 3]) << 24) | (np.uint32(buf[off + 2]) << 16)
            | (np.uint32(buf[off + 1]) << 8) | np.uint32(buf[off]))


@jit(nogil=True)
def _u16(buf, off, swapped):
    if swapped:
        return (np.uint16(buf[off]) << 8) | np.uint16(buf[off + 1])
    return (np.uint16(buf[off + 1]) << 8) | np.uint16(buf[off])


@jit(nogil=True)
def index_pcap(buf, end, swapped, ts_scale, max_caplen, data_off, caplen, wirelen, ts):
    """Find the classic-pcap records wholly inside buf[0:end].

    Returns (records, consumed, bad): ``consumed`` is where the first incomplete record starts
    (the caller carries it into the next block); ``bad`` is 1 when a record header is impossible
    (caplen over the snapshot limit), i.e. the file is corrupt from ``consumed`` on.
    """
    off = 0
    n = 0
    cap = data_off.shape[0]
    while off + 16 <= end and n < cap:
        incl = _u32(buf, off + 8, swapped)
        if incl > max_caplen:
            return n, off, 1
        if off + 16 + incl > end:
            break
        sec = _u32(buf, off, swapped)
        frac = _u32(buf, off + 4, swapped)
        ts[n] = np.float64(sec) + np.float64(frac) * ts_scale
        data_off[n] = off + 16
        caplen[n] = incl
        wirelen[n] = _u32(buf, off + 12, swapped)
        n += 1
        off += 16 + incl
    return n, off, 0


@jit(nogil=True)
def index_pcapng(buf, end, swapped, if_linktype, if_scale, n_ifaces, data_off, caplen, wirelen, ts, linktype):
    """Find the pcapng packet blocks wholly inside buf[0:end].

    Interface description blocks update ``if_linktype``/``if_scale`` (per interface id) in place.
    Returns (records, consumed, bad, n_ifaces, section_swapped) — a new section header may switch
    the byte order, and the caller must keep that state.
    """
    off = 0
    n = 0
    cap = data_off.shape[0]
    while off + 12 <= end and n < cap:
        btype = _u32(buf, off, swapped)
        if btype == 0x0A0D0D0A:  # section header: byte order may change
            if off + 12 > end:
                break
            magic_le = _u32(buf, off + 8, False)
            if magic_le == 0x1A2B3C4D:
                swapped = False
            elif magic_le == 0x4D3C2B1A:
                swapped = True
            else:
                return n, off, 1, n_ifaces, swapped
            n_ifaces = 0
        blen = _u32(buf, off + 4, swapped)
        if blen < 12 or blen % 4 != 0 or blen > 0x1000040:  # over 16 MiB: corrupt (sources.capture.MAX_RECORD)
            return n, off, 1, n_ifaces, swapped
        if off + blen > end:
            break
        if btype == 1:  # interface description
            if n_ifaces < if_linktype.shape[0]:
                if_linktype[n_ifaces] = _u16(buf, off + 8, swapped)
                scale = 1e-6
                o = off + 16
                while o + 4 <= off + blen - 4:
                    code = _u16(buf, o, swapped)
                    olen = _u16(buf, o + 2, swapped)
                    if code == 0:
                        break
                    if code == 9 and olen >= 1:  # if_tsresol
                        r = buf[o + 4]
                        if r & 0x80:
                            scale = 2.0 ** (-np.float64(r & 0x7F))
                        else:
                            scale = 10.0 ** (-np.float64(r))
                    o += 4 + ((olen + 3) // 4) * 4
                if_scale[n_ifaces] = scale
                n_ifaces += 1
        elif btype == 6 or btype == 2:  # enhanced packet / obsolete packet
            iface = _u32(buf, off + 8, swapped) if btype == 6 else _u16(buf, off + 8, swapped)
            hi = _u32(buf, off + 12, swapped)
            lo = _u32(buf, off + 16, swapped)
            incl = _u32(buf, off + 20, swapped)
            if 28 + incl > blen:
                return n, off, 1, n_ifaces, swapped
            lt = 1
            scale = 1e-6
            if iface < n_ifaces:
                lt = if_linktype[iface]
                scale = if_scale[iface]
            ts[n] = (np.float64(hi) * 4294967296.0 + np.float64(lo)) * scale
            data_off[n] = off + 28
            caplen[n] = incl
            wirelen[n] = _u32(buf, off + 24, swapped)
            linktype[n] = lt
            n += 1
        elif btype == 3:  # simple packet: no timestamp, interface 0
            orig = _u32(buf, off + 8, swapped)
            incl = min(orig, blen - 16)
            ts[n] = ts[n - 1] if n > 0 else 0.0
            data_off[n] = off + 12
            caplen[n] = incl
            wirelen[n] = orig
            linktype[n] = if_linktype[0] if n_ifaces > 0 else 1
            n += 1
        off += blen
    return n, off, 0, n_ifaces, swapped


# ---------------------------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------------------------


@jit(nogil=True)
def _be16(buf, off):
    return (np.int64(buf[off]) << 8) | np.int64(buf[off + 1])


@jit(nogil=True)
def _be32(buf, off):
    return ((np.uint64(buf[off]) << 24) | (np.uint64(buf[off + 1]) << 16)
            | (np.uint64(buf[off + 2]) << 8) | np.uint64(buf[off + 3]))


@jit(nogil=True)
def _be64(buf, off):
    return (_be32(buf, off) << np.uint64(32)) | _be32(buf, off + 4)


@jit(nogil=True)
def _network_start(buf, off, end, lt):
    """Offset of the IP header and its version (4/6), or (-1, 0) when not IP."""
    etype = -1
    if lt == LT_ETHERNET:
        if off + 14 > end:
            return -1, 0
        etype = _be16(buf, off + 12)
        off += 14
        # VLAN tags, PPPoE session and MPLS label stacks in front of IP
        while True:
            if (etype == 0x8100 or etype == 0x88A8 or etype == 0x9100) and off + 4 <= end:
                etype = _be16(buf, off + 2)
                off += 4
            elif etype == 0x8864 and off + 8 <= end:
                ppp = _be16(buf, off + 6)
                off += 8
                etype = 0x0800 if ppp == 0x0021 else (0x86DD if ppp == 0x0057 else -1)
            elif (etype == 0x8847 or etype == 0x8848) and off + 4 <= end:
                bottom = buf[off + 2] & 1
                off += 4
                if bottom:
                    if off >= end:
                        return -1, 0
                    v = buf[off] >> 4
                    etype = 0x0800 if v == 4 else (0x86DD if v == 6 else -1)
            else:
                break
    elif lt == LT_SLL:
        if off + 16 > end:
            return -1, 0
        etype = _be16(buf, off + 14)
        off += 16
    elif lt == LT_SLL2:
        if off + 20 > end:
            return -1, 0
        etype = _be16(buf, off)
        off += 20
    elif lt == LT_NULL or lt == LT_LOOP:
        if off + 4 > end:
            return -1, 0
        fam = np.int64(buf[off]) | (np.int64(buf[off + 3]))  # either byte order: family fits one byte
        off += 4
        etype = 0x0800 if fam == 2 else (0x86DD if fam in (24, 28, 30) else -1)
    elif lt == LT_RAW or lt == LT_RAW_OLD1 or lt == LT_RAW_OLD2 or lt == LT_IPV4 or lt == LT_IPV6:
        if off >= end:
            return -1, 0
        v = buf[off] >> 4
        etype = 0x0800 if v == 4 else (0x86DD if v == 6 else -1)
    if etype == 0x0800:
        return off, 4
    if etype == 0x86DD:
        return off, 6
    return -1, 0


@jit(nogil=True)
def _is_ws(c):
    return c == 0x20 or c == 0x09 or c == 0x0D or c == 0x0A


@jit(nogil=True)
def _starts(buf, off, end, word):
    if off + len(word) > end:
        return False
    for i in range(len(word)):
        if buf[off + i] != word[i]:
            return False
    return True


_POST = np.frombuffer(b"POST ", dtype=np.uint8)
_GET = np.frombuffer(b"GET ", dtype=np.uint8)
_HTTP = np.frombuffer(b"HTTP/1.", dtype=np.uint8)
_LEVIN = np.frombuffer(b"\x01\x21\x01\x01\x01\x01\x01\x01", dtype=np.uint8)
# Bitcoin-family network magics (mainnet, testnet3, regtest, signet, testnet4; Litecoin, Dogecoin,
# Bitcoin Cash, Dash): the message starts with magic then a NUL-padded ASCII command.
_BTC_MAGICS = np.array(
    [0xF9BEB4D9, 0x0B110907, 0xFABFB5DA, 0x0A03CF40, 0x1C163F28, 0xFBC0B6DB, 0xC0C0C0C0, 0xE3E1F3E8, 0xBF0C6BBD],
    dtype=np.uint64,
)


_CONNECT = np.frombuffer(b"CONNECT ", dtype=np.uint8)


@jit(nogil=True)
def _tunnel_request(buf, off, end):
    """A SOCKS5 or SOCKS4 CONNECT request, or an HTTP CONNECT (``protocols.tunnels`` reads the target)."""
    n = end - off
    if n >= 10 and buf[off] == 5 and buf[off + 1] == 1 and buf[off + 2] == 0 and 1 <= buf[off + 3] <= 4:
        return True
    if n >= 9 and buf[off] == 4 and buf[off + 1] == 1 and buf[end - 1] == 0:
        return True
    return _starts(buf, off, end, _CONNECT)


@jit(nogil=True)
def classify_payload(buf, off, end, proto, sport, dport):
    """Payload class from the first payload bytes of a flow side (see module docstring)."""
    n = end - off
    if n <= 0:
        return C_NONE
    # a JSON object ('{' then '"'): content decides over the port, also on 53 (a DNS-over-TCP length of
    # 0x7B22 = 31522 bytes would have to be followed by more JSON to be read as such)
    i = off
    while i < end and i < off + 16 and _is_ws(buf[i]):
        i += 1
    json_like = i + 1 < end and buf[i] == 0x7B and (buf[i + 1] == 0x22 or _is_ws(buf[i + 1]))
    if proto == 17 and (sport == 53 or dport == 53 or sport == 5353 or dport == 5353):
        return C_DNS
    if proto == 6 and (sport == 53 or dport == 53) and not json_like:
        return C_DNS
    # Bitcoin-family: magic + printable command + NUL padding
    if n >= 24:
        m = _be32(buf, off)
        for k in range(_BTC_MAGICS.shape[0]):
            if m == _BTC_MAGICS[k]:
                c = buf[off + 4]
                if 0x61 <= c <= 0x7A:
                    return C_NODE_BTC
    if n >= 33 and _starts(buf, off, end, _LEVIN):
        return C_NODE_XMR
    # Ethereum discv4 (UDP): hash(32) ‖ signature(65) ‖ type(1..6) ‖ RLP list
    if proto == 17 and n >= 99 and 1 <= buf[off + 97] <= 6 and buf[off + 98] >= 0xC0:
        return C_NODE_ETH
    # Ethereum RLPx handshake (TCP): EIP-8 auth = size(2) ‖ ECIES (starts 0x04 pubkey); legacy: 307 bytes
    if proto == 6 and n >= 3 and buf[off + 2] == 0x04 and _be16(buf, off) == n - 2 and n > 200:
        return C_NODE_ETH
    if proto == 6 and n == 307 and buf[off] == 0x04:
        return C_NODE_ETH
    # Nano (7075, UDP or TCP): 'R' + network ('A' test, 'B' beta, 'C' live, 'X' dev) + version max ≥ using
    # ≥ min + message type
    if n >= 8 and buf[off] == 0x52 and (sport == 7075 or dport == 7075):
        net = buf[off + 1]
        if (net == 0x41 or net == 0x42 or net == 0x43 or net == 0x58) and buf[off + 2] >= buf[off + 3] >= buf[off + 4] \
                and 2 <= buf[off + 5] <= 0x20:
            return C_NODE_NANO
    if proto == 6:
        if n >= 6 and buf[off] == 0x16 and buf[off + 1] == 0x03 and buf[off + 5] == 0x01:
            return C_TLS
        if _starts(buf, off, end, _POST) or _starts(buf, off, end, _GET) or _starts(buf, off, end, _HTTP):
            return C_HTTP
        if i < end and buf[i] == 0x7B:  # '{' — JSON-RPC mining protocols and their kin
            return C_JSON
    elif proto == 17 and json_like:  # JSON over UDP: rare, but the port does not decide
        return C_JSON
    return C_OTHER


@jit(nogil=True)
def _track_messages(buf, pay, plen, t, slot, side, fwd, tls, first_ab, first_ba, sv2, xchg, xchg_min, xchg_max,
                    ack_min, ack_max, push, xchg_t, gap_sum, gap_sq, prev_side, prev_rec):
    """What one TCP payload packet adds to the flow's message shape (the FLOW_FIELDS above); side 0 is the
    initiator's."""
    first = first_ab if fwd else first_ba
    if first[slot] == 0:
        first[slot] = plen
        # Stratum V2 SetupConnection in clear text: frame header (extension type u16 without the channel
        # bit, message type 0x00, payload length u24, all little-endian), then protocol (0-2) and
        # min/max version 2 (u16)
        if side == 0 and plen >= 15 and buf[pay] == 0 and (buf[pay + 1] & 0x7F) == 0 and buf[pay + 2] == 0 \
                and (np.int64(buf[pay + 3]) | (np.int64(buf[pay + 4]) << 8) | (np.int64(buf[pay + 5]) << 16)) \
                == plen - 6 and buf[pay + 6] <= 2 and buf[pay + 7] == 2 and buf[pay + 8] == 0 \
                and buf[pay + 9] == 2 and buf[pay + 10] == 0:
            sv2[slot] = 1
    if not tls:
        return
    rec = 0  # the record's size when the segment holds exactly one application-data record
    if plen >= 6 and buf[pay] == 0x17 and buf[pay + 1] == 0x03 and _be16(buf, pay + 3) == plen - 5:
        rec = plen
    if side == 0:
        prev_side[slot] = 1
        prev_rec[slot] = rec if XCHG_MIN <= rec <= XCHG_MAX else 0
        return
    if prev_side[slot] == 1 and prev_rec[slot] > 0 and ACK_MIN <= rec <= ACK_MAX and 2 * rec <= prev_rec[slot]:
        n = xchg[slot]
        req = prev_rec[slot]
        if n == 0:
            xchg_min[slot] = req
            xchg_max[slot] = req
            ack_min[slot] = rec
            ack_max[slot] = rec
        else:
            xchg_min[slot] = min(xchg_min[slot], req)
            xchg_max[slot] = max(xchg_max[slot], req)
            ack_min[slot] = min(ack_min[slot], rec)
            ack_max[slot] = max(ack_max[slot], rec)
            gap = t - xchg_t[slot]
            gap_sum[slot] += gap
            gap_sq[slot] += gap * gap
        xchg[slot] = n + 1
        xchg_t[slot] = t
    elif prev_side[slot] == 2 and PUSH_MIN <= rec <= PUSH_MAX:
        push[slot] += 1
    prev_side[slot] = 2
    prev_rec[slot] = 0


@jit(nogil=True)
def decode_and_track(
    buf, n, data_off, caplen, wirelen, ts, linktype, default_lt,
    index, table, free_slots, n_free, next_serial, idle_timeout, ended,
    keep_serial, keep_side, keep_cls, keep_ts, keep_seq, keep_off, keep_len,
):
    """Decode n packets and fold them into the flow table.

    ``table`` is a tuple of the FLOW_FIELDS arrays; ``index`` maps a canonical 5-tuple to a slot.
    Packets whose payload Python must read are written to the keep_* arrays. A flow that ends
    because its key comes back after the idle timeout, or with a new SYN after FIN/RST, leaves the
    index; its slot is written to ``ended`` for Python to read out and free. The caller guarantees
    at least n free slots (each packet opens at most one flow).
    Returns (kept, n_free, next_serial, ip_packets, n_ended).
    """
    (serial, a_hi, a_lo, b_hi, b_lo, a_port, b_port, proto_a, ipver, initiator, first_ts, last_ts,
     pkts_ab, pkts_ba, bytes_ab, bytes_ba, payload_ab, payload_ba, cls, head_ab, head_ba, syn, closed,
     first_ab, first_ba, sv2, xchg, xchg_min, xchg_max, ack_min, ack_max, push, xchg_t, gap_sum, gap_sq,
     prev_side, prev_rec) = table
    kept = 0
    ip_packets = 0
    n_ended = 0
    for p in range(n):
        off = data_off[p]
        end = off + caplen[p]
        lt = linktype[p] if linktype.shape[0] > 0 else default_lt
        l3, ver = _network_start(buf, off, end, lt)
        if l3 < 0:
            continue
        s_hi = np.uint64(0)
        s_lo = np.uint64(0)
        d_hi = np.uint64(0)
        d_lo = np.uint64(0)
        if ver == 4:
            if l3 + 20 > end:
                continue
            ihl = (buf[l3] & 0x0F) * 4
            if ihl < 20:
                continue
            proto = buf[l3 + 9]
            tot = _be16(buf, l3 + 2)
            frag = _be16(buf, l3 + 6) & 0x1FFF
            s_lo = np.uint64(0xFFFF00000000) | _be32(buf, l3 + 12)
            d_lo = np.uint64(0xFFFF00000000) | _be32(buf, l3 + 16)
            l4 = l3 + ihl
            ip_end = min(end, l3 + tot) if tot >= ihl else end
            if frag != 0:
                l4 = -1  # later fragments: count bytes, no ports
        else:
            if l3 + 40 > end:
                continue
            proto = buf[l3 + 6]
            plen = _be16(buf, l3 + 4)
            s_hi = _be64(buf, l3 + 8)
            s_lo = _be64(buf, l3 + 16)
            d_hi = _be64(buf, l3 + 24)
            d_lo = _be64(buf, l3 + 32)
            l4 = l3 + 40
            ip_end = min(end, l4 + plen)
            # skip extension headers: hop-by-hop, routing, destination options, fragment
            while l4 >= 0 and (proto == 0 or proto == 43 or proto == 60 or proto == 44) and l4 + 8 <= ip_end:
                nxt = buf[l4]
                if proto == 44:
                    if (_be16(buf, l4 + 2) & 0xFFF8) != 0:
                        l4 = -1
                        proto = nxt
                        break
                    l4 += 8
                else:
                    l4 += (buf[l4 + 1] + 1) * 8
                proto = nxt
        ip_packets += 1
        sport = 0
        dport = 0
        flags = 0
        seq = np.uint64(0)
        pay = -1
        pay_end = -1
        if l4 >= 0 and proto == 6 and l4 + 20 <= ip_end:
            sport = _be16(buf, l4)
            dport = _be16(buf, l4 + 2)
            seq = _be32(buf, l4 + 4)
            doff = (buf[l4 + 12] >> 4) * 4
            flags = buf[l4 + 13]
            pay = l4 + doff
            pay_end = ip_end
        elif l4 >= 0 and proto == 17 and l4 + 8 <= ip_end:
            sport = _be16(buf, l4)
            dport = _be16(buf, l4 + 2)
            seq = DATAGRAM_SEQ
            pay = l4 + 8
            pay_end = ip_end
        elif l4 >= 0 and (proto == 1 or proto == 58) and l4 + 2 <= ip_end:
            sport = int(buf[l4])  # ICMP type/code stand in for ports, as flow tools do
            dport = int(buf[l4 + 1])
        plen_ = pay_end - pay if pay >= 0 and pay_end > pay else 0

        # canonical key: the smaller endpoint first
        fwd = True
        if s_hi > d_hi or (s_hi == d_hi and (s_lo > d_lo or (s_lo == d_lo and sport > dport))):
            fwd = False
        if fwd:
            key = (s_hi, s_lo, d_hi, d_lo, np.uint64((sport << 24) | (dport << 8) | np.int64(proto)))
        else:
            key = (d_hi, d_lo, s_hi, s_lo, np.uint64((dport << 24) | (sport << 8) | np.int64(proto)))
        t = ts[p]
        slot = index[key] if key in index else np.int64(-1)
        new_syn = proto == 6 and (flags & 0x12) == 0x02
        if slot >= 0 and (t - last_ts[slot] > idle_timeout or (new_syn and closed[slot] == 1)):
            ended[n_ended] = slot  # the old flow ends here; its slot is handed back by Python
            n_ended += 1
            slot = -1
        if slot < 0:
            n_free -= 1
            slot = free_slots[n_free]
            index[key] = slot
            serial[slot] = next_serial
            next_serial += 1
            a_hi[slot] = key[0]
            a_lo[slot] = key[1]
            b_hi[slot] = key[2]
            b_lo[slot] = key[3]
            a_port[slot] = sport if fwd else dport
            b_port[slot] = dport if fwd else sport
            proto_a[slot] = proto
            ipver[slot] = ver
            # initiator: the sender of the first packet, unless it is a SYN-ACK (then the other side)
            first_is_synack = proto == 6 and (flags & 0x12) == 0x12
            initiator[slot] = (0 if fwd else 1) if not first_is_synack else (1 if fwd else 0)
            first_ts[slot] = t
            last_ts[slot] = t
            pkts_ab[slot] = 0
            pkts_ba[slot] = 0
            bytes_ab[slot] = 0
            bytes_ba[slot] = 0
            payload_ab[slot] = 0
            payload_ba[slot] = 0
            cls[slot] = C_NONE
            head_ab[slot] = 0
            head_ba[slot] = 0
            syn[slot] = 0
            closed[slot] = 0
            first_ab[slot] = 0
            first_ba[slot] = 0
            sv2[slot] = 0
            xchg[slot] = 0
            xchg_min[slot] = 0
            xchg_max[slot] = 0
            ack_min[slot] = 0
            ack_max[slot] = 0
            push[slot] = 0
            xchg_t[slot] = 0.0
            gap_sum[slot] = 0.0
            gap_sq[slot] = 0.0
            prev_side[slot] = 0
            prev_rec[slot] = 0
        if t > last_ts[slot]:
            last_ts[slot] = t
        if t < first_ts[slot]:
            first_ts[slot] = t
        if fwd:
            pkts_ab[slot] += 1
            bytes_ab[slot] += wirelen[p]
            payload_ab[slot] += plen_
        else:
            pkts_ba[slot] += 1
            bytes_ba[slot] += wirelen[p]
            payload_ba[slot] += plen_
        if new_syn:
            syn[slot] = 1
            initiator[slot] = 0 if fwd else 1
        if proto == 6 and (flags & 0x05) != 0:
            closed[slot] = 1
        if plen_ > 0:
            c = cls[slot]
            if c == C_NONE:
                c = classify_payload(buf, pay, pay_end, proto, sport, dport)
                cls[slot] = c
            heads = head_ab[slot] if fwd else head_ba[slot]
            sent = payload_ab[slot] if fwd else payload_ba[slot]
            keep = False
            if c == C_JSON or c == C_DNS:
                keep = True
            elif c == C_HTTP:
                keep = sent <= HTTP_KEEP_BYTES  # getwork rides HTTP; bulk web transfers do not matter
            elif c == C_TLS or c == C_NODE_BTC or c == C_NODE_XMR or c == C_NODE_ETH or c == C_NODE_NANO:
                keep = heads < HEAD_PACKETS
            elif c == C_OTHER and heads < HEAD_PACKETS:
                # the first payload may be a stray segment, or the tail of a message when the capture
                # starts mid-session: the next few packets of each side get another look
                c2 = classify_payload(buf, pay, pay_end, proto, sport, dport)
                if c2 == C_JSON or c2 == C_HTTP or c2 == C_TLS:
                    keep = True
                    cls[slot] = c2
                elif heads < 2 and proto == 6 and _tunnel_request(buf, pay, pay_end):
                    keep = True  # a proxy CONNECT: Python reads where the tunnel goes
            if proto == 6:
                _track_messages(buf, pay, plen_, t, slot, (0 if fwd else 1) ^ initiator[slot], fwd, cls[slot] == C_TLS,
                                first_ab, first_ba, sv2, xchg, xchg_min, xchg_max, ack_min, ack_max, push, xchg_t,
                                gap_sum, gap_sq, prev_side, prev_rec)
            if heads < 255:
                if fwd:
                    head_ab[slot] = heads + 1
                else:
                    head_ba[slot] = heads + 1
            if keep:
                keep_serial[kept] = serial[slot]
                # side 0 = the initiator's side
                keep_side[kept] = (0 if fwd else 1) ^ initiator[slot]
                keep_cls[kept] = cls[slot]
                keep_ts[kept] = t
                keep_seq[kept] = seq
                keep_off[kept] = pay
                keep_len[kept] = plen_
                kept += 1
    return kept, n_free, next_serial, ip_packets, n_ended


@jit(nogil=True)
def expire_idle(index, last_ts, now, idle_timeout, out_slots):
    """Remove flows idle longer than idle_timeout from the index; their slots go to out_slots."""
    n = 0
    dead = []
    for key, slot in index.items():
        if now - last_ts[slot] > idle_timeout:
            dead.append(key)
            out_slots[n] = slot
            n += 1
    for key in dead:
        del index[key]
    return n


@jit(nogil=True)
def drain_all(index, out_slots):
    n = 0
    for slot in index.values():
        out_slots[n] = slot
        n += 1
    index.clear()
    return n


@dataclass(frozen=True)
class PacketEngine:
    """The packet path's entry points, compiled or interpreted (``engine``). The flow index maps a flow's
    canonical 5-tuple to its slot: numba's typed dict when compiled, a dict when interpreted."""

    compiled: bool
    index_pcap: Callable[..., Any]
    index_pcapng: Callable[..., Any]
    decode_and_track: Callable[..., Any]
    expire_idle: Callable[..., Any]
    drain_all: Callable[..., Any]
    new_flow_index: Callable[[], Any]
    flow_count: Callable[[Any], int]


def engine(compiled: bool) -> PacketEngine:
    if not compiled:
        return PacketEngine(False, index_pcap, index_pcapng, decode_and_track, expire_idle, drain_all, dict, len)
    from minescope.dimensions.network.capture import typed_index

    fast = compile_module(sys.modules[__name__])
    return PacketEngine(True, fast.index_pcap, fast.index_pcapng, fast.decode_and_track, fast.expire_idle,
                        fast.drain_all, typed_index.new_flow_index, typed_index.flow_count)

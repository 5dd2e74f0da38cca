"""Write small, well-formed captures for tests: TCP and UDP conversations with real framing.

Used to put protocol transcripts the corpus does not have (from protocol specifications and miner
documentation) on the wire with fresh addresses, ports, segmenting, VLAN tags, IPv6 and pcapng, so
the tests show detection follows the protocol rather than the corpus files.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


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

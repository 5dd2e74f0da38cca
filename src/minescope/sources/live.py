"""Live capture from a network interface (libpcap through pcapy-ng).

Needs root or CAP_NET_RAW (``sudo setcap cap_net_raw,cap_net_admin=eip $(readlink -f .venv/bin/python)``).
Packets are gathered into pcap-format blocks of about a second and go through the same compiled
path as capture files. Receiving each packet from libpcap is one Python call: fine for a host or an
office uplink; for a multi-gigabit link, capture to a ring of files (``tcpdump -G 60 -w 'cap-%s.pcap'``)
and scan the files.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import numpy as np

from minescope.engine import packets as pk
from minescope.errors import InputError
from minescope.model import ScanResult
from minescope.sources.capture import Block

if TYPE_CHECKING:
    from minescope.engine.scan import Scanner

BLOCK_SECONDS = 1.0
BLOCK_BYTES = 8 * 1024 * 1024
SNAPLEN = 262144
_RECORD = struct.Struct("<IIII")


def live_blocks(interface: str, duration: float | None, bpf: str = "") -> Generator[Block, None, None]:
    try:
        import pcapy
    except ImportError as e:  # pragma: no cover - pcapy-ng is a declared dependency
        raise InputError(f"live capture needs pcapy-ng ({e}); pip install pcapy-ng") from e
    try:
        reader = pcapy.open_live(interface, SNAPLEN, True, 100)
        if bpf:
            reader.setfilter(bpf)
    except pcapy.PcapError as e:
        raise InputError(f"{interface}: cannot capture ({e}); check the interface name and run as root "
                         "or with CAP_NET_RAW") from e
    linktype = reader.datalink()
    end = time.monotonic() + duration if duration else None
    while end is None or time.monotonic() < end:
        buf = bytearray()
        block_end = time.monotonic() + BLOCK_SECONDS
        while time.monotonic() < block_end and len(buf) < BLOCK_BYTES:
            try:
                hdr, data = reader.next()
            except pcapy.PcapError:
                continue  # read timeout with no packet
            if hdr is None:
                continue
            sec, usec = hdr.getts()
            buf += _RECORD.pack(sec, usec, len(data), hdr.getlen())
            buf += data
        if buf:
            yield _block(bytes(buf), linktype)


def _block(data: bytes, linktype: int) -> Block:
    n_max = len(data) // 16 + 1
    arrays = (np.empty(n_max, np.int64), np.empty(n_max, np.int64), np.empty(n_max, np.int64),
              np.empty(n_max, np.float64))
    buf = np.frombuffer(data, dtype=np.uint8)
    n, _, _ = pk.index_pcap(buf, len(data), False, 1e-6, SNAPLEN, *arrays)
    return Block(buf, n, *arrays, np.empty(0, np.int32), linktype)


def scan_interface(scanner: Scanner, interface: str, duration: float | None) -> ScanResult:
    """Scan live traffic until ``duration`` seconds pass (or Ctrl-C)."""
    started = time.time()
    t0 = time.perf_counter()
    blocks = live_blocks(interface, duration)
    try:
        summary, findings = scanner.scan_blocks(f"interface:{interface}", "interface", _until_interrupt(blocks))
    finally:
        blocks.close()
    return scanner.make_result([summary], findings, started, time.perf_counter() - t0)


def _until_interrupt(blocks: Iterator[Block]) -> Iterator[Block]:
    try:
        yield from blocks
    except KeyboardInterrupt:
        return

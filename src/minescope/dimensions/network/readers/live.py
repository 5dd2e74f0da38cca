"""Live capture from a network interface (libpcap through pcapy-ng).

Needs root or CAP_NET_RAW (``sudo setcap cap_net_raw,cap_net_admin=eip $(readlink -f .venv/bin/python)``).
libpcap hands over packets in batches (``next_batch``: one call for thousands of packets, no Python
object per packet); about a second of them makes one block for the same compiled path as capture
files. For a multi-gigabit link, capture to a ring of files (``tcpdump -G 60 -w 'cap-%s.pcap'``) on
a capture host and scan the files.
"""

from __future__ import annotations

import select
import time
from collections.abc import Generator, Iterator
from typing import Any

import numpy as np

from minescope.dimensions.network.capture import packets as pk
from minescope.dimensions.network.readers.pcap import Block
from minescope.errors import InputError

BLOCK_SECONDS = 1.0
BLOCK_BYTES = 8 * 1024 * 1024
BATCH_PACKETS = 4096
SNAPLEN = 262144
# One Ethernet/IPv4/UDP frame (192.0.2.1:1 → 192.0.2.2:2, 4 bytes of payload) to compile the engine.
WARM_UP_FRAME = bytes.fromhex("0200000000010200000000020800" "450000200000000040110000c0000201c0000202"
                              "00010002000c0000" "74657374")
WARM_UP_META = np.array([[0, 0, 0, 46]], dtype=np.uint32)


def live_blocks(interface: str, duration: float | None, bpf: str = "") -> Generator[Block, None, None]:
    try:
        import pcapy
    except ImportError as e:  # pragma: no cover - pcapy-ng is a declared dependency
        raise InputError(f"实时抓包需要 pcapy-ng（{e}）；请执行 pip install pcapy-ng",
                         f"live capture needs pcapy-ng ({e}); pip install pcapy-ng") from e
    try:
        reader = pcapy.open_live(interface, SNAPLEN, True, 100)
        if bpf:
            reader.setfilter(bpf)
    except pcapy.PcapError as e:
        raise InputError(f"{interface}: 无法抓包（{e}）；请检查网卡名，并以 root 或 CAP_NET_RAW 权限运行",
                         f"{interface}: cannot capture ({e}); check the interface name and run as root "
                         "or with CAP_NET_RAW") from e
    linktype = reader.datalink()
    # libpcap's read timeout does not fire while no packet arrives (Linux TPACKET_V3): wait on the
    # descriptor instead, and read without blocking
    reader.setnonblock(1)
    fd = reader.getfd()
    end = time.monotonic() + duration if duration else None
    while end is None or time.monotonic() < end:
        batches: list[tuple[bytes, np.ndarray]] = []
        size = 0
        block_end = time.monotonic() + BLOCK_SECONDS
        while (left := min(block_end, end or block_end) - time.monotonic()) > 0 and size < BLOCK_BYTES:
            select.select([fd], [], [], min(left, 0.2))
            size += _read_batch(reader, batches)
        if batches:
            yield _block(batches, linktype)
    # what arrived before the deadline but was still queued while the last block was analysed
    batches = []
    while _read_batch(reader, batches):
        pass
    if batches:
        yield _block(batches, linktype)


def _read_batch(reader: Any, batches: list[tuple[bytes, np.ndarray]]) -> int:
    """Append one libpcap batch (one call for many packets; none when nothing is queued); its size."""
    data, meta = reader.next_batch(BATCH_PACKETS)
    if not meta:
        return 0
    batches.append((data, np.frombuffer(meta, dtype=np.uint32).reshape(-1, 4)))
    return len(data)


def _block(batches: list[tuple[bytes, np.ndarray]], linktype: int) -> Block:
    """One block from libpcap batches: packet bytes end to end, and (sec, usec, offset, caplen) rows."""
    buf = np.frombuffer(b"".join(data for data, _ in batches), dtype=np.uint8)
    base = np.cumsum([0] + [len(data) for data, _ in batches[:-1]])
    shift = [np.array([0, 0, b, 0]) for b in base]  # each batch's offsets move by the bytes before it
    meta = np.concatenate([m.astype(np.int64) + d for (_, m), d in zip(batches, shift, strict=True)])
    ts = meta[:, 0] + meta[:, 1] * 1e-6
    caplen = meta[:, 3].copy()
    # libpcap's batch gives no wire length; with a 256 KiB snapshot length frames are whole
    return Block(buf, len(meta), meta[:, 2].copy(), caplen, caplen.copy(), ts, np.empty(0, np.int32), linktype,
                 pk.engine(compiled=True))


def warm_up_block() -> Block:
    """One frame that compiles the packet path (or loads it from numba's cache)."""
    return _block([(WARM_UP_FRAME, WARM_UP_META)], 1)


def until_interrupt(blocks: Iterator[Block]) -> Iterator[Block]:
    try:
        yield from blocks
    except KeyboardInterrupt:
        return

"""Capture files: pcap, pcapng, gzip-compressed either, and directories of them.

A capture is read in fixed-size blocks (memory stays bounded whatever the file size); the record
framing itself runs in the packet engine (``capture.packets.index_pcap`` / ``index_pcapng``, compiled for
large files). A file that ends
inside a record, or whose framing turns to garbage, yields what was readable before that point and
one problem line saying what, where, and how to fix it. gzip is read to its last intact byte
(``readers.gunzip``). Packets whose timestamp is no time (beyond years 1–9999, from a wrong pcapng
``if_tsresol`` or a garbage timestamp) are skipped and said here, so every route that reads captures
(``scan``, ``flows import``) takes the same packets.
"""

from __future__ import annotations

import hashlib
import io
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal, cast

import numpy as np

from minescope.dimensions.network.capture import packets as pk
from minescope.dimensions.network.capture.jit import compiled_for
from minescope.model import Text
from minescope.readers.gunzip import GZIP_MAGIC, GunzipReader
from minescope.readers.names import path_text
from minescope.readers.values import MAX_EPOCH_S, MIN_EPOCH_S

BLOCK_BYTES = 16 * 1024 * 1024
READ_STEP = 1024 * 1024
HASH_CHUNK = 16 * 1024 * 1024  # bytes read from the file at a time (``_Counting``)
# The largest record accepted (pcap caplen or pcapng block); larger means a corrupt file.
MAX_RECORD = 16 * 1024 * 1024 + 64
GZIP_RATIO = 4  # a gzip-compressed capture's packets, counted as this many times its bytes on disk
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".dmp", ".pcap.gz", ".pcapng.gz", ".cap.gz", ".gz")

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": (False, 1e-6),  # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (True, 1e-6),
    b"\x4d\x3c\xb2\xa1": (False, 1e-9),  # nanoseconds
    b"\xa1\xb2\x3c\x4d": (True, 1e-9),
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"


@dataclass
class Block:
    """One block of raw capture bytes and where its packets are inside it."""

    buf: np.ndarray
    n: int
    data_off: np.ndarray
    caplen: np.ndarray
    wirelen: np.ndarray
    ts: np.ndarray
    linktype: np.ndarray  # per packet (pcapng) or empty (pcap: default_lt for all)
    default_lt: int
    engine: pk.PacketEngine  # compiled or interpreted: the flow tracker runs the one that framed the block


@dataclass
class CaptureFile:
    """A capture being read; ``problem`` is set when part of it could not be read."""

    path: Path
    format: str = "unknown"
    problem: Text | None = None
    bytes_read: int = 0  # of the file on disk (compressed bytes for .gz), for progress
    sha256: str = ""
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256, repr=False)
    _hasher: _Hasher | None = field(default=None, repr=False)
    _gzip: GunzipReader | None = field(default=None, repr=False)
    _said_linktypes: bool = field(default=False, repr=False)
    # packets skipped for a time that is no time: how many, and the file offset and time of the first
    _timeless: int = field(default=0, repr=False)
    _timeless_at: int = field(default=0, repr=False)
    _timeless_ts: float = field(default=0.0, repr=False)
    # None: compiled when the file is large or numba already runs in this process (``capture.jit``)
    compiled: bool | None = None
    block_bytes: int = BLOCK_BYTES  # read at a time (smaller to look at the first packets only)
    _engine: pk.PacketEngine | None = field(default=None, repr=False)

    def blocks(self) -> Iterator[Block]:
        self._hasher = _Hasher(self._hash)
        try:
            yield from self._read_file()
        finally:  # also when the reader stops early: the thread ends, the digest covers what was read
            self._hasher.close()
            self._hasher = None
        self.sha256 = self._hash.hexdigest()

    def _read_file(self) -> Iterator[Block]:
        try:
            with open(self.path, "rb") as raw:
                head = raw.read(4)
                raw.seek(0)
                gzipped = head[:2] == GZIP_MAGIC
                if self.compiled is None:  # gzip holds several times its size in packets
                    self.compiled = compiled_for(os.fstat(raw.fileno()).st_size * (GZIP_RATIO if gzipped else 1))
                self._engine = pk.engine(self.compiled)
                if gzipped:
                    self._gzip = GunzipReader(_Counting(raw, self))
                    stream: BinaryIO = cast(BinaryIO, self._gzip)
                    suffix = ".gz"
                else:
                    stream = cast(BinaryIO, _Counting(raw, self))
                    suffix = ""
                yield from self._blocks(stream, suffix)
        except OSError as e:
            self._say(Text(zh=f"无法读取（{e.strerror or e}）；请检查路径和权限",
                           en=f"cannot read ({e.strerror or e}); check the path and permissions"))
        if self._timeless:
            self._fail("timeless", self._timeless_at, str(self._timeless), ts=f"{self._timeless_ts:.6g}")

    def _packets(self) -> pk.PacketEngine:
        assert self._engine is not None, "set as the file is opened"
        return self._engine

    def _blocks(self, stream: BinaryIO, suffix: str) -> Iterator[Block]:
        magic = stream.read(4)
        if len(magic) < 4 and self._gzip is not None and self._gzip.damage is not None:
            self._fail_gzip("not_gzip" if not magic else "gzip_truncated", 0)
            return
        if magic in PCAP_MAGICS:
            self.format = "pcap" + suffix
            yield from self._pcap(stream, magic)
        elif magic == PCAPNG_MAGIC:
            self.format = "pcapng" + suffix
            yield from self._pcapng(stream, magic)
        else:
            self._fail("not_capture", 0, magic.hex())

    def _readinto(self, stream: BinaryIO, view: memoryview) -> tuple[int, bool]:
        """Fill view from the stream; returns (bytes read, the compressed stream broke off: the
        bytes before the break are among those read)."""
        got = 0
        while got < len(view):
            n = stream.readinto(view[got : got + READ_STEP])  # type: ignore[attr-defined]
            if not n:
                return got, self._gzip is not None and self._gzip.damage is not None
            got += n
        return got, False

    def _pcap(self, stream: BinaryIO, magic: bytes) -> Iterator[Block]:
        swapped, scale = PCAP_MAGICS[magic]
        rest = stream.read(20)
        if len(rest) < 20:
            self._fail("short_header", 0)
            return
        order: Literal["big", "little"] = "big" if swapped else "little"
        snaplen = int.from_bytes(rest[12:16], order)
        linktype = int.from_bytes(rest[16:20], order) & 0x0FFFFFFF
        max_caplen = max(min(snaplen, MAX_RECORD - 16), 262144)
        no_linktypes = np.empty(0, np.int32)

        def index(buf: np.ndarray, arrays: _Records) -> tuple[int, int, bool]:
            n, consumed, bad = self._packets().index_pcap(buf, len(buf), swapped, scale, max_caplen, *arrays.columns())
            arrays.linktype = no_linktypes
            arrays.default_lt = linktype
            if n:
                self._check_linktypes([linktype])
            return n, consumed, bool(bad)

        yield from self._frame(stream, b"", 24, index, "corrupt_record")

    def _pcapng(self, stream: BinaryIO, magic: bytes) -> Iterator[Block]:
        if_linktype = np.zeros(256, dtype=np.int32)
        if_scale = np.full(256, 1e-6)
        state = {"n_ifaces": 0, "swapped": False}

        def index(buf: np.ndarray, arrays: _Records) -> tuple[int, int, bool]:
            n, consumed, bad, state["n_ifaces"], state["swapped"] = self._packets().index_pcapng(
                buf, len(buf), state["swapped"], if_linktype, if_scale, state["n_ifaces"],
                *arrays.columns(), arrays.linktypes,
            )
            arrays.linktype = arrays.linktypes
            arrays.default_lt = 1
            if n:
                self._check_linktypes(np.unique(arrays.linktypes[:n]).tolist())
            return n, consumed, bool(bad)

        yield from self._frame(stream, magic, 0, index, "corrupt_block")

    def _frame(self, stream: BinaryIO, carry: bytes, pos: int,
               index: Callable[[np.ndarray, _Records], tuple[int, int, bool]], corrupt: str) -> Iterator[Block]:
        """Cut the stream into blocks of whole records; ``pos`` is the file offset of carry[0].

        One buffer is reused for the whole file: each round reads a block behind the incomplete
        record left from the last one (at most MAX_RECORD bytes)."""
        records = _Records()
        buf = bytearray(self.block_bytes + MAX_RECORD)
        view = memoryview(buf)
        have = len(carry)
        buf[:have] = carry
        eof = broke = False
        while True:
            if not eof:
                got, broke = self._readinto(stream, view[have : have + self.block_bytes])
                eof = broke or got == 0
                have += got
            if have == 0:
                if broke:
                    self._fail_gzip("gzip_truncated", pos)
                return
            records.ensure(have // 16 + 1)
            arr = np.frombuffer(buf, dtype=np.uint8, count=have)
            n, consumed, bad = index(arr, records)
            n = self._drop_timeless(records, n, pos)
            if n:
                yield Block(arr, n, *records.columns(), records.linktype, records.default_lt, self._packets())
            del arr
            if bad:
                self._fail(corrupt, pos + consumed)
                return
            buf[: have - consumed] = view[consumed:have]
            have -= consumed
            pos += consumed
            if eof and consumed == 0:
                if broke:
                    self._fail_gzip("gzip_truncated", pos)
                elif have:
                    self._fail("truncated", pos)
                return

    def _drop_timeless(self, records: _Records, n: int, pos: int) -> int:
        """Drop the packets whose time is no time (the readers' one range: years 1–9999); they are
        counted for one problem line. Returns how many packets are left."""
        ts = records.ts[:n]
        ok = (ts >= MIN_EPOCH_S) & (ts <= MAX_EPOCH_S)
        if ok.all():
            return n
        bad = np.flatnonzero(~ok)
        if not self._timeless:
            self._timeless_at, self._timeless_ts = pos + int(records.data_off[bad[0]]), float(ts[bad[0]])
        self._timeless += len(bad)
        keep = np.flatnonzero(ok)
        columns = [*records.columns(), *([records.linktypes] if records.linktype is records.linktypes else [])]
        for column in columns:
            column[: len(keep)] = column[keep]
        return len(keep)

    def _check_linktypes(self, linktypes: list[int]) -> None:
        """Packets of a link type the engine does not decode are counted, not analysed: say so, once."""
        odd = sorted(set(linktypes) - DECODED_LINKTYPES)
        if odd and not self._said_linktypes:
            self._said_linktypes = True
            self._fail("linktype", 0, ", ".join(map(str, odd)))

    def _fail_gzip(self, what: str, pos: int) -> None:
        """The gzip data broke off (``pos``: the decompressed offset of the first packet not read)."""
        damage = self._gzip.damage if self._gzip is not None else None
        if damage is None:  # unreachable: only called when the stream says it broke
            self._fail(what, pos)
            return
        self._fail(what, damage.offset, pos=pos, zh_why=damage.reason.zh, en_why=damage.reason.en)

    def _fail(self, what: str, offset: int, detail: str = "", zh_why: str = "", en_why: str = "",
              **more: str | int) -> None:
        zh, en = _PROBLEMS[what]
        self._say(Text(zh=zh.format(offset=offset, detail=detail, why=zh_why, **more),
                       en=en.format(offset=offset, detail=detail, why=en_why, **more)))

    def _say(self, text: Text) -> None:
        """One more thing wrong with this file: all of it on the file's one problem line."""
        name = path_text(self.path)
        if self.problem is None:
            self.problem = Text(zh=f"{name}: {text.zh}", en=f"{name}: {text.en}")
        else:
            self.problem = Text(zh=f"{self.problem.zh}；{text.zh}", en=f"{self.problem.en}; {text.en}")


# The link layers the packet engine decodes (capture/packets.py: decode_and_track).
DECODED_LINKTYPES = frozenset({pk.LT_NULL, pk.LT_ETHERNET, pk.LT_RAW, pk.LT_RAW_OLD1, pk.LT_RAW_OLD2, pk.LT_LOOP,
                               pk.LT_SLL, pk.LT_IPV4, pk.LT_IPV6, pk.LT_SLL2})

_PROBLEMS = {
    "not_capture": (
        "不是 pcap 或 pcapng 抓包文件（开头字节 {detail}）；请提供 tcpdump/Wireshark 保存的抓包文件",
        "not a pcap or pcapng capture (starts with bytes {detail}); give a file saved by tcpdump or Wireshark",
    ),
    "not_gzip": ("gzip 压缩数据损坏（压缩文件第 {offset} 字节处：{why}），无法解压；请重新压缩或提供未压缩的抓包",
                 "gzip data is corrupt (at compressed byte {offset}: {why}) and cannot be decompressed; recompress "
                 "it or give the plain capture"),
    "short_header": ("文件头不完整（少于 24 字节）；文件可能被截断，请重新导出",
                     "the file header is incomplete (under 24 bytes); the file may be cut off: export it again"),
    "truncated": ("文件在第 {offset} 字节处的数据包记录中途结束（文件被截断）；之前的数据包已分析",
                  "the file ends inside a packet record at byte {offset} (truncated); packets before it were analysed"),
    "linktype": ("链路类型 {detail} 的数据包无法解码（支持以太网、原始 IP、Linux cooked、环回），已计数但未分析；"
                 "请用 editcap -T ether 等转换后重试",
                 "packets of link type {detail} cannot be decoded (Ethernet, raw IP, Linux cooked and loopback can); "
                 "they were counted, not analysed; convert the capture (editcap -T ether …) and retry"),
    "gzip_truncated": ("压缩数据在压缩文件第 {offset} 字节处中断（{why}）；解压后第 {pos} 字节之前的数据包已分析",
                       "the compressed data breaks off at compressed byte {offset} ({why}); the packets before "
                       "decompressed byte {pos} were analysed"),
    "timeless": ("自第 {offset} 字节起有 {detail} 个数据包的时间戳不是有效时间（如 {ts} 秒，不在公元 1–9999 年内；"
                 "pcapng 的 if_tsresol 或时间戳有误），已跳过",
                 "{detail} packet(s) from byte {offset} on have a timestamp that is no valid time (e.g. {ts} s, not "
                 "within years 1–9999: a wrong pcapng if_tsresol or timestamp); skipped"),
    "corrupt_record": ("第 {offset} 字节处的数据包记录头无效（文件损坏）；之前的数据包已分析，可用 pcapfix 修复后重试",
                       "the packet record header at byte {offset} is invalid (corrupt file); packets before it were "
                       "analysed; repair it (e.g. pcapfix) and retry"),
    "corrupt_block": ("第 {offset} 字节处的 pcapng 块无效（文件损坏）；之前的数据包已分析，可用 pcapfix 修复后重试",
                      "the pcapng block at byte {offset} is invalid (corrupt file); packets before it were analysed; "
                      "repair it (e.g. pcapfix) and retry"),
}


class _Counting(io.RawIOBase):
    """Wraps the on-disk file: counts bytes for progress and hashes them for the file's identity.

    It reads the file ``HASH_CHUNK`` bytes at a time into immutable ``bytes`` and serves the reads from
    there, so the bytes handed out can be hashed on another thread (``_Hasher``) while they are worked on.
    Only the bytes handed out are counted and hashed, as before: a file whose reading stops early (a
    corrupt record) has the same digest."""

    def __init__(self, raw: BinaryIO, owner: CaptureFile) -> None:
        self._raw = raw
        self._owner = owner
        self._chunk = b""
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(b).cast("B")
        if not len(view):
            return 0
        if self._pos >= len(self._chunk):
            self._chunk = self._raw.read(max(len(view), HASH_CHUNK))
            self._pos = 0
            if not self._chunk:
                return 0
        start = self._pos
        n = min(len(view), len(self._chunk) - start)
        self._pos = start + n
        view[:n] = memoryview(self._chunk)[start : start + n]
        self._owner.bytes_read += n
        hasher = self._owner._hasher
        if hasher is not None:
            hasher.put(self._chunk, start, start + n)
        else:
            self._owner._hash.update(memoryview(self._chunk)[start : start + n])
        return n


class _Hasher:
    """Hashes the bytes read on a thread of its own. SHA-256 runs at about 0.4–0.5 GB/s here, a sixth of a
    1M-packet scan's wall time, and hashlib lets go of the GIL while it works, so the second core hashes
    while the packet engine and the payload readers work. Ranges are hashed in the order read (the digest
    is the same); ranges waiting next to each other in one chunk are hashed in one call, so the thread
    takes the GIL back rarely (each time it does it can hold up the main thread for up to the interpreter's
    switch interval). The queue is bounded, so memory stays bounded if hashing falls behind."""

    def __init__(self, digest: hashlib._Hash) -> None:
        self._digest = digest
        self._queue: queue.Queue[tuple[bytes, int, int] | None] = queue.Queue(maxsize=32)
        self._thread = threading.Thread(target=self._run, name="minescope-sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        done = False
        while not done:
            items = [self._queue.get()]
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            chunk, start, end = b"", 0, 0
            for item in items:
                if item is None:
                    done = True
                    break
                if item[0] is chunk and item[1] == end:
                    end = item[2]
                    continue
                if end > start:
                    self._digest.update(memoryview(chunk)[start:end])
                chunk, start, end = item
            if end > start:
                self._digest.update(memoryview(chunk)[start:end])

    def put(self, chunk: bytes, start: int, end: int) -> None:
        self._queue.put((chunk, start, end))

    def close(self) -> None:
        """Wait until every range put is hashed."""
        self._queue.put(None)
        self._thread.join()


class _Records:
    """Reusable per-block record arrays (offset, captured length, wire length, time, link type)."""

    def __init__(self) -> None:
        self.size = 0
        self.ensure(BLOCK_BYTES // 16)
        self.linktype = np.empty(0, np.int32)
        self.default_lt = 1

    def ensure(self, size: int) -> None:
        if size <= self.size:
            return
        self.size = size
        self.data_off = np.empty(size, dtype=np.int64)
        self.caplen = np.empty(size, dtype=np.int64)
        self.wirelen = np.empty(size, dtype=np.int64)
        self.ts = np.empty(size, dtype=np.float64)
        self.linktypes = np.empty(size, dtype=np.int32)

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return self.data_off, self.caplen, self.wirelen, self.ts

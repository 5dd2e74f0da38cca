"""gzip read to the last intact byte: a read-only binary stream over ``zlib.decompressobj``.

``gzip.GzipFile`` raises at the first damage (a file cut short, a bad block, a wrong CRC) and the
bytes decompressed in that step are lost with it: up to a whole read of a MiB. ``GunzipReader``
instead returns every byte decompressed before the damage, then ends as if the file ended there
and records what went wrong and at which compressed (on-disk) byte in ``damage``; a reader says so
in one problem line. Several gzip members are read one after the other (``cat a.gz b.gz``), and
zero padding after a member is passed over, as ``gzip`` and ``zcat`` do.

Memory stays bounded whatever the ratio (gzip bombs): compressed input is read ``CHUNK`` bytes at a
time and every ``decompress`` call is capped by ``max_length``, the rest of the input waiting in
``unconsumed_tail``.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from minescope.model import Text

CHUNK = 128 * 1024  # compressed bytes read at a time (what gzip.GzipFile reads)
OUT_STEP = 1024 * 1024  # decompressed bytes produced by one zlib call at most
GZIP_MAGIC = b"\x1f\x8b"
TRUNCATED = Text(zh="文件被截断，压缩数据不完整", en="truncated: the compressed data ends early")
TRAILING = Text(zh="压缩流结束后是非 gzip 数据", en="the data after the end of the gzip stream is not gzip")


@dataclass(frozen=True)
class GzipDamage:
    """Where a gzip file stops being readable: the on-disk byte offset, and why (bilingual)."""

    offset: int
    reason: Text


class GunzipReader(io.RawIOBase):
    """The decompressed bytes of the gzip data in ``raw`` (a binary file positioned at its start).

    Never raises on damaged content: at the damage it returns what was decompressed before it, then
    end of file; ``damage`` says what and where, and ``on_damage`` (if given) is called once with it.
    Errors of the file itself (``OSError`` from ``raw``) propagate. Closing it closes ``raw``."""

    def __init__(self, raw: BinaryIO | io.RawIOBase, on_damage: Callable[[GzipDamage], None] | None = None,
                 chunk: int = CHUNK) -> None:
        self._raw = raw
        self._on_damage = on_damage
        self._chunk = chunk
        self._zlib: zlib._Decompress | None = None  # the member being read; None between members
        self._in = b""  # compressed bytes read but not yet consumed
        self._in_pos = 0  # file offset of self._in[0]
        self._raw_eof = False
        self._done = False
        self.members = 0  # gzip members read to their end
        self.damage: GzipDamage | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(b).cast("B")
        got = 0
        while got < len(view):
            out = self._next(min(len(view) - got, OUT_STEP))
            if not out:
                break
            view[got : got + len(out)] = out
            got += len(out)
        return got

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()

    # --- decompression ---------------------------------------------------------------------------

    def _next(self, max_out: int) -> bytes:
        """Up to ``max_out`` more decompressed bytes; empty at the end (or at the damage)."""
        while not self._done:
            if self._zlib is None and not self._start_member():
                return b""
            assert self._zlib is not None
            if not self._in and not self._raw_eof:
                self._fill()
            before = self._zlib.copy()  # to replay a failing step byte by byte (below)
            data = self._in
            try:
                out = self._zlib.decompress(data, max_out)
            except zlib.error as e:
                return self._replay(before, data, str(e))
            rest = self._zlib.unused_data if self._zlib.eof else self._zlib.unconsumed_tail
            self._in_pos += len(data) - len(rest)
            self._in = rest
            if self._zlib.eof:
                self._zlib = None
                self.members += 1
            if out:
                return out
            if self._zlib is not None and not self._in and self._raw_eof:
                self._fail(self._in_pos, TRUNCATED)
        return b""

    def _start_member(self) -> bool:
        """Begin the next gzip member; False at the end of the data (or garbage after the last member)."""
        while True:
            if self.members:  # zero padding after a member is allowed (gzip, zcat)
                kept = self._in.lstrip(b"\0")
                self._in_pos += len(self._in) - len(kept)
                self._in = kept
            if len(self._in) >= len(GZIP_MAGIC) or self._raw_eof:
                break
            self._fill()
        if not self._in:
            self._done = True
            return False
        if self.members and not self._in.startswith(GZIP_MAGIC):
            self._fail(self._in_pos, TRAILING)
            return False
        self._zlib = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer (CRC, length) checked
        return True

    def _fill(self) -> None:
        more = self._raw.read(self._chunk)
        if more:
            self._in += more
        else:
            self._raw_eof = True

    def _replay(self, before: zlib._Decompress, data: bytes, error: str) -> bytes:
        """The failing step again from its start, one compressed byte at a time: what came before the
        bad byte, which is where the damage is said to be. Bounded: the step's output was under
        ``max_out`` (zlib stops there without error), and one byte decodes to a few KiB at most."""
        out = bytearray()
        bad = len(data)
        for i in range(len(data)):
            try:
                out += before.decompress(data[i : i + 1])
            except zlib.error:
                bad = i
                break
        self._fail(self._in_pos + bad, Text(zh=f"数据损坏（{error}）", en=f"corrupt ({error})"))
        return bytes(out)

    def _fail(self, offset: int, reason: Text) -> None:
        self._done = True
        self._zlib = None
        self.damage = GzipDamage(offset, reason)
        if self._on_damage is not None:
            self._on_damage(self.damage)

"""gzip read to the last intact byte: what zcat recovers, with the damage said and memory bounded."""

from __future__ import annotations

import gzip
import io
import random
import tracemalloc
import zlib

import pytest

from helpers import MINING_PCAP, MONERO_PCAP
from minescope.readers.gunzip import GunzipReader

DATA = MONERO_PCAP.read_bytes()
PACKED = gzip.compress(DATA)


def gunzip(data: bytes, chunk: int = 128 * 1024) -> GunzipReader:
    return GunzipReader(io.BytesIO(data), chunk=chunk)


def what_zcat_gives(data: bytes) -> tuple[bytes, int | None]:
    """The reference, independent of the reader: zlib fed one compressed byte at a time, as far as it
    goes (zcat writes the same bytes), and the offset of the byte it stops at (None: it did not)."""
    d, out = zlib.decompressobj(wbits=31), bytearray()
    for i in range(len(data)):
        try:
            out += d.decompress(data[i : i + 1])
        except zlib.error:
            return bytes(out), i
    return bytes(out), None


def test_a_whole_file_reads_whole() -> None:
    reader = gunzip(PACKED)
    assert reader.read() == DATA and reader.damage is None and reader.members == 1


@pytest.mark.parametrize("cut", [8, 20, 1000, len(PACKED) // 2])
def test_a_file_cut_short_gives_every_byte_before_the_cut(cut: int) -> None:
    short = PACKED[:-cut]
    reader = gunzip(short)
    got = reader.read()
    assert got == what_zcat_gives(short)[0] and len(got) > 0
    assert reader.damage is not None and reader.damage.offset == len(short)
    assert "truncated" in reader.damage.reason.en and "截断" in reader.damage.reason.zh


def test_damage_in_the_middle_gives_what_zcat_gives_and_where() -> None:
    rng = random.Random(11)
    for _ in range(12):
        bad = bytearray(PACKED)
        at = rng.randrange(10, len(bad) - 8)
        bad[at] ^= 0xFF
        reader = gunzip(bytes(bad))
        got = reader.read()
        expected, stop = what_zcat_gives(bytes(bad))
        assert got == expected
        assert reader.damage is not None and reader.damage.offset == (stop if stop is not None else len(bad))
        assert "corrupt" in reader.damage.reason.en and "损坏" in reader.damage.reason.zh


def test_several_members_and_zero_padding_read_as_gzip_and_zcat_do() -> None:
    second = gzip.compress(b"and a second member\n")
    data = PACKED + second + b"\0" * 64
    reader = gunzip(data, chunk=7)  # members and padding split across reads
    assert reader.read() == gzip.decompress(PACKED + second) and reader.damage is None and reader.members == 2


def test_garbage_after_the_last_member_is_said_and_the_data_kept() -> None:
    reader = gunzip(PACKED + b"this is no gzip member")
    assert reader.read() == DATA
    assert reader.damage is not None and reader.damage.offset == len(PACKED)
    assert "not gzip" in reader.damage.reason.en


def test_a_broken_header_is_damage_at_its_byte() -> None:
    bad = bytearray(PACKED)
    bad[2] = 7  # compression method: only 8 (deflate) exists
    reader = gunzip(bytes(bad))
    # zlib reads the method with the flags: it stops at the flags byte, the fourth
    assert reader.read() == b"" and reader.damage is not None and reader.damage.offset == 3
    assert what_zcat_gives(bytes(bad)) == (b"", 3)


def test_small_reads_give_the_same_bytes() -> None:
    data = MINING_PCAP.read_bytes()
    reader = gunzip(gzip.compress(data)[:-30], chunk=1000)
    out = bytearray()
    while piece := reader.read(777):
        out += piece
    assert bytes(out) == what_zcat_gives(gzip.compress(data)[:-30])[0]


def test_a_gzip_bomb_is_read_in_bounded_memory() -> None:
    """256 MiB of zeros in a quarter MiB of gzip: read through in steps, never held whole."""
    size = 256 << 20
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    bomb = b"".join([*(comp.compress(zeros) for _ in range(size >> 20)), comp.flush()])
    assert len(bomb) < size // 500
    reader = gunzip(bomb)
    buf = bytearray(64 << 10)
    total = 0
    tracemalloc.start()
    try:
        while n := reader.readinto(buf):
            total += n
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == size and reader.damage is None
    assert peak < 4 << 20, peak

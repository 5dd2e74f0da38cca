"""Text logs, plain or gzip: a gzip break keeps every whole line before it, and is said once."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from helpers import FLOWLOGS
from minescope.readers.report import InputReport
from minescope.readers.textio import lines

CONN = FLOWLOGS / "zeek" / "zat-conn.log"


def recoverable_lines(packed: bytes) -> tuple[list[bytes], int]:
    """The whole non-empty lines zlib gives of damaged gzip data, fed one byte at a time (as zcat),
    and how many lines (empty ones too) they span."""
    d, out = zlib.decompressobj(wbits=31), bytearray()
    for i in range(len(packed)):
        try:
            out += d.decompress(packed[i : i + 1])
        except zlib.error:
            break
    whole = bytes(out[: out.rfind(b"\n") + 1])
    return [line.rstrip(b"\r") for line in whole.split(b"\n") if line], whole.count(b"\n")


def test_a_cut_gzip_log_gives_every_whole_line_before_the_cut(tmp_path: Path) -> None:
    text = CONN.read_bytes()
    packed = gzip.compress(text)
    cut = tmp_path / "conn.log.gz"
    cut.write_bytes(packed[: len(packed) - 40])
    report = InputReport(str(cut))
    got = [line for _, line in lines(cut, report)]
    expected, spanned = recoverable_lines(cut.read_bytes())
    assert got == expected and len(got) > 10
    assert report.error is not None and f"after line {spanned}," in report.error.en
    assert f"compressed byte {len(packed) - 40}" in report.error.en and "压缩文件第" in report.error.zh


def test_a_corrupt_gzip_log_keeps_the_lines_before_the_damage(tmp_path: Path) -> None:
    text = CONN.read_bytes()
    packed = gzip.compress(text, mtime=0)
    for at in range(len(packed) // 3, len(packed) - 100, 97):  # a flip zlib stops at, a third of the way on
        damaged = bytearray(packed)
        damaged[at] ^= 0x55
        expected, spanned = recoverable_lines(bytes(damaged))
        if 0 < len(expected) < text.count(b"\n") - 5:
            break
    bad = tmp_path / "conn.log.gz"
    bad.write_bytes(bytes(damaged))
    report = InputReport(str(bad))
    got = [line for _, line in lines(bad, report)]
    assert got == expected
    assert report.error is not None and f"after line {spanned}," in report.error.en and "corrupt" in report.error.en

"""Line-by-line reading of text logs, plain or gzip, with bounded memory and line numbers."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import orjson

from minescope.readers.gunzip import GZIP_MAGIC, GunzipReader, GzipDamage
from minescope.readers.report import InputReport

MAX_LINE = 1 << 20  # longer lines are garbage for every format read here
BOM = b"\xef\xbb\xbf"  # UTF-8 byte order mark
CHUNK = 1 << 18  # bytes read at a time
_TEXT = re.compile(rb"[^\n]+")  # a line that is not empty


def open_binary(path: Path) -> BinaryIO:
    """The file's bytes, decompressed when it is gzip (recognised by content, not by name); damaged
    gzip data ends at its last intact byte (``GunzipReader``)."""
    return _open(path)[0]


def open_input(path: Path, report: InputReport) -> BinaryIO | None:
    """``open_binary``, or None with the reason on ``report`` when the file cannot be opened; damaged
    gzip data is said on ``report`` too (one line, with the compressed byte where it breaks off)."""

    def damaged(d: GzipDamage) -> None:
        report.fail(f"压缩数据在压缩文件第 {d.offset} 字节处中断（{d.reason.zh}）；之前的数据已读取",
                    f"the compressed data breaks off at compressed byte {d.offset} ({d.reason.en}); "
                    "what came before it was read")

    try:
        return _open(path, damaged)[0]
    except OSError as e:
        _cannot_read(report, e)
        return None


def _open(path: Path, on_damage: Callable[[GzipDamage], None] | None = None) -> tuple[BinaryIO, GunzipReader | None]:
    """The file (buffered), and the gzip stream inside it when it is gzip."""
    raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    try:
        gzipped = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
    except OSError:
        raw.close()
        raise
    if not gzipped:
        return raw, None
    gz = GunzipReader(raw, on_damage)
    return cast(BinaryIO, io.BufferedReader(gz, CHUNK)), gz


def _cannot_read(report: InputReport, e: OSError) -> None:
    report.fail(f"无法读取（{e.strerror or e}）；请检查路径和权限",
                f"cannot read ({e.strerror or e}); check the path and permissions")


def head(path: Path, size: int = 8192) -> bytes:
    """The first ``size`` bytes (decompressed); empty when unreadable."""
    try:
        with open_binary(path) as f:
            return f.read(size)
    except OSError:
        return b""


def lines(path: Path, report: InputReport) -> Iterator[tuple[int, bytes]]:
    """(line number, line without its end) for each line that is not empty; unreadable input and
    broken compression end the iteration with ``report.error`` set (every complete line before a
    gzip break is read); over-long lines are skipped and reported.

    The text is read in blocks and empty lines are passed over in C, not one by one: a small gzip
    of millions of empty lines costs what its bytes cost (issue 11). Memory: about ``MAX_LINE``."""
    try:
        f, gz = _open(path)
    except OSError as e:
        _cannot_read(report, e)
        return
    n = 0  # lines before ``buf``
    buf = b""
    skipping = False  # in the rest of an over-long line
    eof = False
    with f:
        while not eof:
            try:
                more = f.read(CHUNK)
            except OSError as e:
                _cannot_read(report, e)
                return
            eof = not more
            damage = gz.damage if eof and gz is not None else None
            buf = buf + more if buf else more
            if skipping:
                cut = buf.find(b"\n")
                if cut < 0:
                    buf = b""
                    if damage is None:
                        continue
                else:
                    buf, skipping = buf[cut + 1 :], False
            # the complete lines in buf; at a gzip break the line it cuts is not one
            last = len(buf) if eof and damage is None else buf.rfind(b"\n") + 1
            pos = 0
            for m in _TEXT.finditer(buf, 0, last):
                n += buf.count(b"\n", pos, m.start()) + 1
                pos = m.end() + 1
                if m.end() - m.start() >= MAX_LINE:
                    report.line(n, f"行过长（超过 {MAX_LINE} 字节），不是日志行",
                                f"line longer than {MAX_LINE} bytes, not a log line")
                    continue
                line = m.group().rstrip(b"\r")
                if n == 1 and line.startswith(BOM):  # Windows editors and tools start UTF-8 text with one
                    line = line[len(BOM):]
                if line:
                    yield n, line
            n += buf.count(b"\n", pos, last)
            buf = buf[last:]
            if damage is not None:
                report.fail(f"压缩数据在第 {n} 行之后、压缩文件第 {damage.offset} 字节处中断（{damage.reason.zh}）；"
                            "之前的行已读取",
                            f"the compressed data breaks off after line {n}, at compressed byte {damage.offset} "
                            f"({damage.reason.en}); lines before it were read")
                return
            if len(buf) >= MAX_LINE:  # a line with no end in sight
                n += 1
                report.line(n, f"行过长（超过 {MAX_LINE} 字节），不是日志行",
                            f"line longer than {MAX_LINE} bytes, not a log line")
                buf, skipping = b"", True


def json_object(n: int, raw: bytes, report: InputReport) -> dict[str, Any] | None:
    """The JSON object on line ``n`` (Zeek JSON, Suricata EVE), or None with the line reported."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        obj = None
    if not isinstance(obj, dict):
        report.line(n, "不是完整的 JSON 对象", "not a complete JSON object")
        return None
    return obj

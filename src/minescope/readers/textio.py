"""Line-by-line reading of text logs, plain or gzip, with bounded memory and line numbers."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import orjson

from minescope.readers.report import InputReport

MAX_LINE = 1 << 20  # longer lines are garbage for every format read here


def open_binary(path: Path) -> BinaryIO:
    """The file's bytes, decompressed when it is gzip (recognised by content, not by name)."""
    raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return cast(BinaryIO, gzip.GzipFile(fileobj=raw, mode="rb"))
    raw.seek(0)
    return raw


def open_input(path: Path, report: InputReport) -> BinaryIO | None:
    """``open_binary``, or None with the reason on ``report`` when the file cannot be opened."""
    try:
        return open_binary(path)
    except OSError as e:
        report.fail(f"无法读取（{e.strerror or e}）；请检查路径和权限",
                    f"cannot read ({e.strerror or e}); check the path and permissions")
        return None


def head(path: Path, size: int = 8192) -> bytes:
    """The first ``size`` bytes (decompressed); empty when unreadable."""
    try:
        with open_binary(path) as f:
            return f.read(size)
    except (OSError, EOFError, zlib.error):
        return b""


def lines(path: Path, report: InputReport) -> Iterator[tuple[int, bytes]]:
    """(line number, line without its end) for each line; unreadable input and broken compression
    end the iteration with ``report.error`` set; over-long lines are skipped and reported."""
    f = open_input(path, report)
    if f is None:
        return
    n = 0
    with f:
        while True:
            try:
                line = f.readline(MAX_LINE)
            except (OSError, EOFError, zlib.error) as e:
                report.fail(f"压缩数据在第 {n} 行之后中断（文件被截断或损坏：{e}）；之前的行已读取",
                            f"the compressed data breaks off after line {n} (truncated or corrupt: {e}); "
                            "lines before it were read")
                return
            if not line:
                return
            n += 1
            if len(line) >= MAX_LINE and not line.endswith(b"\n"):
                report.line(n, f"行过长（超过 {MAX_LINE} 字节），不是日志行",
                            f"line longer than {MAX_LINE} bytes, not a log line")
                while line and not line.endswith(b"\n"):  # skip the rest of it
                    try:
                        line = f.readline(MAX_LINE)
                    except (OSError, EOFError, zlib.error):
                        return
                continue
            yield n, line.rstrip(b"\r\n")


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

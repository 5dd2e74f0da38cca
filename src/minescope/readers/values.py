"""Small value converters shared by the text readers: times, addresses, names, TCP flags."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Every time a reader gives must be a Python datetime too (outputs, the store, cases): years 1–9999.
MIN_EPOCH_S = float(datetime(1, 1, 1, tzinfo=UTC).timestamp())
MAX_EPOCH_S = float(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())
TS = pa.timestamp("us", tz="UTC")  # every time column of every table: microseconds, UTC


def norm_ip(text: str | None) -> str | None:
    """An address in canonical text: IPv6 compressed and lower-case (RFC 5952), IPv4 as is."""
    if not text or text == "-":
        return None
    if ":" in text:
        try:
            return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, text))
        except OSError:
            raise ValueError(f"bad address {text!r}") from None
    return text


def norm_name(name: str | None) -> str | None:
    """A host name lower-case without the trailing dot; None for empty."""
    if not name or name in ("-", "(empty)"):
        return None
    name = name.strip().rstrip(".").lower()
    return name or None


def zone(name: str | None) -> tzinfo:
    if not name or name.upper() == "UTC":
        return UTC
    return ZoneInfo(name)


@lru_cache(maxsize=65536)
def _iso(text: str, tz: tzinfo) -> float:
    t = text.strip().replace(" ", "T", 1)
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    elif len(t) > 5 and t[-5] in "+-" and t[-4:].isdigit() and t[-3] != ":":  # +0200 → +02:00 (Suricata)
        t = t[:-2] + ":" + t[-2:]
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.timestamp()


def iso_epoch(text: str, tz: tzinfo = UTC) -> float:
    """ISO 8601 time (``2021-06-06T15:59:46.457984+0200``, ``2018-01-12 15:37:30``) → epoch
    seconds; times without an offset are in ``tz``. Raises ValueError."""
    # Many rows share a time to the second: the part without the fraction is cached.
    if len(text) > 20 and text[19] == ".":
        end = 20
        while end < len(text) and text[end].isdigit():
            end += 1
        if end == 20:
            raise ValueError(f"bad time {text!r}")
        return _iso(text[:19] + text[end:], tz) + int(text[20:end]) / 10 ** (end - 20)
    return _iso(text, tz)


def epoch_ts(seconds: Any) -> tuple[pa.Array, np.ndarray]:
    """Epoch seconds (an Arrow or numpy array or a list of floats; nulls allowed) → timestamp[us, UTC]
    rounded to the µs, and a mask of the values that are no time: nan, ±inf, or outside years
    1–9999. Those are null in the result; the caller reports them (the record skipped or the field
    nulled), so no value can make the conversion raise."""
    arr = seconds.cast(pa.float64()) if isinstance(seconds, pa.Array) else pa.array(seconds, pa.float64())
    ok = pc.and_(pc.greater_equal(arr, MIN_EPOCH_S), pc.less_equal(arr, MAX_EPOCH_S))  # nan: false
    bad = pc.fill_null(pc.invert(ok), False).to_numpy(zero_copy_only=False)
    if bad.any():
        arr = pc.if_else(ok, arr, pa.scalar(None, pa.float64()))
    return pc.round(pc.multiply(arr, 1e6)).cast(pa.int64()).cast(TS), bad


def duration_s(text: str) -> float:
    """``12.5`` or ``00:01:02.300`` (nfdump) → seconds."""
    if ":" in text:
        parts = [float(p) for p in text.split(":")]
        total = 0.0
        for p in parts:
            total = total * 60 + p
        return total
    return float(text)


def tcp_flags(text: str) -> int | None:
    """``...AP.S.`` (nfdump: CWR ECE URG ACK PSH RST SYN FIN), ``0x1b`` or ``27`` → the flag bits."""
    text = text.strip()
    if not text:
        return None
    if len(text) in (6, 8) and all(c.isalpha() or c == "." for c in text):
        bits = 0
        for i, c in enumerate(reversed(text)):
            if c != ".":
                bits |= 1 << i
        return bits
    return int(text, 16) if text.lower().startswith("0x") else int(text)


PROTO_NUMBERS = {"icmp": 1, "tcp": 6, "udp": 17, "ipv6-icmp": 58, "icmp6": 58, "icmpv6": 58, "gre": 47, "esp": 50,
                 "sctp": 132, "dccp": 33, "ipv4": 4, "ipv6": 41, "igmp": 2, "ospf": 89, "pim": 103}


def proto_number(name: str | None, ipv6: bool = False) -> int | None:
    """IANA number from a protocol name or number text (``tcp``, ``TCP``, ``6``); None if unknown."""
    if not name:
        return None
    low = name.strip().lower()
    if low.isdigit():
        n = int(low)
        return n if n < 256 else None
    number = PROTO_NUMBERS.get(low)
    if number == 1 and ipv6:
        return 58
    return number

"""Number, unit and time formatting shared by the terminal and HTML renderers."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone, tzinfo

# Reports are read in China: clock times are shown in China Standard Time, and say so.
CST = timezone(timedelta(hours=8), "UTC+8")

_SI = ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def hashrate_unit(algorithm: str | None) -> str:
    """Equihash miners count solutions, not hashes."""
    return "Sol/s" if algorithm and "equihash" in algorithm.lower() else "H/s"


def si(value: float, unit: str, digits: int = 3) -> str:
    """12_300_000_000_000, "H/s" → "12.3 TH/s" (``digits`` significant figures)."""
    if value is None or not math.isfinite(value):
        return "–"
    for factor, prefix in _SI:
        if abs(value) >= factor:
            return f"{_sig(value / factor, digits)} {prefix}{unit}"
    return f"{_sig(value, digits)} {unit}"


def _sig(x: float, digits: int) -> str:
    if x == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(x))))
    return f"{x:.{decimals}f}"


def hashrate(hps: float, algorithm: str | None) -> str:
    return si(hps, hashrate_unit(algorithm))


def nbytes(n: float) -> str:
    """Decimal units, as carriers report traffic."""
    return si(float(n), "B") if n >= 1000 else f"{int(n)} B"


def mbps(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{_sig(x, 3)} Mbps" if x >= 1 else f"{_sig(x * 1000, 3)} kbps"


def number(x: float, decimals: int = 0) -> str:
    return f"{x:,.{decimals}f}"


def pct(x: float | None) -> str:
    return "–" if x is None else f"{x * 100:.1f}%"


def kw_range(v: list[float] | tuple[float, ...] | None, unit: str) -> str:
    """[low, best, high] → "12.3 kW (8.1–20.4)"."""
    if not v:
        return "–"
    low, best, high = v
    return f"{quantity(best)} {unit} ({quantity(low)}–{quantity(high)})"


def quantity(x: float) -> str:
    """Three significant figures, thousands separated: 0.971, 27.9, 1,234, 260,000."""
    return number(x) if abs(x) >= 1000 else _sig(x, 3)


def short(s: str | None, head: int = 8, tail: int = 6) -> str:
    """Long wallets stay recognisable: first and last characters."""
    if not s:
        return ""
    return s if len(s) <= head + tail + 1 else f"{s[:head]}…{s[-tail:]}"


def clock(ts: float | None, with_date: bool = True) -> str:
    d = calendar_time(ts, CST)
    if d is None:
        return "–"
    return d.strftime("%Y-%m-%d %H:%M:%S") if with_date else d.strftime("%H:%M:%S")


def iso_utc(ts: float | None) -> str | None:
    d = calendar_time(ts, UTC)
    return None if d is None else d.isoformat().replace("+00:00", "Z")


def calendar_time(ts: float | None, tz: tzinfo) -> datetime | None:
    """None for no time and for a time no calendar holds (a corrupt capture can carry year 33658)."""
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(ts, tz)
    except (ValueError, OverflowError, OSError):
        return None


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    if h >= 48:  # a meter's plateau or a host's months: days read better than thousands of hours
        d, h = divmod(h, 24)
        return f"{d} d {h} h"
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"

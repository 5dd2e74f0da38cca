"""Column-at-a-time conversion for the text readers: raw values of a batch of lines → typed Arrow columns.

A reader gathers the raw values of up to ``batch_rows`` lines per field (Python does only the
splitting or JSON parsing), then converts each column once, in Arrow's C++ kernels. A value that
does not convert marks its row bad (``Bad``); the reader drops bad rows and reports them by line.
Values repeated across rows (protocols, host names, addresses) are converted once per distinct
value (dictionary encoding).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, tzinfo
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from minescope.dimensions.network.tables import PORT_PROTOS, TS
from minescope.readers.values import MAX_EPOCH_S, MIN_EPOCH_S, epoch_ts, iso_epoch, norm_ip

_PORT_PROTOS = pa.array(sorted(PORT_PROTOS), pa.uint8())


class Bad:
    """Rows of one batch that failed to convert, each with the first reason."""

    def __init__(self, n: int) -> None:
        self.mask = np.zeros(n, bool)
        self.why: dict[int, str] = {}

    def mark(self, rows: Sequence[int] | np.ndarray, reason: str) -> None:
        for i in rows:
            i = int(i)
            if not self.mask[i]:
                self.mask[i] = True
                self.why[i] = reason


def column(values: list[Any], bad: Bad | None = None, what: str = "") -> pa.Array:
    """Python values of one field (JSON: numbers, text, lists, None) as an Arrow array; mixed
    types become text. With ``bad``, the field holds one value (text or a number): a row where it
    holds an object or a list is marked bad and the value nulled."""
    try:
        arr = pa.array(values)
        if bad is None or not pa.types.is_nested(arr.type):
            return arr
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    if bad is not None:
        shaped = [i for i, v in enumerate(values) if isinstance(v, (dict, list))]
        for i in shaped:
            bad.mark([i], f"{what} {_short(values[i])}")
        if shaped:
            values = [None if isinstance(v, (dict, list)) else v for v in values]
            try:
                return pa.array(values)
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
                pass
    return pa.array([None if v is None else v if isinstance(v, str) else str(v) for v in values], pa.string())


def list_column(values: list[Any], bad: Bad, what: str) -> pa.Array:
    """Python values of a field that holds a list of text or numbers (DNS answers, TTLs) as an
    Arrow array: a text or number is a list of one; a row where the field holds an object or nested
    lists is marked bad and the value nulled; mixed element types become text."""
    try:
        arr = pa.array(values)
        if not pa.types.is_nested(arr.type) or (pa.types.is_list(arr.type)
                                                and not pa.types.is_nested(arr.type.value_type)):
            return arr
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    scalar = (str, int, float)
    out: list[list[Any] | None] = []
    for i, v in enumerate(values):
        if v is None or isinstance(v, scalar):
            out.append(None if v is None else [v])
        elif isinstance(v, list) and all(e is None or isinstance(e, scalar) for e in v):
            out.append(v)
        else:
            bad.mark([i], f"{what} {_short(v)}")
            out.append(None)
    try:
        return pa.array(out)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return pa.array([None if v is None else [None if e is None else str(e) for e in v] for v in out],
                        pa.list_(pa.string()))


def _short(value: Any, limit: int = 60) -> str:
    """A value for a problem line: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_text(arr: pa.Array) -> bool:
    return pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)


def _cast_or_mark(arr: pa.Array, typ: pa.DataType, bad: Bad, what: str, parse: Callable[[str], Any]) -> pa.Array:
    """Cast; if some value fails, find those values one by one, mark their rows, null them."""
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), typ)
    try:
        return arr.cast(typ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        pass
    out: list[Any] = []
    for i, v in enumerate(arr.to_pylist()):
        try:
            value = None if v is None else parse(v)
            pa.scalar(value, typ)  # in the type's range (a count of 10**30 is no count)
            out.append(value)
        except (ValueError, TypeError, OverflowError):  # Arrow's errors among them
            out.append(None)
            bad.mark([i], f"{what} {_short(v)}")
    return pa.array(out, typ)


def floats(arr: pa.Array, bad: Bad, what: str, parse: Callable[[str], float] = float) -> pa.Array:
    return _cast_or_mark(arr, pa.float64(), bad, what, parse)


def ints(arr: pa.Array, bad: Bad, what: str, typ: pa.DataType | None = None) -> pa.Array:
    def parse(v: Any) -> int:
        f = float(v)
        if f != int(f):
            raise ValueError(v)
        return int(f)

    return _cast_or_mark(arr, typ or pa.int64(), bad, what, parse)


def times(arr: pa.Array, bad: Bad, what: str = "ts") -> pa.Array:
    """Epoch seconds (numbers or number text) or ISO 8601 text with an offset → timestamp[us, UTC]."""
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), TS)
    if pa.types.is_timestamp(arr.type):
        return arr.cast(TS)
    if not _is_text(arr):
        return _epoch(floats(arr, bad, what), bad, what)
    try:
        return _epoch(arr.cast(pa.float64()), bad, what)
    except pa.ArrowInvalid:
        pass
    try:
        return _in_range(arr.cast(TS), bad, what, arr)  # ISO 8601 with offsets, in C++
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    return _epoch(pa.array(_parse_all(arr, bad, what, _number_or_iso(UTC)), pa.float64()), bad, what)


def local_times(arr: pa.Array, tz: tzinfo, bad: Bad, what: str = "ts") -> pa.Array:
    """Like ``times``, for text that may lack an offset: such times are in ``tz``."""
    if _is_text(arr) and len(arr):
        try:
            naive = arr.cast(pa.timestamp("us"))
            return _in_range(pc.assume_timezone(naive, str(tz) if tz is not UTC else "UTC").cast(TS), bad, what, arr)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
        return _epoch(pa.array(_parse_all(arr, bad, what, _number_or_iso(tz)), pa.float64()), bad, what)
    return times(arr, bad, what)


def _number_or_iso(tz: tzinfo) -> Callable[[str], float]:
    """Epoch seconds as text, or an ISO 8601 time (without an offset: in ``tz``)."""

    def parse(v: str) -> float:
        try:
            return float(v)
        except ValueError:
            return iso_epoch(v, tz)

    return parse


def _parse_all(arr: pa.Array, bad: Bad, what: str, parse: Callable[[str], float]) -> list[float | None]:
    out: list[float | None] = []
    for i, v in enumerate(arr.to_pylist()):
        try:
            out.append(None if v is None else parse(v))
        except (ValueError, TypeError, OverflowError):
            out.append(None)
            bad.mark([i], f"{what} {_short(v)}")
    return out


def _epoch(seconds: pa.Array, bad: Bad, what: str) -> pa.Array:
    """Epoch seconds → timestamps; a value that is no time (nan, inf, beyond years 1–9999) marks its row."""
    ts, out = epoch_ts(seconds)
    if out.any():
        values = seconds.to_pylist()
        for i in np.flatnonzero(out):
            bad.mark([int(i)], f"{what} {values[i]!r}")
    return ts


def _in_range(ts: pa.Array, bad: Bad, what: str, raw: pa.Array) -> pa.Array:
    """Timestamps parsed by Arrow, checked against years 1–9999 like ``_epoch``'s."""
    micros = ts.cast(pa.int64())
    ok = pc.and_(pc.greater_equal(micros, int(MIN_EPOCH_S * 1e6)), pc.less_equal(micros, int(MAX_EPOCH_S * 1e6)))
    out = pc.fill_null(pc.invert(ok), False).to_numpy(zero_copy_only=False)
    if not out.any():
        return ts
    for i in np.flatnonzero(out):
        bad.mark([int(i)], f"{what} {_short(raw[int(i)].as_py())}")
    return pc.if_else(ok, ts, pa.scalar(None, ts.type))


def per_value(arr: pa.Array, fn: Callable[[Any], Any], typ: pa.DataType, bad: Bad | None = None,
              what: str = "") -> pa.Array:
    """``fn`` applied once per distinct value; a value it rejects (ValueError) marks its rows."""
    if pa.types.is_null(arr.type) or len(arr) == 0:
        return pa.nulls(len(arr), typ)
    enc = arr.dictionary_encode()
    mapped: list[Any] = []
    failed: list[int] = []
    for k, v in enumerate(enc.dictionary.to_pylist()):
        try:
            mapped.append(fn(v))
        except (ValueError, TypeError):
            mapped.append(None)
            failed.append(k)
    if failed and bad is not None:
        idx = enc.indices.to_numpy(zero_copy_only=False)
        values = enc.dictionary.to_pylist()
        for k in failed:
            bad.mark(np.flatnonzero(idx == k), f"{what} {values[k]!r}")
    return pa.array(mapped, typ).take(enc.indices)


def addresses(arr: pa.Array, bad: Bad, what: str) -> pa.Array:
    """Addresses as text, IPv6 canonical (compressed, lower-case)."""
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.string())
    text = arr.cast(pa.string())
    if not pc.any(pc.match_substring(text, ":")).as_py():
        return text
    return per_value(text, norm_ip, pa.string(), bad, what)


def names(arr: pa.Array) -> pa.Array:
    """Host names lower-case without the trailing dot; empty → null."""
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.string())
    out = pc.utf8_rtrim(pc.utf8_lower(arr.cast(pa.string())), ".")
    return pc.if_else(pc.equal(out, ""), pa.scalar(None, pa.string()), out)


def ports_for(port: pa.Array, proto: pa.Array) -> pa.Array:
    """Ports only where the protocol has ports."""
    has = pc.fill_null(pc.is_in(proto, value_set=_PORT_PROTOS), False)
    return pc.if_else(has, port, pa.scalar(None, port.type))


def text_lists(arr: pa.Array, sep: str, fn: Callable[[str], str]) -> pa.Array:
    """A list column from lists, or from text joined by ``sep``; each element through ``fn``
    (once per distinct element). Null and empty text give an empty list."""
    if pa.types.is_null(arr.type):
        return pa.array([[]] * len(arr), pa.list_(pa.string()))
    if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)):
        text = pc.fill_null(arr.cast(pa.string()), "")
        arr = pc.split_pattern(text, sep)
        arr = pc.if_else(pc.equal(text, ""), pa.scalar([], pa.list_(pa.string())), arr)
    arr = pc.fill_null(arr, pa.scalar([], arr.type))
    flat = pc.list_flatten(arr).cast(pa.string())
    values = per_value(flat, fn, pa.string()) if len(flat) else flat
    return pa.ListArray.from_arrays(arr.offsets, values)


def float_lists(arr: pa.Array, sep: str, bad: Bad, what: str) -> pa.Array:
    """Like ``text_lists`` for numbers; null stays null (no values given)."""
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), pa.list_(pa.float64()))
    if not (pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type)):
        arr = pc.split_pattern(arr.cast(pa.string()), sep)
    flat = pc.list_flatten(arr)
    owner = pc.list_parent_indices(arr).to_numpy(zero_copy_only=False)
    marks = Bad(len(flat))
    values = floats(flat, marks, what)
    if marks.mask.any():
        bad.mark(owner[marks.mask], next(iter(marks.why.values())))
    offsets = arr.offsets
    out = pa.ListArray.from_arrays(offsets, values)
    return pc.if_else(pc.is_null(arr), pa.scalar(None, out.type), out)

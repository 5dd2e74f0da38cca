"""Any CSV or Parquet flow, DNS or alert export, read through a column mapping.

A mapping names, for each target field, the source column it comes from, and how times are
written. As a dict, or a TOML/JSON file::

    table = "flows"                 # flows (default), dns or alerts
    [columns]                       # target field = source column
    ts = "start_time"
    end_ts = "end_time"             # optional: duration_s = end_ts - ts
    src_ip = "sip"
    dst_ip = "dip"
    src_bytes = "up_bytes"
    [time]
    format = "epoch_ms"             # auto (default), epoch_s, epoch_ms, epoch_us, epoch_ns, iso, or a
                                    # strptime pattern such as "%Y/%m/%d %H:%M:%S"
    timezone = "Asia/Shanghai"      # for times written without an offset (default UTC)
    [csv]
    delimiter = ","
    list_separator = ";"            # dns answers/ttls given as one text column

A flat dict ``{"ts": "start_time", …}`` is a ``[columns]`` table alone. Without a mapping, columns
named like the target fields (``ts``, ``src_ip``, …: a file this package wrote) map to themselves.
``auto`` times: ISO text, or epoch numbers whose unit is told by their size (s, ms, µs or ns).

Conversion is columnar (Arrow casts) a batch at a time; when a cast fails, that column is
converted value by value to find the bad rows, which are skipped and reported by line (CSV) or
row number (Parquet).
"""

from __future__ import annotations

import csv
import io
import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from minescope.dimensions.network.tables import BATCH_ROWS, TABLES, TS, proto_number
from minescope.readers.report import InputReport
from minescope.readers.textio import open_binary, open_input
from minescope.readers.values import iso_epoch, norm_ip, tcp_flags, zone

MappingSpec = dict[str, Any]
EXTRA_TARGETS = ("end_ts",)
IP_FIELDS = {"src_ip", "dst_ip", "client_ip", "resolver_ip"}
NAME_FIELDS = {"server_name", "query"}
TIME_FIELDS = {"ts", "end_ts"}


class MappingError(ValueError):
    """The mapping itself is unusable; ``zh``/``en`` say why."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


@dataclass
class Mapping:
    table: str = "flows"
    columns: dict[str, str] = field(default_factory=dict)  # target → source column
    time_format: str = "auto"
    timezone: str = "UTC"
    delimiter: str = ","
    list_separator: str = ";"
    source: str = "mapped"

    @classmethod
    def load(cls, spec: MappingSpec | str | Path) -> Mapping:
        if isinstance(spec, (str, Path)):
            path = Path(spec)
            try:
                text = path.read_text(encoding="utf-8")
                spec = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
                raise MappingError(f"映射文件 {path.name} 无法读取（{e}）",
                                   f"mapping file {path.name} is unreadable ({e})") from None
        if not isinstance(spec, dict):
            raise MappingError("映射应为表（字典）", "a mapping must be a table (dict)")
        columns = spec.get("columns", spec if "table" not in spec else {})
        time = spec.get("time", {})
        opts = spec.get("csv", {})
        m = cls(table=spec.get("table", "flows"), columns={str(k): str(v) for k, v in columns.items()},
                time_format=str(time.get("format", "auto")), timezone=str(time.get("timezone", "UTC")),
                delimiter=str(opts.get("delimiter", ",")), list_separator=str(opts.get("list_separator", ";")),
                source=str(spec.get("source", "mapped")))
        m.check()
        return m

    def check(self) -> None:
        if self.table not in TABLES:
            raise MappingError(f"未知的表 {self.table}（应为 flows、dns 或 alerts）",
                               f"unknown table {self.table} (flows, dns or alerts)")
        known = set(TABLES[self.table].names) | set(EXTRA_TARGETS)
        unknown = sorted(set(self.columns) - known)
        if unknown:
            raise MappingError(f"映射中有未知的目标字段：{', '.join(unknown)}",
                               f"unknown target fields in the mapping: {', '.join(unknown)}")
        if "ts" not in self.columns:
            raise MappingError("映射必须给出 ts（开始时间）对应的列",
                               "the mapping must name the column for ts (start time)")


def identity_mapping(names: list[str]) -> Mapping | None:
    """A mapping for columns already named like a table's fields, or None."""
    for table in ("flows", "dns", "alerts"):
        schema = TABLES[table]
        cols = {n: n for n in names if n in schema.names and n not in ("source", "input")}
        need = {"flows": {"ts", "src_ip", "dst_ip"}, "dns": {"ts", "query"}, "alerts": {"ts", "signature"}}[table]
        if need <= set(cols):
            return Mapping(table=table, columns=cols)
    return None


def read_mapped(path: Path, report: InputReport, mapping: Mapping | MappingSpec | str | Path | None = None,
                batch_rows: int = BATCH_ROWS) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Rows of a CSV or Parquet file as (table name, batch), through ``mapping``."""
    parquet = _is_parquet(path)
    report.format = report.format or ("parquet" if parquet else "csv")
    try:
        raw_batches = _parquet_batches(path, batch_rows) if parquet else None
        m = _mapping(mapping, path, report, parquet)
    except MappingError as e:
        report.fail(e.zh, e.en)
        return
    except (OSError, pa.ArrowException) as e:  # a damaged Parquet footer or schema
        report.fail(f"无法读取（{_reason(e)}）", f"cannot read ({_reason(e)})")
        return
    if m is None:
        return
    if parquet:
        missing = [c for c in m.columns.values() if c not in _parquet_names(path)]
        if missing:
            report.fail(f"Parquet 文件中没有映射的列：{', '.join(missing)}",
                        f"mapped columns not in the Parquet file: {', '.join(missing)}")
            return
    source = (_parquet_rows(raw_batches, m) if raw_batches is not None
              else _csv_rows(path, report, m, batch_rows))
    schema = TABLES[m.table]
    try:
        for columns, lines in source:
            batch = _convert(columns, lines, m, schema, report)
            if batch.num_rows:
                report.count(m.table, batch.num_rows)
                yield m.table, batch
    except (OSError, pa.ArrowException) as e:  # a damaged Parquet page: the rows before it are kept
        report.fail(f"读到一半无法继续（{_reason(e)}）", f"cannot read on ({_reason(e)})")


def _reason(e: BaseException) -> str:
    """An error's first line: pyarrow's messages run over several."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def _is_parquet(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PAR1"
    except OSError:
        return False


def _mapping(spec: Mapping | MappingSpec | str | Path | None, path: Path, report: InputReport,
             parquet: bool) -> Mapping | None:
    if isinstance(spec, Mapping):
        spec.check()
        return spec
    if spec is not None:
        return Mapping.load(spec)
    names = _parquet_names(path) if parquet else _csv_header(path)
    m = identity_mapping(names)
    if m is None:
        report.fail("需要列映射（mapping）：列名不是 minescope 的字段名（至少 ts、src_ip、dst_ip）；"
                    "请提供 TOML/JSON 映射文件",
                    "a column mapping is needed: the columns are not named like minescope's fields (at least ts, "
                    "src_ip, dst_ip); give a TOML/JSON mapping file")
    return m


def _csv_header(path: Path) -> list[str]:
    with open_binary(path) as f:
        first = f.readline(1 << 20).decode("utf-8", "replace")
    try:
        return next(csv.reader([first]), [])
    except csv.Error:  # not a CSV header (a binary file): no names, so no identity mapping
        return []


def _parquet_names(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.ParquetFile(path).schema_arrow.names)


def _parquet_batches(path: Path, batch_rows: int) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    yield from pq.ParquetFile(path).iter_batches(batch_size=batch_rows)


def _parquet_rows(batches: Iterator[pa.RecordBatch], m: Mapping) -> Iterator[tuple[dict[str, pa.Array], np.ndarray]]:
    row = 1
    for b in batches:
        cols = {t: b.column(s) for t, s in m.columns.items()}
        yield cols, np.arange(row, row + b.num_rows)
        row += b.num_rows


def _csv_rows(path: Path, report: InputReport, m: Mapping,
              batch_rows: int) -> Iterator[tuple[dict[str, pa.Array], np.ndarray]]:
    raw = open_input(path, report)
    if raw is None:
        return
    with io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter=m.delimiter)
        try:
            header = next(reader)
        except StopIteration:
            return
        except (csv.Error, OSError, EOFError) as e:
            report.fail(f"第 1 行不是可读的 CSV 表头（{e}）", f"line 1 is not a readable CSV header ({e})")
            return
        missing = [s for s in m.columns.values() if s not in header]
        if missing:
            report.fail(f"CSV 表头中没有映射的列：{', '.join(missing)}",
                        f"mapped columns not in the CSV header: {', '.join(missing)}")
            return
        index = {t: header.index(s) for t, s in m.columns.items()}
        values: dict[str, list[str | None]] = {t: [] for t in index}
        lines: list[int] = []
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except (csv.Error, OSError, EOFError) as e:
                report.fail(f"第 {reader.line_num} 行之后无法继续读取（{e}）",
                            f"cannot read on after line {reader.line_num} ({e})")
                break
            if not row:
                continue
            if len(row) != len(header):
                report.line(reader.line_num, f"有 {len(row)} 列，表头有 {len(header)} 列",
                            f"{len(row)} fields where the header has {len(header)}")
                continue
            for t, i in index.items():
                v = row[i]
                values[t].append(v if v not in ("", "-") else None)
            lines.append(reader.line_num)
            if len(lines) >= batch_rows:
                yield {t: pa.array(v, pa.string()) for t, v in values.items()}, np.array(lines)
                values = {t: [] for t in index}
                lines = []
        if lines:
            yield {t: pa.array(v, pa.string()) for t, v in values.items()}, np.array(lines)


# --- conversion --------------------------------------------------------------------------------


def _convert(cols: dict[str, pa.Array], lines: np.ndarray, m: Mapping, schema: pa.Schema,
             report: InputReport) -> pa.RecordBatch:
    n = len(lines)
    bad = np.zeros(n, bool)
    reasons: dict[int, str] = {}
    out: dict[str, pa.Array] = {}
    for target, arr in cols.items():
        arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        try:
            out[target] = _vector(target, arr, m, schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError, OverflowError):
            values, errs = _scalars(target, arr, m)
            for i, why in errs.items():
                bad[i] = True
                reasons.setdefault(i, f"{m.columns[target]}: {why}")
            out[target] = pa.array(values, _type(target, schema))
    if "end_ts" in out and "duration_s" not in out:
        out["duration_s"] = pc.divide(pc.cast(pc.subtract(out["end_ts"].cast(pa.int64()), out["ts"].cast(pa.int64())),
                                              pa.float64()), 1e6)
    if pc.any(pc.is_null(out["ts"])).as_py():
        for row in np.flatnonzero(pc.is_null(out["ts"]).to_numpy(zero_copy_only=False)):
            bad[row] = True
            reasons.setdefault(int(row), f"{m.columns['ts']}: no time")
    for i in sorted(reasons):
        report.line(int(lines[i]), f"无法解析的值（{reasons[i]}）", f"unparsable value ({reasons[i]})")
    arrays = []
    for f in schema:
        if f.name == "source":
            arrays.append(pa.array([m.source] * n, pa.string()))
        elif f.name == "input":
            arrays.append(pa.array([report.input] * n, pa.string()))
        else:
            arrays.append(out[f.name] if f.name in out else pa.nulls(n, f.type))
    batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
    return batch.filter(pa.array(~bad)) if bad.any() else batch


def _type(target: str, schema: pa.Schema) -> pa.DataType:
    return TS if target in TIME_FIELDS else schema.field(target).type


def _vector(target: str, arr: pa.Array, m: Mapping, schema: pa.Schema) -> pa.Array:
    """The whole column converted by Arrow; raises when a value does not convert."""
    typ = _type(target, schema)
    if target in TIME_FIELDS:
        return _times(arr, m)
    if target == "proto":
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            uniq = pc.unique(arr).to_pylist()
            table = {u: proto_number(u) for u in uniq if u is not None}
            if any(v is None for v in table.values()):
                raise ValueError("unknown protocol")
            return pa.array([table.get(v) if v is not None else None for v in arr.to_pylist()], pa.uint8())
        return arr.cast(pa.uint8())
    if target == "tcp_flags" and (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        raise ValueError("text flags")  # value by value
    if target in IP_FIELDS:
        text = arr.cast(pa.string())
        if pc.any(pc.match_substring(text, ":")).as_py():
            raise ValueError("IPv6 to normalise")
        return text
    if target in NAME_FIELDS:
        return pc.utf8_rtrim(pc.utf8_lower(arr.cast(pa.string())), ".")
    if pa.types.is_list(typ):
        if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
            return arr.cast(typ)
        raise ValueError("list from text")
    return arr.cast(typ)


def _times(arr: pa.Array, m: Mapping) -> pa.Array:
    fmt = m.time_format
    tz = m.timezone
    if pa.types.is_timestamp(arr.type):
        if arr.type.tz is None:
            arr = pc.assume_timezone(arr, tz)
        return arr.cast(TS)
    numeric = pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type)
    if fmt == "auto":
        if not numeric:
            try:
                nums = arr.cast(pa.float64())
                numeric, arr = True, nums
            except pa.ArrowInvalid:
                fmt = "iso"
        if numeric:
            fmt = _epoch_unit(pc.max(pc.abs(arr.cast(pa.float64()))).as_py() or 0)
    if fmt.startswith("epoch_"):
        scale = {"epoch_s": 1e6, "epoch_ms": 1e3, "epoch_us": 1.0, "epoch_ns": 1e-3}[fmt]
        micros = pc.round(pc.multiply(arr.cast(pa.float64()), scale))
        return micros.cast(pa.int64()).cast(TS)
    text = arr.cast(pa.string())
    if fmt == "iso":
        try:
            return text.cast(TS)
        except pa.ArrowInvalid:
            return pc.assume_timezone(text.cast(pa.timestamp("us")), tz).cast(TS)
    return pc.assume_timezone(pc.strptime(text, format=fmt, unit="us"), tz).cast(TS)


def _scalars(target: str, arr: pa.Array, m: Mapping) -> tuple[list[Any], dict[int, str]]:
    """The column value by value: converted values (None where bad) and why each bad one is."""
    values: list[Any] = []
    errs: dict[int, str] = {}
    tz = zone(m.timezone)
    for i, v in enumerate(arr.to_pylist()):
        try:
            values.append(_scalar(target, v, m, tz))
        except (ValueError, TypeError, OverflowError, KeyError) as e:
            values.append(None)
            errs[i] = str(e) or type(e).__name__
    return values, errs


def _scalar(target: str, v: Any, m: Mapping, tz: Any) -> Any:
    if v is None:
        return None
    if target in TIME_FIELDS:
        from datetime import UTC, datetime

        fmt = m.time_format
        if fmt.startswith("epoch_") or (fmt == "auto" and _numeric(v)):
            x = float(v)
            if fmt == "auto":
                fmt = _epoch_unit(x)
            secs = x / {"epoch_s": 1, "epoch_ms": 1e3, "epoch_us": 1e6, "epoch_ns": 1e9}[fmt]
        elif fmt in ("auto", "iso"):
            secs = iso_epoch(str(v), tz)
        else:
            secs = datetime.strptime(str(v), fmt).replace(tzinfo=tz).timestamp()
        return datetime.fromtimestamp(secs, UTC)
    if target in IP_FIELDS:
        return norm_ip(str(v))
    if target == "proto":
        n = proto_number(str(v))
        if n is None:
            raise ValueError(f"unknown protocol {v!r}")
        return n
    if target == "tcp_flags":
        return tcp_flags(str(v))
    if target == "answers":
        return [a.strip() for a in str(v).split(m.list_separator) if a.strip()] if not isinstance(v, list) else v
    if target == "ttls":
        return [float(a) for a in str(v).split(m.list_separator) if a.strip()] if not isinstance(v, list) else v
    if target in NAME_FIELDS:
        return str(v).strip().rstrip(".").lower() or None
    if target in ("duration_s",):
        return float(v)
    if target in ("src_port", "dst_port", "src_packets", "src_bytes", "dst_packets", "dst_bytes", "signature_id",
                  "severity"):
        f = float(v)
        if f != int(f) or (f < 0 and target != "signature_id") or abs(f) >= 2**63:
            raise ValueError(f"not a count: {v!r}")
        if target.endswith("_port") and f > 65535:
            raise ValueError(f"not a port: {v!r}")
        return int(f)
    return str(v)


def _epoch_unit(biggest: float) -> str:
    """The unit of epoch numbers told by their size (now is ~1.7e9 s)."""
    for unit, above in (("epoch_ns", 1e17), ("epoch_us", 1e14), ("epoch_ms", 1e11)):
        if biggest > above:
            return unit
    return "epoch_s"


def _numeric(v: Any) -> bool:
    if isinstance(v, (int, float)):
        return True
    try:
        float(v)
        return True
    except ValueError:
        return False

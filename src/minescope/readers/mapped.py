"""Any CSV, Parquet or JSON-lines export read into any evidence table through a column mapping.

A mapping names the table, the source column of each of its fields, and how times are written. As a
dict, or a TOML/JSON file::

    table = "flows"                 # any registered table: flows, dns, alerts, processes, connections,
                                    # files, persistence, resources, readings, billing, accounts …
    [columns]                       # target field = source column (JSON lines: a key, or a dotted path
    ts = "start_time"               #   such as "process.command_line" into nested objects)
    end_ts = "end_time"             # flows only: duration_s = end_ts - ts
    src_ip = "sip"
    [time]
    format = "epoch_ms"             # auto (default), epoch_s, epoch_ms, epoch_us, epoch_ns, iso, or a
                                    # strptime pattern such as "%Y/%m/%d %H:%M:%S"
    timezone = "Asia/Shanghai"      # for times written without an offset (default UTC)
    [csv]
    delimiter = ","
    list_separator = ";"            # list fields (dns answers, file matches) given as one text column
    [where]                         # only rows whose column holds one of these values (an export of
    EventID = ["1", "4688"]         #   many event types): the others are not this table's rows
    [constants]                     # a field the export leaves out, the same on every row
    interval_s = 1800
    [values.tariff]                 # a field's values as the export writes them → as the table holds them
    "居民生活用电" = "residential"
    [wide]                          # one row per day with one column per interval (meter readings):
    columns = ["P1", "P2", "P3"]    # the value columns in time order, or "P*" (every header column so named)
    target = "kwh"                  # the field they fill; ts is the row's day plus i × interval
    interval_s = 28800              # default: a day divided by the number of columns

A flat dict ``{"ts": "start_time", …}`` is a ``[columns]`` table of flows alone. Without a mapping, columns
named like a table's fields (``ts``, ``src_ip``, … : a file this package wrote) map to themselves, and the
table is the one whose needed columns (``TableSpec.required``) are all there and that takes most columns.
``auto`` times: ISO text, or epoch numbers whose unit is told by their size (s, ms, µs or ns).

Conversion is by field type, the same for every table (times, counts, ports, addresses, names, lists,
flags); it is columnar (Arrow casts) a batch at a time; when a cast fails, that column is converted value
by value to find the bad rows, which are skipped and reported by line (CSV, JSON lines) or row (Parquet).
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import math
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from minescope.readers.report import InputReport
from minescope.readers.textio import head, open_binary, open_input
from minescope.readers.values import TS, iso_epoch, norm_ip, proto_number, tcp_flags, zone

MappingSpec = dict[str, Any]

BATCH_ROWS = 65536
# Fields given only to derive others: end_ts → duration_s
EXTRA_TARGETS = {"flows": ("end_ts",)}
IP_FIELDS = {"src_ip", "dst_ip", "client_ip", "resolver_ip", "local_ip", "remote_ip"}
NAME_FIELDS = {"server_name", "query", "remote_name"}
LOWER_FIELDS = {"host", "sha256", "md5"}
SIGNED_FIELDS = {"signature_id"}  # every other number a table holds is a count, size or amount: never negative
IP_PROTOCOLS = {"6": "tcp", "17": "udp"}


class MappingError(ValueError):
    """The mapping itself is unusable; ``zh``/``en`` say why."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


@cache
def table_schemas() -> dict[str, pa.Schema]:
    """Every registered evidence table's Arrow schema, by name."""
    from minescope import registry

    return {name: spec.arrow_schema() for name, spec in registry.tables().items()}


@cache
def _required() -> dict[str, tuple[str, ...]]:
    from minescope import registry

    return {name: spec.required for name, spec in registry.tables().items()}


def table_dimension(table: str) -> str | None:
    from minescope import registry

    spec = registry.tables().get(table)
    return spec.dimension if spec else None


@dataclass
class Wide:
    """One row per day, one value column per interval (``columns`` in time order)."""

    columns: list[str]
    target: str = "kwh"
    interval_s: int | None = None


@dataclass
class Mapping:
    table: str = "flows"
    columns: dict[str, str] = field(default_factory=dict)  # target → source column
    time_format: str = "auto"
    timezone: str = "UTC"
    delimiter: str = ","
    list_separator: str = ";"
    source: str = "mapped"
    values: dict[str, dict[str, str]] = field(default_factory=dict)  # target → {as written: as held}
    wide: Wide | None = None
    where: dict[str, list[str]] = field(default_factory=dict)  # source column → values a row of the table holds
    constants: dict[str, str] = field(default_factory=dict)  # target → its value on every row

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
        time, opts, values, wide, where, constants = (spec.get(k, {}) for k in (
            "time", "csv", "values", "wide", "where", "constants"))
        if not all(isinstance(x, dict) for x in (columns, time, opts, values, wide, where, constants)):
            raise MappingError("映射的 columns、time、csv、values、wide、where、constants 应为表",
                               "columns, time, csv, values, wide, where and constants of a mapping must be tables")
        m = cls(table=str(spec.get("table", "flows")), columns={str(k): str(v) for k, v in columns.items()},
                time_format=str(time.get("format", "auto")), timezone=str(time.get("timezone", "UTC")),
                delimiter=str(opts.get("delimiter", ",")), list_separator=str(opts.get("list_separator", ";")),
                source=str(spec.get("source", "mapped")),
                values={str(t): {str(k): str(v) for k, v in vs.items()} for t, vs in values.items()
                        if isinstance(vs, dict)},
                wide=_wide(wide) if wide else None,
                where={str(k): [_text(x) for x in (v if isinstance(v, list) else [v])] for k, v in where.items()},
                constants={str(k): str(_text(v)) for k, v in constants.items()})
        m.check()
        return m

    def check(self) -> None:
        schemas = table_schemas()
        if self.table not in schemas:
            raise MappingError(f"未知的表 {self.table}（可用：{', '.join(schemas)}）",
                               f"unknown table {self.table} (one of: {', '.join(schemas)})")
        schema = schemas[self.table]
        known = set(schema.names) | set(EXTRA_TARGETS.get(self.table, ()))
        unknown = sorted((set(self.columns) | set(self.values) | set(self.constants)) - known)
        if self.wide is not None and self.wide.target not in known:
            unknown.append(self.wide.target)
        if unknown:
            raise MappingError(f"映射中有未知的目标字段：{', '.join(unknown)}（表 {self.table} 没有这些字段）",
                               f"unknown target fields in the mapping: {', '.join(unknown)} (the table {self.table} "
                               "has no such field)")
        given = set(self.columns) | set(self.constants) | ({self.wide.target} if self.wide else set())
        missing = [need.replace("|", " / ") for need in _required().get(self.table, ())
                   if not set(need.split("|")) & given]
        if missing:
            raise MappingError(f"映射必须给出这些字段对应的列：{', '.join(missing)}",
                               f"the mapping must name the columns for: {', '.join(missing)}")
        for target, value in self.constants.items():
            try:
                _scalar(target, _type(target, schema), value, self, zone(self.timezone))
            except (ValueError, TypeError, OverflowError, KeyError) as e:
                raise MappingError(f"constants.{target} 的值 {value!r} 无效（{e}）",
                                   f"constants.{target}: {value!r} is not a valid value ({e})") from None
        if self.wide is not None and self.wide.interval_s is not None and self.wide.interval_s <= 0:
            raise MappingError("wide.interval_s 应为正的秒数", "wide.interval_s must be a positive number of seconds")

    @property
    def schema(self) -> pa.Schema:
        return table_schemas()[self.table]

    @property
    def sources(self) -> list[str]:
        """The source columns read (those ``where`` tests too), wide value columns last."""
        return (list(dict.fromkeys([*self.columns.values(), *self.where]))
                + (list(self.wide.columns) if self.wide else []))


def _wide(spec: dict[str, Any]) -> Wide:
    cols = spec.get("columns")
    if isinstance(cols, str):
        cols = [cols]
    if not cols or not all(isinstance(c, str) for c in cols):
        raise MappingError("wide.columns 应列出各时段的列（或如 \"P*\" 的模式）",
                           "wide.columns must list the interval columns (or a pattern such as \"P*\")")
    interval = spec.get("interval_s")
    return Wide(columns=list(cols), target=str(spec.get("target", "kwh")),
                interval_s=int(interval) if interval is not None else None)


def identity_mapping(names: list[str]) -> Mapping | None:
    """A mapping for columns already named like a table's fields, or None: of the tables whose needed
    columns are all there, the one that takes most of the columns (on a tie, the first registered)."""
    best: tuple[int, str] | None = None
    for table, schema in table_schemas().items():
        needs = _required().get(table, ())
        if not needs or not all(set(n.split("|")) & set(names) for n in needs):
            continue
        taken = sum(1 for n in names if n in schema.names)
        if best is None or taken > best[0]:
            best = (taken, table)
    if best is None:
        return None
    schema = table_schemas()[best[1]]
    return Mapping(table=best[1], columns={n: n for n in names if n in schema.names and n not in ("source", "input")})


def export_kind(path: Path) -> str | None:
    """``parquet``, ``jsonl`` or ``csv`` by content, or None."""
    data = head(path, 4096)
    if data[:4] == b"PAR1":
        return "parquet"
    text = data.decode("utf-8", "replace").lstrip("\ufeff").lstrip()
    if text.startswith("{"):
        return "jsonl"
    first = text.split("\n", 1)[0]
    return "csv" if any(c in first for c in ",\t;|") else None


def source_names(path: Path, kind: str | None = None, delimiter: str | None = None) -> list[str]:
    """The columns an export offers: the CSV header, the Parquet schema, the keys (dotted into nested
    objects) of the first JSON line."""
    kind = kind or export_kind(path)
    if kind == "parquet":
        try:
            return _parquet_names(path)
        except (OSError, pa.ArrowException):  # a damaged footer: its reader says so when it reads the file
            return []
    if kind == "jsonl":
        for line in head(path, 1 << 20).splitlines():
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                return _paths(obj)
        return []
    if kind == "csv":
        return _csv_header(path, delimiter)
    return []


def fits(m: Mapping, names: list[str]) -> bool:
    """Whether an export with these columns holds every column the mapping reads."""
    have = set(names)
    return all(c in have for c in [*m.columns.values(), *m.where]) and (
        m.wide is None or bool(_wide_columns(m.wide, names)))


def read_mapped(path: Path, report: InputReport, mapping: Mapping | MappingSpec | str | Path | None = None,
                batch_rows: int = BATCH_ROWS) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Rows of a CSV, Parquet or JSON-lines file as (table name, batch), through ``mapping``."""
    kind = export_kind(path) or "csv"
    report.format = report.format or kind
    try:
        m = _mapping(mapping, path, report, kind)
    except MappingError as e:
        report.fail(e.zh, e.en)
        return
    except (OSError, pa.ArrowException) as e:  # a damaged Parquet footer or schema
        report.fail(f"无法读取（{_reason(e)}）", f"cannot read ({_reason(e)})")
        return
    if m is None:
        return
    if m.wide is not None and kind != "jsonl":
        resolved = _resolved_wide(m, source_names(path, kind, m.delimiter), report)
        if resolved is None:
            return
        m = resolved
    if kind == "parquet":
        try:
            names = _parquet_names(path)
        except (OSError, pa.ArrowException) as e:
            report.fail(f"无法读取（{_reason(e)}）", f"cannot read ({_reason(e)})")
            return
        missing = [c for c in m.columns.values() if c not in names]
        if missing:
            report.fail(f"Parquet 文件中没有映射的列：{', '.join(missing)}",
                        f"mapped columns not in the Parquet file: {', '.join(missing)}")
            return
        source = _parquet_rows(path, m, batch_rows)
    elif kind == "jsonl":
        source = _json_rows(path, report, m, batch_rows)
    else:
        source = _csv_rows(path, report, m, batch_rows)
    try:
        for columns, lines in source:
            if m.where:
                columns, lines = _kept(columns, lines, m.where)
                if not len(lines):
                    continue
            if m.wide is not None:
                columns, lines, offsets = _melt(columns, lines, m.wide)
            else:
                offsets = None
            batch = _convert(columns, lines, m, report, offsets)
            if batch.num_rows:
                report.count(m.table, batch.num_rows)
                yield m.table, batch
    except (OSError, pa.ArrowException) as e:  # a damaged Parquet page: the rows before it are kept
        report.fail(f"读到一半无法继续（{_reason(e)}）", f"cannot read on ({_reason(e)})")


class MappedInput:
    """One export of a dimension read through a column mapping: iterate for (table, batch) pairs of the
    dimension's ``tables`` (another table's mapping is one problem, and the export is left), each batch through
    ``finish``; ``report`` tells how it went. A dimension's reader sets ``tables`` and ``what`` (its tables named
    in Chinese and English) and may override ``prepared`` (the mapping as loaded) and ``finish``."""

    tables: ClassVar[dict[str, pa.Schema]] = {}
    what: ClassVar[tuple[str, str]] = ("", "")  # e.g. ("电力表", "power table")

    def __init__(self, path: Path | str, mapping: Mapping | MappingSpec | str | Path | None = None, *,
                 batch_rows: int = BATCH_ROWS) -> None:
        self.path = Path(path)
        self.mapping = self.prepared(mapping)
        self.batch_rows = batch_rows
        self.report = InputReport(str(path))

    def prepared(self, mapping: Mapping | MappingSpec | str | Path | None) -> Mapping | MappingSpec | str | Path | None:
        return mapping

    def finish(self, table: str, batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch

    def __iter__(self) -> Iterator[tuple[str, pa.RecordBatch]]:
        report = self.report
        if not report.is_file(self.path):
            return
        for table, batch in read_mapped(self.path, report, self.mapping, self.batch_rows):
            if table not in self.tables:
                zh, en = self.what
                report.fail(f"映射的表 {table} 不是{zh}（{', '.join(self.tables)}）",
                            f"the mapping's table {table} is no {en} ({', '.join(self.tables)})")
                return
            batch = self.finish(table, batch)
            if batch.num_rows:
                yield table, batch


def _reason(e: BaseException) -> str:
    """An error's first line: pyarrow's messages run over several."""
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:200]


def _mapping(spec: Mapping | MappingSpec | str | Path | None, path: Path, report: InputReport,
             kind: str) -> Mapping | None:
    if isinstance(spec, Mapping):
        spec.check()
        return spec
    if spec is not None:
        return Mapping.load(spec)
    m = identity_mapping(source_names(path, kind))
    if m is None:
        report.fail("需要列映射（--mapping）：列名不是 minescope 任何表的字段名（如流记录的 ts、src_ip、dst_ip）；"
                    "请提供 TOML/JSON 映射文件",
                    "a column mapping is needed (--mapping): the columns are not named like the fields of any "
                    "minescope table (flows: ts, src_ip, dst_ip, …); give a TOML/JSON mapping file")
    return m


def _csv_header(path: Path, delimiter: str | None = None) -> list[str]:
    with open_binary(path) as f:
        first = f.readline(1 << 20).decode("utf-8", "replace").lstrip("\ufeff")
    if delimiter is None:
        counts = {d: first.count(d) for d in ",\t;|"}
        delimiter = max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","
    try:
        return [n.strip() for n in next(csv.reader([first.rstrip("\r\n")], delimiter=delimiter), [])]
    except csv.Error:  # not a CSV header (a binary file): no names, so no identity mapping
        return []


def _parquet_names(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    return list(pq.ParquetFile(path).schema_arrow.names)


def _paths(obj: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k, v in obj.items():
        name = f"{prefix}{k}"
        out.extend(_paths(v, name + ".") if isinstance(v, dict) and v else [name])
    return out


def _wide_columns(wide: Wide, names: list[str]) -> list[str]:
    """The value columns in the export: as listed, or every column a pattern names, in the export's order."""
    if len(wide.columns) == 1 and any(c in wide.columns[0] for c in "*?["):
        return [n for n in names if fnmatch.fnmatchcase(n, wide.columns[0])]
    return [c for c in wide.columns if c in names] if all(c in names for c in wide.columns) else []


def _resolved_wide(m: Mapping, names: list[str], report: InputReport) -> Mapping | None:
    """The mapping with this export's interval columns (a pattern matched against its header)."""
    wide = m.wide
    assert wide is not None
    cols = _wide_columns(wide, names)
    if not cols:
        report.fail(f"表头中没有 wide.columns 列出的时段列（{', '.join(wide.columns[:4])}）",
                    f"the interval columns of wide.columns ({', '.join(wide.columns[:4])}) are not in the header")
        return None
    return replace(m, wide=Wide(columns=cols, target=wide.target, interval_s=wide.interval_s or 86400 // len(cols)))


def _parquet_rows(path: Path, m: Mapping, batch_rows: int) -> Iterator[tuple[dict[str, pa.Array], np.ndarray]]:
    import pyarrow.parquet as pq

    row = 1
    sources = m.sources
    for b in pq.ParquetFile(path).iter_batches(batch_size=batch_rows, columns=sources):
        yield {s: b.column(s) for s in sources}, np.arange(row, row + b.num_rows)
        row += b.num_rows


def _csv_rows(path: Path, report: InputReport, m: Mapping,
              batch_rows: int) -> Iterator[tuple[dict[str, pa.Array], np.ndarray]]:
    raw = open_input(path, report)
    if raw is None:
        return
    with io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f, delimiter=m.delimiter)
        try:
            header = [n.strip() for n in next(reader)]
        except StopIteration:
            return
        except (csv.Error, OSError, EOFError) as e:
            report.fail(f"第 1 行不是可读的 CSV 表头（{e}）", f"line 1 is not a readable CSV header ({e})")
            return
        missing = [s for s in m.sources if s not in header]
        if missing:
            report.fail(f"CSV 表头中没有映射的列：{', '.join(missing)}",
                        f"mapped columns not in the CSV header: {', '.join(missing)}")
            return
        sources = m.sources
        index = {s: header.index(s) for s in sources}
        values: dict[str, list[str | None]] = {s: [] for s in sources}
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
            for s, i in index.items():
                v = row[i].strip()
                values[s].append(v if v not in ("", "-") else None)
            lines.append(reader.line_num)
            if len(lines) >= batch_rows:
                yield {s: pa.array(v, pa.string()) for s, v in values.items()}, np.array(lines)
                values = {s: [] for s in sources}
                lines = []
        if lines:
            yield {s: pa.array(v, pa.string()) for s, v in values.items()}, np.array(lines)


def _json_rows(path: Path, report: InputReport, m: Mapping,
               batch_rows: int) -> Iterator[tuple[dict[str, pa.Array], np.ndarray]]:
    """JSON lines: each source column is a key of the line's object, or a dotted path into nested ones.
    Numbers and flags become text here and are converted with the rest; lists stay lists."""
    raw = open_input(path, report)
    if raw is None:
        return
    if m.wide is not None:
        report.fail("wide 布局只适用于 CSV 和 Parquet", "the wide layout applies to CSV and Parquet only")
        return
    sources = m.sources
    values: dict[str, list[Any]] = {s: [] for s in sources}
    lines: list[int] = []
    with raw:
        for n, line in enumerate(raw, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                report.line(n, f"不是 JSON（{e}）", f"not JSON ({e})")
                continue
            if not isinstance(obj, dict):
                report.line(n, "不是 JSON 对象", "not a JSON object")
                continue
            for s in sources:
                values[s].append(_text(_lookup(obj, s)))
            lines.append(n)
            if len(lines) >= batch_rows:
                yield {s: _json_array(v) for s, v in values.items()}, np.array(lines)
                values = {s: [] for s in sources}
                lines = []
    if lines:
        yield {s: _json_array(v) for s, v in values.items()}, np.array(lines)


def _lookup(obj: dict[str, Any], key: str) -> Any:
    if key in obj:
        return obj[key]
    v: Any = obj
    for part in key.split("."):
        if not isinstance(v, dict) or part not in v:
            return None
        v = v[part]
    return v


def _text(v: Any) -> Any:
    if v is None or isinstance(v, list):
        return [None if x is None else str(x) for x in v] if isinstance(v, list) else None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dict):
        return json.dumps(v, ensure_ascii=False)
    text = str(v).strip()
    return text if text not in ("", "-") else None


def _json_array(values: list[Any]) -> pa.Array:
    if any(isinstance(v, list) for v in values):
        return pa.array([v if isinstance(v, list) or v is None else [v] for v in values], pa.list_(pa.string()))
    return pa.array(values, pa.string())


def _kept(columns: dict[str, pa.Array], lines: np.ndarray,
          where: dict[str, list[str]]) -> tuple[dict[str, pa.Array], np.ndarray]:
    """The rows whose ``where`` columns hold one of the listed values (compared as text)."""
    keep = None
    for src, allowed in where.items():
        wanted = pa.array(allowed, pa.string())
        col = _plain(columns[src])
        if pa.types.is_list(col.type):  # ECS's event.category is a list: any element may match
            hits = pc.is_in(pc.list_flatten(col).cast(pa.string()), value_set=wanted).to_numpy(zero_copy_only=False)
            hit = pa.array(np.bincount(pc.list_parent_indices(col).to_numpy(), weights=hits,
                                       minlength=len(col)) > 0)
        else:
            hit = pc.is_in(col.cast(pa.string()), value_set=wanted)
        keep = hit if keep is None else pc.and_(keep, hit)
    mask = pc.fill_null(keep, False)
    return {s: _plain(a).filter(mask) for s, a in columns.items()}, lines[mask.to_numpy(zero_copy_only=False)]


def _melt(columns: dict[str, pa.Array], lines: np.ndarray,
          wide: Wide) -> tuple[dict[str, pa.Array], np.ndarray, np.ndarray]:
    """One row per (day, interval column): other columns repeated, the value columns interleaved."""
    k, n = len(wide.columns), len(lines)
    repeat = pa.array(np.repeat(np.arange(n), k))
    out = {s: a.take(repeat) for s, a in columns.items() if s not in wide.columns}
    stacked = [_plain(columns[c]) for c in wide.columns]
    if len({a.type for a in stacked}) > 1:  # Parquet columns of mixed types: converted from text
        stacked = [a.cast(pa.string()) for a in stacked]
    order = pa.array((np.arange(k)[None, :] * n + np.arange(n)[:, None]).ravel())
    out[_WIDE_VALUE] = pa.concat_arrays(stacked).take(order)
    lines, offsets = np.repeat(lines, k), np.tile(np.arange(k), n)
    # an empty interval is a reading not taken (a meter that did not answer, a day not over): not a bad row
    present = pc.is_valid(out[_WIDE_VALUE])
    if not pc.all(present).as_py():
        keep = present.to_numpy(zero_copy_only=False)
        out = {s: a.filter(present) for s, a in out.items()}
        lines, offsets = lines[keep], offsets[keep]
    return out, lines, offsets


_WIDE_VALUE = "\0wide"


def _plain(a: pa.Array | pa.ChunkedArray) -> pa.Array:
    return a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a


# --- conversion --------------------------------------------------------------------------------


def _convert(cols: dict[str, pa.Array], lines: np.ndarray, m: Mapping, report: InputReport,
             offsets: np.ndarray | None = None) -> pa.RecordBatch:
    schema = m.schema
    n = len(lines)
    bad = np.zeros(n, bool)
    reasons: dict[int, str] = {}
    out: dict[str, pa.Array] = {}
    targets = dict(m.columns)
    if m.wide is not None:
        targets[m.wide.target] = _WIDE_VALUE
    for target, value in m.constants.items():
        if target not in targets:
            cols = {**cols, f"\0{target}": pa.array([value] * n, pa.string())}
            targets[target] = f"\0{target}"
    for target, src in targets.items():
        arr = _plain(cols[src])
        if target in m.values:
            arr = _translated(arr, m.values[target])
        try:
            out[target] = _vector(target, arr, m, schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, ValueError, OverflowError):
            values, errs = _scalars(target, arr, m, schema)
            for i, why in errs.items():
                bad[i] = True
                shown = src if src != _WIDE_VALUE else m.wide.columns[int(offsets[i])]  # type: ignore[union-attr,index]
                reasons.setdefault(i, f"{shown}: {why}")
            out[target] = pa.array(values, _type(target, schema))
    if offsets is not None and m.wide is not None and "ts" in out:
        step = pa.array(offsets.astype(np.int64) * int(m.wide.interval_s or 0) * 1_000_000)
        out["ts"] = pc.add(out["ts"].cast(pa.int64()), step).cast(TS)
        if "interval_s" in schema.names and "interval_s" not in out:
            out["interval_s"] = pa.array(np.full(n, m.wide.interval_s, np.int32))
    _derive(out, schema, n)
    for name in _required().get(m.table, ()):  # a row without what its table needs is no row
        present = [out[f] for f in name.split("|") if f in out]
        if not present:
            continue
        missing = pc.is_null(present[0])
        for more in present[1:]:
            missing = pc.and_(missing, pc.is_null(more))
        if pc.any(missing).as_py():
            for row in np.flatnonzero(missing.to_numpy(zero_copy_only=False)):
                bad[row] = True
                reasons.setdefault(int(row), f"{_source_of(name, m, int(row), offsets)}: empty")
    for i in sorted(reasons):  # a wide row's readings stand alone: one bad reading is that reading
        tell = report.value if m.wide is not None else report.line
        tell(int(lines[i]), f"无法解析的值（{reasons[i]}）", f"unparsable value ({reasons[i]})")
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


def _source_of(need: str, m: Mapping, row: int, offsets: np.ndarray | None) -> str:
    field_ = need.split("|")[0]
    if m.wide is not None and field_ == m.wide.target and offsets is not None:
        return m.wide.columns[int(offsets[row])]
    return m.columns.get(field_, field_)


def _derive(out: dict[str, pa.Array], schema: pa.Schema, n: int) -> None:
    """Fields the export need not give: a flow's duration from its end; an executable's name from its path."""
    if "end_ts" in out and "duration_s" in schema.names and "duration_s" not in out:
        out["duration_s"] = pc.divide(pc.cast(pc.subtract(out["end_ts"].cast(pa.int64()), out["ts"].cast(pa.int64())),
                                              pa.float64()), 1e6)
    if "image" in out and "name" in schema.names and "name" not in out:
        base = pc.utf8_lower(pc.replace_substring_regex(out["image"], r"^.*[\\/]", ""))
        out["name"] = pc.if_else(pc.equal(base, ""), pa.nulls(n, pa.string()), base)


def _translated(arr: pa.Array, table: dict[str, str]) -> pa.Array:
    values = arr.cast(pa.string()).to_pylist()
    return pa.array([table.get(v, v) if v is not None else None for v in values], pa.string())


def _type(target: str, schema: pa.Schema) -> pa.DataType:
    return TS if target not in schema.names else schema.field(target).type


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _vector(target: str, arr: pa.Array, m: Mapping, schema: pa.Schema) -> pa.Array:
    """The whole column converted by Arrow; raises when a value does not convert."""
    typ = _type(target, schema)
    if pa.types.is_timestamp(typ):
        return _times(arr, m)
    if target == "proto" and pa.types.is_integer(typ):  # flows: the IP protocol number
        if _is_text(arr.type):
            table = {u: proto_number(u) for u in pc.unique(arr).to_pylist() if u is not None}
            if any(v is None for v in table.values()):
                raise ValueError("unknown protocol")
            return pa.array([table.get(v) if v is not None else None for v in arr.to_pylist()], pa.uint8())
        return arr.cast(pa.uint8())
    if target == "proto":  # host connections: tcp / udp
        text = pc.utf8_lower(arr.cast(pa.string()))
        return pa.array([IP_PROTOCOLS.get(v, v) if v is not None else None for v in text.to_pylist()], pa.string())
    if target == "tcp_flags" and _is_text(arr.type):
        raise ValueError("text flags")  # value by value
    if target in IP_FIELDS:
        text = arr.cast(pa.string())
        if pc.any(pc.match_substring(text, ":")).as_py():
            raise ValueError("IPv6 to normalise")
        return text
    if target in NAME_FIELDS:
        return pc.utf8_rtrim(pc.utf8_lower(arr.cast(pa.string())), ".")
    if target in LOWER_FIELDS:
        return pc.utf8_lower(arr.cast(pa.string()))
    if pa.types.is_list(typ):
        if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
            return arr.cast(typ)
        raise ValueError("list from text")
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        if _is_text(arr.type) and pa.types.is_integer(typ):
            arr = arr.cast(pa.float64())  # "3.0" is the count 3; "3.5" fails below, value by value
        out = arr.cast(typ, safe=True)
        if pa.types.is_floating(typ) and pc.any(pc.invert(pc.is_finite(out))).as_py():
            raise ValueError("not finite")
        if target not in SIGNED_FIELDS and pc.any(pc.less(out, 0)).as_py():
            raise ValueError("negative")
        if target.endswith("_port") and pc.any(pc.greater(out, 65535)).as_py():
            raise ValueError("not a port")
        return out
    return arr.cast(typ)


def _times(arr: pa.Array, m: Mapping) -> pa.Array:
    fmt = m.time_format
    tz = m.timezone
    if pa.types.is_timestamp(arr.type):
        if arr.type.tz is None:
            arr = pc.assume_timezone(arr, tz)
        return arr.cast(TS)
    if pa.types.is_date(arr.type):
        return pc.assume_timezone(arr.cast(pa.timestamp("us")), tz).cast(TS)
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


def _scalars(target: str, arr: pa.Array, m: Mapping, schema: pa.Schema) -> tuple[list[Any], dict[int, str]]:
    """The column value by value: converted values (None where bad) and why each bad one is."""
    values: list[Any] = []
    errs: dict[int, str] = {}
    tz = zone(m.timezone)
    typ = _type(target, schema)
    for i, v in enumerate(arr.to_pylist()):
        try:
            values.append(_scalar(target, typ, v, m, tz))
        except (ValueError, TypeError, OverflowError, KeyError) as e:
            values.append(None)
            errs[i] = str(e) or type(e).__name__
    return values, errs


def _scalar(target: str, typ: pa.DataType, v: Any, m: Mapping, tz: Any) -> Any:
    if v is None:
        return None
    if pa.types.is_timestamp(typ):
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
    if target == "proto" and pa.types.is_integer(typ):
        n = proto_number(str(v))
        if n is None:
            raise ValueError(f"unknown protocol {v!r}")
        return n
    if target == "tcp_flags":
        return tcp_flags(str(v))
    if pa.types.is_list(typ):
        items = v if isinstance(v, list) else [a.strip() for a in str(v).split(m.list_separator) if a.strip()]
        if pa.types.is_floating(typ.value_type):
            return [float(a) for a in items]
        return [str(a) for a in items]
    if target in NAME_FIELDS:
        return str(v).strip().rstrip(".").lower() or None
    if target in LOWER_FIELDS:
        return str(v).strip().lower() or None
    if pa.types.is_integer(typ) or pa.types.is_floating(typ):
        f = float(v)
        if not math.isfinite(f):
            raise ValueError(f"not a number: {v!r}")
        if f < 0 and target not in SIGNED_FIELDS:
            raise ValueError(f"negative: {v!r}")
        if pa.types.is_floating(typ):
            return f
        if f != int(f) or abs(f) >= 2**63:
            raise ValueError(f"not a count: {v!r}")
        if target.endswith("_port") and f > 65535:
            raise ValueError(f"not a port: {v!r}")
        return int(f)
    if pa.types.is_boolean(typ):
        text = str(v).strip().lower()
        if text in ("true", "1", "yes", "y", "t"):
            return True
        if text in ("false", "0", "no", "n", "f"):
            return False
        raise ValueError(f"not true or false: {v!r}")
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

"""Flow datasets: the reader tables as hive-partitioned Parquet, by day or hour, kept and scanned incrementally.

A carrier keeps flow records for months, billions a day; the detectors should read each hour once.
A dataset is a directory of Parquet files, one folder per table and time partition::

    DATASET/_minescope_dataset.json                 id (kept by the findings store), partitioning
    DATASET/flows/day=2026-11-01/hour=08/part-<import>-<n>.parquet   (``flows.schema.FLOWS``)
    DATASET/dns/day=2026-11-01/hour=08/...                           (``DNS``)
    DATASET/alerts/day=.../hour=.../...                              (``ALERTS``)

``DatasetWriter`` (``minescope flows import``) appends: every import writes new files and never
rewrites old ones, so "which files has the store seen" tells what is new. A row goes to the
partition of its ``ts`` (UTC); rows without a time go to ``day=__HIVE_DEFAULT_PARTITION__``.
Datasets written by other tools with the same layout and schemas are read alike (without the
marker file, the dataset's absolute path is its id).

``select_files`` picks what an incremental scan reads: the flow files not yet seen, the DNS files
not yet seen, and as context the older DNS files whose partitions lie within ``DNS_LOOKBACK_S``
before the new flows (a DNS answer explains connections that begin up to its TTL, at least an
hour, later; TTLs beyond a day are cut to a day across partitions).
"""

from __future__ import annotations

import json
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from minescope.dimensions.network.tables import TABLES
from minescope.errors import InputError
from minescope.model import Text

MARKER = "_minescope_dataset.json"
PARTITIONINGS = ("hour", "day")
DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"
DNS_LOOKBACK_S = 86400.0
MAX_OPEN_FILES = 128  # partitions written at once; older writers are closed (a later row opens a new file)
ROW_GROUP_ROWS = 1 << 20


@dataclass(frozen=True)
class DatasetFile:
    table: str
    rel: str  # path below the dataset root, with "/" separators: the file's key in the store
    path: Path
    bytes: int
    start: float | None  # partition start, epoch seconds (None: default partition)
    span: float  # partition length in seconds

    @property
    def key(self) -> str:
        """What the store remembers of a scanned file: its path and size (a rewritten file is new)."""
        return f"{self.rel}\0{self.bytes}"


class FlowDataset:
    def __init__(self, root: Path) -> None:
        self.root = root
        marker = root / MARKER
        self.meta: dict[str, str] = {}
        if marker.is_file():
            try:
                self.meta = json.loads(marker.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                raise InputError(f"{marker}: 数据集说明文件无法读取（{e}）；请修复或删除它",
                                 f"{marker}: cannot read the dataset marker ({e}); repair or delete it") from e
        self.id = str(self.meta.get("id") or root.resolve())

    def files(self, table: str) -> list[DatasetFile]:
        base = self.root / table
        out = []
        for path in sorted(base.rglob("*.parquet")) if base.is_dir() else []:
            rel = path.relative_to(self.root).as_posix()
            start, span = _partition_span(path.relative_to(base).parts[:-1])
            out.append(DatasetFile(table, rel, path, path.stat().st_size, start, span))
        return out


def is_dataset(path: Path) -> bool:
    """A directory with the marker, or with ``flows/`` or ``dns/`` holding ``day=`` partitions."""
    if not path.is_dir():
        return False
    if (path / MARKER).is_file():
        return True
    return any((path / t).is_dir() and any(p.name.startswith("day=") for p in (path / t).iterdir())
               for t in ("flows", "dns"))


def _partition_span(parts: tuple[str, ...]) -> tuple[float | None, float]:
    values = dict(p.split("=", 1) for p in parts if "=" in p)
    day, hour = values.get("day"), values.get("hour")
    if day is None or day == DEFAULT_PARTITION:
        return None, 0.0
    try:
        start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()
        if hour is None or hour == DEFAULT_PARTITION:
            return start, 86400.0
        return start + 3600 * int(hour), 3600.0
    except ValueError:
        return None, 0.0


@dataclass
class Selection:
    flows: list[DatasetFile]
    dns: list[DatasetFile]  # new DNS files
    dns_context: list[DatasetFile]  # older DNS files that may explain the new flows

    @property
    def new(self) -> list[DatasetFile]:
        return self.flows + self.dns


def select_files(dataset: FlowDataset, seen: set[str] | None = None,
                 lookback_s: float = DNS_LOOKBACK_S) -> Selection:
    """The files an incremental scan reads; ``seen`` holds the ``key`` of files already scanned
    (None: scan everything)."""
    seen = seen or set()
    flows = [f for f in dataset.files("flows") if f.key not in seen]
    dns_all = dataset.files("dns")
    dns = [f for f in dns_all if f.key not in seen]
    starts = [f.start for f in flows if f.start is not None]
    ends = [f.start + f.span for f in flows if f.start is not None]
    undated = any(f.start is None for f in flows)
    context = []
    for f in dns_all:
        if f.key not in seen:
            continue
        if undated or f.start is None:
            context.append(f)  # no partition time to rule it out
        elif starts and f.start + f.span >= min(starts) - lookback_s and f.start < max(ends):
            context.append(f)
    return Selection(flows, dns, context)


class DatasetWriter:
    """Appends reader batches to a dataset, each row in its time partition; ``close`` when done."""

    def __init__(self, root: Path, partition: str = "hour") -> None:
        if partition not in PARTITIONINGS:
            raise InputError(f"分区方式 {partition} 无效；可选 hour 或 day",
                             f"invalid partitioning {partition}; use hour or day")
        self.root = root
        marker = root / MARKER
        if marker.is_file():
            self.dataset = FlowDataset(root)
            partition = self.dataset.meta.get("partition", partition)
        else:
            try:
                root.mkdir(parents=True, exist_ok=True)
                marker.write_text(json.dumps({"format": "minescope-flow-dataset", "version": 1,
                                              "id": uuid.uuid4().hex, "partition": partition}) + "\n",
                                  encoding="utf-8")
            except OSError as e:
                raise InputError(f"{root}: 无法创建数据集（{e.strerror or e}）；请检查路径和权限",
                                 f"{root}: cannot create the dataset ({e.strerror or e}); "
                                 "check the path and permissions") from e
            self.dataset = FlowDataset(root)
        self.partition = partition
        self.import_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        self.writers: OrderedDict[tuple[str, str], pq.ParquetWriter] = OrderedDict()
        self.serial = 0
        self.rows: dict[str, int] = {}
        self.paths: list[Path] = []

    def write(self, table: str, batch: pa.RecordBatch | pa.Table) -> None:
        if not batch.num_rows:
            return
        data = (batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])).cast(TABLES[table])
        keys = self._keys(data["ts"])
        for key in pc.unique(keys).to_pylist():
            part = data.filter(pc.equal(keys, key))
            self._writer(table, key).write_table(part, row_group_size=ROW_GROUP_ROWS)
            self.rows[table] = self.rows.get(table, 0) + part.num_rows

    def _keys(self, ts: pa.ChunkedArray) -> pa.Array:
        fmt = "day=%Y-%m-%d/hour=%H" if self.partition == "hour" else "day=%Y-%m-%d"
        default = (f"day={DEFAULT_PARTITION}/hour={DEFAULT_PARTITION}" if self.partition == "hour"
                   else f"day={DEFAULT_PARTITION}")
        return pc.fill_null(pc.strftime(ts.combine_chunks(), format=fmt, locale="C"), default)

    def _writer(self, table: str, key: str) -> pq.ParquetWriter:
        writer = self.writers.get((table, key))
        if writer is not None:
            self.writers.move_to_end((table, key))
            return writer
        if len(self.writers) >= MAX_OPEN_FILES:
            _, oldest = self.writers.popitem(last=False)
            oldest.close()
        folder = self.root / table / key
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{self.import_id}-{self.serial:05d}.parquet"
        self.serial += 1
        writer = pq.ParquetWriter(path, TABLES[table], compression="zstd")
        self.writers[(table, key)] = writer
        self.paths.append(path)
        return writer

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers.clear()


def readable(files: list[DatasetFile]) -> tuple[list[DatasetFile], list[tuple[DatasetFile, Text]]]:
    """The files whose footer reads and whose columns are the table's (timestamps in any unit), and
    the others with the reason, so one bad file is reported and skipped, not the whole scan lost."""
    good: list[DatasetFile] = []
    bad: list[tuple[DatasetFile, Text]] = []
    for f in files:
        try:
            schema = pq.read_schema(f.path)
        except (OSError, pa.ArrowException) as e:
            reason = str(e).splitlines()[0][:160]
            bad.append((f, Text(zh=f"{f.path}: 不是可读的 Parquet 文件（{reason}），已跳过",
                                en=f"{f.path}: not a readable Parquet file ({reason}); skipped")))
            continue
        wrong = [field.name for field in TABLES[f.table]
                 if field.name not in schema.names or not _same_type(schema.field(field.name).type, field.type)]
        if wrong:
            bad.append((f, Text(zh=f"{f.path}: 列与 {f.table} 表不符（{', '.join(wrong)}），已跳过",
                                en=f"{f.path}: columns differ from the {f.table} table ({', '.join(wrong)}); skipped")))
        else:
            good.append(f)
    return good, bad


def _same_type(found: pa.DataType, wanted: pa.DataType) -> bool:
    if pa.types.is_timestamp(wanted):
        return pa.types.is_timestamp(found)
    return found == wanted


def summarize(files: list[DatasetFile]) -> tuple[int, float | None, float | None]:
    """Connections (rows with counters) and first/last time of ``flows`` files, from the Parquet
    footers alone (no data read)."""
    counted = 0
    first: float | None = None
    last: float | None = None
    for f in files:
        meta = pq.ParquetFile(f.path).metadata
        names = meta.schema.to_arrow_schema().names
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            stats = group.column(names.index("src_packets")).statistics
            counted += group.num_rows - (stats.null_count if stats is not None and stats.has_null_count else 0)
            ts = group.column(names.index("ts")).statistics
            if ts is not None and ts.has_min_max:
                lo, hi = _seconds(ts.min), _seconds(ts.max)
                first = lo if first is None else min(first, lo)
                last = hi if last is None else max(last, hi)
    return counted, first, last


def _seconds(value: object) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value) / 1e6  # type: ignore[arg-type]

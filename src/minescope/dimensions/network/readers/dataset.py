"""Flow datasets: the reader tables as hive-partitioned Parquet, by day or hour, kept and scanned incrementally.

A carrier keeps flow records for months, billions a day; the detectors should read each hour once.
A dataset is a directory of Parquet files, one folder per table and time partition::

    DATASET/_minescope_dataset.json                 id (kept by the findings store), partitioning
    DATASET/flows/day=2026-11-01/hour=08/part-<import>-<n>.parquet   (``flows.schema.FLOWS``)
    DATASET/dns/day=2026-11-01/hour=08/...                           (``DNS``)
    DATASET/alerts/day=.../hour=.../...                              (``ALERTS``)
    DATASET/_imports/<import>.json                  what one import read and wrote (``running`` or ``complete``)
    DATASET/_quarantine/<when>/...                  what ``repair`` moved aside

``DatasetWriter`` (``minescope flows import``) appends: every import writes new files and never
rewrites old ones, so "which files has the store seen" tells what is new. A row goes to the
partition of its ``ts`` (UTC); rows without a time go to ``day=__HIVE_DEFAULT_PARTITION__``.
Datasets written by other tools with the same layout and schemas are read alike (without the
marker file, the dataset's absolute path is its id).

An import is all or nothing. Its files are written under hidden names (``.part-<import>-<n>.parquet.tmp``,
which no reader lists) and renamed into place, after ``fsync``, only when the whole import is done. Its
record (``_imports/<import>.running.json``, then ``<import>.json`` when complete) names its inputs by
content (path, size, SHA-256), so importing the same input again is skipped, and its files; while it
runs the import holds ``_imports/<import>.lock`` (``flock``), so a record left ``running`` without a
holder is a dead import. A dead import is rolled back (its files removed) by the next import into the
dataset or by ``repair``; a failing or interrupted one (Ctrl-C, SIGTERM, a full disk) rolls itself back.
A scan lists a file only when its import was complete before the listing began (``visible_files``), so
it never reads, nor marks as read, part of an import.

``select_files`` picks what an incremental scan reads: the flow files not yet seen, the DNS files
not yet seen, and as context the older DNS files whose partitions lie within ``DNS_LOOKBACK_S``
before the new flows (a DNS answer explains connections that begin up to its TTL, at least an
hour, later; TTLs beyond a day are cut to a day across partitions).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import signal
import socket
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from minescope.dimensions.network.tables import TABLES
from minescope.errors import InputError
from minescope.failpoints import failpoint
from minescope.model import Text
from minescope.readers.names import path_text

MARKER = "_minescope_dataset.json"
IMPORTS = "_imports"  # import records and their locks
QUARANTINE = "_quarantine"  # what repair moved aside, never deleted
PARTITIONINGS = ("hour", "day")
DEFAULT_PARTITION = "__HIVE_DEFAULT_PARTITION__"
DNS_LOOKBACK_S = 86400.0
MAX_OPEN_FILES = 128  # partitions written at once; older writers are closed (a later row opens a new file)
ROW_GROUP_ROWS = 1 << 20
_IMPORT_ID = r"\d{8}T\d{6}-[0-9a-f]{8}"
FINISHED = re.compile(rf"part-(?P<id>{_IMPORT_ID})-\d+\.parquet")
UNFINISHED = re.compile(rf"\.part-(?P<id>{_IMPORT_ID})-\d+\.parquet\.tmp")
_RUNNING_SUFFIX, _RECORD_SUFFIX, _LOCK_SUFFIX = ".running.json", ".json", ".lock"


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
        """The table's finished files, as a scan may read them (``visible_files``)."""
        return self.visible_files((table,))[table]

    def visible_files(self, tables: Sequence[str]) -> dict[str, list[DatasetFile]]:
        """The finished files of each table, listed at one moment: files of an import that was not
        complete when the listing began are left out (they are read by a later scan), so a scan never
        reads part of an import. Unfinished files have hidden names and are never listed."""
        before = import_states(self.root)
        found = {table: self._parquet_files(table) for table in tables}
        after = import_states(self.root)
        # complete before the listing: all its files were in place; begun since: perhaps only some were
        hidden = {i for i, state in before.items() if state != "complete"} | (after.keys() - before.keys())
        return {table: [f for f in files if _import_of(f.path.name) not in hidden] for table, files in found.items()}

    def _parquet_files(self, table: str) -> list[DatasetFile]:
        base = self.root / table
        out = []
        for path in sorted(base.rglob("*.parquet")) if base.is_dir() else []:
            rel = path.relative_to(self.root).as_posix()
            start, span = _partition_span(path.relative_to(base).parts[:-1])
            try:
                size = path.stat().st_size
            except FileNotFoundError:  # rolled back since it was listed
                continue
            out.append(DatasetFile(table, rel, path, size, start, span))
        return out


def _import_of(name: str) -> str | None:
    """The import a dataset file belongs to, from its name (None: not written by ``flows import``)."""
    m = FINISHED.fullmatch(name) or UNFINISHED.fullmatch(name)
    return m.group("id") if m else None


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
    listed = dataset.visible_files(("flows", "dns"))  # one moment for both: an import's flows come with its DNS
    flows = [f for f in listed["flows"] if f.key not in seen]
    dns_all = listed["dns"]
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


# --- import records -------------------------------------------------------------------------------

def import_states(root: Path) -> dict[str, str]:
    """Each recorded import of the dataset, "running" or "complete", from the record names alone
    (one directory listing: the state at one moment, cheap for a scan)."""
    try:
        names = os.listdir(root / IMPORTS)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    states: dict[str, str] = {}
    for name in names:
        if name.startswith("."):
            continue
        if name.endswith(_RUNNING_SUFFIX):
            states.setdefault(name[: -len(_RUNNING_SUFFIX)], "running")
        elif name.endswith(_RECORD_SUFFIX):
            states[name[: -len(_RECORD_SUFFIX)]] = "complete"  # wins: written before the running record goes
    return states


def _record_path(root: Path, import_id: str, running: bool) -> Path:
    return root / IMPORTS / (import_id + (_RUNNING_SUFFIX if running else _RECORD_SUFFIX))


def _lock_path(root: Path, import_id: str) -> Path:
    return root / IMPORTS / (import_id + _LOCK_SUFFIX)


def read_record(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return data
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: 导入记录无法读取（{e}）；请运行 minescope flows repair 隔离它",
                         f"{path}: cannot read the import record ({e}); run minescope flows repair to "
                         "quarantine it") from e


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write a small file whole or not at all: beside it under a hidden name, fsync, rename, fsync the folder."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(partial, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
    finally:
        with contextlib.suppress(OSError):  # the write's own error is the one to tell
            partial.unlink(missing_ok=True)
    _fsync_dir(path.parent)


@contextlib.contextmanager
def _dataset_lock(root: Path) -> Iterator[None]:
    """Held briefly to claim inputs or roll back dead imports, so two imports never claim the same input."""
    folder = root / IMPORTS
    folder.mkdir(exist_ok=True)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _owner_gone(root: Path, import_id: str) -> Iterator[bool]:
    """True, holding the import's lock meanwhile, when the process that ran the import no longer runs.
    The lock is made before the record and removed after it, so a record without a lock has no owner."""
    try:
        fd = os.open(_lock_path(root, import_id), os.O_RDWR)
    except FileNotFoundError:
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


def _table_files(root: Path, import_id: str | None = None) -> Iterator[Path]:
    """Every file below the table folders (of one import, when given), in name order."""
    for table in TABLES:
        base = root / table
        if not base.is_dir():
            continue
        for folder, subfolders, names in os.walk(base):
            subfolders.sort()
            for name in sorted(names):
                if import_id is None or _import_of(name) == import_id:
                    yield Path(folder) / name


def _remove_files(root: Path, paths: Iterable[Path]) -> int:
    """Remove files and then their partition folders left empty; the count removed."""
    removed = 0
    folders = set()
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
        folders.add(path.parent)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        while folder != root and folder.name not in TABLES and folder.is_relative_to(root):
            try:
                folder.rmdir()
            except OSError:  # not empty, or already gone
                break
            folder = folder.parent
    return removed


def recover(root: Path) -> list[Text]:
    """Roll back the imports of the dataset whose process no longer runs (killed, or its machine
    stopped): their files are removed, finished or not, and their record; one line each. An import
    that completed but was killed while tidying up keeps its files."""
    lines: list[Text] = []
    with _dataset_lock(root):
        for import_id, state in sorted(import_states(root).items()):
            running = _record_path(root, import_id, running=True)
            if state == "complete":
                if running.exists():  # killed after completing, before tidying up
                    running.unlink(missing_ok=True)
                    _lock_path(root, import_id).unlink(missing_ok=True)
                continue
            with _owner_gone(root, import_id) as gone:
                # looked at again under its lock: it may have completed since it was listed
                if not gone or not running.exists() or _record_path(root, import_id, running=False).exists():
                    continue
                try:
                    record = read_record(running)
                except InputError:
                    record = {}
                removed = _remove_files(root, _table_files(root, import_id))
                running.unlink(missing_ok=True)
                _lock_path(root, import_id).unlink(missing_ok=True)
            who = f"pid {record.get('pid', '?')}, {record.get('host', '?')}"
            lines.append(Text(
                zh=f"{root}: 已撤销中断的导入 {import_id}（{who}）：删除其 {removed} 个文件；其输入可重新导入",
                en=f"{root}: rolled back the interrupted import {import_id} ({who}): removed its {removed} file(s); "
                   "its inputs can be imported again"))
        _fsync_dir(root / IMPORTS)
    return lines


def input_identity(path: Path) -> dict[str, Any]:
    """An input as the import record keeps it: where it was, and its content (size and SHA-256), which
    says whether it was imported before, under any name."""
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        size = os.fstat(f.fileno()).st_size
    return {"path": str(path.resolve()), "bytes": size, "sha256": digest}


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Ctrl-C or SIGTERM during the few renames that publish an import is held until they are done, then
    delivered, so an import is never left half published by a signal (SIGKILL is rolled back later)."""
    if threading.current_thread() is not threading.main_thread():  # handlers are the main thread's
        yield
        return
    pending: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    old = {s: signal.signal(s, lambda signum, _frame: pending.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        for signum in pending:
            signal.raise_signal(signum)


def _create_marker(root: Path, partition: str) -> None:
    """The dataset's marker, made once: a second import making the same new dataset keeps the first's id."""
    marker = root / MARKER
    partial = root / f".{MARKER}.{os.getpid()}.tmp"
    try:
        with open(partial, "w", encoding="utf-8") as f:
            f.write(json.dumps({"format": "minescope-flow-dataset", "version": 1, "id": uuid.uuid4().hex,
                                "partition": partition}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(partial, marker)  # fails if another import made it meanwhile: theirs stays
        except FileExistsError:
            pass
        except OSError:  # a file system without hard links
            if not marker.exists():
                os.replace(partial, marker)
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)
    _fsync_dir(root)


def name_problem(root: Path) -> Text | None:
    """A dataset's folder must have a UTF-8 path: DuckDB, Spark and Arrow open its files by name, and
    none takes a name that is not (a GBK folder from a Windows share). Files scanned alone need no rename."""
    try:
        str(root).encode("utf-8")
        return None
    except UnicodeEncodeError:
        shown = path_text(root)
        return Text(zh=f"{shown}: 数据集目录的路径不是 UTF-8，DuckDB、Spark 与 Arrow 无法按名打开其中的文件；"
                       "请把目录改为 UTF-8 名称（如 convmv -f gbk -t utf8）后重试",
                    en=f"{shown}: the dataset folder's path is not UTF-8, and DuckDB, Spark and Arrow cannot open "
                       "its files by name; rename the folder to a UTF-8 name (e.g. convmv -f gbk -t utf8) and "
                       "run again")


class DatasetWriter:
    """Appends reader batches to a dataset as one import, each row in its time partition.

    ``claim`` the inputs (those imported before are skipped), ``write`` their batches, then ``close``
    to publish the import whole; ``abort`` (or an exception inside ``with``) removes what it wrote.
    Until ``close`` returns, nothing of the import is visible to a scan."""

    def __init__(self, root: Path, partition: str = "hour") -> None:
        if partition not in PARTITIONINGS:
            raise InputError(f"分区方式 {partition} 无效；可选 hour 或 day",
                             f"invalid partitioning {partition}; use hour or day")
        problem = name_problem(root)
        if problem is not None:
            raise InputError(problem.zh, problem.en)
        self.root = root
        self.writers: OrderedDict[tuple[str, str], pq.ParquetWriter] = OrderedDict()
        self.serial = 0
        self.rows: dict[str, int] = {}
        self.paths: list[Path] = []  # the files' final names; hidden names (``_unfinished``) until published
        self.inputs: list[dict[str, Any]] = []
        self.state = "new"  # running → complete, or aborted
        self._lock_fd: int | None = None
        self._written = False
        try:
            root.mkdir(parents=True, exist_ok=True)
            if not (root / MARKER).is_file():
                _create_marker(root, partition)
        except OSError as e:
            raise InputError(f"{root}: 无法创建数据集（{e.strerror or e}）；请检查路径和权限",
                             f"{root}: cannot create the dataset ({e.strerror or e}); "
                             "check the path and permissions") from e
        self.dataset = FlowDataset(root)
        self.partition = self.dataset.meta.get("partition", partition)
        self.recovered = recover(root)  # dead imports are rolled back before this one begins
        self.import_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        self.started = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            # the lock before the record: a running record without a held lock is a dead import
            self._lock_fd = os.open(_lock_path(root, self.import_id), os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            self.state = "running"
            self._write_record()
        except BaseException:
            self.abort()
            raise

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def _write_record(self, files: Sequence[str] = ()) -> None:
        complete = self.state == "complete"
        record = {"format": "minescope-import", "version": 1, "id": self.import_id, "state": self.state,
                  "pid": os.getpid(), "host": socket.gethostname(), "started": self.started,
                  "finished": datetime.now(UTC).isoformat(timespec="seconds") if complete else None,
                  "partition": self.partition, "inputs": self.inputs, "files": list(files), "rows": self.rows}
        write_atomic(_record_path(self.root, self.import_id, running=not complete),
                     json.dumps(record, ensure_ascii=False, indent=1).encode() + b"\n")

    def claim(self, paths: Sequence[Path]) -> tuple[list[Path], list[tuple[Path, Text]]]:
        """The inputs this import takes, and those it leaves, with the reason: the same content was
        imported into this dataset before, is being imported by a running import, or was given twice."""
        identities = [(path, input_identity(path)) for path in paths]
        todo: list[Path] = []
        skipped: list[tuple[Path, Text]] = []
        with _dataset_lock(self.root):
            done, busy = self._other_imports()
            mine: dict[tuple[str, int], Path] = {}
            for path, ident in identities:
                key = (ident["sha256"], ident["bytes"])
                if key in done:
                    skipped.append((path, Text(
                        zh=f"{path}: 已导入过此数据集（导入 {done[key]}，内容相同），跳过",
                        en=f"{path}: already imported into this dataset (import {done[key]}, same content); "
                           "skipped")))
                elif key in busy:
                    skipped.append((path, Text(
                        zh=f"{path}: 正由另一个运行中的导入（{busy[key]}）导入，跳过",
                        en=f"{path}: being imported by another running import ({busy[key]}); skipped")))
                elif key in mine:
                    skipped.append((path, Text(zh=f"{path}: 与 {mine[key]} 内容相同，跳过",
                                               en=f"{path}: same content as {mine[key]}; skipped")))
                else:
                    mine[key] = path
                    todo.append(path)
                    self.inputs.append(ident)
            self._write_record()
        return todo, skipped

    def _other_imports(self) -> tuple[dict[tuple[str, int], str], dict[tuple[str, int], str]]:
        """The inputs of the dataset's complete imports, and of its other running ones, by content."""
        done: dict[tuple[str, int], str] = {}
        busy: dict[tuple[str, int], str] = {}
        for import_id, state in import_states(self.root).items():
            if import_id == self.import_id:
                continue
            complete = state == "complete"
            try:
                record = read_record(_record_path(self.root, import_id, running=not complete))
            except InputError:
                if not complete and not _record_path(self.root, import_id, running=True).exists():
                    continue  # completed or rolled back meanwhile
                raise
            for ident in record.get("inputs") or ():
                if isinstance(ident, dict) and "sha256" in ident:
                    (done if complete else busy)[(str(ident["sha256"]), int(ident.get("bytes", -1)))] = import_id
        return done, busy

    def write(self, table: str, batch: pa.RecordBatch | pa.Table) -> None:
        if not batch.num_rows:
            return
        data = (batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])).cast(TABLES[table])
        keys = self._keys(data["ts"])
        for key in pc.unique(keys).to_pylist():
            part = data.filter(pc.equal(keys, key))
            self._writer(table, key).write_table(part, row_group_size=ROW_GROUP_ROWS)
            self.rows[table] = self.rows.get(table, 0) + part.num_rows
        if not self._written:
            self._written = True
            failpoint("dataset.written")  # the fault tests stop the import here, its first rows written

    def _keys(self, ts: pa.ChunkedArray) -> pa.Array:
        fmt = "day=%Y-%m-%d/hour=%H" if self.partition == "hour" else "day=%Y-%m-%d"
        default = (f"day={DEFAULT_PARTITION}/hour={DEFAULT_PARTITION}" if self.partition == "hour"
                   else f"day={DEFAULT_PARTITION}")
        return pc.fill_null(pc.strftime(ts.combine_chunks(), format=fmt, locale="C"), default)

    def _writer(self, table: str, key: str) -> pq.ParquetWriter:
        if self.state != "running":
            raise RuntimeError(f"import {self.import_id} is {self.state}: nothing more can be written")
        writer = self.writers.get((table, key))
        if writer is not None:
            self.writers.move_to_end((table, key))
            return writer
        if len(self.writers) >= MAX_OPEN_FILES:
            _, oldest = self.writers.popitem(last=False)
            self._finish_file(oldest)
        folder = self.root / table / key
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"part-{self.import_id}-{self.serial:05d}.parquet"
        self.serial += 1
        self.paths.append(path)
        writer = pq.ParquetWriter(_unfinished(path), TABLES[table], compression="zstd")
        self.writers[(table, key)] = writer
        return writer

    @staticmethod
    def _finish_file(writer: pq.ParquetWriter) -> None:
        writer.close()
        _fsync_file(Path(writer.where))

    def close(self) -> None:
        """Publish the import: every file on disk (fsync), renamed into place, then the record complete.
        An import that took no input and wrote nothing leaves no record."""
        if self.state != "running":
            return
        try:
            while self.writers:
                _, writer = self.writers.popitem(last=False)
                self._finish_file(writer)
        except BaseException:
            self.abort()
            raise
        if not self.paths and not self.inputs:
            self.abort()
            return
        with _signals_deferred():
            try:
                folders: set[Path] = set()
                for n, path in enumerate(self.paths):
                    os.replace(_unfinished(path), path)
                    if n == 0:
                        failpoint("dataset.publish")  # the fault tests stop it here, one file published
                    folders.update(p for p in path.parents if p.is_relative_to(self.root))
                for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
                    _fsync_dir(folder)  # the new names, and new partition folders, survive a power cut
                self.state = "complete"
                self._write_record([p.relative_to(self.root).as_posix() for p in self.paths])
            except BaseException:
                if self.state == "complete":  # the record was not written: not complete after all
                    self.state = "running"
                self.abort()
                raise
            with contextlib.suppress(OSError):  # complete already; a leftover running record is tidied later
                _record_path(self.root, self.import_id, running=True).unlink()
                _lock_path(self.root, self.import_id).unlink()
                _fsync_dir(self.root / IMPORTS)
            self._release()

    def abort(self) -> bool:
        """Remove what this import wrote, and its record, unless it completed; True when nothing of it
        remains. What cannot be removed (a failing disk) is rolled back by the next import or ``repair``."""
        if self.state == "complete":
            return False
        for writer in self.writers.values():
            with contextlib.suppress(Exception):  # the write's own error is the one to tell
                writer.close()
        self.writers.clear()
        clean = True
        try:
            _remove_files(self.root, [q for p in self.paths for q in (_unfinished(p), p)])
            _record_path(self.root, self.import_id, running=True).unlink(missing_ok=True)
            _lock_path(self.root, self.import_id).unlink(missing_ok=True)
        except OSError:
            clean = False
        self.state = "aborted"
        self._release()
        return clean

    def _release(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None


def _unfinished(path: Path) -> Path:
    """The hidden name a file is written under until its import is published."""
    return path.with_name(f".{path.name}.tmp")


def readable(files: list[DatasetFile]) -> tuple[list[DatasetFile], list[tuple[DatasetFile, Text]]]:
    """The files whose footer reads and whose columns are the table's (timestamps in any unit), and
    the others with the reason, so one bad file is reported and skipped, not the whole scan lost."""
    good: list[DatasetFile] = []
    bad: list[tuple[DatasetFile, Text]] = []
    for f in files:
        why = _unreadable(f.path, f.table)
        if why is None:
            good.append(f)
        else:
            bad.append((f, Text(zh=f"{f.path}: {why.zh}，已跳过；minescope flows repair 可将其隔离",
                                en=f"{f.path}: {why.en}; skipped (minescope flows repair quarantines it)")))
    return good, bad


def _unreadable(path: Path, table: str) -> Text | None:
    """Why a dataset file cannot be scanned (its footer, or its columns), or None when it can."""
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as e:
        reason = str(e).splitlines()[0][:160]
        return Text(zh=f"不是可读的 Parquet 文件（{reason}）", en=f"not a readable Parquet file ({reason})")
    wrong = [field.name for field in TABLES[table]
             if field.name not in schema.names or not _same_type(schema.field(field.name).type, field.type)]
    if wrong:
        return Text(zh=f"列与 {table} 表不符（{', '.join(wrong)}）",
                    en=f"columns differ from the {table} table ({', '.join(wrong)})")
    return None


def _same_type(found: pa.DataType, wanted: pa.DataType) -> bool:
    if pa.types.is_timestamp(wanted):
        return pa.types.is_timestamp(found)
    return found == wanted


# --- repair -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Repaired:
    """One thing ``repair`` did or found: ``rolled_back``, ``quarantined``, ``running`` (left alone) or
    ``failed`` (could not be moved)."""

    action: str
    text: Text


@dataclass
class RepairReport:
    items: list[Repaired]
    checked: int  # finished Parquet files looked at
    quarantine: Path | None  # where this run moved files, if it moved any


def repair(root: Path) -> RepairReport:
    """Make a dataset hold only whole imports, moving aside (never deleting) what a person may want.

    - imports left ``running`` by a process that no longer runs are rolled back (``recover``);
    - unfinished files (hidden ``.part-….tmp`` names) of no running import are quarantined;
    - a finished file its complete import's record does not list is quarantined;
    - a Parquet file that does not open, or whose columns are not its table's, is quarantined, and
      with it every file of the same unrecorded import (written before import records were kept, by
      an older minescope killed mid-import): its rows are partial, and importing again would
      duplicate the rest;
    - the files of imports still running are left alone.
    Quarantined files go to ``_quarantine/<when>/`` under their path in the dataset."""
    if not is_dataset(root):
        raise InputError(f"{root}: 不是流日志数据集（没有 {MARKER}，也没有 flows/ 或 dns/ 分区）",
                         f"{root}: not a flow dataset (no {MARKER}, and no flows/ or dns/ partitions)")
    items = [Repaired("rolled_back", line) for line in recover(root)]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    quarantine = root / QUARANTINE / stamp
    moved = False

    def move(path: Path, why: Text) -> None:
        nonlocal moved
        rel = path.relative_to(root)
        target = quarantine / rel
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            moved = True
            items.append(Repaired("quarantined", Text(zh=f"{path}: {why.zh}；已隔离到 {target}",
                                                      en=f"{path}: {why.en}; quarantined to {target}")))
        except OSError as e:
            reason = e.strerror or str(e)
            items.append(Repaired("failed", Text(zh=f"{path}: {why.zh}；但无法移到 {target}（{reason}）",
                                                 en=f"{path}: {why.en}; but it cannot be moved to {target} "
                                                    f"({reason})")))

    running: dict[str, bool] = {}

    def still_running(import_id: str | None) -> bool:
        """Whether the import is running now (asked at the moment of the decision: it may have begun
        since the repair did)."""
        if import_id is None:
            return False
        if running.get(import_id):
            return True
        if import_states(root).get(import_id) != "running":
            return False
        with _owner_gone(root, import_id) as gone:
            running[import_id] = not gone
        return not gone

    for import_id, state in sorted(import_states(root).items()):
        if state == "running" and still_running(import_id):
            items.append(Repaired("running", Text(
                zh=f"{root}: 导入 {import_id} 仍在运行，其文件未动", en=f"{root}: the import {import_id} is still "
                                                                 "running; its files are left alone")))
    records: dict[str, dict[str, Any] | None] = {}

    def record_of(import_id: str) -> dict[str, Any] | None:
        """The complete import's record (None: the import has no complete record)."""
        if import_id not in records:
            path = _record_path(root, import_id, running=False)
            try:
                records[import_id] = read_record(path) if path.exists() else None
            except InputError:
                move(path, Text(zh="导入记录无法读取", en="the import record cannot be read"))
                records[import_id] = None
        return records[import_id]

    checked = 0
    unrecorded: dict[str, list[Path]] = {}  # import id → its readable finished files
    torn_imports: set[str] = set()
    for path in list(_table_files(root)):
        name, table = path.name, path.relative_to(root).parts[0]
        if (m := UNFINISHED.fullmatch(name)) is not None:
            if not still_running(m.group("id")):
                move(path, Text(zh="未完成的文件，其导入已不在运行", en="an unfinished file of an import no longer "
                                                                "running"))
            continue
        if name.startswith((".", "_")) or not name.endswith(".parquet"):
            continue  # other tools' own files (_SUCCESS, .crc)
        owner = _import_of(name)
        if still_running(owner):
            continue
        checked += 1
        record = record_of(owner) if owner is not None else None
        rel = path.relative_to(root).as_posix()
        if record is not None and rel not in (record.get("files") or ()):
            move(path, Text(zh=f"不在其导入 {owner} 的记录中", en=f"not in the record of its import {owner}"))
            continue
        why = _unreadable(path, table)
        if why is not None:
            move(path, why)
            if owner is not None and record is None:
                torn_imports.add(owner)
        elif owner is not None and record is None:
            unrecorded.setdefault(owner, []).append(path)
    for import_id in sorted(torn_imports):
        for path in unrecorded.get(import_id, []):
            move(path, Text(zh=f"同一导入 {import_id} 有文件损坏（未记录的中断导入），其余行不完整",
                            en=f"another file of its import {import_id} is torn (an unrecorded, interrupted "
                               "import): its rows are partial"))
    return RepairReport(items, checked, quarantine if moved else None)


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

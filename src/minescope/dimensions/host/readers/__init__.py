"""Readers of the host dimension: endpoint logs → the host tables (``tables.TABLES``).

    log = HostLogInput(path)            # or HostLogInput(path, fmt="evtx")
    for table, batch in log:            # table: "processes", "connections", "files" or "persistence"
        ...
    log.report                          # rows per table, records skipped, problems (zh/en)
    log.events                          # records read per source event ("sysmon:1": 511, …), kept or not

One module per format: ``evtx`` (Windows event logs), ``winjson`` (Sysmon/Security events as JSON:
Winlogbeat, flattened lines, rendered EVTX), ``auditd`` (Linux audit logs), ``osquery`` (result logs);
``host_check`` (reports of ``minescope host check``);
``windows_fields`` is the one map of Sysmon/Security fields the Windows readers share; ``detect`` tells
the format by content.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from minescope.dimensions.host.readers.auditd import read_auditd
from minescope.dimensions.host.readers.detect import detect_host_format
from minescope.dimensions.host.readers.evtx import read_evtx
from minescope.dimensions.host.readers.host_check import read_host_check
from minescope.dimensions.host.readers.osquery import read_osquery
from minescope.dimensions.host.readers.winjson import read_winjson
from minescope.dimensions.host.tables import TABLES
from minescope.dimensions.network.tables import BATCH_ROWS
from minescope.readers.mapped import Mapping, MappingSpec, read_mapped
from minescope.readers.report import InputReport

Reader = Callable[..., Iterator[tuple[str, pa.RecordBatch]]]


def read_host_mapped(path: Path, report: InputReport, batch_rows: int, events: Counter[str],
                     mapping: Mapping | MappingSpec | str | Path | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Any CSV, Parquet or JSON-lines export (EDR, SIEM) through a column mapping into a host table."""
    for table, batch in read_mapped(path, report, mapping, batch_rows):
        if table not in TABLES:
            report.fail(f"映射的表 {table} 不是终端表（{', '.join(TABLES)}）",
                        f"the mapping's table {table} is no host table ({', '.join(TABLES)})")
            return
        events[f"mapped:{table}"] += batch.num_rows
        yield table, batch


# format → (reader, what it is, zh / en)
FORMATS: dict[str, tuple[Reader, str, str]] = {
    "evtx": (read_evtx, "Windows 事件日志（.evtx）", "Windows event log (.evtx)"),
    "sysmon-json": (read_winjson, "Sysmon/Windows 事件 JSON（Winlogbeat、扁平 JSON 行、EVTX 渲染）",
                    "Sysmon/Windows events as JSON (Winlogbeat, flattened lines, rendered EVTX)"),
    "auditd": (read_auditd, "Linux auditd 审计日志", "Linux auditd log"),
    "osquery": (read_osquery, "osquery 结果日志", "osquery result log"),
    "host-check": (read_host_check, "minescope host check 报告", "minescope host check report"),
    "mapped": (read_host_mapped, "按列映射读取的 CSV、Parquet 或 JSON 行",
               "CSV, Parquet or JSON lines through a column mapping"),
}

__all__ = [
    "FORMATS",
    "HostLog",
    "HostLogInput",
    "detect_host_format",
    "read_auditd",
    "read_evtx",
    "read_host_check",
    "read_host_log",
    "read_host_mapped",
    "read_osquery",
    "read_winjson",
]


class HostLogInput:
    """One endpoint-log file: iterate for (table, batch) pairs; ``report`` tells how it went and
    ``events`` how many records of each source event were read."""

    def __init__(self, path: Path | str, fmt: str | None = None, *, batch_rows: int = BATCH_ROWS,
                 mapping: Mapping | MappingSpec | str | Path | None = None) -> None:
        self.path = Path(path)
        self.fmt = fmt or ("mapped" if mapping is not None else None)
        self.mapping = mapping
        self.batch_rows = batch_rows
        self.report = InputReport(str(path))
        self.events: Counter[str] = Counter()

    def __iter__(self) -> Iterator[tuple[str, pa.RecordBatch]]:
        report = self.report
        if not report.is_file(self.path):
            return
        fmt = self.fmt or detect_host_format(self.path)
        if fmt is None:
            report.fail("无法识别的终端日志格式（支持 EVTX、Sysmon/Winlogbeat JSON、auditd、osquery）；"
                        "其他导出请用 --mapping 给出列映射",
                        "unrecognised endpoint-log format (EVTX, Sysmon/Winlogbeat JSON, auditd and osquery are "
                        "read); for another export give a column mapping with --mapping")
            return
        entry = FORMATS.get(fmt)
        if entry is None:
            report.fail(f"未知格式 {fmt}（可用：{', '.join(FORMATS)}）",
                        f"unknown format {fmt} (one of: {', '.join(FORMATS)})")
            return
        report.format = fmt
        if fmt == "mapped":
            yield from read_host_mapped(self.path, report, self.batch_rows, self.events, self.mapping)
        else:
            yield from entry[0](self.path, report, self.batch_rows, self.events)


@dataclass
class HostLog:
    """A whole endpoint log in memory (small files, tests): one Arrow table per host table, all present."""

    tables: dict[str, pa.Table]
    report: InputReport
    events: Counter[str]

    def __getitem__(self, table: str) -> pa.Table:
        return self.tables[table]


def read_host_log(path: Path | str, fmt: str | None = None, **options: Any) -> HostLog:
    """Read a whole endpoint log into tables (every table of ``TABLES``; empty when absent)."""
    log = HostLogInput(path, fmt, **options)
    got: dict[str, list[pa.RecordBatch]] = {name: [] for name in TABLES}
    for table, batch in log:
        got[table].append(batch)
    tables = {name: pa.Table.from_batches(batches, schema=TABLES[name]) for name, batches in got.items()}
    return HostLog(tables, log.report, log.events)

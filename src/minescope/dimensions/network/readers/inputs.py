"""One entry point for every flow-log format: recognise the file by content, read it in batches.

    log = FlowLogInput(path)                # or FlowLogInput(path, fmt="zeek", mapping=...)
    for table, batch in log:                # table: "flows", "dns", "alerts" or "tls" (fingerprints)
        ...                                 # batches of at most batch_rows rows (small ones coalesced)
    log.report                              # rows per table, lines skipped, problems (zh/en)

``detect_format`` tells a flow log's format from its first bytes (never from its name alone); a
packet capture that is not NetFlow/IPFIX export traffic is ``capture``: it belongs to the packet
engine (``minescope scan``), not here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from minescope.dimensions.network import PLUGIN
from minescope.dimensions.network.readers import netflow, nfdump, suricata, zeek
from minescope.dimensions.network.tables import BATCH_ROWS, TABLES, TLS
from minescope.readers.mapped import Mapping, MappingSpec, read_mapped
from minescope.readers.report import InputReport
from minescope.readers.textio import head

PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x0a\x0d\x0d\x0a")
NFCAPD_MAGIC = b"\x0c\xa5"  # 0xA50C, little-endian

# format name → what it is (for help texts and messages)
# Flow-log formats (the network plugin's readers of the flows/dns/alerts tables), and those picked up
# when a directory is walked (by content; CSV/Parquet need a column mapping: name those files).
FORMATS = {r.format: r.doc for r in PLUGIN.readers if "alerts" in r.tables}
DIR_LOG_FORMATS = frozenset(f for f in FORMATS if next(r for r in PLUGIN.readers if r.format == f).in_directories)

Batches = Iterator[tuple[str, pa.RecordBatch]]


def detect_format(path: Path) -> str | None:
    """The format of a file by its content: a key of ``FORMATS``, ``capture`` for a packet
    capture of ordinary traffic, or None when it is none of these (or empty/unreadable)."""
    data = head(path)
    if not data:
        return None
    if data[:4] in PCAP_MAGICS:
        return "netflow-pcap" if netflow.is_export_capture(path) else "capture"
    if data[:2] == NFCAPD_MAGIC:
        return "nfcapd"
    if data[:4] == b"PAR1":
        return "parquet"
    if netflow._plausible(data, 0, len(data)):
        return "netflow"
    text = data.decode("utf-8", "replace").lstrip("\ufeff")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    if any(line.startswith(("#separator", "#fields")) for line in lines[:12]):
        return "zeek"
    first = lines[0]
    if first.startswith("{"):
        for line in lines:  # the first JSON object (in the first 8 KiB) that parses tells
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict) and "event_type" in obj:
                return "suricata"
            if isinstance(obj, dict) and ("_path" in obj or "uid" in obj or "id.orig_h" in obj):
                return "zeek"
        return None
    if nfdump.is_nfdump_header(first):
        return "nfdump-csv"
    if "," in first or "\t" in first or ";" in first:
        return "csv"
    return None


class FlowLogInput:
    """One flow-log file: iterate for (table, batch) pairs; ``report`` tells how it went."""

    def __init__(self, path: Path | str, fmt: str | None = None, *,
                 mapping: Mapping | MappingSpec | str | Path | None = None, batch_rows: int = BATCH_ROWS,
                 tz: str | None = None, zeek_kind: str | None = None,
                 export_ports: frozenset[int] = netflow.EXPORT_PORTS) -> None:
        self.path = Path(path)
        self.fmt = fmt
        self.mapping = mapping
        self.batch_rows = batch_rows
        self.tz = tz
        self.zeek_kind = zeek_kind
        self.export_ports = export_ports
        self.report = InputReport(str(path))

    def __iter__(self) -> Batches:
        report = self.report
        if not report.is_file(self.path):
            return
        fmt = self.fmt or detect_format(self.path)
        if fmt is None:
            report.fail("无法识别的流日志格式（支持 NetFlow/IPFIX、nfdump、Zeek、Suricata EVE、CSV/Parquet）；"
                        "可用 --format 指定",
                        "unrecognised flow-log format (NetFlow/IPFIX, nfdump, Zeek, Suricata EVE, CSV/Parquet "
                        "are read); name it with --format")
            return
        if fmt == "capture":
            report.format = "capture"
            report.fail("这是普通流量的抓包文件，不是流日志；请作为抓包扫描（minescope scan）",
                        "this is a capture of ordinary traffic, not a flow log: scan it as a capture (minescope scan)")
            return
        reader = self._readers().get(fmt)
        if reader is None:
            report.fail(f"未知格式 {fmt}（可用：{', '.join(FORMATS)}）",
                        f"unknown format {fmt} (one of: {', '.join(FORMATS)})")
            return
        report.format = fmt
        yield from coalesce(reader(), self.batch_rows)

    def _readers(self) -> dict[str, Callable[[], Batches]]:
        p, r, n = self.path, self.report, self.batch_rows

        def flows(batches: Iterable[pa.RecordBatch]) -> Batches:
            return (("flows", b) for b in batches)

        return {
            "netflow": lambda: flows(netflow.read_export_stream(p, r, n)),
            "netflow-pcap": lambda: flows(netflow.read_export_capture(p, r, n, self.export_ports)),
            "nfdump-csv": lambda: flows(nfdump.read_nfdump_csv(p, r, n, self.tz)),
            "nfcapd": lambda: flows(nfdump.read_nfcapd(p, r, n)),
            "zeek": lambda: zeek.read_zeek(p, r, n, self.zeek_kind),
            "suricata": lambda: suricata.read_eve(p, r, n),
            "csv": lambda: read_mapped(p, r, self.mapping, n),
            "parquet": lambda: read_mapped(p, r, self.mapping, n),
        }


COALESCE_BYTES = 64 << 20  # a table's rows held back at most (besides the row threshold)


def coalesce(batches: Iterable[tuple[str, pa.RecordBatch]], rows: int = BATCH_ROWS,
             max_bytes: int = COALESCE_BYTES) -> Batches:
    """The same rows per table, in the same order, in batches of ``rows`` rows (the last of each
    table, and any cut short by ``max_bytes`` or by a change of schema, smaller); empty batches are
    dropped. Readers flush small batches when an exporter redefines a template or a log changes
    header; each batch costs its consumer (an engine append, a Parquet row group) a fixed price, so
    without this the cost of a file would follow its flushes rather than its bytes. Memory: at most
    about ``rows`` rows or ``max_bytes`` per table."""
    rows = max(rows, 1)
    held: dict[str, list[pa.RecordBatch]] = {}
    counts: dict[str, list[int]] = {}  # table → [rows held, bytes held]

    def release(table: str, whole: bool) -> Batches:
        parts = held.pop(table, [])
        counts.pop(table, None)
        if not parts:
            return
        merged = parts[0] if len(parts) == 1 else pa.concat_batches(parts)
        start = 0
        while merged.num_rows - start >= rows:
            yield table, merged.slice(start, rows)
            start += rows
        if start < merged.num_rows:
            rest = merged.slice(start)
            if whole:
                yield table, rest
            else:
                held[table] = [rest]
                counts[table] = [rest.num_rows, rest.nbytes]

    for table, batch in batches:
        if not batch.num_rows:
            continue
        parts = held.get(table)
        if parts and parts[0].schema != batch.schema:
            yield from release(table, whole=True)
        held.setdefault(table, []).append(batch)
        count = counts.setdefault(table, [0, 0])
        count[0] += batch.num_rows
        count[1] += batch.nbytes
        if count[1] >= max_bytes:
            yield from release(table, whole=True)
        elif count[0] >= rows:
            yield from release(table, whole=False)
    for table in list(held):
        yield from release(table, whole=True)


@dataclass
class FlowLog:
    """A whole flow log in memory (small files, tests): one Arrow table per kind, all present."""

    tables: dict[str, pa.Table]
    report: InputReport

    def __getitem__(self, table: str) -> pa.Table:
        return self.tables[table]


def read_flow_log(path: Path | str, fmt: str | None = None, **options: Any) -> FlowLog:
    """Read a whole flow log into tables (``flows``, ``dns``, ``alerts``, ``tls``; empty when absent)."""
    log = FlowLogInput(path, fmt, **options)
    schemas = {**TABLES, "tls": TLS}
    got: dict[str, list[pa.RecordBatch]] = {name: [] for name in schemas}
    for table, batch in log:
        got[table].append(batch)
    tables = {name: pa.Table.from_batches(batches, schema=schemas[name]) for name, batches in got.items()}
    return FlowLog(tables, log.report)


def iter_batches(paths: Iterable[Path | str], fmt: str | None = None,
                 **options: Any) -> Iterator[tuple[InputReport, str, pa.RecordBatch]]:
    """Batches of many inputs in turn, each with its input's report (complete once the input's
    last batch has been yielded; an input without rows yields nothing but still has a report:
    use ``FlowLogInput`` directly to see every report)."""
    for path in paths:
        log = FlowLogInput(path, fmt, **options)
        for table, batch in log:
            yield log.report, table, batch

"""Windows event log files (``.evtx``), read with the PyPI ``evtx`` parser (pyevtx-rs, MIT): a maintained
Rust implementation of the format (Microsoft's "EVTX" binary XML, documented by libyal:
https://github.com/libyal/libevtx/blob/main/documentation/Windows%20XML%20Event%20Log%20(EVTX).asciidoc),
shipped as wheels (no native build), that renders each record as JSON a few thousand records a second.

Each record is the same JSON as SigmaHQ's rendered regression data, so both go through
``windows_fields.add_rendered``: Sysmon 1/3/6/7/11/13/22 and Security 4688 become rows; other events are
counted in ``HostRows.events``. A record the parser cannot decode is skipped; all such records are
told in one problem line. A file cut short (fewer 64 KiB chunks than its header announces) is read to
where it ends and said once.
"""

from __future__ import annotations

import struct
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from minescope.dimensions.host.readers.rows import Batches, HostRows
from minescope.dimensions.host.readers.windows_fields import add_rendered
from minescope.dimensions.network.tables import BATCH_ROWS
from minescope.readers.report import InputReport

MAGIC = b"ElfFile\x00"
HEADER_BYTES = 4096
CHUNK_BYTES = 65536


def read_evtx(path: Path, report: InputReport, batch_rows: int = BATCH_ROWS,
              events: Counter[str] | None = None) -> Batches:
    """Rows of an EVTX file as (table name, batch); ``events`` counts every record by event."""
    from evtx import PyEvtxParser  # the parser is only needed for EVTX input

    report.format = report.format or "evtx"
    try:
        with open(path, "rb") as f:
            header = f.read(HEADER_BYTES)
            size = f.seek(0, 2)
    except OSError as e:
        report.fail(f"无法读取（{e.strerror or e}）；请检查路径和权限",
                    f"cannot read ({e.strerror or e}); check the path and permissions")
        return
    if header[:8] != MAGIC:
        report.fail("不是 Windows 事件日志（.evtx）：文件开头没有 ElfFile 标记；请给出原始 .evtx 文件，"
                    "或去掉 --format 让格式按内容识别",
                    "not a Windows event log (.evtx): the file does not start with the ElfFile signature; "
                    "give the original .evtx file, or leave out --format so that the format is recognised "
                    "by content")
        return
    rows = HostRows("evtx", report, batch_rows, events)
    bad, first = 0, ""
    try:
        parser = PyEvtxParser(str(path))
    except (OSError, RuntimeError, ValueError) as e:
        report.fail(f"EVTX 文件头无法解析（{e}）；文件可能已损坏，请重新导出（wevtutil epl）",
                    f"the EVTX file header cannot be parsed ({e}); the file may be damaged: export it again "
                    "(wevtutil epl)")
        return
    records = parser.records_json()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        while True:
            try:
                record: dict[str, Any] | None = next(records)
            except StopIteration:
                break
            except (RuntimeError, OSError, ValueError) as e:  # one damaged record: the parser goes on
                bad += 1
                first = first or str(e).splitlines()[0][:160]
                continue
            if record is None:
                break
            try:
                yield from add_rendered(rows, orjson.loads(record["data"]))
            except Exception as e:
                bad += 1
                first = first or f"record {record.get('event_record_id')}: {e}"[:160]
    yield from rows.flush()
    if bad:
        report.records(bad, f"EVTX 记录无法解析（第一处：{first}）",
                       f"EVTX records that cannot be parsed (first: {first})")
    chunks = struct.unpack_from("<H", header, 42)[0] if len(header) >= 44 else 0
    if size < HEADER_BYTES + chunks * CHUNK_BYTES:
        report.fail(f"文件在第 {size} 字节处截断（文件头记有 {chunks} 个 64 KiB 块）；之前的事件已读取，"
                    "请复制或导出完整的文件",
                    f"the file is cut short at byte {size} (its header announces {chunks} chunks of 64 KiB); "
                    "the events before that were read: copy or export the whole file")

"""Reports of ``minescope host check`` (``dimensions.host.check``): one JSON object per checked machine, its
rows already in the host tables' columns, read into batches of those tables. A fleet's reports are a folder
of such files; each is read whole (a report is written whole or not at all).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from minescope.dimensions.host.check import FORMAT
from minescope.dimensions.host.readers.rows import Batches, HostRows
from minescope.dimensions.host.tables import TABLES
from minescope.dimensions.network.tables import BATCH_ROWS
from minescope.readers.report import InputReport

MAX_REPORT_BYTES = 512 * 1024 * 1024


def is_host_check(head: bytes) -> bool:
    """Whether a file's first bytes are a host-check report's (its ``format`` key comes first)."""
    return head.lstrip()[:1] == b"{" and f'"format": "{FORMAT}"'.encode() in head[:200]


def read_host_check(path: Path, report: InputReport, batch_rows: int = BATCH_ROWS,
                    events: Counter[str] | None = None) -> Batches:
    """The report's rows, table by table; a report of a newer version or a broken one is one problem line."""
    report.format = "host-check"
    try:
        if path.stat().st_size > MAX_REPORT_BYTES:
            raise ValueError("too large")
        data: dict[str, Any] = json.loads(path.read_bytes())
    except (OSError, ValueError) as e:
        report.error = _problem(report, "无法读取主机检查报告（{e}）；请重新运行 minescope host check",
                                "cannot read the host-check report ({e}); run minescope host check again", e)
        return
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("tables"), dict):
        report.error = _problem(report, "不是主机检查报告", "not a host-check report", None)
        return
    rows = HostRows("host_check", report, batch_rows, events)
    for table, records in data["tables"].items():
        if table not in TABLES or not isinstance(records, list):
            report.records(len(records) if isinstance(records, list) else 1,
                           f"未知的表 {str(table)[:40]}", f"unknown table {str(table)[:40]}")
            continue
        columns = set(TABLES[table].names)
        for record in records:
            if not isinstance(record, dict) or not isinstance(record.get("ts"), int | float):
                report.records(1, f"{table} 中的记录无效", f"a bad record in {table}")
                continue
            rows.events[str(record.get("event") or table)] += 1
            yield from rows.add(table, {k: v for k, v in record.items() if k in columns})
    yield from rows.flush()


def _problem(report: InputReport, zh: str, en: str, e: Exception | None) -> Any:
    from minescope.model import Text

    why = str(e)[:120] if e is not None else ""
    return Text(zh=f"{report.input}：{zh.format(e=why)}", en=f"{report.input}: {en.format(e=why)}")

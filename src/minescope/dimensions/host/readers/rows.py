"""Rows of the host tables gathered for one input, handed out as Arrow batches.

Every host reader maps a record to one row of one table (``tables.TABLES``) with plain Python values
(``ts`` as float epoch seconds) and adds it here; the network dimension's ``Columns`` turns each table's
rows into a RecordBatch once ``batch_rows`` are held, so conversion is Arrow's, a column at a time.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from minescope.dimensions.host.tables import TABLES
from minescope.dimensions.network.tables import BATCH_ROWS, Columns
from minescope.readers.report import InputReport
from minescope.readers.values import MAX_EPOCH_S, MIN_EPOCH_S

Batches = Iterator[tuple[str, pa.RecordBatch]]
_SEP = re.compile(r"[\\/]")
INT64 = 1 << 63


class HostRows:
    """One ``Columns`` per host table for one input (``source``, ``input`` constant), and ``events``:
    how many records of each source event (``sysmon:1``, ``security:5156``, ``auditd:execve`` …) were
    read, kept or not."""

    def __init__(self, source: str, report: InputReport, batch_rows: int = BATCH_ROWS,
                 events: Counter[str] | None = None) -> None:
        self.report = report
        self.events: Counter[str] = events if events is not None else Counter()
        self.cols = {name: Columns(schema, batch_rows, source=source, input=report.input)
                     for name, schema in TABLES.items()}

    def add(self, table: str, values: dict[str, Any]) -> list[tuple[str, pa.RecordBatch]]:
        """Add a row; gives the table's batch when it is full (else nothing)."""
        cols = self.cols[table]
        ts = values.get("ts")
        if ts is not None and not MIN_EPOCH_S <= ts <= MAX_EPOCH_S:  # no time a row can hold: null
            values["ts"] = None
        cols.add(**values)
        return list(self._take(table)) if cols.full else []

    def flush(self) -> Batches:
        """The rows still held, a batch per table."""
        for table in self.cols:
            yield from self._take(table)

    def _take(self, table: str) -> Batches:
        cols = self.cols[table]
        if cols.rows:
            batch = cols.take()
            self.report.count(table, batch.num_rows)
            yield table, batch


def text(value: Any) -> str | None:
    """A field's text as logged; None for absent, empty and the ``-`` Windows writes for none."""
    if value is None:
        return None
    if not isinstance(value, str):
        if isinstance(value, dict | list):
            return None
        value = str(value)
    return None if value in ("", "-") else value


def integer(value: Any) -> int | None:
    """An integer field: a number, decimal text, or hexadecimal text (``0x1a2b``, Security events'
    process ids); None when it is none of these (a bad id nulls the field, not the record)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if -INT64 <= value < INT64 else None
    if isinstance(value, float):
        return int(value) if value.is_integer() and -INT64 <= value < INT64 else None
    t = str(value).strip()
    try:
        n = int(t, 16) if t[:2].lower() == "0x" else int(t)
    except ValueError:
        return None
    return n if -INT64 <= n < INT64 else None


def port(value: Any) -> int | None:
    """A port number (0–65535), or None."""
    n = integer(value)
    return n if n is not None and 0 <= n <= 65535 else None


def file_name(path: str | None) -> str | None:
    """The last part of a Windows or Unix path, lower-case (``C:\\x\\XMRig.exe`` → ``xmrig.exe``)."""
    if not path:
        return None
    return _SEP.split(path.rstrip("\\/"))[-1].lower() or None

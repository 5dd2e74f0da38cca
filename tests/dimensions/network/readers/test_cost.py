"""Bounded cost per input byte (issue 11): template churn and empty lines cannot turn a small file
into minutes. Cost is asserted through counters (batches appended, lines handed over), never times."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from helpers import write_empty_lines_zeek, write_v9_template_churn
from minescope.dimensions.network.readers import inputs, netflow
from minescope.dimensions.network.readers.inputs import FlowLogInput, coalesce, read_flow_log
from minescope.engines.sql import DuckDBEngine
from minescope.pipeline import Scanner
from minescope.readers.report import InputReport
from minescope.readers.textio import lines

PACKETS = 600
SCANNED = 300  # the un-coalesced scan appends one batch per packet


def test_template_churn_reaches_consumers_in_few_batches(tmp_path: Path) -> None:
    path = write_v9_template_churn(tmp_path / "churn.nf", PACKETS)
    raw = list(netflow.read_export_stream(path, InputReport(str(path)), 100))
    assert len(raw) == PACKETS  # the decoder flushes a one-row batch per redefined template
    log = FlowLogInput(path, batch_rows=100)
    got = list(log)
    assert len(got) <= PACKETS // 100 + 1 and all(b.num_rows <= 100 for _, b in got)
    assert pa.Table.from_batches([b for _, b in got]).equals(pa.Table.from_batches(raw))
    assert log.report.rows == {"flows": PACKETS} and not log.report.problems


def test_scan_appends_few_batches_and_finds_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_v9_template_churn(tmp_path / "churn.nf", SCANNED)
    appended: list[int] = []
    append = DuckDBEngine.append

    def counted(self: DuckDBEngine, table: str, batch: pa.RecordBatch | pa.Table) -> None:
        appended.append(batch.num_rows)
        append(self, table, batch)

    monkeypatch.setattr(DuckDBEngine, "append", counted)
    coalesced = Scanner().scan([path])
    assert sum(appended) == SCANNED and len(appended) <= SCANNED // 65536 + 3  # rows/threshold + tables
    monkeypatch.setattr(inputs, "coalesce", lambda batches, rows: batches)  # the path before coalescing
    appended.clear()
    plain = Scanner().scan([path])
    assert len(appended) == SCANNED
    assert [f.id for f in coalesced.findings] == [f.id for f in plain.findings]
    assert [(i.flows, i.first_seen, i.last_seen, i.problem) for i in coalesced.inputs] == \
        [(i.flows, i.first_seen, i.last_seen, i.problem) for i in plain.inputs]


def test_empty_lines_are_passed_over_in_bulk(tmp_path: Path) -> None:
    path = write_empty_lines_zeek(tmp_path / "conn.log.gz", 1_000_000)
    assert path.stat().st_size < 5000
    handed = list(lines(path, InputReport("e")))
    assert [n for n, _ in handed] == [1, 2, 3, 1_000_004]  # the header, then the one record
    log = read_flow_log(path)
    assert log["flows"].num_rows == 1 and not log.report.problems and log.report.error is None


def test_lines_keep_numbers_ends_and_long_line_reports(tmp_path: Path) -> None:
    long = b"x" * (1 << 20)
    path = tmp_path / "t.log"
    path.write_bytes(b"\xef\xbb\xbfa\r\n\n  \nb\n" + long + b"\nc\r\n" + long + b"zz")
    report = InputReport("t")
    assert list(lines(path, report)) == [(1, b"a"), (3, b"  "), (4, b"b"), (6, b"c")]
    said = f"line longer than {1 << 20} bytes, not a log line"
    assert [p.en.split(": ")[:2] for p in report.problems] == [["t, line 5", f"{said}; line skipped"],
                                                               ["t, line 7", f"{said}; line skipped"]]


def test_coalesce_keeps_order_per_table_drops_empty_and_bounds_size() -> None:
    def flows(start: int, n: int) -> pa.RecordBatch:
        return pa.RecordBatch.from_pydict({"src_port": list(range(start, start + n))})

    dns = pa.RecordBatch.from_pydict({"q": ["a"]})
    batches = [("flows", flows(0, 3)), ("dns", dns), ("flows", flows(3, 0)), ("flows", flows(3, 4)),
               ("flows", flows(7, 1)), ("dns", dns.slice(0, 0))]
    out = list(coalesce(batches, rows=5))
    assert [(t, b.num_rows) for t, b in out] == [("flows", 5), ("dns", 1), ("flows", 3)]
    assert [v for t, b in out if t == "flows" for v in b.column(0).to_pylist()] == list(range(8))
    big = pa.RecordBatch.from_pydict({"s": ["x" * 1000] * 10})
    assert [b.num_rows for _, b in coalesce([("flows", big)] * 3, rows=1000, max_bytes=15_000)] == [20, 10]
    other = pa.RecordBatch.from_pydict({"src_port": pa.array([1], pa.int32())})
    assert [b.num_rows for _, b in coalesce([("flows", flows(0, 2)), ("flows", other)], rows=10)] == [2, 1]

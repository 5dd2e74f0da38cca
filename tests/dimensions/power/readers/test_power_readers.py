"""Grid exports into the power tables: a marketing system's wide daily rows of 96 quarter hours, its account file
with catalogue tariffs in Chinese, and readings with no meter number or interval, completed as the detector needs
them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from minescope.dimensions.power.readers import PowerInput, complete_readings
from minescope.dimensions.power.tables import READINGS


def _tables(export: PowerInput) -> dict[str, pa.Table]:
    got: dict[str, list[pa.RecordBatch]] = {}
    for table, batch in export:
        got.setdefault(table, []).append(batch)
    return {name: pa.Table.from_batches(b) for name, b in got.items()}


def test_wide_rows_of_96_quarter_hours_become_readings_of_900_seconds(tmp_path: Path) -> None:
    export = tmp_path / "日冻结.csv"
    head = ",".join(f"P{i}" for i in range(1, 97))
    export.write_text(f"电能表号,数据日期,{head}\n"
                      "3301001,2024-06-01," + ",".join(["0.25"] * 96) + "\n"
                      "3301001,2024-06-02," + ",".join(["0.25"] * 95 + [""]) + "\n", encoding="utf-8")
    got = _tables(PowerInput(export, {"table": "readings", "columns": {"meter": "电能表号", "ts": "数据日期"},
                                      "time": {"timezone": "Asia/Shanghai"}, "wide": {"columns": "P*"}}))
    readings = got["readings"]
    assert readings.num_rows == 96 + 95  # an empty interval is no reading
    assert set(readings.column("interval_s").to_pylist()) == {900}
    first = readings.column("ts")[0].as_py()
    assert first == datetime(2024, 5, 31, 16, 0, tzinfo=UTC)  # midnight in Beijing
    assert readings.column("ts")[95].as_py() == datetime(2024, 6, 1, 15, 45, tzinfo=UTC)


def test_catalogue_tariffs_in_chinese_are_known_and_an_unknown_one_is_other(tmp_path: Path) -> None:
    export = tmp_path / "用电户档案.csv"
    export.write_text("户号,用电类别,合同容量\nA1,居民生活用电,8\nA2,大工业用电,800\nA3,一般工商业,50\n"
                      "A4,农业生产用电,30\nA5,趸售,100\nA6,,10\n", encoding="utf-8")
    got = _tables(PowerInput(export, {"table": "accounts", "columns": {
        "account": "户号", "tariff": "用电类别", "contract_kva": "合同容量"}}))
    assert got["accounts"].column("tariff").to_pylist() == [
        "residential", "industrial", "commercial", "agricultural", "other", None]


def test_a_mapping_of_another_dimension_is_refused_in_one_line(tmp_path: Path) -> None:
    export = tmp_path / "x.csv"
    export.write_text("ts,host,command_line\n2024-01-01T00:00:00Z,h,ls\n")
    log = PowerInput(export, {"table": "processes", "columns": {"ts": "ts", "command_line": "command_line"}})
    assert _tables(log) == {}
    assert log.report.error is not None and "no power table" in log.report.error.en


def test_readings_without_meter_or_interval_are_completed() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    rows = ([{"meter": None, "account": "A1", "ts": datetime.fromtimestamp(t0 + i * 1800, UTC), "kwh": 0.1}
             for i in range(48)]
            + [{"meter": "M2", "account": None, "ts": datetime.fromtimestamp(t0 + i * 86400, UTC), "kwh": 10.0}
               for i in range(10) if i != 4]  # a missing day does not change the interval
            + [{"meter": "M3", "account": None, "ts": datetime.fromtimestamp(t0 + i * 900, UTC), "kwh": 0.1,
                "interval_s": 900} for i in range(4)])
    readings = pa.Table.from_pylist(rows, schema=READINGS)
    done = complete_readings(readings)
    by_meter = {(r["meter"], r["interval_s"]) for r in done.to_pylist()}
    assert by_meter == {("A1", 1800), ("M2", 86400), ("M3", 900)}


def test_an_empty_interval_is_not_told_as_a_bad_line_but_a_bad_value_is(tmp_path: Path) -> None:
    export = tmp_path / "wide.csv"
    export.write_text("meter,day,h1,h2\nM1,2024-06-01,1.0,\nM1,2024-06-02,x,2.0\n")
    log = PowerInput(export, {"table": "readings", "columns": {"meter": "meter", "ts": "day"},
                              "wide": {"columns": ["h1", "h2"]}})
    assert _tables(log)["readings"].column("kwh").to_pylist() == [1.0, 2.0]
    assert [t.en for t in log.report.summary()] == [
        f"{export}, line 3: unparsable value (h1: could not convert string to float: 'x'); value skipped"]


def test_a_bill_without_its_length_takes_its_dates_or_its_month(tmp_path: Path) -> None:
    export = tmp_path / "电费.csv"
    export.write_text("户号,账期,止日,电量,谷电量\nA1,2024-02-01,,900,300\nA1,2024-03-01,2024-03-16,450,150\n",
                      encoding="utf-8")
    got = _tables(PowerInput(export, {"table": "billing", "columns": {
        "account": "户号", "period_start": "账期", "period_end": "止日", "kwh_total": "电量", "kwh_valley": "谷电量"},
        "time": {"timezone": "Asia/Shanghai"}}))
    assert got["billing"].column("days").to_pylist() == [29, 15]  # February 2024 in Beijing; the dates

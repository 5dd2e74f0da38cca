"""Bank exports through a column mapping into the funds tables: Chinese headers and 借/贷 flags become the table's
values, a bad line is skipped and told, the mapping names what it must."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from minescope.dimensions.funds.readers import FundsInput
from minescope.readers.mapped import Mapping, MappingError

DATA = Path(__file__).resolve().parents[3] / "data" / "funds"


def read(path: Path, mapping: object) -> tuple[dict[str, pa.Table], FundsInput]:
    export = FundsInput(path, mapping)  # type: ignore[arg-type]
    batches: dict[str, list[pa.RecordBatch]] = {}
    for table, batch in export:
        batches.setdefault(table, []).append(batch)
    return {k: pa.Table.from_batches(v) for k, v in batches.items()}, export


def test_a_statement_with_chinese_headers_becomes_transactions() -> None:
    tables, export = read(DATA / "statement.csv", DATA / "statement.toml")
    rows = tables["transactions"].to_pylist()
    assert [r["txn_id"] for r in rows] == ["S1", "S2", "S5"]
    assert [r["direction"] for r in rows] == ["in", "out", "in"]
    assert {r["currency"] for r in rows} == {"CNY"}
    first = rows[0]
    assert first["account"] == "6222000011" and first["counterparty"] == "6222000099"
    assert first["counterparty_name"] == "张三" and first["remark"] == "勿备注" and first["amount"] == 500.5
    assert first["ts"] == datetime(2026, 1, 2, 17, 12, tzinfo=UTC)  # 01:12 in Shanghai
    assert rows[1]["device"] == "DEV1" and rows[1]["ip"] == "10.0.0.1"
    problems = [p.en for p in export.report.summary()]
    assert any("line 4" in p and "交易金额" in p for p in problems), problems  # the negative amount
    assert any("neither in nor out (冲正)" in p and "[values.direction]" in p for p in problems), problems
    assert export.report.skipped == 2


def test_a_mapping_may_say_what_its_own_direction_flags_mean(tmp_path: Path) -> None:
    spec = Mapping.load(DATA / "statement.toml")
    spec.values = {"direction": {"冲正": "out"}}
    tables, export = read(DATA / "statement.csv", spec)
    assert [r["txn_id"] for r in tables["transactions"].to_pylist()] == ["S1", "S2", "S4", "S5"]
    assert export.report.skipped == 1


def test_a_mapping_without_the_direction_is_refused_with_what_to_give() -> None:
    with pytest.raises(MappingError) as e:
        Mapping.load({"table": "transactions", "columns": {"account": "a", "ts": "t", "amount": "x"}})
    assert "direction" in e.value.en


def test_known_counterparties_of_an_unknown_type_are_other(tmp_path: Path) -> None:
    path = tmp_path / "名单.csv"
    path.write_text("账号,名称,类型\nX1,某交易所,交易所\nX2,某承兑商,币商\nX3,某店,商户\n", encoding="utf-8")
    tables, _ = read(path, {"table": "known_counterparties", "columns": {"account": "账号", "name": "名称",
                                                                         "type": "类型"}})
    assert [(r["account"], r["type"]) for r in tables["known_counterparties"].to_pylist()] == [
        ("X1", "exchange"), ("X2", "otc"), ("X3", "other")]


def test_a_missing_file_is_one_problem(tmp_path: Path) -> None:
    tables, export = read(tmp_path / "nothing.csv", DATA / "statement.toml")
    assert not tables
    assert export.report.error is not None and "no such file" in export.report.error.en

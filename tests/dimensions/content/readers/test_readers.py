"""Platform exports read into the items table: CSV, JSON lines and Parquet through a column mapping, kinds as
platforms write them."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from minescope.dimensions.content.readers import ContentInput
from minescope.readers.mapped import Mapping

MAPPING = {"table": "items", "columns": {"id": "商品ID", "title": "标题", "body": "描述", "category": "类目",
                                         "author": "店铺", "ts": "上架时间", "kind": "类型"},
           "constants": {"platform": "某平台"}, "time": {"timezone": "Asia/Shanghai"}}


def read(path: Path, mapping: object = None) -> tuple[pa.Table, ContentInput]:
    export = ContentInput(path, Mapping.load(mapping) if isinstance(mapping, dict) else None)
    from minescope.dimensions.content.tables import ITEMS

    batches = [b for t, b in export if t == "items"]
    return pa.Table.from_batches(batches, schema=ITEMS), export


def test_a_csv_export_through_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "商品.csv"
    path.write_text("商品ID,标题,描述,类目,店铺,上架时间,类型\n1,蚂蚁矿机,九成新,服务器,小王,2024-01-02 08:00:00,商品\n"
                    "2,帖子标题,正文,,,2024-01-02 09:00:00,帖子\n3,应用,,,,2024-01-02 09:00:00,其他\n",
                    encoding="utf-8")
    table, export = read(path, MAPPING)
    assert table.column("kind").to_pylist() == ["listing", "post", "listing"]
    assert table.column("platform").to_pylist() == ["某平台"] * 3
    assert table.column("ts").to_pylist()[0].isoformat() == "2024-01-02T00:00:00+00:00"
    assert export.report.summary() == []


def test_json_lines_and_parquet_with_the_tables_own_names(tmp_path: Path) -> None:
    rows = [{"id": "a", "title": "收U出U", "body": "承兑", "author": "李"}, {"id": "b", "title": "茶叶", "body": None}]
    jl = tmp_path / "posts.jsonl"
    jl.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    pqf = tmp_path / "posts.parquet"
    pq.write_table(pa.Table.from_pylist(rows), pqf)
    for path in (jl, pqf):
        table, _ = read(path)
        assert table.column("id").to_pylist() == ["a", "b"]
        assert table.column("kind").to_pylist() == ["listing", "listing"]


def test_a_mapping_of_another_table_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("ts,src_ip,dst_ip\n1,1.1.1.1,2.2.2.2\n", encoding="utf-8")
    table, export = read(path, {"table": "flows", "columns": {"ts": "ts", "src_ip": "src_ip", "dst_ip": "dst_ip"}})
    assert table.num_rows == 0
    assert any("content" in t.en for t in export.report.summary())

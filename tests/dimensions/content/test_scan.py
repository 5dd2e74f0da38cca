"""`minescope content scan` and `minescope scan` over a platform's export: findings about listings and posts with
their seller as organisation, stored, and one case per seller; bad input is one line."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import cli, cli_env, no_traceback, store_tables

EXPORT = ("商品ID,标题,描述,类目,店铺,链接,上架时间\n"
          "1,全新蚂蚁矿机S19 Pro 110T,现货，请勿备注与矿机有关字眼,服务器,矿机小王,https://shop/1,2024-01-01 10:00:00\n"
          "2,iPhone 15,安兔兔跑分很高，方便安全,手机,张三,https://shop/2,2024-01-02 10:00:00\n"
          "3,GPU云算力租赁,大模型训练推理 A100 出租,服务器,云厂商,https://shop/3,2024-01-03 10:00:00\n"
          "4,bian注册送100U,邀请码私聊 收U出U,数码,矿机小王,https://shop/4,2024-01-04 10:00:00\n")
MAPPING = ('table = "items"\n[columns]\nid = "商品ID"\ntitle = "标题"\nbody = "描述"\ncategory = "类目"\n'
           'author = "店铺"\nurl = "链接"\nts = "上架时间"\n[constants]\nplatform = "某平台"\n'
           '[time]\ntimezone = "Asia/Shanghai"\n')


def write(tmp_path: Path) -> tuple[Path, Path]:
    export, mapping = tmp_path / "商品.csv", tmp_path / "items.toml"
    export.write_text(EXPORT, encoding="utf-8")
    mapping.write_text(MAPPING, encoding="utf-8")
    return export, mapping


def test_content_scan_finds_stores_and_groups_by_seller(tmp_path: Path) -> None:
    export, mapping = write(tmp_path)
    db = tmp_path / "m.db"
    run = cli("content", "scan", export, "--mapping", mapping, "--format", "json", "--db", db)
    no_traceback(run)
    assert run.rc == 0, run.explain()
    found = json.loads(run.stdout)["findings"]
    assert sorted((f["kind"], f["subject"]["type"], f["subject"]["value"]) for f in found) == [
        ("prohibited_listing", "listing", "某平台:1"), ("trading_promotion", "listing", "某平台:4")]
    listing = next(f for f in found if f["kind"] == "prohibited_listing")
    assert listing["dimension"] == "content" and listing["attribution"]["org_name"] == "矿机小王（某平台）"
    matches = [e["detail"] for e in listing["evidence"] if e["type"] == "content_match"]
    title = "全新蚂蚁矿机S19 Pro 110T"
    assert all(m["field"] in ("title", "body") for m in matches)
    assert any(m["term"] == "蚂蚁矿机" and title[m["start"]:m["end"]] == "蚂蚁矿机" for m in matches)
    assert {"normalised", "category", "rule", "evasions"} <= set(matches[0])
    item = next(e["detail"] for e in listing["evidence"] if e["type"] == "content_item")
    assert item["misplaced"] is True and item["body"].startswith("现货")
    tables = store_tables(db)
    assert tables["findings"] == 2 and tables["cases"] == 1  # one seller, one case


def test_scan_routes_a_content_export_by_its_mapping(tmp_path: Path) -> None:
    export, mapping = write(tmp_path)
    run = cli("scan", export, "--mapping", mapping, "--format", "json", "--no-store")
    assert run.rc == 0, run.explain()
    assert {f["kind"] for f in json.loads(run.stdout)["findings"]} == {"prohibited_listing", "trading_promotion"}


def test_a_file_that_is_no_content_export_is_one_line(tmp_path: Path) -> None:
    other = tmp_path / "x.csv"
    other.write_text("a,b\n1,2\n", encoding="utf-8")
    run = cli("content", "scan", other, "--no-store", "--lang", "en")
    no_traceback(run)
    assert run.rc == 2 and len(run.lines) == 1 and "not a content export" in run.lines[0], run.explain()


def test_a_mapping_of_another_table_is_refused(tmp_path: Path) -> None:
    export, _ = write(tmp_path)
    bad = tmp_path / "flows.toml"
    bad.write_text('table = "flows"\n[columns]\nts = "a"\nsrc_ip = "b"\ndst_ip = "c"\n', encoding="utf-8")
    run = cli("content", "scan", export, "--mapping", bad, "--no-store", "--lang", "en")
    no_traceback(run)
    assert run.rc == 1 and "items" in run.lines[0], run.explain()


def test_a_users_lexicon_is_used_and_a_bad_one_is_one_line(tmp_path: Path) -> None:
    export = tmp_path / "items.csv"
    export.write_text("id,title\n1,出售挖宝机\n", encoding="utf-8")
    mine = tmp_path / "mine.tsv"
    mine.write_text("term\tcategory\tmeans\tlanguage\trule\tsource\n"
                    "挖宝机\tmining_generic\tmining machine\tzh\tdirect\tour reviewers\n", encoding="utf-8")
    run = cli("content", "scan", export, "--no-store", "--format", "json",
              env=cli_env(MINESCOPE_CONTENT_LEXICON=str(mine)))
    assert run.rc == 0, run.explain()
    assert [f["kind"] for f in json.loads(run.stdout)["findings"]] == ["prohibited_listing"]
    mine.write_text("term\tcategory\tmeans\tlanguage\trule\tsource\n挖宝机\tnot_a_category\tx\tzh\tdirect\tx\n",
                    encoding="utf-8")
    run = cli("content", "scan", export, "--no-store", "--lang", "en",
              env=cli_env(MINESCOPE_CONTENT_LEXICON=str(mine)))
    no_traceback(run)
    assert run.rc == 1 and len(run.lines) == 1 and "mine.tsv:2" in run.lines[0], run.explain()

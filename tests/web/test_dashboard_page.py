"""The dashboard page (map, drill-down, per-jurisdiction figures), the finding page and its API, the
vendored ECharts and map, and the match of the map's place names to GB/T 2260 codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from helpers import PASSWORD, ROOT, STRATUM, Conversation, login, write_pcap
from minescope.cases.workflow import list_cases, sync_cases
from minescope.knowledge.regions import divisions
from minescope.pipeline import Scanner, ScanOptions
from minescope.store.accounts import add_user, new_token
from minescope.store.findings import findings, open_store, save_scan
from minescope.web.app import create_app
from minescope.web.geo import map_for, place_codes, province_codes
from minescope.web.i18n import LABELS

EVIL = "苏州某企业</script><script>alert(1)</script>"
MAPS = ROOT / "src" / "minescope" / "web" / "static" / "vendor" / "china-map" / "province"


@pytest.fixture
def console(tmp_path: Path, store_target: str):  # type: ignore[no-untyped-def]
    """Two counties of Nanjing and the city of Suzhou (known only to city level), one mining host each;
    users at national, province, city and county level. Returns (client, case ids by region, finding ids
    by region, API tokens)."""
    registry = tmp_path / "orgs.csv"
    registry.write_text("cidr,organisation,type,region_code,contact\n"
                        "10.1.0.0/16,玄武区某局,government,320102,\n"
                        "10.2.0.0/16,秦淮区某大学,university,320104,\n"
                        f'10.3.0.0/16,"{EVIL}",enterprise,320500,\n', encoding="utf-8")
    pcap = write_pcap(tmp_path / "c.pcap", [Conversation("10.1.0.5", 40000, "203.0.113.9", 3333, STRATUM),
                                            Conversation("10.2.0.5", 40001, "203.0.113.9", 3333, STRATUM),
                                            Conversation("10.3.0.5", 40002, "203.0.113.9", 3333, STRATUM)])
    engine = open_store(store_target)
    save_scan(engine, Scanner(ScanOptions(registry=registry)).scan([pcap]))
    sync_cases(engine)
    cases = {c.region_code: c.id for c in list_cases(engine)}
    with engine.connect() as conn:
        found = {r.region_code: r.id for r in conn.execute(select(findings.c.id, findings.c.region_code))}
    add_user(engine, "nation", PASSWORD, "admin", national=True)
    add_user(engine, "jiangsu", PASSWORD, "viewer", "320000")
    add_user(engine, "nanjing", PASSWORD, "viewer", "320100")
    add_user(engine, "xuanwu", PASSWORD, "analyst", "320102")
    tokens = {name: new_token(engine, add_user(engine, f"{name}-api", PASSWORD, "analyst", code))
              for name, code in (("xuanwu", "320102"), ("nanjing", "320100"))}
    return TestClient(create_app(store_target, secret="test")), cases, found, tokens


def chart_of(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>',  # type: ignore[union-attr]
                                html, re.S).group(1))


def regions_linked(html: str) -> list[str]:
    return re.findall(r'<a href="/dashboard\?region=(\d+)" data-region="\1">', html)


def test_national_user_sees_china_by_province_and_drills_down(console) -> None:  # type: ignore[no-untyped-def]
    client, cases, _, _ = console
    login(client, "nation")
    page = client.get("/dashboard")
    assert page.status_code == 200 and 'data-scope=""' in page.text and 'data-kind="map"' in page.text
    chart = chart_of(page.text)
    assert chart["map"]["name"] == "china" and chart["map"]["url"] == "/static/vendor/china-map/china.json"
    jiangsu = next(r for r in chart["map"]["regions"] if r["code"] == "32")
    assert jiangsu == {"name": "江苏", "value": 3, "code": "32"}
    assert len(chart["map"]["regions"]) == 34  # every province-level shape can be clicked
    assert regions_linked(page.text) == ["32"]
    assert client.get(chart["map"]["url"]).json()["type"] == "FeatureCollection"
    # 江苏 → its cities on the province's map
    province = client.get("/dashboard?region=32").text
    assert chart_of(province)["map"]["name"] == "cn-32"
    assert sorted(regions_linked(province)) == ["3201", "3205"]
    assert '<a href="/dashboard">全国</a>' in province  # breadcrumb back up
    # 南京 → its counties as bars (no city map is bundled), and its cases
    city = client.get("/dashboard?region=3201").text
    assert 'data-kind="bars"' in city and sorted(regions_linked(city)) == ["320102", "320104"]
    assert f'data-case="{cases["320102"]}"' in city and f'data-case="{cases["320104"]}"' in city
    # 秦淮区 → its case only, and no map
    county = client.get("/dashboard?region=320104").text
    assert 'id="map"' not in county
    assert re.findall(r'data-case="(\d+)"', county) == [str(cases["320104"])]
    assert '<a href="/dashboard?region=3201">南京市</a>' in county


def test_each_level_sees_its_own_area_and_nothing_above(console) -> None:  # type: ignore[no-untyped-def]
    client, cases, _, tokens = console
    login(client, "jiangsu")
    page = client.get("/dashboard").text
    assert 'data-scope="32"' in page and chart_of(page)["map"]["name"] == "cn-32"
    assert "<span>全国</span>" in page  # above the user's area: named, not linked
    for region in ("33", "3301", "abc", "32%", "3201021"):
        assert client.get(f"/dashboard?region={region}").status_code == 404
    assert client.get("/dashboard?region=320000").status_code == 200  # a full code is its prefix

    login(client, "nanjing")
    page = client.get("/dashboard").text
    assert 'data-scope="3201"' in page and 'data-kind="bars"' in page
    assert client.get("/dashboard?region=32").status_code == 404
    assert client.get("/dashboard?region=3205").status_code == 404

    login(client, "xuanwu")
    page = client.get("/dashboard").text
    assert 'data-scope="320102"' in page and 'id="map"' not in page
    assert re.findall(r'data-case="(\d+)"', page) == [str(cases["320102"])]
    assert client.get("/dashboard?region=320104").status_code == 404
    # the JSON API refuses the same way
    h = {"Authorization": f"Bearer {tokens['xuanwu']}"}
    assert client.get("/api/dashboard?region=320104", headers=h).status_code == 404
    assert client.get("/api/dashboard?region=3_", headers=h).status_code == 404


def test_dashboard_needs_login_and_is_the_home_page(console) -> None:  # type: ignore[no-untyped-def]
    client, _, _, _ = console
    assert client.get("/dashboard", follow_redirects=False).headers["location"] == "/login"
    login(client, "nation")  # login answers with a redirect to the dashboard
    assert client.get("/", follow_redirects=False).headers["location"] == "/dashboard"


def test_figures_in_cards_tables_and_both_languages(console) -> None:  # type: ignore[no-untyped-def]
    client, _, _, _ = console
    login(client, "nation")
    zh = client.get("/dashboard").text
    assert "挖矿主机分布" in zh and "近 30 天挖矿相关新发现" in zh and "各算法算力（不同算法不可相加）" in zh
    assert re.search(r'id="card-hosts">\s*<div class="label">挖矿主机</div>\s*<div class="value">3<', zh)
    chart = chart_of(zh)
    assert len(chart["trend"]["days"]) == 30 and chart["kinds"][0]["name"] == "挖矿会话"
    en = client.get("/dashboard?region=32&lang=en").text
    assert "Mining hosts by place" in en and "Hash rate per algorithm" in en and "All China" in en
    assert '<a href="?region=32&amp;lang=zh" id="lang-switch">中文</a>' in en  # stays on the same area


def test_names_from_the_data_cannot_break_out_of_the_page(console) -> None:  # type: ignore[no-untyped-def]
    client, _, _, _ = console
    login(client, "nation")
    for path in ("/dashboard", "/dashboard?region=3205", "/cases"):
        page = client.get(path).text
        assert "苏州某企业&lt;/script&gt;" in page and "<script>alert(1)</script>" not in page


def test_vendored_echarts_and_maps_are_served(console) -> None:  # type: ignore[no-untyped-def]
    client, _, _, _ = console
    js = client.get("/static/vendor/echarts/echarts.min.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"] and b"echarts" in js.content[:2000]
    assert "javascript" in client.get("/static/dashboard.js").headers["content-type"]
    assert client.get("/static/vendor/china-map/province/32.json").json()["features"]
    assert client.get("/static/vendor/echarts/LICENSE").status_code == 200
    assert client.get("/static/../app.py").status_code == 404


def test_map_names_match_all_31_mainland_provinces() -> None:
    mainland = {d.code for d in divisions().values() if d.level == "province"} - {"710000", "810000", "820000"}
    assert len(mainland) == 31
    assert mainland <= set(province_codes().values())
    for code in mainland:  # each province's own map: nearly every shape is matched to a division of it
        features = json.loads((MAPS / f"{code[:2]}.json").read_text(encoding="utf-8"))["features"]
        shapes = {f["properties"]["name"] for f in features}
        matched = place_codes(code)
        assert len(matched) >= 0.9 * len(shapes), (code, len(matched), len(shapes))
        assert all(c.startswith(code[:2]) for c in matched.values())


def test_which_map_each_area_gets() -> None:
    china = map_for("")
    assert china is not None and china.name == "china" and china.places["江苏"] == china.targets["江苏"] == "32"
    jiangsu = map_for("32")
    assert jiangsu is not None and jiangsu.places["南京市"] == "3201" and jiangsu.targets["南京市"] == "3201"
    hubei = map_for("42")  # a county the province runs directly is drawn too, and drills to the county
    assert hubei is not None and hubei.places["仙桃市"] == "4290" and hubei.targets["仙桃市"] == "429004"
    assert map_for("11") is None  # Beijing's map is by district: it belongs to the city level (1101)
    beijing = map_for("1101")
    assert beijing is not None and beijing.places["东城区"] == "110101"
    assert map_for("3201") is None and map_for("320102") is None


def test_finding_page_and_api_follow_the_jurisdiction(console) -> None:  # type: ignore[no-untyped-def]
    client, cases, found, tokens = console
    mine, theirs = found["320102"], found["320104"]
    h = {"Authorization": f"Bearer {tokens['xuanwu']}"}
    data = client.get(f"/api/findings/{mine}", headers=h).json()
    assert data["id"] == mine and data["kind"] == "mining_session" and data["evidence"]
    assert client.get(f"/api/findings/{theirs}", headers=h).status_code == 404
    assert client.get("/api/findings/nosuchfinding", headers=h).status_code == 404
    assert client.get(f"/api/findings/{mine}").status_code == 401
    city = {"Authorization": f"Bearer {tokens['nanjing']}"}
    assert client.get(f"/api/findings/{theirs}", headers=city).status_code == 200

    login(client, "xuanwu")
    case = client.get(f"/cases/{cases['320102']}").text
    assert f'<a href="/findings/{mine}" data-finding="{mine}">挖矿会话</a>' in case
    page = client.get(f"/findings/{mine}")
    assert page.status_code == 200
    assert "挖矿协议报文" in page.text and "10.1.0.5" in page.text and "玄武区某局" in page.text
    assert f'data-case="{cases["320102"]}"' in page.text and 'id="flows"' in page.text
    assert client.get(f"/findings/{theirs}").status_code == 404
    en = client.get(f"/findings/{mine}?lang=en").text
    assert "Mining protocol messages" in en and "Evidence" in en and "Flows" in en


def test_a_finding_without_a_place_is_seen_through_its_case(console, store_target: str) -> None:  # type: ignore[no-untyped-def]
    client, _, found, tokens = console
    with open_store(store_target).begin() as conn:
        conn.execute(update(findings).where(findings.c.id == found["320102"]).values(region_code=None))
    h = {"Authorization": f"Bearer {tokens['xuanwu']}"}
    assert client.get(f"/api/findings/{found['320102']}", headers=h).status_code == 200  # via 玄武's case
    other = {"Authorization": f"Bearer {tokens['nanjing']}"}
    assert client.get(f"/api/findings/{found['320102']}", headers=other).status_code == 200


def test_every_console_label_has_both_languages() -> None:
    assert all(zh and en for zh, en in LABELS.values())

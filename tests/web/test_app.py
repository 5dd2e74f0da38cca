"""The console over a real store: login, CSRF, roles, and jurisdiction isolation in pages and API."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers import PASSWORD, STRATUM, Conversation, login, write_pcap
from minescope.cases.workflow import list_cases, sync_cases
from minescope.pipeline import Scanner, ScanOptions
from minescope.store.accounts import add_user, new_token
from minescope.store.findings import open_store, save_scan
from minescope.web.app import create_app
from minescope.web.captcha import ReportCaptcha


@pytest.fixture
def console(tmp_path: Path, store_target: str):  # type: ignore[no-untyped-def]
    """Two counties of Nanjing, one mining host each, and users at county, city and national level."""
    registry = tmp_path / "orgs.csv"
    registry.write_text("cidr,organisation,type,region_code,contact\n"
                        "10.1.0.0/16,玄武区某局,government,320102,\n"
                        "10.2.0.0/16,秦淮区某大学,university,320104,\n", encoding="utf-8")
    pcap = write_pcap(tmp_path / "c.pcap", [Conversation("10.1.0.5", 40000, "203.0.113.9", 3333, STRATUM),
                                            Conversation("10.2.0.5", 40001, "203.0.113.9", 3333, STRATUM)])
    db = store_target
    engine = open_store(db)
    save_scan(engine, Scanner(ScanOptions(registry=registry)).scan([pcap]))
    sync_cases(engine)
    ids = {c.region_code: c.id for c in list_cases(engine)}
    add_user(engine, "xuanwu", PASSWORD, "analyst", "320102")
    add_user(engine, "qinhuai", PASSWORD, "analyst", "320104")
    add_user(engine, "nanjing", PASSWORD, "viewer", "320100")
    tokens = {"xuanwu": new_token(engine, add_user(engine, "xuanwu-api", PASSWORD, "analyst", "320102"))}
    return TestClient(create_app(db, secret="test")), ids, tokens


def csrf_of(client: TestClient, path: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)  # type: ignore[union-attr]


def test_login_and_wrong_password(console) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = console
    csrf = csrf_of(client, "/login")
    r = client.post("/login", data={"username": "xuanwu", "password": "wrong", "csrf": csrf})
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    assert client.get("/cases", follow_redirects=False).status_code == 303


def test_county_user_sees_only_their_county_in_pages(console) -> None:  # type: ignore[no-untyped-def]
    client, ids, _ = console
    login(client, "xuanwu")
    listing = client.get("/cases").text
    assert "玄武区某局" in listing and "秦淮区某大学" not in listing
    assert client.get(f"/cases/{ids['320102']}").status_code == 200
    assert client.get(f"/cases/{ids['320104']}").status_code == 404
    csrf = csrf_of(client, f"/cases/{ids['320102']}")
    r = client.post(f"/cases/{ids['320104']}/action", data={"action": "assign", "owner": "x", "csrf": csrf},
                    follow_redirects=False)
    assert r.status_code == 404


def test_county_user_cannot_read_or_change_another_county_through_the_api(console) -> None:  # type: ignore[no-untyped-def]
    client, ids, tokens = console
    h = {"Authorization": f"Bearer {tokens['xuanwu']}"}
    assert [c["id"] for c in client.get("/api/cases", headers=h).json()] == [ids["320102"]]
    assert client.get(f"/api/cases/{ids['320104']}", headers=h).status_code == 404
    r = client.post(f"/api/cases/{ids['320104']}/assign", headers=h, json={"owner": "x", "due_at": time.time()})
    assert r.status_code == 404
    assert client.post(f"/api/cases/{ids['320102']}/assign", headers=h,
                       json={"owner": "x", "due_at": time.time()}).status_code == 200
    assert client.get("/api/cases").status_code == 401  # no token, no session


def test_city_viewer_sees_both_counties_but_cannot_change(console) -> None:  # type: ignore[no-untyped-def]
    client, ids, _ = console
    login(client, "nanjing")
    listing = client.get("/cases").text
    assert "玄武区某局" in listing and "秦淮区某大学" in listing
    csrf = csrf_of(client, f"/cases/{ids['320102']}")
    r = client.post(f"/cases/{ids['320102']}/action", data={"action": "assign", "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 403


def test_forms_need_the_csrf_token(console) -> None:  # type: ignore[no-untyped-def]
    client, ids, _ = console
    login(client, "xuanwu")
    r = client.post(f"/cases/{ids['320102']}/action", data={"action": "assign", "owner": "x", "csrf": "forged"},
                    follow_redirects=False)
    assert r.status_code == 403


def test_walk_a_case_in_pages_with_warning_before_closing_with_open_tasks(console) -> None:  # type: ignore[no-untyped-def]
    client, ids, _ = console
    login(client, "xuanwu")
    case = ids["320102"]
    for action in ("assign", "notice", "rectifying", "verified"):  # notice_issued only by issuing the notice
        csrf = csrf_of(client, f"/cases/{case}")
        client.post(f"/cases/{case}/action", data={"action": action, "owner": "xuanwu", "csrf": csrf})
    csrf = csrf_of(client, f"/cases/{case}")
    client.post(f"/cases/{case}/action", data={"action": "task", "text": "现场核查", "csrf": csrf})
    csrf = csrf_of(client, f"/cases/{case}")
    page = client.post(f"/cases/{case}/action", data={"action": "close", "reason": "cleared", "csrf": csrf}).text
    assert "未完成任务" in page and "已核查" in page  # warned, still open
    csrf = csrf_of(client, f"/cases/{case}")
    page = client.post(f"/cases/{case}/action",
                       data={"action": "close", "reason": "cleared", "force": "true", "csrf": csrf}).text
    assert "已结案" in page and "已清零" in page
    assert "rectifying" in page and "verified" in page  # history rows with before/after
    en = client.get(f"/cases/{case}?lang=en").text
    assert "closed" in en and "History (hash chain)" in en


def test_openapi_describes_the_api(console) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = console
    spec = client.get("/openapi.json").json()
    assert {"/api/cases", "/api/cases/{case_id}", "/api/cases/{case_id}/close"} <= set(spec["paths"])


def test_ledger_of_a_city_has_a_sheet_per_county(console) -> None:  # type: ignore[no-untyped-def]
    import io

    from openpyxl import load_workbook

    client, _, tokens = console
    login(client, "nanjing")
    book = load_workbook(io.BytesIO(client.get("/api/ledger.xlsx").content))
    assert book.sheetnames == ["南京市", "玄武区", "秦淮区"]
    assert book["南京市"].max_row == 3 and book["玄武区"]["B2"].value == "玄武区某局"
    # a county user's ledger holds only that county
    h = {"Authorization": f"Bearer {tokens['xuanwu']}"}
    county = load_workbook(io.BytesIO(client.get("/api/ledger.xlsx?lang=en", headers=h).content))
    assert county.sheetnames == ["玄武区"] and county.active["A1"].value == "Case" and county.active.max_row == 2


def test_public_report_with_tracking_code_rate_limit_and_triage(console) -> None:  # type: ignore[no-untyped-def]
    client, _, tokens = console
    form = client.get("/report")
    assert form.status_code == 200 and "南京市" in form.text  # no login needed
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    tip = {"region_code": "320102", "subject": "某大厦地下室", "description": "整夜风扇轰鸣，耗电异常，疑似矿机",
           "csrf": csrf}

    def _solved() -> dict[str, str]:  # the CAPTCHA, solved: a known answer signed with the console's secret
        challenge = ReportCaptcha("test").new(answer="K7PQX")
        return {"captcha_token": challenge.token, "captcha_answer": challenge.answer}

    page = client.post("/report", data={**tip, **_solved()})
    code = re.search(r'id="tracking-code">([A-Z0-9]+)<', page.text).group(1)  # type: ignore[union-attr]
    status = client.get(f"/report/status?code={code}&lang=en")
    assert 'id="tip-status">received<' in status.text
    assert "查询码不存在" in client.get("/report/status?code=NOSUCHCODE&lang=zh").text
    # bad input: the form again with one clear message, 4xx, nothing stored
    bad = client.post("/report", data={**tip, "region_code": "999999", **_solved()})
    assert bad.status_code == 422 and "请从列表中选择地区" in bad.text and 'id="tracking-code"' not in bad.text
    # the county sees it in triage; the other county does not
    h = {"Authorization": f"Bearer {tokens['xuanwu']}"}
    (row,) = client.get("/api/tips", headers=h).json()
    assert row["subject"] == "某大厦地下室" and row["status"] == "received"
    assert client.post(f"/api/tips/{row['id']}/status", headers=h, json={"to_state": "triaged"}).status_code == 200
    assert 'id="tip-status">being checked<' in client.get(f"/report/status?code={code}&lang=en").text
    # rate limit: at most five reports per address in ten minutes (two sent above, the bad one counts)
    answers = [client.post("/report", data={**tip, **_solved()}).status_code for _ in range(5)]
    assert answers == [200, 200, 200, 429, 429]


def test_dashboard_per_jurisdiction_with_drill_down(console) -> None:  # type: ignore[no-untyped-def]
    client, _, tokens = console
    login(client, "nanjing")
    city = client.get("/api/dashboard").json()
    assert city["mining_hosts"] == 2 and city["hosts_by_place"] == {"320102": 1, "320104": 1}
    assert city["institutional_share"] == 1.0 and city["cases_by_state"] == {"new": 2}
    assert set(city["hashrate_by_algorithm"]) <= {"SHA-256"}
    county = client.get("/api/dashboard?region=320104").json()  # drill down into one county
    assert county["mining_hosts"] == 1 and county["top_organisations"] == [["秦淮区某大学", 1]]
    h = {"Authorization": f"Bearer {tokens['xuanwu']}"}
    assert client.get("/api/dashboard?region=320104", headers=h).status_code == 404  # not their county
    assert client.get("/api/dashboard", headers=h).json()["mining_hosts"] == 1

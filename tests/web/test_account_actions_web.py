"""Account actions in the console: the case page's table of accounts with freeze, report and 断卡 forms, the API,
roles and areas, and the 断卡 list export (editors only)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from helpers import PASSWORD, login
from minescope.cases.workflow import list_cases, sync_cases
from minescope.dimensions.funds.kinds import MONEY_MULE
from minescope.model import Attribution, Dimension, Evidence, Finding, ScanResult, Severity, Subject, SubjectType, Text
from minescope.store.accounts import add_user, new_token
from minescope.store.findings import open_store, save_scan
from minescope.web.app import create_app

T0 = 1_700_000_000.0


def mule(account: str, org: str, region: str) -> Finding:
    return Finding(kind=MONEY_MULE, subject_ip=None, peer=None, flows=(), confidence=0.8, severity=Severity.HIGH,
                   reasons=(Text(zh="跑分特征", en="money-mule pattern"),), evidence=(Evidence("typology", "0.8"),),
                   source="t.csv", subject=Subject(SubjectType.ACCOUNT, account), dimension=Dimension.FUNDS,
                   first_seen=T0, last_seen=T0 + 60, key="mule",
                   attribution=Attribution(ip="", org_name=org, org_type="enterprise", region_code=region))


@pytest.fixture
def console(store_target: str):  # type: ignore[no-untyped-def]
    engine = open_store(store_target)
    save_scan(engine, ScanResult([], [mule("6222000011112222", "玄武某商行", "320102"),
                                      mule("6222000033334444", "秦淮某商行", "320104")], T0, 1.0))
    sync_cases(engine)
    ids = {c.region_code: c.id for c in list_cases(engine)}
    add_user(engine, "xuanwu", PASSWORD, "analyst", "320102")
    add_user(engine, "nanjing", PASSWORD, "viewer", "320100")
    token = new_token(engine, add_user(engine, "xuanwu-api", PASSWORD, "analyst", "320102"))
    return TestClient(create_app(store_target, secret="test")), ids, token


def csrf_of(client: TestClient, path: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)  # type: ignore[union-attr]


def test_freeze_from_the_case_page_then_list_and_export(console) -> None:  # type: ignore[no-untyped-def]
    client, ids, _ = console
    login(client, "xuanwu")
    case = ids["320102"]
    page = client.get(f"/cases/{case}").text
    assert 'data-account="6222000011112222"' in page and "冻结" in page and "列入断卡名单" in page
    for action, ref in (("freeze", "冻结通知书 17 号"), ("duanka", "")):
        client.post(f"/cases/{case}/action", data={"action": f"account:{action}", "account": "6222000011112222",
                                                   "text": ref, "csrf": csrf_of(client, f"/cases/{case}")})
    page = client.get(f"/cases/{case}").text
    assert "已冻结" in page and "冻结通知书 17 号" in page and "已列入断卡名单" in page
    book = load_workbook(io.BytesIO(client.get("/api/duanka.xlsx").content)).active
    rows = [[c.value for c in r] for r in book.iter_rows()]
    assert [r[0] for r in rows[1:]] == ["6222000011112222"] and rows[1][8] == "冻结通知书 17 号"
    # another county's account is not this case's, and the form says so
    page = client.post(f"/cases/{case}/action", data={"action": "account:freeze", "account": "6222000033334444",
                                                      "csrf": csrf_of(client, f"/cases/{case}")}).text
    assert "不涉及账户" in page


def test_the_api_records_actions_within_the_users_area_and_viewers_cannot(console, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client, ids, token = console
    h = {"Authorization": f"Bearer {token}"}
    body = {"account": "6222000011112222", "action": "report_to_police", "reference": "报案回执 889"}
    assert client.post(f"/api/cases/{ids['320102']}/accounts", headers=h, json=body).status_code == 200
    assert client.get(f"/api/cases/{ids['320102']}", headers=h).json()["accounts"]["6222000011112222"][
        "report_to_police"]["reference"] == "报案回执 889"
    assert client.post(f"/api/cases/{ids['320104']}/accounts", headers=h,
                       json={**body, "account": "6222000033334444"}).status_code == 404  # another county
    assert client.post(f"/api/cases/{ids['320102']}/accounts", headers=h,
                       json={**body, "action": "seize"}).status_code == 422
    login(client, "nanjing")  # a viewer: may read, may not act or export account numbers
    assert client.get(f"/cases/{ids['320102']}").status_code == 200
    assert client.get("/api/duanka.xlsx").status_code == 403

"""Issue 13, item 6: refusals are pages in the reader's language for browsers (JSON for the API, same status),
the public report form included; login returns to the page asked for, and to local paths only."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers import PASSWORD
from minescope.store.accounts import add_user
from minescope.store.findings import open_store
from minescope.web.app import create_app, local_path

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
def client(tmp_path: Path, store_target: str) -> TestClient:
    engine = open_store(store_target)
    add_user(engine, "xuanwu", PASSWORD, "analyst", "320102")
    return TestClient(create_app(store_target, secret="test"))


def _csrf(client: TestClient, path: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)  # type: ignore[union-attr]


def _login(client: TestClient, next_: str | None = None) -> str:
    data = {"username": "xuanwu", "password": PASSWORD, "csrf": _csrf(client, "/login")}
    if next_ is not None:
        data["next"] = next_
    r = client.post("/login", data=data, follow_redirects=False)
    assert r.status_code == 303
    return r.headers["location"]


def test_a_missing_case_is_a_page_for_a_browser_and_json_for_the_api(client: TestClient) -> None:
    _login(client)
    page = client.get("/cases/999999", headers=HTML)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "没有案件 999999" in page.text and "no case" not in page.text
    en = client.get("/cases/999999?lang=en", headers=HTML)
    assert en.status_code == 404 and "no case 999999" in en.text and "没有案件" not in en.text
    api = client.get("/api/cases/999999", headers=HTML)
    assert api.status_code == 404 and api.headers["content-type"].startswith("application/json")
    assert client.get("/cases/999999").json()["detail"]  # a script (Accept */*) still gets JSON


def test_the_report_form_refuses_with_a_page(client: TestClient) -> None:
    csrf = _csrf(client, "/report")
    r = client.post("/report", headers=HTML, data={"csrf": csrf, "subject": "x"})  # fields missing
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "请求参数无效" in r.text and '{"detail"' not in r.text and 'href="/report"' in r.text
    r = client.post("/report", headers=HTML, data={"csrf": "wrong", "region_code": "320102", "subject": "x",
                                                  "description": "0123456789 abc"})
    assert r.status_code == 403 and "表单令牌无效" in r.text and "invalid form token" not in r.text


def test_login_returns_to_the_page_asked_for(client: TestClient) -> None:
    r = client.get("/cases?overdue=true", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fcases%3Foverdue%3Dtrue"
    form = client.get(r.headers["location"]).text
    assert 'name="next" value="/cases?overdue=true"' in form
    assert _login(client, "/cases?overdue=true") == "/cases?overdue=true"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "/\\/evil",
                                    "javascript:alert(1)", "evil.example", "/cases\r\nSet-Cookie: a=b",
                                    "/login?next=//evil.example", ""])
def test_login_never_redirects_off_the_console(client: TestClient, target: str) -> None:
    assert local_path(target) is None
    assert _login(client, target) == "/dashboard"
    assert 'name="next"' not in client.get("/login", params={"next": target}).text

"""The console names the issuing authority configured for the case's area on its notices, and an admin sets
those authorities on /admin/authorities (within their own area, recorded like a change to an account)."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from helpers import PASSWORD, STRATUM, Conversation, login, write_pcap
from minescope.cases.workflow import assign, list_cases, sync_cases
from minescope.pipeline import Scanner, ScanOptions
from minescope.store import accounts
from minescope.store.accounts import add_user
from minescope.store.findings import open_store, save_scan
from minescope.web.app import create_app


@pytest.fixture
def console(tmp_path: Path):  # type: ignore[no-untyped-def]
    registry = tmp_path / "orgs.csv"
    registry.write_text("cidr,organisation,type,region_code,contact\n"
                        "10.1.0.0/16,玄武区某局,government,320102,\n", encoding="utf-8")
    pcap = write_pcap(tmp_path / "c.pcap", [Conversation("10.1.0.5", 40000, "203.0.113.9", 3333, STRATUM)])
    target = str(tmp_path / "m.db")
    engine = open_store(target)
    save_scan(engine, Scanner(ScanOptions(registry=registry)).scan([pcap]))
    sync_cases(engine)
    case_id = list_cases(engine)[0].id
    assign(engine, case_id, "xuanwu", time.time() + 7 * 86400, actor="admin")
    add_user(engine, "xuanwu", PASSWORD, "analyst", "320102")
    add_user(engine, "nanjing-admin", PASSWORD, "admin", "320100")
    return TestClient(create_app(target, secret="test")), engine, case_id


def _csrf(client: TestClient, path: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)  # type: ignore[union-attr]


def _text(pdf: bytes) -> str:
    return re.sub(r"\s+", "", "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages))


def test_an_admin_sets_the_authority_and_the_notice_names_it(console) -> None:  # type: ignore[no-untyped-def]
    client, engine, case_id = console
    login(client, "nanjing-admin")
    assert 'id="nav-authorities"' in client.get("/admin/users").text
    page = client.get("/admin/authorities")
    assert page.status_code == 200 and "尚未设置发文机关" in page.text and "未配置发文机关" in page.text
    assert "Issuing authorities" in client.get("/admin/authorities?lang=en").text
    csrf = _csrf(client, "/admin/authorities")
    form = {"csrf": csrf, "action": "set", "region_code": "320102", "name": "南京市玄武区发展和改革局",
            "doc_prefix": "玄发改"}
    assert client.post("/admin/authorities", data=form, follow_redirects=False).status_code == 303
    page = client.get("/admin/authorities").text
    assert 'data-region="320102"' in page and "玄发改" in page and "nanjing-admin" in page
    [event] = accounts.authority_history(engine)
    assert (event.actor, event.action, event.detail["after"]["name"]) == ("nanjing-admin", "authority_set",
                                                                         "南京市玄武区发展和改革局")
    # outside the admin's area, or not a division: refused, nothing stored
    for code in ("320000", "110108", "999999"):
        client.post("/admin/authorities", data={**form, "region_code": code})
    assert [r["region_code"] for r in accounts.list_authorities(engine)] == ["320102"]
    assert "320000 is outside your area" in client.post("/admin/authorities",  # the page was last seen in en
                                                        data={**form, "region_code": "320000"}).text

    analyst = TestClient(client.app)
    login(analyst, "xuanwu")
    assert analyst.get("/admin/authorities").status_code == 403
    draft = analyst.get(f"/cases/{case_id}/notice.pdf")
    assert draft.status_code == 200 and "南京市玄武区发展和改革局（盖章）" in _text(draft.content)
    r = analyst.post(f"/api/cases/{case_id}/notice", headers={"X-CSRF-Token": _csrf(analyst, f"/cases/{case_id}")})
    assert r.status_code == 200, r.text
    assert r.headers["X-Issuing-Authority-Configured"] == "yes"
    text = _text(r.content)
    assert "南京市玄武区发展和改革局（盖章）" in text and "玄发改〔" in text and "未配置" not in text


def test_without_an_authority_the_console_notice_names_the_area_and_says_so(console) -> None:  # type: ignore[no-untyped-def]
    client, _engine, case_id = console
    login(client, "xuanwu")
    r = client.post(f"/api/cases/{case_id}/notice", headers={"X-CSRF-Token": _csrf(client, f"/cases/{case_id}")})
    assert r.status_code == 200, r.text
    assert r.headers["X-Issuing-Authority-Configured"] == "no"
    text = _text(r.content)
    assert "江苏省南京市玄武区（盖章）" in text and "注：江苏省南京市玄武区尚未配置发文机关" in text

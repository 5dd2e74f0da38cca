"""The disposal workflow on a real store: findings → cases → closure, history chain, reopening."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from helpers import CORPUS, ROOT, Conversation, write_pcap
from minescope.cases import history
from minescope.cases.workflow import (
    OpenTasks,
    WorkflowError,
    add_attachment,
    add_comment,
    add_task,
    advance,
    assign,
    close,
    complete_task,
    issue,
    list_cases,
    sync_cases,
)
from minescope.pipeline import Scanner, ScanOptions
from minescope.store.cases import case_history
from minescope.store.findings import open_store, save_scan

REGISTRY = ROOT / "samples" / "org-registry.csv"


@pytest.fixture
def store(store_target: str) -> Engine:
    engine = open_store(store_target)
    scanner = Scanner(ScanOptions(registry=REGISTRY))
    save_scan(engine, scanner.scan([CORPUS / "mining" / "ndpi_mining.pcapng"]))
    return engine


def test_findings_become_cases_by_organisation(store: Engine) -> None:
    report = sync_cases(store)
    titles = {c.title: c for c in list_cases(store)}
    # 192.168.2.0/24 is the sample registry's university lab; 147.229.13.222 has no organisation
    assert "示例大学 计算机学院实验室" in titles and "147.229.13.222" in titles
    assert report.created == len(titles) and all(c.state == "new" for c in titles.values())
    assert sync_cases(store).created == 0  # idempotent


def test_walk_a_case_to_closure_with_history(store: Engine) -> None:
    sync_cases(store)
    case = next(c for c in list_cases(store) if c.org_type == "university")
    assign(store, case.id, "county-analyst", time.time() + 86400, "city-admin")
    with pytest.raises(WorkflowError):
        advance(store, case.id, "verified", "county-analyst")  # no skipping steps
    with pytest.raises(WorkflowError):
        advance(store, case.id, "notice_issued", "county-analyst")  # only by issuing the notice
    issue(store, case.id, "county-analyst", "notice.pdf", b"%PDF-1.7 notice")
    for step in ("rectifying", "verified"):
        advance(store, case.id, step, "county-analyst")
    task = add_task(store, case.id, "on-site check", "county-analyst")
    add_comment(store, case.id, "mining software removed", "county-analyst")
    add_attachment(store, case.id, "photo.jpg", b"\xff\xd8 jpeg bytes", "county-analyst")
    with pytest.raises(OpenTasks):
        close(store, case.id, "hijacked_host_cleaned", "county-analyst")
    with pytest.raises(WorkflowError):
        complete_task(store, case.id + 1, task, "county-analyst")  # a task is done only through its own case
    complete_task(store, case.id, task, "county-analyst")
    close(store, case.id, "hijacked_host_cleaned", "county-analyst")
    (closed,) = [c for c in list_cases(store, ["closed"])]
    assert closed.closing_reason == "hijacked_host_cleaned"
    assert history.verify(store) == []


def test_closing_reasons_are_typed_and_checked(store: Engine) -> None:
    sync_cases(store)
    case = list_cases(store)[0]
    with pytest.raises(WorkflowError):
        close(store, case.id, "because", "x")
    with pytest.raises(WorkflowError):
        close(store, case.id, "cleared", "x")  # cleared needs a verified case
    close(store, case.id, "false_positive", "x")


def test_tampered_history_is_detected(store: Engine) -> None:
    sync_cases(store)
    case = list_cases(store)[0]
    assign(store, case.id, "analyst", time.time() + 3600, "admin")
    assert history.verify(store) == []
    with store.begin() as conn:
        conn.execute(update(case_history).where(case_history.c.action == "assign").values(actor="someone-else"))
    problems = history.verify(store)
    assert problems and "changed" in problems[0]


def test_overdue_cases(store: Engine) -> None:
    sync_cases(store)
    late, on_time = list_cases(store)[:2]
    assign(store, late.id, "a", time.time() - 3600, "admin")
    assign(store, on_time.id, "b", time.time() + 3600, "admin")
    assert [c.id for c in list_cases(store, overdue=True)] == [late.id]


def test_a_closed_case_reopens_when_a_later_scan_finds_its_subject(store: Engine, tmp_path: Path) -> None:
    sync_cases(store)
    case = next(c for c in list_cases(store) if c.org_type == "university")
    close(store, case.id, "false_positive", "analyst")
    # the same capture again: nothing new, nothing reopens
    save_scan(store, Scanner(ScanOptions(registry=REGISTRY)).scan([CORPUS / "mining" / "ndpi_mining.pcapng"]))
    assert sync_cases(store).reopened == 0
    # a new session from another host of the same organisation
    notify = (b'{"id": null, "method": "mining.notify", "params": ["bf", "4d16b6f85af6e2198f44ae2a6de67f78487ae5611b'
              b'77c6c0440b921e00000000", "01", "02", [], "00000002", "1c2ac4af", "504e86b9", false]}\n')
    submit = b'{"id": 4, "method": "mining.submit", "params": ["w.rig", "bf", "00000001", "504e86ed", "b2"]}\n'
    stratum = [(0, 0.0, b'{"id": 1, "method": "mining.subscribe", "params": []}\n'), (1, 0.1, notify),
               (0, 5.0, submit)]
    pcap = write_pcap(tmp_path / "later.pcap", [Conversation("192.168.2.77", 40000, "203.0.113.9", 3333, stratum)])
    save_scan(store, Scanner(ScanOptions(registry=REGISTRY)).scan([pcap]))
    assert sync_cases(store).reopened == 1
    (again,) = [c for c in list_cases(store) if c.id == case.id]
    assert again.state == "new" and again.reopened == 1 and again.closing_reason is None
    assert history.verify(store) == []


def test_verify_command(store: Engine, tmp_path: Path) -> None:
    import subprocess
    import sys

    sync_cases(store)
    db = store.url.render_as_string(hide_password=False)
    ok = subprocess.run([sys.executable, "-m", "minescope", "cases", "verify", "--db", db, "--lang", "en"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "intact" in ok.stdout
    with store.begin() as conn:
        conn.execute(case_history.delete().where(case_history.c.id == 1))
    bad = subprocess.run([sys.executable, "-m", "minescope", "cases", "verify", "--db", db, "--lang", "en"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "tampered" in bad.stderr and "Traceback" not in bad.stderr


def test_a_clean_scan_of_the_hosts_verifies_a_rectified_case(store: Engine, tmp_path: Path) -> None:
    from minescope.cases.workflow import verify_clean

    sync_cases(store)
    case = next(c for c in list_cases(store) if c.org_type == "university")  # hosts 192.168.2.92 and .148
    assign(store, case.id, "analyst", time.time() + 86400, "admin")
    issue(store, case.id, "analyst", "notice.pdf", b"%PDF-1.7 notice")
    advance(store, case.id, "rectifying", "analyst")
    web = [(0, 0.0, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), (1, 0.1, b"HTTP/1.1 200 OK\r\n\r\n")]
    scanner = Scanner(ScanOptions(registry=REGISTRY))
    only_one = write_pcap(tmp_path / "one.pcap", [Conversation("192.168.2.92", 41000, "198.51.100.7", 80, web)])
    assert verify_clean(store, scanner.scan([only_one])) == []  # one host not seen yet: not verified
    both = write_pcap(tmp_path / "both.pcap", [Conversation("192.168.2.92", 41000, "198.51.100.7", 80, web),
                                               Conversation("192.168.2.148", 41001, "198.51.100.7", 80, web)])
    assert verify_clean(store, scanner.scan([both])) == [case.id]
    (verified,) = [c for c in list_cases(store) if c.id == case.id]
    assert verified.state == "verified" and history.verify(store) == []

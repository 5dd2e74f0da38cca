"""Issue 13, items 6 and 7: dates as dates, places by name, history in the page's language, long wallets wrap,
and a sample registry that reaches county level."""

from __future__ import annotations

import csv
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from helpers import PASSWORD, STRATUM, Conversation, login, write_pcap
from minescope.cases.workflow import assign, list_cases, sync_cases
from minescope.enrich.attribution import ORG_TYPES
from minescope.knowledge.regions import division
from minescope.outputs import fmt
from minescope.pipeline import Scanner, ScanOptions
from minescope.store.accounts import add_user
from minescope.store.findings import open_store, save_scan
from minescope.web.app import create_app
from minescope.web.i18n import LABELS, STATE_LABELS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def console(tmp_path: Path, store_target: str):  # type: ignore[no-untyped-def]
    registry = tmp_path / "orgs.csv"
    registry.write_text("cidr,organisation,type,region_code,contact\n"
                        "10.1.0.0/16,玄武区某局,government,320102,\n", encoding="utf-8")
    pcap = write_pcap(tmp_path / "c.pcap", [Conversation("10.1.0.5", 40000, "203.0.113.9", 3333, STRATUM)])
    engine = open_store(store_target)
    save_scan(engine, Scanner(ScanOptions(registry=registry)).scan([pcap]))
    sync_cases(engine)
    case_id = list_cases(engine)[0].id
    due = time.time() + 7 * 86400
    assign(engine, case_id, "li", due, actor="admin")
    add_user(engine, "xuanwu", PASSWORD, "analyst", "320102")
    return TestClient(create_app(store_target, secret="test")), case_id, due


def test_history_shows_dates_and_actions_in_the_page_language(console) -> None:  # type: ignore[no-untyped-def]
    client, case_id, due = console
    login(client, "xuanwu")
    zh = client.get(f"/cases/{case_id}").text
    history = zh[zh.index('id="history"'):]
    assert fmt.clock(due) in history  # the due date as a date ...
    assert str(int(due)) not in history  # ... never as epoch seconds
    assert "立案" in history and "分派" in history
    assert not re.search(r">(create|assign)<", history)  # no English action names on a zh page
    en = client.get(f"/cases/{case_id}?lang=en").text
    assert "opened" in en[en.index('id="history"'):]


def test_places_by_name(console) -> None:  # type: ignore[no-untyped-def]
    client, case_id, _ = console
    login(client, "xuanwu")
    page = client.get(f"/cases/{case_id}").text
    assert "江苏省南京市玄武区" in page  # the header's jurisdiction and the case's region, by GB/T 2260 name
    assert "江苏省南京市玄武区" in client.get("/cases").text


def test_every_history_action_and_organisation_type_has_both_labels() -> None:
    actions = set(re.findall(r'history\.append\(conn, [\w.]+, actor, "(\w+)"',
                             (ROOT / "src/minescope/cases/workflow.py").read_text(encoding="utf-8")))
    actions |= set(re.findall(r'_change\(conn, case, actor, "(\w+)"',
                              (ROOT / "src/minescope/cases/workflow.py").read_text(encoding="utf-8")))
    actions |= {"from_tip"}
    missing = [a for a in actions if f"hist.{a}" not in LABELS and a not in STATE_LABELS]
    assert not missing
    assert all(f"org.{t}" in LABELS for t in ORG_TYPES)


def test_long_values_wrap_in_tables() -> None:
    css = (ROOT / "src/minescope/web/static/console.css").read_text(encoding="utf-8")
    assert "overflow-wrap: anywhere" in css


def test_sample_registry_reaches_county_level() -> None:
    """`make demo` attributes the sample hosts to counties, so the README's county user (320102) has a case."""
    lines = (ROOT / "samples/org-registry.csv").read_text(encoding="utf-8").splitlines()
    rows = list(csv.DictReader(line for line in lines if not line.startswith("#")))
    assert rows
    for row in rows:
        d = division(row["region_code"])
        assert d is not None and d.level == "county", row
    assert "320102" in {r["region_code"] for r in rows}
    assert "--region 320102" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_evidence_keys_and_types_in_the_page_language(console, store_target: str) -> None:  # type: ignore[no-untyped-def]
    client, case_id, _ = console
    login(client, "xuanwu")
    finding = client.get(f"/api/cases/{case_id}").json()["findings"][0]
    fid = finding["id"] if isinstance(finding, dict) else finding
    zh = client.get(f"/findings/{fid}").text
    evidence = zh[zh.index('id="evidence"'):]
    assert "挖矿协议报文" in evidence and 'data-key="algorithm"' in evidence and "算法" in evidence
    en = client.get(f"/findings/{fid}?lang=en").text
    assert ">algorithm<" in en[en.index('id="evidence"'):]
    for ev in ("miner_request", "failover", "tunnel", "tip"):
        assert f"ev.{ev}" in LABELS

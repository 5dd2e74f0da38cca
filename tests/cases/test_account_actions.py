"""What is done about the accounts a case holds (bank and payment findings): frozen, reported to the police, put on
the 断卡 list — recorded once each with its reference, in the case's history, and exported as the 断卡 list."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, select

from helpers import cli
from minescope.cases import history
from minescope.cases.workflow import (
    WorkflowError,
    account_actions_of,
    act_on_account,
    close,
    list_cases,
    sync_cases,
)
from minescope.dimensions.funds.kinds import MONEY_MULE, OTC_MERCHANT
from minescope.model import Attribution, Dimension, Evidence, Finding, ScanResult, Severity, Subject, SubjectType, Text
from minescope.outputs.duanka import duanka_rows, duanka_xlsx
from minescope.store.cases import case_history
from minescope.store.findings import open_store, save_scan

T0 = 1_700_000_000.0
MULE, MERCHANT = "6222020200112233445", "6217000010001234567"


def account_finding(kind: str, account: str, org: str, region: str) -> Finding:
    return Finding(
        kind=kind, subject_ip=None, peer=None, flows=(), confidence=0.8, severity=Severity.HIGH,
        reasons=(Text(zh=f"账户 {account} 符合跑分特征", en=f"account {account} behaves like a money mule"),),
        evidence=(Evidence("typology", "score 0.8", {"score": 0.8}, "detectors"),), source="transactions.csv",
        subject=Subject(SubjectType.ACCOUNT, account), dimension=Dimension.FUNDS, first_seen=T0, last_seen=T0 + 86400,
        attribution=Attribution(ip="", org_name=org, org_type="enterprise", region_code=region), key=kind)


@pytest.fixture
def store(store_target: str) -> Engine:
    engine = open_store(store_target)
    save_scan(engine, ScanResult([], [account_finding(MONEY_MULE, MULE, "某某贸易有限公司", "320102"),
                                      account_finding(OTC_MERCHANT, MERCHANT, "某某贸易有限公司", "320102"),
                                      account_finding(MONEY_MULE, "6228480000000000001", "某商行", "440305")],
                                 T0, 1.0))
    sync_cases(engine)
    return engine


def case_of(engine: Engine, org: str) -> int:
    return next(c.id for c in list_cases(engine) if c.title == org)


def test_each_action_is_recorded_once_with_its_reference_and_history(store: Engine) -> None:
    case = case_of(store, "某某贸易有限公司")
    assert set(account_actions_of(store, case)) == {MULE, MERCHANT}  # the case's accounts, none acted on yet
    act_on_account(store, case, MULE, "freeze", "analyst", "冻结通知书 2026-17")
    act_on_account(store, case, MULE, "report_to_police", "analyst", "报案回执 320102-889")
    act_on_account(store, case, MULE, "duanka", "analyst", "")
    done = account_actions_of(store, case)
    assert set(done[MULE]) == {"freeze", "report_to_police", "duanka"} and done[MERCHANT] == {}
    assert done[MULE]["freeze"].reference == "冻结通知书 2026-17" and done[MULE]["freeze"].actor == "analyst"
    with pytest.raises(WorkflowError, match="already frozen"):
        act_on_account(store, case, MULE, "freeze", "analyst", "again")
    with store.connect() as conn:
        events = [r.after for r in conn.execute(select(case_history).where(
            case_history.c.case_id == case, case_history.c.action == "account_action").order_by(case_history.c.id))]
    assert [e["action"] for e in events] == ["freeze", "report_to_police", "duanka"]
    assert history.verify(store) == []  # the chain holds


@pytest.mark.parametrize(("account", "action", "says"), [
    ("6228480000000000001", "freeze", "holds no finding about the account"),  # another case's account
    (MULE, "seize", "unknown account action"),
])
def test_what_the_case_does_not_hold_is_refused(store: Engine, account: str, action: str, says: str) -> None:
    with pytest.raises(WorkflowError, match=says):
        act_on_account(store, case_of(store, "某某贸易有限公司"), account, action, "analyst")


def test_a_closed_case_takes_no_action(store: Engine) -> None:
    case = case_of(store, "某某贸易有限公司")
    close(store, case, "handed_to_police", "analyst")
    with pytest.raises(WorkflowError, match="closed"):
        act_on_account(store, case, MULE, "freeze", "analyst")


def test_the_duanka_list_holds_listed_accounts_of_the_area(store: Engine, store_target: str, tmp_path: Path) -> None:
    here, there = case_of(store, "某某贸易有限公司"), case_of(store, "某商行")
    act_on_account(store, here, MULE, "freeze", "analyst", "冻结通知书 2026-17")
    act_on_account(store, here, MULE, "duanka", "analyst", "断卡名单 第 3 批")
    act_on_account(store, here, MERCHANT, "freeze", "analyst", "冻结通知书 2026-18")  # frozen, not listed
    act_on_account(store, there, "6228480000000000001", "duanka", "analyst")
    rows = duanka_rows(store, "320102")
    assert [(r["account"], r["case_id"]) for r in rows] == [(MULE, here)]
    assert rows[0]["kinds"] == ["money_mule_account"] and rows[0]["first_seen"] == T0
    assert {r["account"] for r in duanka_rows(store)} == {MULE, "6228480000000000001"}
    sheet = load_workbook(io.BytesIO(duanka_xlsx(store, "32"))).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0][:3] == ["账户", "持有人 / 单位", "案件编号"] and len(values) == 2
    assert values[1][0] == MULE and values[1][1] == "某某贸易有限公司" and "疑似跑分账户" in values[1][4]
    assert values[1][8] == "冻结通知书 2026-17" and values[1][12] == "断卡名单 第 3 批"
    # the command line: record an action, export the list
    run = cli("cases", "account", str(there), "6228480000000000001", "freeze", "--reference", "冻结 9",
              "--db", store_target, "--lang", "en")
    assert run.rc == 0 and b"frozen" in run.stdout
    out = tmp_path / "断卡名单.xlsx"
    assert cli("cases", "duanka", "-o", str(out), "--db", store_target, "--lang", "en").rc == 0
    listed = [[c.value for c in row] for row in load_workbook(out).active.iter_rows()]
    assert listed[0][0] == "Account" and {r[0] for r in listed[1:]} == {MULE, "6228480000000000001"}
    refused = cli("cases", "account", str(there), MULE, "freeze", "--db", store_target)
    assert refused.rc == 1 and "不涉及账户" in refused.stderr and "Traceback" not in refused.stderr

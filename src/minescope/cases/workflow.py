"""The disposal workflow: findings grouped into cases, and each case walked to closure.

States: new → assigned (owner, due date) → notice_issued → rectifying → verified → closed. A case
closes with a typed reason; "cleared" and "hijacked_host_cleaned" need a verified case, while
"false_positive" and "handed_to_police" may close it from any open state. Closing a case with open
tasks needs ``force`` (the console asks first). A closed case whose subject shows up in a later
scan is reopened by ``sync_cases``. Every change goes into the hash-chained history with the
fields before and after.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Connection, Engine, Row, Select, and_, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from minescope import registry, settings
from minescope.cases import history
from minescope.errors import InputError
from minescope.model import ScanResult
from minescope.store.cases import (
    account_actions,
    case_attachments,
    case_comments,
    case_findings,
    case_tasks,
    cases,
)
from minescope.store.findings import begin, findings, hold_write_lock, insert_ignore, scans

STATES = ("new", "assigned", "notice_issued", "rectifying", "verified", "closed")
FORWARD = {"assigned": "notice_issued", "notice_issued": "rectifying", "rectifying": "verified"}
CLOSING_REASONS = ("cleared", "false_positive", "handed_to_police", "hijacked_host_cleaned")
NEEDS_VERIFIED = {"cleared", "hijacked_host_cleaned"}
TRACKED = ("state", "owner", "due_at", "closing_reason", "reopened")
# What may be done about an account a case holds (bank and payment findings), as people read it
ACCOUNT_ACTIONS = ("freeze", "report_to_police", "duanka")
ACCOUNT_ACTION_LABELS: dict[str, tuple[str, str]] = {
    "freeze": ("已冻结", "frozen"), "report_to_police": ("已报案", "reported to the police"),
    "duanka": ("已列入断卡名单", "on the 断卡 list (cards cut off from non-counter services)"),
}
REFERENCE_MAX = 200  # characters of an order's or report's reference kept
PAGE_SIZE, PAGE_MAX = 50, 500  # cases per page of the console's list: by default, and at most
DUE_DAYS_MIN, DUE_DAYS_MAX = 1, 365  # a rectification term, in whole days
DUE_AT_MAX_AHEAD = (DUE_DAYS_MAX + 1) * 86400.0  # a due time given directly: at most this far ahead
DUE_AT_EARLIEST = 946684800.0  # 2000-01-01 UTC: and no earlier
WRITE_ATTEMPTS = 5  # a write that met a deadlock or a lost race is tried again, from the start
# States and closing reasons as people read them: key → (zh, en)
STATE_LABELS: dict[str, tuple[str, str]] = {
    "new": ("新建", "new"), "assigned": ("已分派", "assigned"), "notice_issued": ("已下发通知", "notice issued"),
    "rectifying": ("整改中", "rectifying"), "verified": ("已核查", "verified"), "closed": ("已结案", "closed"),
    "cleared": ("已清零", "cleared"), "false_positive": ("误报", "false positive"),
    "handed_to_police": ("移交公安", "handed to police"),
    "hijacked_host_cleaned": ("被控主机已清理", "hijacked host cleaned"),
}


T = TypeVar("T")


class WorkflowError(InputError):
    """A step the workflow does not allow, said in both languages."""


class OpenTasks(WorkflowError):
    """Closing would leave tasks open: ask the user, then close with force."""


def due_days_checked(days: object) -> int:
    """A rectification term in whole days, ``DUE_DAYS_MIN``..``DUE_DAYS_MAX``; anything else is refused."""
    ok = isinstance(days, int) and not isinstance(days, bool) and DUE_DAYS_MIN <= days <= DUE_DAYS_MAX
    if not ok:
        raise WorkflowError(f"期限天数须为 {DUE_DAYS_MIN} 到 {DUE_DAYS_MAX} 之间的整数（收到 {str(days)[:20]}）",
                            f"the due days must be a whole number from {DUE_DAYS_MIN} to {DUE_DAYS_MAX} "
                            f"(got {str(days)[:20]})")
    return int(days)  # type: ignore[call-overload]


def _due_at_checked(due_at: float, now: float) -> float:
    """A due time given directly: a real time from 2000 on, at most ``DUE_DAYS_MAX`` (+1) days ahead."""
    if not (isinstance(due_at, (int, float)) and math.isfinite(due_at) and due_at >= DUE_AT_EARLIEST
            and due_at - now <= DUE_AT_MAX_AHEAD):
        raise WorkflowError(f"期限无效：须为 2000 年以后、今后 {DUE_DAYS_MAX} 天以内的时间",
                            f"the due date is not valid: it must lie after 2000 and within {DUE_DAYS_MAX} days "
                            "from now")
    return float(due_at)


def writing(store: Engine, work: Callable[[Connection], T]) -> T:
    """Run ``work`` in a write transaction that holds the writers' turn from its first statement, and run it
    again from the start (up to ``WRITE_ATTEMPTS`` times) when the database refused it for a reason that
    passes: a deadlock, a serialization failure, two writers racing for the same link of the history chain
    (PostgreSQL), a busy file (SQLite). Every other error, and the workflow's refusals, go to the caller."""
    for attempt in range(WRITE_ATTEMPTS):
        try:
            with store.begin() as conn:
                if conn.dialect.name == "sqlite":
                    conn.exec_driver_sql("BEGIN IMMEDIATE")  # the write lock now, not at the first write
                hold_write_lock(conn)
                return work(conn)
        except DBAPIError as e:
            if attempt == WRITE_ATTEMPTS - 1 or not _passing(e):
                raise
            time.sleep(0.01 * 2**attempt)
    raise AssertionError("unreachable")


def _passing(e: DBAPIError) -> bool:
    code = getattr(e.orig, "sqlstate", None)
    text = str(e.orig)
    return code in ("40001", "40P01") or (code == "23505" and "uq_case_history_chain" in text) \
        or "database is locked" in text


@dataclass(frozen=True)
class SyncReport:
    created: int
    extended: int
    reopened: int


def subject_key(finding: dict[str, Any]) -> tuple[str, str]:
    """(key, title) of the case a finding belongs to: its organisation when known, else its host. A machine
    named by its endpoint logs with a known address shares the case of that address (the process behind the
    traffic)."""
    attribution = finding.get("attribution") or {}
    if attribution.get("org_name"):
        return f"org:{attribution['org_name']}", attribution["org_name"]
    subject = finding.get("subject") or {"type": "ip", "value": finding["subject_ip"]}  # stored before schema 1.1
    if subject["type"] == "host" and finding.get("subject_ip"):
        return f"ip:{finding['subject_ip']}", finding["subject_ip"]
    return f"{subject['type']}:{subject['value']}", subject["value"]


def case_kinds() -> tuple[str, ...]:
    """The kinds whose findings are disposal work: policy, not detector code. ``MINESCOPE_CASE_KINDS``
    names them; by default the kinds declared to open cases (blockchain nodes, behaviour leads and public
    reports are recorded but open no case). An unknown name is refused, not ignored."""
    configured = settings.CASE_KINDS.value()
    if not configured:
        return registry.default_case_kinds()
    chosen = tuple(dict.fromkeys(k.strip() for k in configured.split(",") if k.strip()))
    unknown = [k for k in chosen if registry.kind(k) is None]
    if unknown:
        raise InputError(f"MINESCOPE_CASE_KINDS 中有未知的发现类型 {', '.join(unknown)}；"
                         f"可选：{', '.join(registry.kinds())}",
                         f"MINESCOPE_CASE_KINDS names unknown kinds {', '.join(unknown)}; "
                         f"known: {', '.join(registry.kinds())}")
    return chosen


def sync_cases(store: Engine | Connection, actor: str = "system", now: float | None = None) -> SyncReport:
    """Put every stored mining-related finding into its case; reopen closed cases seen again.

    On a store (an Engine), in a transaction of its own (``cases sync``, the console); on a connection, in the
    caller's (a scan stores its findings, dataset files and cases together)."""
    now = time.time() if now is None else now
    created = extended = reopened = 0
    with begin(store) as conn:
        hold_write_lock(conn)  # concurrent scans: one creates a subject's case, the other extends it
        # a closed case reopens when a scan run after its closing found its subject again
        unassigned = conn.execute(
            select(findings.c.id, findings.c.data, scans.c.started_at)
            .join(scans, scans.c.id == findings.c.first_scan_id)
            .where(findings.c.kind.in_(case_kinds()))
            .where(~findings.c.id.in_(select(case_findings.c.finding_id)))
            .order_by(findings.c.first_seen)
        ).all()
        for fid, data, scanned_at in unassigned:
            key, title = subject_key(data)
            case = conn.execute(select(cases).where(cases.c.subject_key == key)).first()
            if case is None:
                case = _create(conn, key, title, data, actor, now)
                created += 1
            else:
                extended += 1
                if case.state == "closed" and scanned_at > case.updated_at:
                    _change(conn, case, actor, "reopen", now, state="assigned" if case.owner else "new",
                            closing_reason=None, reopened=case.reopened + 1)
                    reopened += 1
            conn.execute(insert_ignore(conn, case_findings).values(case_id=case.id, finding_id=fid, added_at=now))
    return SyncReport(created, extended, reopened)


def verify_clean(store: Engine | Connection, result: ScanResult, actor: str = "system") -> list[int]:
    """Cases under rectification whose hosts this scan saw without mining: verified.

    A host counts as checked when the scan saw traffic from it, or a host check of the machine with that
    address; a case is verified only when every one of its hosts was seen and none of them gave a
    mining-related finding in this scan.
    """
    # any mining-related finding keeps a host unverified, also one that opens no case (a miner still on disk)
    mining = set(case_kinds()) | set(registry.mining_kinds())
    mining_hosts = {f.subject_ip for f in result.findings if f.kind in mining}
    verified = []
    with begin(store) as conn:
        for case in conn.execute(select(cases).where(cases.c.state == "rectifying")).all():
            hosts = set(conn.execute(select(findings.c.subject_ip).join(
                case_findings, case_findings.c.finding_id == findings.c.id)
                .where(case_findings.c.case_id == case.id)).scalars())
            hosts.discard("")
            if hosts and hosts <= result.hosts_seen and not hosts & mining_hosts:
                _change(conn, case, actor, "verified_by_scan", state="verified")
                verified.append(case.id)
    return verified


def assign(store: Engine, case_id: int, owner: str, due_at: float, actor: str) -> None:
    """Give the case an owner and a due date (within ``DUE_DAYS_MAX`` days of now)."""
    due_at = _due_at_checked(due_at, time.time())

    def work(conn: Connection) -> None:
        case = _get(conn, case_id)
        if case.state not in ("new", "assigned"):
            raise WorkflowError(f"案件 {case_id} 处于「{case.state}」状态，不能再分派",
                                f"case {case_id} is {case.state}; it can no longer be assigned")
        _change(conn, case, actor, "assign", state="assigned", owner=owner, due_at=due_at)

    writing(store, work)


def advance(store: Engine, case_id: int, to_state: str, actor: str) -> None:
    """One step forward: notice_issued → rectifying → verified. A case reaches notice_issued only by
    issuing its notice (``issue``, which keeps the PDF on it)."""
    if to_state == "notice_issued":
        raise WorkflowError(f"案件 {case_id} 须通过出具整改通知书转为「已下发通知」",
                            f"case {case_id} becomes notice_issued only by issuing its rectification notice")

    def work(conn: Connection) -> None:
        case = _get(conn, case_id)
        if FORWARD.get(case.state) != to_state:
            raise WorkflowError(f"案件 {case_id} 不能从「{case.state}」转到「{to_state}」",
                                f"case {case_id} cannot go from {case.state} to {to_state}")
        _change(conn, case, actor, to_state, state=to_state)

    writing(store, work)


def issue(store: Engine, case_id: int, actor: str, filename: str, pdf: bytes) -> str:
    """The notice was made (``pdf``): keep it on the case and move the case (assigned) to notice_issued,
    both in one transaction, so no case is issued without its notice. Returns the PDF's SHA-256."""
    digest = hashlib.sha256(pdf).hexdigest()

    def work(conn: Connection) -> None:
        case = _get(conn, case_id)
        if case.state != "assigned":
            raise WorkflowError(f"案件 {case_id} 处于「{case.state}」状态；先分派，再出具整改通知书",
                                f"case {case_id} is {case.state}; assign it before issuing its notice")
        conn.execute(insert(case_attachments).values(case_id=case_id, filename=filename, sha256=digest,
                                                     content=pdf, author=actor, created_at=time.time()))
        _change(conn, case, actor, "notice_issued", state="notice_issued")
        history.append(conn, case_id, actor, "attach", {}, {"filename": filename, "sha256": digest})

    writing(store, work)
    return digest


def reopen(store: Engine, case_id: int, actor: str) -> None:
    """Open a closed case again (to the state before its work began: assigned when it has an owner)."""
    def work(conn: Connection) -> None:
        case = _get(conn, case_id)
        if case.state != "closed":
            raise WorkflowError(f"案件 {case_id} 未结案，无需重新打开", f"case {case_id} is not closed")
        _change(conn, case, actor, "reopen", state="assigned" if case.owner else "new", closing_reason=None,
                reopened=case.reopened + 1)

    writing(store, work)


def close(store: Engine, case_id: int, reason: str, actor: str, force: bool = False) -> None:
    if reason not in CLOSING_REASONS:
        raise WorkflowError(f"未知的结案原因 {reason}；可用：{'、'.join(CLOSING_REASONS)}",
                            f"unknown closing reason {reason}; use one of {', '.join(CLOSING_REASONS)}")
    def work(conn: Connection) -> None:
        case = _get(conn, case_id)
        if case.state == "closed":
            raise WorkflowError(f"案件 {case_id} 已结案", f"case {case_id} is already closed")
        if reason in NEEDS_VERIFIED and case.state != "verified":
            raise WorkflowError(f"以「{reason}」结案须先核查（当前「{case.state}」）",
                                f"closing as {reason} needs a verified case (it is {case.state})")
        open_tasks = conn.execute(select(func.count()).select_from(case_tasks).where(
            and_(case_tasks.c.case_id == case_id, case_tasks.c.done.is_(False)))).scalar_one()
        if open_tasks and not force:
            raise OpenTasks(f"案件 {case_id} 还有 {open_tasks} 项未完成任务；确认后再结案",
                            f"case {case_id} has {open_tasks} open task(s); confirm to close anyway")
        _change(conn, case, actor, "close", state="closed", closing_reason=reason)

    writing(store, work)


def add_task(store: Engine, case_id: int, title: str, actor: str, due_at: float | None = None) -> int:
    def work(conn: Connection) -> int:
        _open(conn, case_id)
        task_id = conn.execute(insert(case_tasks).values(case_id=case_id, title=title, done=False, due_at=due_at,
                                                         created_at=time.time())).inserted_primary_key
        assert task_id is not None
        history.append(conn, case_id, actor, "task_add", {}, {"task": task_id[0], "title": title})
        return int(task_id[0])

    return writing(store, work)


def complete_task(store: Engine, case_id: int, task_id: int, actor: str) -> None:
    def work(conn: Connection) -> None:
        _open(conn, case_id)
        task = conn.execute(select(case_tasks).where(case_tasks.c.id == task_id,
                                                     case_tasks.c.case_id == case_id)).first()
        if task is None:
            raise WorkflowError(f"没有任务 {task_id}", f"no task {task_id}")
        conn.execute(update(case_tasks).where(case_tasks.c.id == task_id).values(done=True))
        history.append(conn, task.case_id, actor, "task_done", {"task": task_id, "done": False},
                       {"task": task_id, "done": True})

    writing(store, work)


def case_accounts(conn: Connection, case_id: int) -> list[str]:
    """The bank and payment accounts the case's findings are about (subject ``account``)."""
    return sorted(conn.execute(
        select(findings.c.subject_value).join(case_findings, case_findings.c.finding_id == findings.c.id)
        .where(case_findings.c.case_id == case_id, findings.c.subject_type == "account").distinct()).scalars())


def act_on_account(store: Engine, case_id: int, account: str, action: str, actor: str, reference: str = "") -> None:
    """Record that an account of the case was frozen, reported to the police or put on the 断卡 list, with the
    order's or report's reference; once per case, account and action, and only while the case is open."""
    if action not in ACCOUNT_ACTIONS:
        raise WorkflowError(f"未知的账户处置 {action[:40]}；可选 {'、'.join(ACCOUNT_ACTIONS)}",
                            f"unknown account action {action[:40]}; choose one of {', '.join(ACCOUNT_ACTIONS)}")
    reference = reference.strip()[:REFERENCE_MAX]

    def work(conn: Connection) -> None:
        _open(conn, case_id)
        if account not in case_accounts(conn, case_id):
            raise WorkflowError(f"案件 {case_id} 不涉及账户 {account[:64]}",
                                f"case {case_id} holds no finding about the account {account[:64]}")
        done = conn.execute(select(account_actions.c.id).where(
            account_actions.c.case_id == case_id, account_actions.c.account == account,
            account_actions.c.action == action)).first()
        if done is not None:
            zh, en = ACCOUNT_ACTION_LABELS[action]
            raise WorkflowError(f"账户 {account[:64]} 已记录“{zh}”", f"the account {account[:64]} is already {en}")
        conn.execute(insert(account_actions).values(case_id=case_id, account=account, action=action,
                                                    reference=reference, actor=actor, at=time.time()))
        history.append(conn, case_id, actor, "account_action", {},
                       {"account": account, "action": action, "reference": reference})

    writing(store, work)


def account_actions_of(store: Engine, case_id: int) -> dict[str, dict[str, Row[Any]]]:
    """The case's accounts, each with the actions recorded (action → row); accounts without any too."""
    with store.connect() as conn:
        out: dict[str, dict[str, Row[Any]]] = {a: {} for a in case_accounts(conn, case_id)}
        for row in conn.execute(select(account_actions).where(account_actions.c.case_id == case_id)
                                .order_by(account_actions.c.id)):
            out.setdefault(row.account, {})[row.action] = row
    return out


def add_comment(store: Engine, case_id: int, text: str, actor: str) -> None:
    def work(conn: Connection) -> None:
        _open(conn, case_id)
        conn.execute(insert(case_comments).values(case_id=case_id, author=actor, text=text, created_at=time.time()))
        history.append(conn, case_id, actor, "comment", {}, {"text": text})

    writing(store, work)


def attachments(store: Engine, case_id: int) -> list[Row[Any]]:
    """The case's attachments, without their content."""
    with store.connect() as conn:
        return list(conn.execute(select(*(c for c in case_attachments.c if c.name != "content"))
                                 .where(case_attachments.c.case_id == case_id).order_by(case_attachments.c.id)))


def attachment(store: Engine, case_id: int, attachment_id: int) -> Row[Any]:
    with store.connect() as conn:
        row = conn.execute(select(case_attachments).where(case_attachments.c.id == attachment_id,
                                                          case_attachments.c.case_id == case_id)).first()
    if row is None:
        raise WorkflowError(f"案件 {case_id} 没有附件 {attachment_id}",
                            f"case {case_id} has no attachment {attachment_id}")
    return row


def add_attachment(store: Engine, case_id: int, filename: str, content: bytes, actor: str) -> str:
    digest = hashlib.sha256(content).hexdigest()

    def work(conn: Connection) -> None:
        _open(conn, case_id)
        conn.execute(insert(case_attachments).values(case_id=case_id, filename=filename, sha256=digest,
                                                     content=content, author=actor, created_at=time.time()))
        history.append(conn, case_id, actor, "attach", {}, {"filename": filename, "sha256": digest})

    writing(store, work)
    return digest


def list_cases(store: Engine, states: Iterable[str] | None = None, *, scope: str = "", overdue: bool = False,
               by_due: bool = False, now: float | None = None, limit: int | None = None,
               offset: int = 0) -> list[Row[Any]]:
    """Cases of an area (``scope``: a GB/T 2260 code prefix, "" for all), each with its number of
    findings; ``overdue`` keeps open cases past their due date. Ordered by id, or by due date
    (undated last) with ``by_due`` or ``overdue``. ``limit`` and ``offset`` give a part of them
    (``case_page`` gives a page and the number of all); without a limit, all of them."""
    where = _case_filter(states, scope, overdue, time.time() if now is None else now)
    with store.connect() as conn:
        return list(conn.execute(_case_list(where, by_due or overdue, limit, offset)))


def case_page(store: Engine, states: Iterable[str] | None = None, *, scope: str = "", overdue: bool = False,
              now: float | None = None, limit: int = PAGE_SIZE, offset: int = 0) -> tuple[list[Row[Any]], int]:
    """One page of the cases ``list_cases`` gives by due date, and how many there are over all pages."""
    where = _case_filter(states, scope, overdue, time.time() if now is None else now)
    with store.connect() as conn:
        total = int(conn.execute(select(func.count()).select_from(cases).where(*where)).scalar_one())
        rows = list(conn.execute(_case_list(where, True, limit, offset))) if offset < total else []
    return rows, total


def _case_filter(states: Iterable[str] | None, scope: str, overdue: bool, now: float) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if scope:
        where.append(cases.c.region_code.like(f"{scope}%"))
    if states:
        where.append(cases.c.state.in_(list(states)))
    if overdue:
        where += [cases.c.state != "closed", cases.c.due_at < now]
    return where


def _case_list(where: list[ColumnElement[bool]], by_due: bool, limit: int | None, offset: int) -> Select[Any]:
    n_findings = (select(func.count()).select_from(case_findings)
                  .where(case_findings.c.case_id == cases.c.id).scalar_subquery())
    order = (cases.c.due_at.asc().nulls_last(), cases.c.id) if by_due else (cases.c.id,)
    query = select(cases, n_findings.label("findings")).where(*where).order_by(*order)
    return query.limit(limit).offset(offset or None)


# --- internals ----------------------------------------------------------------------------------


def _get(conn: Connection, case_id: int) -> Row[Any]:
    case = conn.execute(select(cases).where(cases.c.id == case_id)).first()
    if case is None:
        raise WorkflowError(f"没有案件 {case_id}", f"no case {case_id}")
    return case


def _open(conn: Connection, case_id: int) -> Row[Any]:
    """The case, if it is not closed: a closed case takes no tasks, comments or attachments until reopened."""
    case = _get(conn, case_id)
    if case.state == "closed":
        raise WorkflowError(f"案件 {case_id} 已结案，只读；如需继续处置，请先重新打开",
                            f"case {case_id} is closed and read-only; reopen it to work on it again")
    return case


def _create(conn: Connection, key: str, title: str, finding: dict[str, Any], actor: str, now: float) -> Row[Any]:
    a = finding.get("attribution") or {}
    values = {"subject_key": key, "title": title, "org_name": a.get("org_name"), "org_type": a.get("org_type"),
              "region_code": a.get("region_code"), "province": a.get("province"), "city": a.get("city"),
              "state": "new", "reopened": 0, "created_at": now, "updated_at": now}
    inserted = conn.execute(insert(cases).values(**values)).inserted_primary_key
    assert inserted is not None
    case = _get(conn, int(inserted[0]))
    history.append(conn, case.id, actor, "create", {}, {k: getattr(case, k) for k in TRACKED}, at=now)
    return case


def _change(conn: Connection, case: Row[Any], actor: str, action: str, now: float | None = None,
            **values: Any) -> None:
    now = time.time() if now is None else now
    hold_write_lock(conn)  # before the row lock: the history row it appends waits for the same turn
    before = {k: getattr(case, k) for k in TRACKED}
    conn.execute(update(cases).where(cases.c.id == case.id).values(updated_at=now, **values))
    after = {**before, **{k: v for k, v in values.items() if k in TRACKED}}
    history.append(conn, case.id, actor, action, before, after, at=now)


def open_case_from_tip(store: Engine, tip_id: int, actor: str) -> int:
    """Open a case from a tip (or join the case its subject already has): the tip's finding goes into the
    case, the case's history records it, and the tip becomes 'case opened'. Returns the case id."""
    from minescope.store.tips import change_tip, tips

    def work(conn: Connection) -> int:
        row = conn.execute(select(tips).where(tips.c.id == tip_id)).first()
        if row is None:
            raise InputError(f"没有举报 {tip_id}", f"no tip {tip_id}")
        if row.case_id is not None:
            return int(row.case_id)
        data = conn.execute(select(findings.c.data).where(findings.c.id == row.finding_id)).scalar_one()
        key, title = subject_key(data)
        case = conn.execute(select(cases).where(cases.c.subject_key == key)).first()
        now = time.time()
        if case is None:
            case = _create(conn, key, title, data, actor, now)
            if case.region_code is None:  # a tip names its place; its finding may have no attribution
                conn.execute(update(cases).where(cases.c.id == case.id).values(region_code=row.region_code))
        conn.execute(insert_ignore(conn, case_findings).values(case_id=case.id, finding_id=row.finding_id,
                                                               added_at=now))
        history.append(conn, case.id, actor, "from_tip", {}, {"tip": tip_id, "finding": row.finding_id})
        change_tip(conn, tip_id, actor, "open_case", status="case_opened", case_id=case.id)
        return int(case.id)

    return writing(store, work)

"""Public reports (举报): a tip from anyone, with a tracking code to follow it.

Each tip is also stored as a finding of dimension "tip" (kind ``public_report``, about the subject the
reporter named: ``dimensions.tip``), so it enters triage beside the network findings and later
dimensions; the tip row keeps what the reporter wrote and the status they can look up.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    Row,
    String,
    Table,
    Text,
    func,
    insert,
    or_,
    select,
    update,
)

from minescope.dimensions.tip.detectors.public_report import tip_finding
from minescope.errors import InputError
from minescope.knowledge.regions import division
from minescope.store.findings import finding_row, findings, metadata, reading

TIP_STATES = ("received", "triaged", "dismissed", "case_opened")
TIP_STATE_LABELS = {"received": ("已受理", "received"), "triaged": ("核实中", "being checked"),
                    "dismissed": ("不予立案", "dismissed"), "case_opened": ("已立案处置", "case opened")}
_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read over the phone

tips = Table(
    "tips", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tracking_code", String(16), nullable=False, unique=True),
    Column("region_code", String(12), nullable=False, index=True),
    Column("subject", Text, nullable=False),  # who or where: a company, an address, a building
    Column("description", Text, nullable=False),
    Column("contact", Text),
    Column("status", String(16), nullable=False),
    Column("finding_id", String(32), ForeignKey("findings.id"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("case_id", Integer, ForeignKey("cases.id", name="fk_tips_case_id")),  # the case opened from it
)
Index("ix_tips_status", tips.c.status)

# who changed a tip, when, and its fields before and after
tip_history = Table(
    "tip_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tip_id", Integer, ForeignKey("tips.id"), nullable=False, index=True),
    Column("at", Float, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(32), nullable=False),
    Column("before", JSON, nullable=False),
    Column("after", JSON, nullable=False),
)
TIP_PAGE_SIZE, TIP_PAGE_MAX = 50, 500


def submit_tip(store: Engine, region_code: str, subject: str, description: str, contact: str = "",
               now: float | None = None) -> str:
    """Store a tip and its finding; returns the tracking code."""
    now = time.time() if now is None else now
    subject, description, contact = subject.strip()[:500], description.strip()[:5000], contact.strip()[:200]
    place = division(region_code)
    if place is None:
        raise InputError(f"未知的区划代码 {region_code}；请从列表中选择地区",
                         f"unknown region code {region_code}; pick a place from the list")
    if not subject or len(description) < 10:
        raise InputError("请写明对象（单位或地址）和至少 10 个字的情况说明",
                         "name the subject (organisation or address) and describe what you saw "
                         "in at least 10 characters")
    code = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    finding = tip_finding(code, region_code, subject, description, now)
    with store.begin() as conn:
        conn.execute(insert(findings).values(**finding_row(finding, None)))
        conn.execute(insert(tips).values(tracking_code=code, region_code=region_code, subject=subject,
                                         description=description, contact=contact or None, status="received",
                                         finding_id=finding.id, created_at=now, updated_at=now))
    return code


def tip_status(store: Engine, code: str) -> str | None:
    with store.connect() as conn:
        return conn.execute(select(tips.c.status).where(tips.c.tracking_code == code.strip().upper())).scalar()


def tips_in(store: Engine, scope: str, *, q: str = "", status: str = "", limit: int | None = None,
            offset: int = 0) -> list[Any]:
    """Tips of an area (newest first), optionally only those whose subject, description or tracking code
    contains ``q``, or of one ``status``; ``limit``/``offset`` give a page of them."""
    query = select(tips).where(*_tip_filter(scope, q, status)).order_by(tips.c.id.desc())
    with store.connect() as conn:
        return list(conn.execute(query.limit(limit).offset(offset or None)))


def tip_page(store: Engine, scope: str, *, q: str = "", status: str = "", limit: int = TIP_PAGE_SIZE,
             offset: int = 0) -> tuple[list[Any], int]:
    """One page of ``tips_in`` and how many there are over all pages."""
    where = _tip_filter(scope, q, status)
    with reading(store) as conn:
        rows = list(conn.execute(select(tips).where(*where).order_by(tips.c.id.desc()).limit(limit)
                                 .offset(offset or None)))
        if (rows and len(rows) < limit) or (offset == 0 and not rows):
            return rows, offset + len(rows)  # the last page: no count needed
        total = int(conn.execute(select(func.count()).select_from(tips).where(*where)).scalar_one())
    return rows, total


def _tip_filter(scope: str, q: str, status: str) -> list[Any]:
    where: list[Any] = []
    if scope:
        where.append(tips.c.region_code.like(f"{scope}%"))
    if status:
        where.append(tips.c.status == status)
    q = q.strip()
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(or_(tips.c.subject.like(pattern, escape="\\"), tips.c.description.like(pattern, escape="\\"),
                         tips.c.tracking_code == q.upper()))
    return where


def tip(store: Engine, tip_id: int) -> Row[Any] | None:
    with store.connect() as conn:
        return conn.execute(select(tips).where(tips.c.id == tip_id)).first()


def tip_events(store: Engine, tip_id: int) -> list[Row[Any]]:
    with store.connect() as conn:
        return list(conn.execute(select(tip_history).where(tip_history.c.tip_id == tip_id)
                                 .order_by(tip_history.c.id)))


def set_tip_status(store: Engine, tip_id: int, status: str, actor: str = "system") -> None:
    """Change a tip's status, recorded with who did it and the status before and after."""
    if status not in TIP_STATES:
        raise InputError(f"未知状态 {status}", f"unknown status {status}")
    if status == "case_opened":
        raise InputError("「已立案处置」须通过“立案”操作：从举报新建或关联案件",
                         "a tip becomes 'case opened' only by opening a case from it")
    with store.begin() as conn:
        change_tip(conn, tip_id, actor, "status", status=status)


def change_tip(conn: Connection, tip_id: int, actor: str, action: str, **values: Any) -> None:
    row = conn.execute(select(tips).where(tips.c.id == tip_id)).first()
    if row is None:
        raise InputError(f"没有举报 {tip_id}", f"no tip {tip_id}")
    before = {k: getattr(row, k) for k in values}
    now = time.time()
    conn.execute(update(tips).where(tips.c.id == tip_id).values(updated_at=now, **values))
    conn.execute(insert(tip_history).values(tip_id=tip_id, at=now, actor=actor, action=action, before=before,
                                            after=values))

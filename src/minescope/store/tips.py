"""Public reports (举报): a tip from anyone, with a tracking code to follow it.

Each tip is also stored as a finding of dimension "tip" (kind ``public_report``, about the subject the
reporter named: ``dimensions.tip``), so it enters triage beside the network findings and later
dimensions; the tip row keeps what the reporter wrote and the status they can look up.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy import Column, Engine, Float, ForeignKey, Integer, String, Table, Text, insert, select, update

from minescope.dimensions.tip.detectors.public_report import tip_finding
from minescope.errors import InputError
from minescope.knowledge.regions import division
from minescope.store.findings import finding_row, findings, metadata

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
)


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


def tips_in(store: Engine, scope: str) -> list[Any]:
    query = select(tips).order_by(tips.c.id.desc())
    if scope:
        query = query.where(tips.c.region_code.like(f"{scope}%"))
    with store.connect() as conn:
        return list(conn.execute(query))


def set_tip_status(store: Engine, tip_id: int, status: str) -> None:
    if status not in TIP_STATES:
        raise InputError(f"未知状态 {status}", f"unknown status {status}")
    with store.begin() as conn:
        conn.execute(update(tips).where(tips.c.id == tip_id).values(status=status, updated_at=time.time()))

"""Tables of the disposal workflow: cases, their findings, tasks, account actions, comments, attachments,
history.

Cases are work: mutable, with a state machine (``cases.workflow``) and an append-only history whose
rows are chained by SHA-256 (``cases.history``). They reference findings by id and never change them.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from minescope.store.findings import metadata

cases = Table(
    "cases", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject_key", String(255), nullable=False, unique=True),  # org:<name> or ip:<address>
    Column("title", Text, nullable=False),
    Column("org_name", Text),
    Column("org_type", String(32), index=True),
    Column("region_code", String(12)),
    Column("province", String(64)),
    Column("city", String(64)),
    Column("state", String(16), nullable=False, index=True),
    Column("owner", String(128), index=True),
    Column("due_at", Float, index=True),
    Column("closing_reason", String(32)),
    Column("reopened", Integer, nullable=False, default=0),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False, index=True),
    # an area's cases: LIKE '32%'; varchar_pattern_ops lets PostgreSQL use the index in any collation
    Index("ix_cases_region_code", "region_code", postgresql_ops={"region_code": "varchar_pattern_ops"}),
)

case_findings = Table(
    "case_findings", metadata,
    Column("case_id", Integer, ForeignKey("cases.id"), primary_key=True),
    Column("finding_id", String(32), ForeignKey("findings.id"), primary_key=True),
    Column("added_at", Float, nullable=False),
    Index("ix_case_findings_finding_id", "finding_id"),  # the cases of a finding (search by address, wallet)
)

case_tasks = Table(
    "case_tasks", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("done", Boolean, nullable=False, default=False),
    Column("due_at", Float),
    Column("created_at", Float, nullable=False),
)

# What was done about an account a case holds (bank and payment findings): frozen, reported to the police, put on
# the 断卡 list; each with the reference of the order or report, once per case, account and action.
account_actions = Table(
    "account_actions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("account", String(128), nullable=False, index=True),
    Column("action", String(32), nullable=False),
    Column("reference", Text, nullable=False, default=""),
    Column("actor", String(128), nullable=False),
    Column("at", Float, nullable=False),
    UniqueConstraint("case_id", "account", "action", name="uq_account_actions_case_account_action"),
)

case_comments = Table(
    "case_comments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("author", String(128), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", Float, nullable=False),
)

case_attachments = Table(
    "case_attachments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("filename", String(255), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("author", String(128), nullable=False),
    Column("created_at", Float, nullable=False),
)

case_history = Table(
    "case_history", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id"), nullable=False, index=True),
    Column("at", Float, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(32), nullable=False),
    Column("before", JSON, nullable=False),
    Column("after", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("prev_hash", name="uq_case_history_chain"),  # one successor per link: no forks
)

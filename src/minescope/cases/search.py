"""Finding cases and findings in an area: search, filters, sort and pages, all in SQL.

The case list filters by organisation (name or title, a part of it), address (a host of the case,
exactly), wallet (a payout address a miner of the case logged in with, exactly or by its start),
owner, region (a GB/T 2260 code prefix inside the user's area), organisation type, state and a range
of due dates, and sorts by due date, id, last change, title or number of findings. Every filter is a
WHERE clause the database answers from an index (``cases``: state, owner, org_type, due_at,
region_code, updated_at; ``findings``: subject_ip, subject_value, wallet), except the part-of-a-name
match, which reads the area's cases (10,000 rows: milliseconds).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, Engine, Row, false, func, or_, select

from minescope.store.cases import case_findings, cases
from minescope.store.findings import findings, reading

SORTS = ("due", "id", "updated", "title", "findings")
PAGE_SIZE, PAGE_MAX = 50, 500
LONGEST = 200  # characters of a search term kept
MATCHED_MAX = 2000  # a search matching more cases than this is paged by the database's own order
COUNT_CAP = 10_000  # findings counted for the pager; more are shown as "10,000+"


@dataclass(frozen=True)
class CaseQuery:
    q: str = ""  # part of the organisation name or title, or an exact address or wallet
    org: str = ""  # part of the organisation name
    address: str = ""  # a host address of the case (exact)
    wallet: str = ""  # a wallet: exact, or its start (6 characters at least)
    owner: str = ""
    region: str = ""  # a code prefix (already checked against the user's area)
    org_type: str = ""
    state: str = ""
    due_from: float | None = None
    due_to: float | None = None
    overdue: bool = False
    sort: str = "due"
    desc: bool = False

    def params(self) -> dict[str, str]:
        """The query as URL parameters (the ones set), for links to other pages of the same list."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if v not in (None, "", False) and not (f.name == "sort" and v == "due"):
                out[f.name] = "true" if v is True else str(v)
        return out


def like_part(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere, its own % and _ taken literally (escape ``\\``)."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def like_start(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _cases_with_finding(where: ColumnElement[bool]) -> ColumnElement[bool]:
    return cases.c.id.in_(select(case_findings.c.case_id).join(findings, findings.c.id == case_findings.c.finding_id)
                          .where(where))


def _wallet(w: str) -> ColumnElement[bool]:
    return findings.c.wallet.like(like_start(w), escape="\\") if len(w) >= 6 else findings.c.wallet == w


def case_filter(query: CaseQuery, scope: str, now: float) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    region = query.region if query.region.startswith(scope) else scope
    if region:
        where.append(cases.c.region_code.like(f"{region}%"))
    if query.state:
        where.append(cases.c.state == query.state)
    if query.owner:
        where.append(cases.c.owner == query.owner)
    if query.org_type:
        where.append(cases.c.org_type == query.org_type)
    if query.org:
        pattern = like_part(query.org[:LONGEST])
        where.append(or_(cases.c.org_name.like(pattern, escape="\\"), cases.c.title.like(pattern, escape="\\")))
    if query.address:
        a = query.address[:LONGEST]
        where.append(or_(cases.c.subject_key == f"ip:{a}",
                         _cases_with_finding(or_(findings.c.subject_ip == a, findings.c.subject_value == a))))
    if query.wallet:
        where.append(_cases_with_finding(_wallet(query.wallet[:255])))
    if query.q:
        q = query.q.strip()[:LONGEST]
        pattern = like_part(q)
        where.append(or_(cases.c.org_name.like(pattern, escape="\\"), cases.c.title.like(pattern, escape="\\"),
                         cases.c.owner == q,
                         _cases_with_finding(or_(findings.c.subject_ip == q, findings.c.subject_value == q,
                                                 _wallet(q[:255])))))
    if query.due_from is not None:
        where.append(cases.c.due_at >= query.due_from)
    if query.due_to is not None:
        where.append(cases.c.due_at <= query.due_to)
    if query.overdue:
        where += [cases.c.state != "closed", cases.c.due_at < now]
    return where


def search_cases(store: Engine, query: CaseQuery, *, scope: str = "", limit: int = PAGE_SIZE, offset: int = 0,
                 now: float | None = None) -> tuple[list[Row[Any]], int]:
    """One page of the cases of ``scope`` that match ``query``, each with its number of findings, and how many
    match over all pages."""
    now = time.time() if now is None else now
    where = case_filter(query, scope, now)
    n_findings = (select(func.count()).select_from(case_findings)
                  .where(case_findings.c.case_id == cases.c.id).scalar_subquery())
    key = {"due": cases.c.due_at, "id": cases.c.id, "updated": cases.c.updated_at, "title": cases.c.title,
           "findings": n_findings}[query.sort if query.sort in SORTS else "due"]
    first = key.desc().nulls_last() if query.desc else key.asc().nulls_last()
    tie = cases.c.id.desc() if query.desc else cases.c.id.asc()
    with reading(store) as conn:
        total = None
        if query.q or query.org or query.address or query.wallet:
            # a search matches few cases: find them first (one scan), then sort and count only those, rather
            # than walk the due-date index past thousands of cases that do not match
            ids = list(conn.execute(select(cases.c.id).where(*where).limit(MATCHED_MAX + 1)).scalars())
            if len(ids) <= MATCHED_MAX:
                total, where = len(ids), [cases.c.id.in_(ids) if ids else false()]
        page = select(cases, n_findings.label("findings")).where(*where).order_by(first, tie)
        rows = list(conn.execute(page.limit(limit).offset(offset or None))) if total is None or offset < total else []
        if total is None:
            total = offset + len(rows) if (rows and len(rows) < limit) or (offset == 0 and not rows) else int(
                conn.execute(select(func.count()).select_from(cases).where(*where)).scalar_one())
    return rows, total


FINDING_COLUMNS = (findings.c.id, findings.c.kind, findings.c.subject_type, findings.c.subject_value,
                   findings.c.subject_ip, findings.c.peer_ip, findings.c.peer_port, findings.c.peer_host,
                   findings.c.first_seen, findings.c.last_seen, findings.c.severity, findings.c.org_name,
                   findings.c.region_code, findings.c.province, findings.c.city, findings.c.coin, findings.c.wallet)


def search_findings(store: Engine, *, scope: str = "", q: str = "", kind: str = "", limit: int = PAGE_SIZE,
                    offset: int = 0) -> tuple[list[Row[Any]], int]:
    """One page of the findings of ``scope`` (newest first), optionally of one ``kind`` and matching ``q``:
    an exact address (the subject or the peer), a subject, a pool name, a wallet (or its start), or the
    start of an organisation name. Returns the rows (no evidence JSON) and how many match, counted up to
    ``COUNT_CAP`` + 1 (more than ``COUNT_CAP``: "10,000+")."""
    where: list[ColumnElement[bool]] = []
    if scope:
        where.append(findings.c.region_code.like(f"{scope}%"))
    if kind:
        where.append(findings.c.kind == kind)
    q = q.strip()[:LONGEST]
    if q:
        where.append(or_(findings.c.subject_ip == q, findings.c.subject_value == q, findings.c.peer_ip == q,
                         findings.c.peer_host == q, findings.c.id == q, _wallet(q[:255]),
                         findings.c.org_name.like(like_start(q), escape="\\")))
    with reading(store) as conn:
        # counted up to COUNT_CAP + 1: a national list holds 100,000 findings, nobody pages through them all,
        # and counting all of them for every page costs more than the page
        rows: list[Row[Any]] = list(conn.execute(select(*FINDING_COLUMNS).where(*where)
                                 .order_by(findings.c.first_seen.desc(), findings.c.id)
                                 .limit(limit).offset(offset or None)))
        if (rows and len(rows) < limit) or (offset == 0 and not rows):
            return rows, offset + len(rows)  # the last page: no count needed
        capped = select(findings.c.id).where(*where).limit(COUNT_CAP + 1).subquery()
        total = int(conn.execute(select(func.count()).select_from(capped)).scalar_one())
    return rows, total


CLEANED = ("verified", "closed")  # a machine whose case reached these states was found clean again


def search_hosts(store: Engine, *, scope: str = "", q: str = "", limit: int = PAGE_SIZE,
                 offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """The machines the host dimension found (one row per host name), by organisation then host, with their
    address, findings, last sighting and case: ``cleaned`` when that case was verified or closed (a later
    clean host check or scan). ``q`` matches the start of the host name, organisation or address."""
    where: list[ColumnElement[bool]] = [findings.c.subject_type == "host"]
    if scope:
        where.append(findings.c.region_code.like(f"{scope}%"))
    q = q.strip()[:LONGEST]
    if q:
        start = like_start(q)
        where.append(or_(findings.c.subject_value.like(start, escape="\\"),
                         findings.c.org_name.like(start, escape="\\"), findings.c.subject_ip == q))
    grouped = (select(findings.c.subject_value.label("host"), func.max(findings.c.subject_ip).label("address"),
                      func.max(findings.c.org_name).label("org_name"),
                      func.max(findings.c.region_code).label("region_code"),
                      func.count().label("findings"), func.max(findings.c.last_seen).label("last_seen"),
                      func.max(case_findings.c.case_id).label("case_id"))
               .select_from(findings.outerjoin(case_findings, case_findings.c.finding_id == findings.c.id))
               .where(*where).group_by(findings.c.subject_value).subquery())
    with reading(store) as conn:
        total = int(conn.execute(select(func.count()).select_from(grouped)).scalar_one())
        rows = conn.execute(select(grouped, cases.c.state, cases.c.closing_reason)
                            .select_from(grouped.outerjoin(cases, cases.c.id == grouped.c.case_id))
                            .order_by(grouped.c.org_name.is_(None), grouped.c.org_name, grouped.c.host)
                            .limit(limit).offset(offset or None)).all()
    return [{**r._mapping, "cleaned": r.state in CLEANED} for r in rows], total

"""The console's lists and exports: cases (search, filters, sort, page jump), findings, public reports
(tips, each with a page of its own and its history), the ledger and the notice preview.

Lists are answered from SQL with indexes (``minescope.cases.search``), one page at a time; the API
gives the same pages with ``X-Total-Count``. The expensive exports are limited: the notice preview
to roles that may issue a notice, and both it and the ledger to a few per user and minute
(``EXPORTS_PER_MINUTE``; more answer 429, in both languages).
"""


import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from minescope.cases import workflow
from minescope.cases.search import (
    COUNT_CAP,
    PAGE_MAX,
    PAGE_SIZE,
    SORTS,
    CaseQuery,
    search_cases,
    search_findings,
    search_hosts,
)
from minescope.knowledge.regions import full_name
from minescope.outputs import fmt
from minescope.outputs.duanka import duanka_xlsx
from minescope.outputs.ledger import write_ledger
from minescope.outputs.notice import case_issuer, notice_pdf
from minescope.store.accounts import User
from minescope.store.tips import (
    TIP_STATE_LABELS,
    TIP_STATES,
    set_tip_status,
    tip,
    tip_events,
    tip_page,
)

MAX_ID = 2**31 - 1
EXPORTS_PER_MINUTE = 6  # ledgers or notice previews per user and minute
TipId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="tip id / 举报编号")]
CaseId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="case id / 案件编号")]
Text = Annotated[str, Query(max_length=200)]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class TipStatusBody(BaseModel):
    to_state: str = Field(max_length=32)


_JSON_LIST: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}},
          "description": "one page of rows; X-Total-Count: how many match"}}


def _rows_json(rows: list[Any], headers: dict[str, str]) -> Response:
    """A page of rows as JSON, by orjson straight from the rows (FastAPI's encoder costs more than the query)."""
    body = orjson.dumps([dict(r._mapping) for r in rows], option=orjson.OPT_NON_STR_KEYS)  # names: str subclasses
    return Response(body, media_type="application/json", headers=headers)


def _day(value: str, name: str, end: bool = False) -> float | None:
    """A date (YYYY-MM-DD, Beijing time) as Unix seconds: its start, or with ``end`` its last second."""
    if not value:
        return None
    try:
        d = date.fromisoformat(value)
    except ValueError:
        raise HTTPException(422, f"{name} 须为日期 YYYY-MM-DD / {name} must be a date, YYYY-MM-DD") from None
    start = datetime(d.year, d.month, d.day, tzinfo=fmt.CST)
    return (start + timedelta(days=1)).timestamp() - 1 if end else start.timestamp()


def add_worklist_pages(app: FastAPI, store: Engine, *, page: Callable[..., HTMLResponse],
                       current_user: Callable[..., User], editor: Callable[..., User],
                       csrf_ok: Callable[[Request, str], None], area: Callable[[User, str], str],
                       visible: Callable[[User, int], Any], limiter_of: Callable[[int, float], Any]) -> None:
    exports = limiter_of(EXPORTS_PER_MINUTE, 60.0)

    def rate(user: User) -> None:
        if not exports.allow(f"export:{user.id}"):
            raise HTTPException(429, f"导出过于频繁：每分钟至多 {EXPORTS_PER_MINUTE} 次，请稍后再试 / "
                                     f"too many exports: at most {EXPORTS_PER_MINUTE} a minute, try again shortly",
                                headers={"Retry-After": "60"})

    def case_query(user: Annotated[User, Depends(current_user)], q: Text = "", org: Text = "", address: Text = "",
                   wallet: Annotated[str, Query(max_length=255)] = "", owner: Text = "", region: Text = "",
                   org_type: Annotated[str, Query(max_length=32)] = "",
                   state: Annotated[str, Query(max_length=32)] = "",
                   due_from: Annotated[str, Query(max_length=10, description="YYYY-MM-DD")] = "",
                   due_to: Annotated[str, Query(max_length=10, description="YYYY-MM-DD")] = "",
                   overdue: bool = False, sort: Annotated[str, Query(max_length=16)] = "due",
                   desc: bool = False) -> CaseQuery:
        if state and state not in workflow.STATES:
            raise HTTPException(422, f"未知状态 {state[:32]}；可选：{'、'.join(workflow.STATES)} / unknown state "
                                     f"{state[:32]}; use one of {', '.join(workflow.STATES)}")
        if sort not in SORTS:
            raise HTTPException(422, f"未知排序 {sort[:16]}；可选：{'、'.join(SORTS)} / unknown sort {sort[:16]}; "
                                     f"use one of {', '.join(SORTS)}")
        texts = {k: "".join(ch for ch in v if ch != "\x00").strip()
                 for k, v in dict(q=q, org=org, address=address, wallet=wallet, owner=owner, org_type=org_type).items()}
        return CaseQuery(**texts, region=area(user, region) if region else "", state=state,
                         due_from=_day(due_from, "due_from"), due_to=_day(due_to, "due_to", end=True),
                         overdue=overdue, sort=sort, desc=desc)

    def paging(limit: int, offset: int, page_no: int | None) -> int:
        return (page_no - 1) * limit if page_no else offset

    Limit = Annotated[int, Query(ge=1, le=PAGE_MAX)]
    Offset = Annotated[int, Query(ge=0, le=MAX_ID)]
    PageNo = Annotated[int | None, Query(alias="page", ge=1, le=MAX_ID // PAGE_MAX)]

    def pager(request: Request, offset: int, limit: int, total: int) -> dict[str, Any]:
        def link(to: int) -> str:
            params = {k: v for k, v in request.query_params.items() if k != "page"}
            params["offset"] = str(to)
            return "?" + request.url.replace_query_params(**params).query

        return {"total": total, "total_text": f"{COUNT_CAP:,}+" if total > COUNT_CAP else "",
                "offset": offset, "limit": limit, "page_no": offset // limit + 1,
                "pages": max(1, -(-total // limit)),
                "prev_url": link(max(0, offset - limit)) if offset else None,
                "next_url": link(offset + limit) if offset + limit < total else None,
                "keep": [(k, v) for k, v in request.query_params.items() if k not in ("page", "offset")]}

    # --- cases --------------------------------------------------------------------------------
    @app.get("/cases", response_class=HTMLResponse, include_in_schema=False)
    def cases_page(request: Request, user: Annotated[User, Depends(current_user)],
                   query: Annotated[CaseQuery, Depends(case_query)], limit: Limit = PAGE_SIZE, offset: Offset = 0,
                   page_no: PageNo = None) -> HTMLResponse:
        offset = paging(limit, offset, page_no)
        rows, total = search_cases(store, query, scope=user.scope, limit=limit, offset=offset)
        return page(request, "cases.html", user, rows=rows, query=query, state=query.state, overdue=query.overdue,
                    now=time.time(), states=workflow.STATES, sorts=SORTS, **pager(request, offset, limit, total))

    @app.get("/api/cases", response_class=Response, responses=_JSON_LIST)
    def api_cases(user: Annotated[User, Depends(current_user)],
                  query: Annotated[CaseQuery, Depends(case_query)], limit: Limit = PAGE_SIZE, offset: Offset = 0,
                  page_no: PageNo = None) -> Response:
        """One page of the user's cases. Filters: ``q`` (part of the organisation or title, or an exact
        address, owner or wallet), ``org``, ``address``, ``wallet`` (exact, or its first 6+ characters),
        ``owner``, ``region`` (a code inside the user's area), ``org_type``, ``state``, ``due_from`` and
        ``due_to`` (YYYY-MM-DD), ``overdue``; ``sort`` (due, id, updated, title, findings) and ``desc``;
        ``limit`` with ``offset`` or ``page``. The header X-Total-Count says how many match."""
        rows, total = search_cases(store, query, scope=user.scope, limit=limit,
                                   offset=paging(limit, offset, page_no))
        return _rows_json(rows, {"X-Total-Count": str(total)})

    # --- findings -----------------------------------------------------------------------------
    @app.get("/findings", response_class=HTMLResponse, include_in_schema=False)
    def findings_page(request: Request, user: Annotated[User, Depends(current_user)], q: Text = "",
                      kind: Annotated[str, Query(max_length=40)] = "", region: Text = "", limit: Limit = PAGE_SIZE,
                      offset: Offset = 0, page_no: PageNo = None) -> HTMLResponse:
        offset = paging(limit, offset, page_no)
        rows, total = search_findings(store, scope=area(user, region), q=q.replace("\x00", ""),
                                      kind=kind.replace("\x00", ""), limit=limit, offset=offset)
        return page(request, "findings.html", user, rows=rows, q=q, kind=kind, region=region,
                    **pager(request, offset, limit, total))

    @app.get("/api/findings", response_class=Response, responses=_JSON_LIST)
    def api_findings(user: Annotated[User, Depends(current_user)], q: Text = "",
                     kind: Annotated[str, Query(max_length=40)] = "", region: Text = "", limit: Limit = PAGE_SIZE,
                     offset: Offset = 0, page_no: PageNo = None) -> Response:
        """Findings of the user's area (or ``region`` in it), newest first, without their evidence: ``q`` is an
        exact address, subject, pool name, finding id or wallet (or its start), or the start of an organisation
        name; ``kind`` one kind. X-Total-Count says how many match, counted up to 10,001 (then the header
        X-Total-Capped is 1)."""
        rows, total = search_findings(store, scope=area(user, region), q=q.replace("\x00", ""),
                                      kind=kind.replace("\x00", ""), limit=limit, offset=paging(limit, offset, page_no))
        capped = {"X-Total-Capped": "1"} if total > COUNT_CAP else {}  # counted up to COUNT_CAP + 1 only
        return _rows_json(rows, {"X-Total-Count": str(total), **capped})

    # --- hosts (the host dimension's machines) --------------------------------------------------
    @app.get("/hosts", response_class=HTMLResponse, include_in_schema=False)
    def hosts_page(request: Request, user: Annotated[User, Depends(current_user)], q: Text = "",
                   limit: Limit = PAGE_SIZE, offset: Offset = 0, page_no: PageNo = None) -> HTMLResponse:
        offset = paging(limit, offset, page_no)
        rows, total = search_hosts(store, scope=user.scope, q=q.replace("\x00", ""), limit=limit, offset=offset)
        return page(request, "hosts.html", user, rows=rows, q=q, **pager(request, offset, limit, total))

    @app.get("/api/hosts", response_class=Response, responses=_JSON_LIST)
    def api_hosts(user: Annotated[User, Depends(current_user)], q: Text = "", limit: Limit = PAGE_SIZE,
                  offset: Offset = 0, page_no: PageNo = None) -> Response:
        """Machines the host dimension found in the user's area, by organisation: host, address, findings, last
        seen, case and its state, and ``cleaned`` (the case verified or closed). ``q``: the start of a host or
        organisation name, or an address. X-Total-Count says how many."""
        rows, total = search_hosts(store, scope=user.scope, q=q.replace("\x00", ""), limit=limit,
                                   offset=paging(limit, offset, page_no))
        return Response(orjson.dumps(rows, option=orjson.OPT_NON_STR_KEYS), media_type="application/json",
                        headers={"X-Total-Count": str(total)})

    # --- tips ---------------------------------------------------------------------------------
    def visible_tip(user: User, tip_id: int) -> Any:
        row = tip(store, tip_id)
        if row is None or not user.sees(row.region_code):
            raise HTTPException(404, f"no tip {tip_id} / 没有举报 {tip_id}")
        return row

    def tip_status_checked(status: str) -> str:
        if status not in TIP_STATES:
            raise HTTPException(422, f"未知状态 {status[:32]} / unknown status {status[:32]}")
        return status

    @app.get("/tips", response_class=HTMLResponse, include_in_schema=False)
    def tips_page(request: Request, user: Annotated[User, Depends(current_user)], q: Text = "",
                  status: Annotated[str, Query(max_length=32)] = "", limit: Limit = PAGE_SIZE, offset: Offset = 0,
                  page_no: PageNo = None) -> HTMLResponse:
        offset = paging(limit, offset, page_no)
        rows, total = tip_page(store, user.scope, q=q.replace("\x00", ""),
                               status=tip_status_checked(status) if status else "", limit=limit, offset=offset)
        return page(request, "tips.html", user, rows=rows, TS=TIP_STATE_LABELS, q=q, status=status,
                    **pager(request, offset, limit, total))

    @app.get("/tips/{tip_id}", response_class=HTMLResponse, include_in_schema=False)
    def tip_detail(request: Request, tip_id: TipId, user: Annotated[User, Depends(current_user)]) -> HTMLResponse:
        row = visible_tip(user, tip_id)
        return page(request, "tip.html", user, t=row, events=tip_events(store, tip_id), TS=TIP_STATE_LABELS,
                    place=full_name(row.region_code))

    @app.post("/tips/{tip_id}/status", include_in_schema=False)
    def tips_set(request: Request, tip_id: TipId, user: Annotated[User, Depends(editor)],
                 status: Annotated[str, Form(max_length=32)],
                 csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
        csrf_ok(request, csrf)
        visible_tip(user, tip_id)
        set_tip_status(store, tip_id, tip_status_checked(status), user.username)
        return RedirectResponse(f"/tips/{tip_id}", status_code=303)

    @app.post("/tips/{tip_id}/case", include_in_schema=False)
    def tips_open_case(request: Request, tip_id: TipId, user: Annotated[User, Depends(editor)],
                       csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
        csrf_ok(request, csrf)
        visible_tip(user, tip_id)
        return RedirectResponse(f"/cases/{workflow.open_case_from_tip(store, tip_id, user.username)}", status_code=303)

    @app.get("/api/tips", response_class=Response, responses=_JSON_LIST)
    def api_tips(user: Annotated[User, Depends(current_user)], q: Text = "",
                 status: Annotated[str, Query(max_length=32)] = "", limit: Limit = PAGE_SIZE, offset: Offset = 0,
                 page_no: PageNo = None) -> Response:
        """Public reports of the user's area, newest first, a page at a time (X-Total-Count): ``q`` finds a part
        of the subject or description, or a tracking code; ``status`` one status."""
        rows, total = tip_page(store, user.scope, q=q.replace("\x00", ""),
                               status=tip_status_checked(status) if status else "", limit=limit,
                               offset=paging(limit, offset, page_no))
        return _rows_json(rows, {"X-Total-Count": str(total)})

    @app.get("/api/tips/{tip_id}")
    def api_tip(tip_id: TipId, user: Annotated[User, Depends(current_user)]) -> dict[str, Any]:
        """A tip and its history (who changed its status, when, before and after)."""
        row = visible_tip(user, tip_id)
        return {"tip": dict(row._mapping), "history": [dict(e._mapping) for e in tip_events(store, tip_id)]}

    @app.post("/api/tips/{tip_id}/status")
    def api_tip_status(tip_id: TipId, body: TipStatusBody, user: Annotated[User, Depends(editor)]) -> dict[str, str]:
        visible_tip(user, tip_id)
        set_tip_status(store, tip_id, tip_status_checked(body.to_state), user.username)
        return {"status": "ok"}

    @app.post("/api/tips/{tip_id}/case")
    def api_tip_case(tip_id: TipId, user: Annotated[User, Depends(editor)]) -> dict[str, int]:
        """Open a case from the tip (or add it to the case its subject already has); the tip becomes
        'case opened'. Returns the case id."""
        visible_tip(user, tip_id)
        return {"case_id": workflow.open_case_from_tip(store, tip_id, user.username)}

    # --- exports ------------------------------------------------------------------------------
    @app.get("/api/ledger.xlsx", response_class=Response, responses={200: {"content": {XLSX: {}}}})
    def api_ledger(request: Request, user: Annotated[User, Depends(current_user)]) -> Response:
        """The ledger (台账) of the user's jurisdiction: one sheet for the area, one per sub-division.
        At most ``EXPORTS_PER_MINUTE`` exports a minute per user."""
        rate(user)
        lang = request.query_params.get("lang") or request.cookies.get("lang") or "zh"
        spool = tempfile.SpooledTemporaryFile(max_size=8 * 2**20)  # noqa: SIM115 (closed by the stream)
        write_ledger(store, spool, user.region_code, "en" if lang == "en" else "zh")
        size = spool.tell()
        spool.seek(0)

        def chunks() -> Iterator[bytes]:
            with spool:
                while block := spool.read(256 * 1024):
                    yield block

        return StreamingResponse(chunks(), media_type=XLSX, headers={
            "Content-Disposition": 'attachment; filename="ledger.xlsx"', "Content-Length": str(size)})

    @app.get("/api/duanka.xlsx", response_class=Response, responses={200: {"content": {XLSX: {}}}})
    def api_duanka(request: Request, user: Annotated[User, Depends(editor)]) -> Response:
        """The 断卡 list of the user's jurisdiction: a row per account its cases put on the list, with the freeze
        and police report recorded for it. Account numbers are personal data: editors only, a few a minute."""
        rate(user)
        lang = request.query_params.get("lang") or request.cookies.get("lang") or "zh"
        data = duanka_xlsx(store, user.region_code, "en" if lang == "en" else "zh")
        return Response(data, media_type=XLSX, headers={"Content-Disposition": 'attachment; filename="duanka.xlsx"'})

    @app.get("/cases/{case_id}/notice.pdf", response_class=Response, include_in_schema=False)
    def case_notice_preview(case_id: CaseId, user: Annotated[User, Depends(editor)]) -> Response:
        """The draft notice: for those who may issue it, a few a minute."""
        visible(user, case_id)
        rate(user)
        pdf = notice_pdf(store, case_id, issuer=case_issuer(store, case_id, user.region_code))
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="notice-{case_id}-draft.pdf"'})

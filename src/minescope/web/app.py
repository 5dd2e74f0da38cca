"""The disposal console (``minescope serve``): pages and a JSON API over the same store as ``scan``.

Every request acts as one user: a browser session (signed cookie, CSRF token on every form) or an
API token (``Authorization: Bearer …``). A user sees and changes only cases of their jurisdiction
and below; anything else answers 404, exactly as if it did not exist.
"""


import json
import secrets
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, File, Form, HTTPException, Query, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import Engine, Row, select
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from minescope.cases import workflow
from minescope.cases.dashboard import dashboard
from minescope.errors import InputError
from minescope.knowledge.regions import divisions, full_name
from minescope.model import MIN_SHARES_TO_SIZE
from minescope.outputs import fmt
from minescope.outputs.ledger import ledger_xlsx
from minescope.outputs.notice import issue_notice, notice_pdf
from minescope.store.accounts import User, authenticate, get_user, region_prefix, user_for_token
from minescope.store.cases import case_comments, case_findings, case_history, case_tasks, cases
from minescope.store.findings import findings, open_store
from minescope.store.tips import TIP_STATE_LABELS, set_tip_status, submit_tip, tip_status, tips, tips_in
from minescope.web.i18n import LABELS, STATE_LABELS, t
from minescope.web.views import dashboard_view

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
TEMPLATES.env.filters.update(clock=fmt.clock, duration=fmt.duration, hashrate=fmt.hashrate, pct=fmt.pct,
                             quantity=fmt.quantity, nbytes=fmt.nbytes, number=fmt.number,
                             json_text=lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True))  # readable 中文
CASES_ON_DASHBOARD = 100
TIP_LIMIT, TIP_WINDOW_S = 5, 600.0  # public reports per client address per ten minutes


MAX_ID = 2**31 - 1  # ids are 32-bit in PostgreSQL; larger numbers are refused, not overflowed
CaseId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="case id / 案件编号")]
TipId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="tip id / 举报编号")]
AttachmentId = Annotated[int, PathParam(ge=1, le=MAX_ID, description="attachment id / 附件编号")]
MAX_ATTACHMENT = 20 * 2**20  # bytes: photos, scans of signed letters, small captures


def _no_nul(value: str) -> str:
    if "\x00" in value:  # no database stores it in text, and no person types it
        raise ValueError("不允许 NUL 字符 / NUL characters are not allowed")
    return value


Plain = Annotated[str, AfterValidator(_no_nul)]  # every text a request brings in


class AssignBody(BaseModel):
    owner: Plain = Field(min_length=1, max_length=128)
    due_at: float


class AdvanceBody(BaseModel):
    to_state: Plain = Field(max_length=32)


class CloseBody(BaseModel):
    reason: Plain = Field(max_length=32)
    force: bool = False


class TextBody(BaseModel):
    text: Plain = Field(min_length=1, max_length=10000)


def create_app(db: str | Path, secret: str | None = None) -> FastAPI:
    store = open_store(db)
    app = FastAPI(title="minescope console", version="0.1.0",
                  description="Disposal of mining findings: cases, tasks, history / 挖矿处置案件")
    app.add_middleware(SessionMiddleware, secret_key=secret or secrets.token_urlsafe(32), same_site="strict",
                       https_only=False, max_age=8 * 3600)
    app.add_middleware(GZipMiddleware, minimum_size=2048)  # the map and chart scripts shrink to a third
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.state.store = store

    def lang_of(request: Request) -> str:
        lang = request.query_params.get("lang") or request.cookies.get("lang") or "zh"
        return "en" if lang == "en" else "zh"

    def current_user(request: Request) -> User:
        auth = request.headers.get("authorization", "")
        user = None
        if auth.lower().startswith("bearer "):
            user = user_for_token(store, auth[7:].strip())
        elif "uid" in request.session:
            user = get_user(store, int(request.session["uid"]))
        if user is None:
            if request.url.path.startswith("/api/"):
                raise HTTPException(401, "login or an API token is required / 需要登录或 API 令牌")
            raise HTTPException(303, headers={"Location": "/login"})
        return user

    def csrf_ok(request: Request, token: str) -> None:
        if not token or not secrets.compare_digest(token, request.session.get("csrf", "")):
            raise HTTPException(403, "invalid form token, reload the page / 表单令牌无效，请刷新页面")

    def editor(user: Annotated[User, Depends(current_user)]) -> User:
        if not user.can_edit:
            raise HTTPException(403, "your role may only read / 只读角色")
        return user

    def visible(user: User, case_id: int) -> Row[Any]:
        with store.connect() as conn:
            case = conn.execute(select(cases).where(cases.c.id == case_id)).first()
        if case is None or not user.sees(case.region_code):
            raise HTTPException(404, f"no case {case_id} / 没有案件 {case_id}")
        return case

    def area(user: User, region: str) -> str:
        """The code prefix of ``region`` if it lies in the user's area (the user's own area if empty)."""
        scope = region_prefix(region) or user.scope
        well_formed = scope == "" or (scope.isascii() and scope.isdigit() and len(scope) <= 6)
        if not well_formed or not scope.startswith(user.scope):
            raise HTTPException(404, f"no area {region} / 没有地区 {region}")
        return scope

    def visible_finding(user: User, finding_id: str) -> tuple[dict[str, Any], list[Row[Any]]]:
        """A finding in the user's area, or in a case of it; with the cases the user sees it in."""
        if not (finding_id.isascii() and finding_id.isalnum() and len(finding_id) <= 32):
            raise HTTPException(404, f"no finding {finding_id} / 没有发现 {finding_id}")
        with store.connect() as conn:
            row = conn.execute(select(findings.c.data, findings.c.region_code)
                               .where(findings.c.id == finding_id)).first()
            in_cases = [] if row is None else list(conn.execute(
                select(cases).join(case_findings, case_findings.c.case_id == cases.c.id)
                .where(case_findings.c.finding_id == finding_id).order_by(cases.c.id)))
        in_cases = [c for c in in_cases if user.sees(c.region_code)]
        if row is None or not (user.sees(row.region_code) or in_cases):
            raise HTTPException(404, f"no finding {finding_id} / 没有发现 {finding_id}")
        data: dict[str, Any] = row.data
        return data, in_cases

    def _case_rows(user: User, state: str | None, overdue: bool, limit: int,
                   offset: int) -> tuple[list[Row[Any]], int]:
        """One page of the user's cases, and how many there are in all."""
        return workflow.case_page(store, [state] if state else None, scope=user.scope, overdue=overdue,
                                  limit=limit, offset=offset)

    def page(request: Request, name: str, user: User | None, **ctx: Any) -> HTMLResponse:
        lang = lang_of(request)
        response = TEMPLATES.TemplateResponse(request, name, {
            "lang": lang, "L": {k: v[1 if lang == "en" else 0] for k, v in LABELS.items()},
            "S": {k: v[1 if lang == "en" else 0] for k, v in STATE_LABELS.items()}, "user": user,
            "csrf": request.session.setdefault("csrf", secrets.token_urlsafe(24)),
            "flash": request.session.pop("flash", None),
            "lang_switch": "?" + request.url.include_query_params(lang="zh" if lang == "en" else "en").query, **ctx})
        if request.query_params.get("lang"):
            response.set_cookie("lang", lang, samesite="strict")
        return response

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": f"{exc.text.zh} / {exc.text.en}"}, status_code=409)

    @app.exception_handler(StarletteHTTPException)
    async def refusal(request: Request, exc: StarletteHTTPException) -> Response:
        """Refusals from the framework itself (an unparsable body, a wrong method) get a Chinese lead-in too."""
        if isinstance(exc.detail, str) and " / " not in exc.detail and exc.status_code >= 400:
            zh = {400: "请求无效", 404: "不存在", 405: "不支持的请求方法", 413: "请求过大"}.get(exc.status_code,
                                                                                              "请求被拒绝")
            exc.detail = f"{zh} / {exc.detail}"
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        """One line naming each bad field, in both languages; the field list stays machine-readable."""
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        return JSONResponse({"detail": f"请求参数无效：{fields} / invalid request: {fields}",
                             "errors": [{"loc": e["loc"], "msg": e["msg"]} for e in exc.errors()]},
                            status_code=422)

    # --- pages --------------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request) -> HTMLResponse:
        return page(request, "login.html", None, error=None)

    @app.post("/login", include_in_schema=False)
    def login(request: Request, username: Annotated[Plain, Form()], password: Annotated[Plain, Form()],
              csrf: Annotated[Plain, Form()] = "") -> Response:
        csrf_ok(request, csrf)
        user = authenticate(store, username, password)
        if user is None:
            response = page(request, "login.html", None, error=t("bad_login", lang_of(request)))
            response.status_code = 401
            return response
        request.session.clear()
        request.session.update(uid=user.id, csrf=secrets.token_urlsafe(24))
        return RedirectResponse("/dashboard", status_code=303)

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, csrf: Annotated[Plain, Form()] = "") -> Response:
        csrf_ok(request, csrf)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/dashboard", response_class=HTMLResponse, include_in_schema=False)
    def dashboard_page(request: Request, user: Annotated[User, Depends(current_user)],
                       region: Plain = "") -> HTMLResponse:
        scope = area(user, region)
        now = time.time()
        labels = {k: v[1 if lang_of(request) == "en" else 0] for k, v in LABELS.items()}
        view = dashboard_view(dashboard(store, scope, now=now), scope, user.scope, labels, now)
        rows = workflow.list_cases(store, scope=scope, by_due=True, limit=CASES_ON_DASHBOARD + 1) \
            if len(scope) >= 4 else []
        return page(request, "dashboard.html", user, **view, rows=rows[:CASES_ON_DASHBOARD],
                    more_cases=len(rows) > CASES_ON_DASHBOARD, now=now)

    @app.get("/findings/{finding_id}", response_class=HTMLResponse, include_in_schema=False)
    def finding_page(request: Request, finding_id: str, user: Annotated[User, Depends(current_user)]) -> HTMLResponse:
        data, in_cases = visible_finding(user, finding_id)
        return page(request, "finding.html", user, f=data, in_cases=in_cases, min_shares=MIN_SHARES_TO_SIZE)

    @app.get("/cases", response_class=HTMLResponse, include_in_schema=False)
    def cases_page(request: Request, user: Annotated[User, Depends(current_user)],
                   state: Plain | None = None, overdue: bool = False,
                   limit: Annotated[int, Query(ge=1, le=workflow.PAGE_MAX)] = workflow.PAGE_SIZE,
                   offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> HTMLResponse:
        rows, total = _case_rows(user, state, overdue, limit, offset)

        def link(to: int) -> str:
            return "?" + request.url.include_query_params(offset=to).query

        return page(request, "cases.html", user, rows=rows, state=state, overdue=overdue, now=time.time(),
                    total=total, offset=offset, prev_url=link(max(0, offset - limit)) if offset else None,
                    next_url=link(offset + limit) if offset + limit < total else None)

    @app.get("/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
    def case_page(request: Request, case_id: CaseId, user: Annotated[User, Depends(current_user)]) -> HTMLResponse:
        return page(request, "case.html", user, **_case_detail(store, visible(user, case_id)),
                    reasons=workflow.CLOSING_REASONS, forward=workflow.FORWARD)

    @app.post("/cases/{case_id}/action", include_in_schema=False)
    def case_action(request: Request, case_id: CaseId, user: Annotated[User, Depends(editor)],
                    action: Annotated[Plain, Form()], csrf: Annotated[Plain, Form()] = "",
                    owner: Annotated[Plain, Form()] = "", due_days: Annotated[float, Form()] = 7,
                    reason: Annotated[Plain, Form()] = "", force: Annotated[bool, Form()] = False,
                    text: Annotated[Plain, Form()] = "") -> Response:
        csrf_ok(request, csrf)
        visible(user, case_id)
        try:
            _act(store, user, case_id, action, owner=owner, due_at=time.time() + due_days * 86400,
                 reason=reason, force=force, text=text)
        except InputError as e:
            request.session["flash"] = e.text.get(lang_of(request))
        return RedirectResponse(f"/cases/{case_id}", status_code=303)

    @app.post("/cases/{case_id}/attachments", include_in_schema=False)
    async def case_upload(request: Request, case_id: CaseId, user: Annotated[User, Depends(editor)],
                          file: Annotated[UploadFile, File()], csrf: Annotated[Plain, Form()] = "") -> Response:
        csrf_ok(request, csrf)
        visible(user, case_id)
        content = await _read_upload(file)
        workflow.add_attachment(store, case_id, _filename(file), content, user.username)
        return RedirectResponse(f"/cases/{case_id}", status_code=303)

    @app.get("/cases/{case_id}/notice.pdf", response_class=Response, include_in_schema=False)
    def case_notice_preview(case_id: CaseId, user: Annotated[User, Depends(current_user)]) -> Response:
        visible(user, case_id)
        return _pdf(notice_pdf(store, case_id, issuer=_issuer(user)), f"notice-{case_id}-draft.pdf")

    # --- API ------------------------------------------------------------------------------
    @app.get("/api/me")
    def api_me(user: Annotated[User, Depends(current_user)]) -> dict[str, Any]:
        return {"username": user.username, "role": user.role, "region_code": user.region_code}

    @app.get("/api/cases")
    def api_cases(response: Response, user: Annotated[User, Depends(current_user)], state: Plain | None = None,
                  overdue: bool = False,
                  limit: Annotated[int, Query(ge=1, le=workflow.PAGE_MAX)] = workflow.PAGE_SIZE,
                  offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> list[dict[str, Any]]:
        """One page of the user's cases, by due date (undated last); the header X-Total-Count says how
        many there are over all pages."""
        rows, total = _case_rows(user, state, overdue, limit, offset)
        response.headers["X-Total-Count"] = str(total)
        return [dict(r._mapping) for r in rows]

    @app.get("/api/cases/{case_id}")
    def api_case(case_id: CaseId, user: Annotated[User, Depends(current_user)]) -> dict[str, Any]:
        detail = _case_detail(store, visible(user, case_id))
        return {"case": dict(detail["case"]._mapping), "findings": detail["findings"],
                "tasks": [dict(r._mapping) for r in detail["tasks"]],
                "comments": [dict(r._mapping) for r in detail["comments"]],
                "history": [dict(r._mapping) for r in detail["history"]],
                "attachments": [dict(r._mapping) for r in detail["attachments"]]}

    @app.post("/api/cases/{case_id}/assign")
    def api_assign(case_id: CaseId, body: AssignBody, user: Annotated[User, Depends(editor)]) -> dict[str, str]:
        visible(user, case_id)
        workflow.assign(store, case_id, body.owner, body.due_at, user.username)
        return {"status": "ok"}

    @app.post("/api/cases/{case_id}/advance")
    def api_advance(case_id: CaseId, body: AdvanceBody, user: Annotated[User, Depends(editor)]) -> dict[str, str]:
        visible(user, case_id)
        workflow.advance(store, case_id, body.to_state, user.username)
        return {"status": "ok"}

    @app.post("/api/cases/{case_id}/close")
    def api_close(case_id: CaseId, body: CloseBody, user: Annotated[User, Depends(editor)]) -> dict[str, str]:
        visible(user, case_id)
        workflow.close(store, case_id, body.reason, user.username, force=body.force)
        return {"status": "ok"}

    @app.post("/api/cases/{case_id}/tasks")
    def api_task(case_id: CaseId, body: TextBody, user: Annotated[User, Depends(editor)]) -> dict[str, int]:
        visible(user, case_id)
        return {"task_id": workflow.add_task(store, case_id, body.text, user.username)}

    @app.post("/api/cases/{case_id}/comments")
    def api_comment(case_id: CaseId, body: TextBody, user: Annotated[User, Depends(editor)]) -> dict[str, str]:
        visible(user, case_id)
        workflow.add_comment(store, case_id, body.text, user.username)
        return {"status": "ok"}

    @app.post("/api/cases/{case_id}/notice", response_class=Response,
              responses={200: {"content": {"application/pdf": {}}}})
    def api_notice(case_id: CaseId, user: Annotated[User, Depends(editor)]) -> Response:
        """Issue the rectification notice (整改通知书): the case (assigned) moves to notice_issued and keeps
        the PDF as an attachment; the answer is the PDF."""
        visible(user, case_id)
        pdf, digest = issue_notice(store, case_id, user.username, issuer=_issuer(user))
        return _pdf(pdf, f"notice-{case_id}.pdf", {"X-Content-SHA256": digest})

    @app.get("/api/cases/{case_id}/attachments")
    def api_attachments(case_id: CaseId, user: Annotated[User, Depends(current_user)]) -> list[dict[str, Any]]:
        visible(user, case_id)
        return [dict(r._mapping) for r in workflow.attachments(store, case_id)]

    @app.post("/api/cases/{case_id}/attachments")
    async def api_attach(case_id: CaseId, user: Annotated[User, Depends(editor)],
                         file: Annotated[UploadFile, File()]) -> dict[str, str]:
        """Add evidence to a case (a photo, a signed letter, a capture); up to 20 MiB."""
        visible(user, case_id)
        content = await _read_upload(file)
        return {"sha256": workflow.add_attachment(store, case_id, _filename(file), content, user.username)}

    @app.get("/api/cases/{case_id}/attachments/{attachment_id}", response_class=Response,
             responses={200: {"content": {"application/octet-stream": {}}}})
    @app.get("/cases/{case_id}/attachments/{attachment_id}", response_class=Response, include_in_schema=False)
    def api_attachment(case_id: CaseId, attachment_id: AttachmentId,
                       user: Annotated[User, Depends(current_user)]) -> Response:
        visible(user, case_id)
        row = workflow.attachment(store, case_id, attachment_id)
        media = "application/pdf" if row.filename.lower().endswith(".pdf") else "application/octet-stream"
        return Response(row.content, media_type=media,
                        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(row.filename)}",
                                 "X-Content-SHA256": row.sha256})

    @app.get("/api/dashboard")
    def api_dashboard(user: Annotated[User, Depends(current_user)], region: Plain = "") -> dict[str, Any]:
        """Counts, trend, places, organisations, hash rate and energy per algorithm for the user's area,
        or a part of it (``region``: a code prefix inside the user's area, for drill-down)."""
        return dashboard(store, area(user, region))

    @app.get("/api/findings/{finding_id}")
    def api_finding(finding_id: str, user: Annotated[User, Depends(current_user)]) -> dict[str, Any]:
        """One finding as stored (the JSON output schema), if it lies in the user's area or in a case of it."""
        return visible_finding(user, finding_id)[0]

    @app.get("/api/ledger.xlsx", response_class=Response,
             responses={200: {"content": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}})
    def api_ledger(request: Request, user: Annotated[User, Depends(current_user)]) -> Response:
        """The ledger (台账) of the user's jurisdiction: one sheet for the area, one per sub-division."""
        data = ledger_xlsx(store, user.region_code, lang_of(request))
        return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": 'attachment; filename="ledger.xlsx"'})

    # --- public reports (举报) ----------------------------------------------------------------
    limiter = RateLimiter(TIP_LIMIT, TIP_WINDOW_S)

    @app.get("/report", response_class=HTMLResponse, include_in_schema=False)
    def report_form(request: Request) -> HTMLResponse:
        return page(request, "report.html", None, places=_places(), code=None)

    @app.post("/report", response_class=HTMLResponse, include_in_schema=False)
    def report_submit(request: Request, region_code: Annotated[Plain, Form()], subject: Annotated[Plain, Form()],
                      description: Annotated[Plain, Form()], contact: Annotated[Plain, Form()] = "",
                      csrf: Annotated[Plain, Form()] = "") -> HTMLResponse:
        csrf_ok(request, csrf)
        if not limiter.allow(request.client.host if request.client else "?"):
            raise HTTPException(429, "too many reports from this address, try again later / 提交过于频繁，请稍后再试")
        code = submit_tip(store, region_code, subject, description, contact)
        return page(request, "report.html", None, places=_places(), code=code)

    @app.get("/report/status", response_class=HTMLResponse, include_in_schema=False)
    def report_status(request: Request, code: Plain = "") -> HTMLResponse:
        status = tip_status(store, code) if code else None
        return page(request, "report_status.html", None, code=code, status=status, TS=TIP_STATE_LABELS)

    @app.get("/tips", response_class=HTMLResponse, include_in_schema=False)
    def tips_page(request: Request, user: Annotated[User, Depends(current_user)]) -> HTMLResponse:
        return page(request, "tips.html", user, rows=tips_in(store, user.scope), TS=TIP_STATE_LABELS)

    @app.post("/tips/{tip_id}/status", include_in_schema=False)
    def tips_set(request: Request, tip_id: TipId, user: Annotated[User, Depends(editor)],
                 status: Annotated[Plain, Form()], csrf: Annotated[Plain, Form()] = "") -> Response:
        csrf_ok(request, csrf)
        _visible_tip(store, user, tip_id)
        set_tip_status(store, tip_id, status)
        return RedirectResponse("/tips", status_code=303)

    @app.get("/api/tips")
    def api_tips(user: Annotated[User, Depends(current_user)]) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in tips_in(store, user.scope)]

    @app.post("/api/tips/{tip_id}/status")
    def api_tip_status(tip_id: TipId, body: AdvanceBody, user: Annotated[User, Depends(editor)]) -> dict[str, str]:
        _visible_tip(store, user, tip_id)
        set_tip_status(store, tip_id, body.to_state)
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    def home() -> Response:
        return RedirectResponse("/dashboard", status_code=303)

    return app


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key (here: the client address), in memory."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.events: dict[str, deque[float]] = defaultdict(deque)

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        seen = self.events[key]
        while seen and now - seen[0] > self.window:
            seen.popleft()
        if len(seen) >= self.limit:
            return False
        seen.append(now)
        return True


def _places() -> list[tuple[str, str]]:
    """Provinces and their cities for the report form: (code, "省 市")."""
    all_divisions = divisions()
    out = []
    for d in all_divisions.values():
        if d.level == "province":
            out.append((d.code, d.name))
        elif d.level == "city" and d.parent in all_divisions:
            out.append((d.code, f"{all_divisions[d.parent].name} {d.name}"))
    return sorted(out)


async def _read_upload(file: UploadFile) -> bytes:
    content = await file.read(MAX_ATTACHMENT + 1)
    if len(content) > MAX_ATTACHMENT:
        raise HTTPException(413, f"附件超过 {MAX_ATTACHMENT >> 20} MiB，请压缩或拆分 / attachment larger than "
                                 f"{MAX_ATTACHMENT >> 20} MiB: compress or split it")
    if not content:
        raise HTTPException(422, "附件为空 / the attachment is empty")
    return content


def _filename(file: UploadFile) -> str:
    """The uploaded file's own name, without any folder part, cut to what the store keeps."""
    name = (file.filename or "").replace("\x00", "").replace("\\", "/").rsplit("/", 1)[-1].strip() or "attachment"
    return name[-200:]


def _issuer(user: User) -> str:
    """The issuing authority printed on a notice: the user's area (its office signs and seals it)."""
    return full_name(user.region_code)


def _pdf(content: bytes, filename: str, headers: dict[str, str] | None = None) -> Response:
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{filename}"', **(headers or {})})


def _visible_tip(store: Engine, user: User, tip_id: int) -> None:
    with store.connect() as conn:
        region = conn.execute(select(tips.c.region_code).where(tips.c.id == tip_id)).scalar()
    if region is None or not user.sees(region):
        raise HTTPException(404, f"no tip {tip_id} / 没有举报 {tip_id}")


def _act(store: Engine, user: User, case_id: CaseId, action: str, **form: Any) -> None:
    if action == "assign":
        workflow.assign(store, case_id, form["owner"] or user.username, form["due_at"], user.username)
    elif action in workflow.FORWARD.values():
        workflow.advance(store, case_id, action, user.username)
    elif action == "close":
        workflow.close(store, case_id, form["reason"], user.username, force=form["force"])
    elif action == "task" and form["text"]:
        workflow.add_task(store, case_id, form["text"], user.username)
    elif action == "comment" and form["text"]:
        workflow.add_comment(store, case_id, form["text"], user.username)
    elif action == "notice":
        issue_notice(store, case_id, user.username, issuer=_issuer(user))
    elif action.startswith("done:") and action[5:].isdigit() and int(action[5:]) <= MAX_ID:
        workflow.complete_task(store, case_id, int(action[5:]), user.username)
    else:
        raise HTTPException(400, f"未知操作 {action[:40]} / unknown action {action[:40]}")


def _case_detail(store: Engine, case: Row[Any]) -> dict[str, Any]:
    with store.connect() as conn:
        found = [r[0] for r in conn.execute(select(findings.c.data).join(
            case_findings, case_findings.c.finding_id == findings.c.id).where(case_findings.c.case_id == case.id)
            .order_by(findings.c.first_seen))]
        tasks = list(conn.execute(select(case_tasks).where(case_tasks.c.case_id == case.id).order_by(case_tasks.c.id)))
        comments = list(conn.execute(select(case_comments).where(case_comments.c.case_id == case.id)
                                     .order_by(case_comments.c.id)))
        hist = list(conn.execute(select(case_history).where(case_history.c.case_id == case.id)
                                 .order_by(case_history.c.id)))
    return {"case": case, "findings": found, "tasks": tasks, "comments": comments, "history": hist,
            "attachments": workflow.attachments(store, case.id)}

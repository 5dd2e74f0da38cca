"""The disposal console (``minescope serve``): pages and a JSON API over the same store as ``scan``.

Every request acts as one user: a browser session (signed cookie, CSRF token on every form) or an
API token (``Authorization: Bearer …``). A user sees and changes only cases of their jurisdiction
and below; anything else answers 404, exactly as if it did not exist.
"""


import functools
import json
import secrets
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode, urlsplit

import fastapi_offline
from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import Engine, Row, select
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from minescope import settings
from minescope.cases import workflow
from minescope.cases.dashboard import dashboard
from minescope.errors import InputError
from minescope.knowledge.regions import divisions, full_name
from minescope.model import MIN_SHARES_TO_SIZE
from minescope.outputs import fmt
from minescope.outputs.notice import Issuer, case_issuer, issue_notice
from minescope.store import accounts
from minescope.store.accounts import User, region_prefix, user_for_token
from minescope.store.cases import case_comments, case_findings, case_history, case_tasks, cases
from minescope.store.findings import findings, open_store
from minescope.store.tips import TIP_STATE_LABELS, submit_tip, tip_status
from minescope.web.admin import add_account_pages
from minescope.web.captcha import ReportCaptcha
from minescope.web.i18n import LABELS, STATE_LABELS, t
from minescope.web.security import BodyLimit, SecurityHeaders, TrustedProxies
from minescope.web.views import dashboard_view
from minescope.web.worklists import add_worklist_pages

HERE = Path(__file__).parent
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"  # Swagger UI's bundle and stylesheet
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
TEMPLATES.env.filters.update(clock=fmt.clock, duration=fmt.duration, hashrate=fmt.hashrate, pct=fmt.pct,
                             quantity=fmt.quantity, nbytes=fmt.nbytes, number=fmt.number,
                             json_text=lambda v: json.dumps(v, ensure_ascii=False, sort_keys=True),  # readable 中文
                             history_text=lambda v: _history_text(v),
                             place=lambda code: full_name(code) or (code or ""))  # GB/T 2260 names


def _history_text(value: object) -> str:
    """A history row's before/after as JSON, its times (keys ending in _at) as local dates, not epoch seconds."""
    if isinstance(value, dict):
        value = {k: fmt.clock(v) if k.endswith("_at") and isinstance(v, int | float) else v
                 for k, v in value.items()}
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


CASES_ON_DASHBOARD = 100


def local_path(target: str | None) -> str | None:
    """``target`` if it is a path on this console ('/cases/3?lang=en'), else None: never an open redirect."""
    if not target or len(target) > 2000 or not target.startswith("/") or target.startswith("//"):
        return None
    if not target.isascii() or any(c in target for c in "\\\r\n\t") or not target.isprintable():
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path.startswith("/login"):
        return None
    return target


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not the API, not a script): refusals are shown to it as pages."""
    path = request.url.path
    if path.startswith("/api/") or path in ("/openapi.json", "/docs"):
        return False
    return "text/html" in request.headers.get("accept", "")


def in_lang(message: str, lang: str) -> str:
    """The half of a bilingual 'zh / en' (or 'en / zh') message in ``lang``; the message whole if not bilingual."""
    halves = message.split(" / ", 1)
    if len(halves) != 2:
        return message
    first_zh = any("\u4e00" <= c <= "\u9fff" for c in halves[0])
    zh, en = halves if first_zh else halves[::-1]
    return en if lang == "en" else zh


def login_url(request: Request) -> str:
    """The login page, remembering the page asked for (a GET other than the dashboard, where login leads anyway)."""
    if request.method != "GET" or request.url.path == "/dashboard":
        return "/login"
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?" + urlencode({"next": target}) if local_path(target) else "/login"
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
    due_days: int | None = Field(default=None, ge=workflow.DUE_DAYS_MIN, le=workflow.DUE_DAYS_MAX,
                                 description="rectification term in whole days / 整改期限（天）")
    due_at: float | None = Field(default=None, allow_inf_nan=False,
                                 description="or the due time itself (Unix seconds, within a year) / 或截止时间")


class AdvanceBody(BaseModel):
    to_state: Plain = Field(max_length=32)


class CloseBody(BaseModel):
    reason: Plain = Field(max_length=32)
    force: bool = False


class TextBody(BaseModel):
    text: Plain = Field(min_length=1, max_length=10000)


class AccountActionBody(BaseModel):
    account: Plain = Field(min_length=1, max_length=128)
    action: Literal["freeze", "report_to_police", "duanka"]
    reference: Plain = Field(default="", max_length=200)


@functools.cache
def labels_in(lang: str) -> dict[str, str]:
    """Every label in one language (made once: a page used to copy them all for every request)."""
    return {k: v[1 if lang == "en" else 0] for k, v in LABELS.items()}


@functools.cache
def states_in(lang: str) -> dict[str, str]:
    return {k: v[1 if lang == "en" else 0] for k, v in STATE_LABELS.items()}


@functools.cache
def kinds_in(lang: str) -> list[tuple[str, str]]:
    """(kind, label) of every finding kind with a label, for the kind selectors."""
    return [(k[5:], v) for k, v in labels_in(lang).items() if k.startswith("kind.")]


def create_app(db: str | Path, secret: str | None = None) -> FastAPI:
    store = open_store(db)
    app = FastAPI(title="minescope console", version="0.1.0", docs_url=None, redoc_url=None,
                  description="Disposal of mining findings: cases, tasks, history / 挖矿处置案件")
    # innermost first: body limits (after the session cookie is read, before any body), the signed
    # cookie (it carries the server-side session's id), security headers, compression, proxies
    app.add_middleware(BodyLimit, may_upload=lambda scope: _may_upload(store, scope))
    secret = secret or secrets.token_urlsafe(32)  # signs the session cookie and the report form's CAPTCHA
    app.add_middleware(SessionMiddleware, secret_key=secret, same_site="strict",
                       https_only=settings.SECURE_COOKIES.value() == "1", max_age=int(accounts.SESSION_S))
    app.add_middleware(SecurityHeaders)
    app.add_middleware(GZipMiddleware, minimum_size=2048)  # the map and chart scripts shrink to a third
    app.add_middleware(TrustedProxies, proxies=settings.TRUSTED_PROXIES.value())
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")  # no CDN: works offline

    @app.get("/docs", include_in_schema=False)
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="minescope console – API",
                                   swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css", swagger_favicon_url="data:,")

    def openapi_with_tokens() -> dict[str, Any]:
        """The API's description, with its security scheme (a bearer token): Swagger UI shows "Authorize"."""
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = {"token": {
                "type": "http", "scheme": "bearer",
                "description": "minescope users token USER --name NAME [--scope read|write] / API 令牌"}}
            schema["security"] = [{"token": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi_with_tokens  # type: ignore[method-assign]
    app.state.store = store

    def lang_of(request: Request) -> str:
        lang = request.query_params.get("lang") or request.cookies.get("lang") or "zh"
        return "en" if lang == "en" else "zh"

    def current_user(request: Request) -> User:
        auth = request.headers.get("authorization", "")
        user = None
        if auth.lower().startswith("bearer "):
            user = user_for_token(store, auth[7:].strip())
        elif "sid" in request.session:
            user = accounts.user_for_session(store, str(request.session["sid"]))
            # a write with the session cookie needs the page's CSRF token too (a form field, checked by
            # the page's route, or the X-CSRF-Token header for the API): another site cannot send it
            if user is not None and request.method not in ("GET", "HEAD", "OPTIONS") \
                    and request.url.path.startswith("/api/"):
                csrf_ok(request, request.headers.get("x-csrf-token", ""))
        if user is None:
            if request.url.path.startswith("/api/"):
                raise HTTPException(401, "login or an API token is required / 需要登录或 API 令牌")
            raise HTTPException(303, headers={"Location": login_url(request)})
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

    def page(request: Request, name: str, user: User | None, **ctx: Any) -> HTMLResponse:
        lang = lang_of(request)
        response = TEMPLATES.TemplateResponse(request, name, {
            "lang": lang, "L": labels_in(lang), "S": states_in(lang), "kinds": kinds_in(lang), "user": user,
            "csrf": request.session.setdefault("csrf", secrets.token_urlsafe(24)),
            "flash": request.session.pop("flash", None),
            "lang_switch": "?" + request.url.include_query_params(lang="zh" if lang == "en" else "en").query, **ctx})
        if request.query_params.get("lang"):
            response.set_cookie("lang", lang, samesite="strict", secure=settings.SECURE_COOKIES.value() == "1")
        return response

    def error_page(request: Request, status: int, message: str) -> HTMLResponse:
        """A refusal as a page in the reader's language, with the status code the API would give."""
        back = "/report" if request.url.path.startswith("/report") else "/dashboard"  # a citizen has no dashboard
        response = page(request, "error.html", None, status=status, message=in_lang(message, lang_of(request)),
                        back=back)
        response.status_code = status
        return response

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> Response:
        if wants_html(request):
            return error_page(request, 409, exc.text.en if lang_of(request) == "en" else exc.text.zh)
        return JSONResponse({"detail": f"{exc.text.zh} / {exc.text.en}"}, status_code=409)

    @app.exception_handler(StarletteHTTPException)
    async def refusal(request: Request, exc: StarletteHTTPException) -> Response:
        """Refusals from the framework itself (an unparsable body, a wrong method) get a Chinese lead-in too."""
        if isinstance(exc.detail, str) and " / " not in exc.detail and exc.status_code >= 400:
            zh = {400: "请求无效", 404: "不存在", 405: "不支持的请求方法", 413: "请求过大"}.get(exc.status_code,
                                                                                              "请求被拒绝")
            exc.detail = f"{zh} / {exc.detail}"
        if exc.status_code >= 400 and wants_html(request):
            return error_page(request, exc.status_code, str(exc.detail))
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        """One line naming each bad field, in both languages; the field list stays machine-readable."""
        fields = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        if wants_html(request):
            return error_page(request, 422, f"{t('error_invalid', lang_of(request))}: {fields}")
        return JSONResponse({"detail": f"请求参数无效：{fields} / invalid request: {fields}",
                             "errors": [{"loc": e["loc"], "msg": e["msg"]} for e in exc.errors()]},
                            status_code=422)

    # --- pages --------------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request) -> HTMLResponse:
        return page(request, "login.html", None, error=None, next=local_path(request.query_params.get("next")))

    @app.post("/login", include_in_schema=False)
    def login(request: Request, username: Annotated[Plain, Form()], password: Annotated[Plain, Form()],
              csrf: Annotated[Plain, Form()] = "", next_: Annotated[Plain, Form(alias="next")] = "") -> Response:
        csrf_ok(request, csrf)
        target = local_path(next_)
        address = request.client.host if request.client else ""
        try:
            user = accounts.login(store, username, password, address)
        except accounts.LoginRefused as e:
            status = {"locked": 429, "busy": 503}.get(e.reason, 401)
            response = page(request, "login.html", None, error=t(f"login_{e.reason}", lang_of(request)), next=target)
            response.status_code = status
            return response
        request.session.clear()
        request.session.update(sid=accounts.new_session(store, user, address), csrf=secrets.token_urlsafe(24))
        return RedirectResponse(target or "/dashboard", status_code=303)

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, csrf: Annotated[Plain, Form()] = "") -> Response:
        csrf_ok(request, csrf)
        if "sid" in request.session:
            accounts.end_session(store, str(request.session["sid"]))  # a copy of the cookie no longer works
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

    @app.get("/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
    def case_page(request: Request, case_id: CaseId, user: Annotated[User, Depends(current_user)]) -> HTMLResponse:
        return page(request, "case.html", user, **_case_detail(store, visible(user, case_id)),
                    reasons=workflow.CLOSING_REASONS, forward=workflow.FORWARD)

    @app.post("/cases/{case_id}/action", include_in_schema=False)
    def case_action(request: Request, case_id: CaseId, user: Annotated[User, Depends(editor)],
                    action: Annotated[Plain, Form()], csrf: Annotated[Plain, Form()] = "",
                    owner: Annotated[Plain, Form()] = "", due_days: Annotated[Plain, Form()] = "7",
                    reason: Annotated[Plain, Form()] = "", force: Annotated[bool, Form()] = False,
                    text: Annotated[Plain, Form()] = "", account: Annotated[Plain, Form()] = "") -> Response:
        csrf_ok(request, csrf)
        visible(user, case_id)
        try:
            days = workflow.due_days_checked(int(due_days) if due_days.strip().isdigit() else due_days) \
                if action == "assign" else 0
            _act(store, user, case_id, action, owner=owner, due_at=time.time() + days * 86400,
                 reason=reason, force=force, text=text, account=account)
        except InputError as e:
            request.session["flash"] = e.text.get(lang_of(request))
        else:
            lang = lang_of(request)
            said = labels_in(lang)["done_action"] + _action_label(action, lang)
            if action == "notice" and not _issuer(store, user, case_id).configured:
                said += " " + labels_in(lang)["issuer_missing"]
            request.session["flash"] = said
        return RedirectResponse(f"/cases/{case_id}", status_code=303)

    @app.post("/cases/{case_id}/attachments", include_in_schema=False)
    async def case_upload(request: Request, case_id: CaseId, user: Annotated[User, Depends(editor)],
                          file: Annotated[UploadFile, File()], csrf: Annotated[Plain, Form()] = "") -> Response:
        csrf_ok(request, csrf)
        visible(user, case_id)
        content = await _read_upload(file)
        workflow.add_attachment(store, case_id, _filename(file), content, user.username)
        return RedirectResponse(f"/cases/{case_id}", status_code=303)

    # --- API ------------------------------------------------------------------------------
    @app.get("/api/me")
    def api_me(user: Annotated[User, Depends(current_user)]) -> dict[str, Any]:
        return {"username": user.username, "role": user.role, "region_code": user.region_code}

    @app.get("/api/cases/{case_id}")
    def api_case(case_id: CaseId, user: Annotated[User, Depends(current_user)]) -> dict[str, Any]:
        detail = _case_detail(store, visible(user, case_id))
        return {"case": dict(detail["case"]._mapping), "findings": detail["findings"],
                "accounts": {a: {k: dict(r._mapping) for k, r in done.items()}
                             for a, done in detail["accounts"].items()},
                "tasks": [dict(r._mapping) for r in detail["tasks"]],
                "comments": [dict(r._mapping) for r in detail["comments"]],
                "history": [dict(r._mapping) for r in detail["history"]],
                "attachments": [dict(r._mapping) for r in detail["attachments"]]}

    @app.post("/api/cases/{case_id}/assign")
    def api_assign(case_id: CaseId, body: AssignBody, user: Annotated[User, Depends(editor)]) -> dict[str, str]:
        visible(user, case_id)
        if (body.due_days is None) == (body.due_at is None):
            raise HTTPException(422, "请给出 due_days（整改天数）或 due_at 之一 / give one of due_days or due_at")
        due_at = body.due_at if body.due_at is not None else time.time() + (body.due_days or 0) * 86400
        workflow.assign(store, case_id, body.owner, due_at, user.username)
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

    @app.post("/api/cases/{case_id}/reopen")
    def api_reopen(case_id: CaseId, user: Annotated[User, Depends(editor)]) -> dict[str, str]:
        """Open a closed case again (recorded in its history); a closed case is read-only until then."""
        visible(user, case_id)
        workflow.reopen(store, case_id, user.username)
        return {"status": "ok"}

    @app.post("/api/cases/{case_id}/tasks")
    def api_task(case_id: CaseId, body: TextBody, user: Annotated[User, Depends(editor)]) -> dict[str, int]:
        visible(user, case_id)
        return {"task_id": workflow.add_task(store, case_id, body.text, user.username)}

    @app.post("/api/cases/{case_id}/accounts")
    def api_account(case_id: CaseId, body: AccountActionBody, user: Annotated[User, Depends(editor)]) -> dict[str, str]:
        """Record what was done about an account of the case: ``freeze``, ``report_to_police`` or ``duanka`` (put
        on the 断卡 list), with the order's or report's reference; once per account and action."""
        visible(user, case_id)
        workflow.act_on_account(store, case_id, body.account, body.action, user.username, body.reference)
        return {"status": "ok"}

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
        by = _issuer(store, user, case_id)
        pdf, digest = issue_notice(store, case_id, user.username, issuer=by)
        # "no": none is configured for the case's area; the notice carries the area's name and says so
        return _pdf(pdf, f"notice-{case_id}.pdf", {"X-Content-SHA256": digest,
                                                   "X-Issuing-Authority-Configured": "yes" if by.configured else "no"})

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

    # --- public reports (举报) ----------------------------------------------------------------
    limiter = RateLimiter(TIP_LIMIT, TIP_WINDOW_S)
    report_captcha = ReportCaptcha(secret)  # one guess per image, checked without server-side state

    def report_page(request: Request, code: str | None = None, error: str | None = None,
                    form: dict[str, str] | None = None, status: int = 200) -> HTMLResponse:
        """The form with a fresh CAPTCHA; after a refusal, the reader's inputs kept and one message."""
        response = page(request, "report.html", None, places=_places(), code=code, form=form or {},
                        error=t(error, lang_of(request)) if error else None, challenge=report_captcha.new())
        response.status_code = status
        response.headers["Cache-Control"] = "no-store"  # a challenge is good once, and the form may hold a report
        return response

    @app.get("/report", response_class=HTMLResponse, include_in_schema=False)
    def report_form(request: Request) -> HTMLResponse:
        return report_page(request)

    @app.post("/report", response_class=HTMLResponse, include_in_schema=False)
    def report_submit(request: Request, subject: Annotated[Plain, Form()], description: Annotated[Plain, Form()],
                      region_code: Annotated[Plain, Form()] = "",  # "please choose" sends "": asked for below
                      contact: Annotated[Plain, Form()] = "", csrf: Annotated[Plain, Form()] = "",
                      captcha_token: Annotated[Plain, Form()] = "",
                      captcha_answer: Annotated[Plain, Form()] = "") -> HTMLResponse:
        csrf_ok(request, csrf)
        form = {"region_code": region_code, "subject": subject, "description": description, "contact": contact}
        if not limiter.allow(request.client.host if request.client else "?"):
            raise HTTPException(429, "too many reports from this address, try again later / 提交过于频繁，请稍后再试")
        if region_code not in {c for c, _ in _places()}:
            return report_page(request, error="report_choose_place", form={**form, "region_code": ""}, status=422)
        if not report_captcha.check(captcha_token, captcha_answer):
            return report_page(request, error="captcha_wrong", form=form, status=422)
        code = submit_tip(store, region_code, subject, description, contact)
        return report_page(request, code=code)

    @app.get("/report/status", response_class=HTMLResponse, include_in_schema=False)
    def report_status(request: Request, code: Plain = "") -> HTMLResponse:
        status = tip_status(store, code) if code else None
        return page(request, "report_status.html", None, code=code, status=status, TS=TIP_STATE_LABELS)

    add_account_pages(app, store, page, current_user, csrf_ok, lang_of)
    add_worklist_pages(app, store, page=page, current_user=current_user, editor=editor, csrf_ok=csrf_ok, area=area,
                       visible=visible, limiter_of=RateLimiter)

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


def _may_upload(store: Engine, scope: Any) -> bool:
    """Whether a request may send an evidence file: a live session or a write token (before its body is read)."""
    auth = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
    if auth.lower().startswith("bearer "):
        user = user_for_token(store, auth[7:].strip())
    else:
        sid = scope.get("session", {}).get("sid")
        user = accounts.user_for_session(store, str(sid)) if sid else None
    return user is not None and user.can_edit


def _places() -> list[tuple[str, str]]:
    """Provinces, their cities and counties for the report form: (code, "省 市 [县]")."""
    all_divisions = divisions()
    out = []
    for d in all_divisions.values():
        if d.level == "province":
            out.append((d.code, d.name))
        elif d.level == "city" and d.parent in all_divisions:
            out.append((d.code, f"{all_divisions[d.parent].name} {d.name}"))
        elif d.level == "county" and d.parent in all_divisions:  # a tip reaches the county it concerns
            out.append((d.code, full_name(d.code)))
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


def _issuer(store: Engine, user: User, case_id: CaseId) -> Issuer:
    """The issuing authority printed on a case's notice: the one configured for the case's area, its city's or
    its province's (``minescope authorities``), else the area's name; the user's area for a case without one."""
    return case_issuer(store, case_id, user.region_code)


def _pdf(content: bytes, filename: str, headers: dict[str, str] | None = None) -> Response:
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{filename}"', **(headers or {})})


# the history label of each form action (the forward moves are named by the state they reach)
_ACTION_LABELS = {"assign": "hist.assign", "notice": "hist.notice_issued", "close": "hist.close",
                  "reopen": "hist.reopen", "task": "hist.task_add", "comment": "hist.comment"}


def _action_label(action: str, lang: str) -> str:
    if action in workflow.FORWARD.values():
        return states_in(lang)[action]
    if action.startswith("account:"):
        return labels_in(lang).get(f"acted.{action[8:]}", action[:40])
    key = "hist.task_done" if action.startswith("done:") else _ACTION_LABELS.get(action, "")
    return labels_in(lang).get(key, action[:40])


def _act(store: Engine, user: User, case_id: CaseId, action: str, **form: Any) -> None:
    if action == "assign":
        workflow.assign(store, case_id, form["owner"] or user.username, form["due_at"], user.username)
    elif action in workflow.FORWARD.values():
        workflow.advance(store, case_id, action, user.username)
    elif action == "reopen":
        workflow.reopen(store, case_id, user.username)
    elif action == "close":
        workflow.close(store, case_id, form["reason"], user.username, force=form["force"])
    elif action == "task" and form["text"]:
        workflow.add_task(store, case_id, form["text"], user.username)
    elif action == "comment" and form["text"]:
        workflow.add_comment(store, case_id, form["text"], user.username)
    elif action == "notice":
        issue_notice(store, case_id, user.username, issuer=_issuer(store, user, case_id))
    elif action.startswith("done:") and action[5:].isdigit() and int(action[5:]) <= MAX_ID:
        workflow.complete_task(store, case_id, int(action[5:]), user.username)
    elif action.startswith("account:") and action[8:] in workflow.ACCOUNT_ACTIONS:
        workflow.act_on_account(store, case_id, form["account"], action[8:], user.username, form["text"])
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
            "attachments": workflow.attachments(store, case.id),
            "accounts": workflow.account_actions_of(store, case.id), "account_actions": workflow.ACCOUNT_ACTIONS}

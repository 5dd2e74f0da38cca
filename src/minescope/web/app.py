"""The disposal console (``minescope serve``): pages and a JSON API over the same store as ``scan``.

Every request acts as one user: a browser session (signed cookie, CSRF token on every form) or an
API token (``Authorization: Bearer …``). A user sees and changes only cases of their jurisdiction
and below; anything else answers 404, exactly as if it did not exist.
"""


import secrets
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from sqlalchemy import Engine, Row, select
from starlette.middleware.sessions import SessionMiddleware

from minescope.cases import workflow
from minescope.cases.dashboard import dashboard
from minescope.cases.ledger import ledger_xlsx
from minescope.errors import InputError
from minescope.knowledge.regions import divisions
from minescope.store.accounts import User, authenticate, get_user, region_prefix, user_for_token
from minescope.store.cases import case_comments, case_findings, case_history, case_tasks, cases
from minescope.store.findings import findings, open_store
from minescope.store.tips import TIP_STATE_LABELS, set_tip_status, submit_tip, tip_status, tips, tips_in
from minescope.web.i18n import LABELS, STATE_LABELS, t

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TIP_LIMIT, TIP_WINDOW_S = 5, 600.0  # public reports per client address per ten minutes


class AssignBody(BaseModel):
    owner: str = Field(min_length=1, max_length=128)
    due_at: float


class AdvanceBody(BaseModel):
    to_state: str


class CloseBody(BaseModel):
    reason: str
    force: bool = False


class TextBody(BaseModel):
    text: str = Field(min_length=1, max_length=10000)


def create_app(db: str | Path, secret: str | None = None) -> FastAPI:
    engine = open_store(db)
    app = FastAPI(title="minescope console", version="0.1.0",
                  description="Disposal of mining findings: cases, tasks, history / 挖矿处置案件")
    app.add_middleware(SessionMiddleware, secret_key=secret or secrets.token_urlsafe(32), same_site="strict",
                       https_only=False, max_age=8 * 3600)
    app.state.engine = engine

    def lang_of(request: Request) -> str:
        lang = request.query_params.get("lang") or request.cookies.get("lang") or "zh"
        return "en" if lang == "en" else "zh"

    def current_user(request: Request) -> User:
        auth = request.headers.get("authorization", "")
        user = None
        if auth.lower().startswith("bearer "):
            user = user_for_token(engine, auth[7:].strip())
        elif "uid" in request.session:
            user = get_user(engine, int(request.session["uid"]))
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
        with engine.connect() as conn:
            case = conn.execute(select(cases).where(cases.c.id == case_id)).first()
        if case is None or not user.sees(case.region_code):
            raise HTTPException(404, f"no case {case_id} / 没有案件 {case_id}")
        return case

    def _case_rows(user: User, state: str | None, overdue: bool) -> list[Row[Any]]:
        return workflow.list_cases(engine, [state] if state else None, scope=user.scope, overdue=overdue, by_due=True)

    def page(request: Request, name: str, user: User | None, **ctx: Any) -> HTMLResponse:
        lang = lang_of(request)
        response = TEMPLATES.TemplateResponse(request, name, {
            "lang": lang, "L": {k: v[1 if lang == "en" else 0] for k, v in LABELS.items()},
            "S": {k: v[1 if lang == "en" else 0] for k, v in STATE_LABELS.items()}, "user": user,
            "csrf": request.session.setdefault("csrf", secrets.token_urlsafe(24)),
            "flash": request.session.pop("flash", None), **ctx})
        if request.query_params.get("lang"):
            response.set_cookie("lang", lang, samesite="strict")
        return response

    @app.exception_handler(InputError)
    async def input_error(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": exc.text.get(lang_of(request))}, status_code=409)

    # --- pages --------------------------------------------------------------------------
    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    def login_page(request: Request) -> HTMLResponse:
        return page(request, "login.html", None, error=None)

    @app.post("/login", include_in_schema=False)
    def login(request: Request, username: Annotated[str, Form()], password: Annotated[str, Form()],
              csrf: Annotated[str, Form()] = "") -> Response:
        csrf_ok(request, csrf)
        user = authenticate(engine, username, password)
        if user is None:
            response = page(request, "login.html", None, error=t("bad_login", lang_of(request)))
            response.status_code = 401
            return response
        request.session.clear()
        request.session.update(uid=user.id, csrf=secrets.token_urlsafe(24))
        return RedirectResponse("/cases", status_code=303)

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        csrf_ok(request, csrf)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/cases", response_class=HTMLResponse, include_in_schema=False)
    def cases_page(request: Request, user: Annotated[User, Depends(current_user)],
                   state: str | None = None, overdue: bool = False) -> HTMLResponse:
        rows = _case_rows(user, state, overdue)
        return page(request, "cases.html", user, rows=rows, state=state, overdue=overdue, now=time.time())

    @app.get("/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
    def case_page(request: Request, case_id: int, user: Annotated[User, Depends(current_user)]) -> HTMLResponse:
        return page(request, "case.html", user, **_case_detail(engine, visible(user, case_id)),
                    reasons=workflow.CLOSING_REASONS, forward=workflow.FORWARD)

    @app.post("/cases/{case_id}/action", include_in_schema=False)
    def case_action(request: Request, case_id: int, user: Annotated[User, Depends(editor)],
                    action: Annotated[str, Form()], csrf: Annotated[str, Form()] = "",
                    owner: Annotated[str, Form()] = "", due_days: Annotated[float, Form()] = 7,
                    reason: Annotated[str, Form()] = "", force: Annotated[bool, Form()] = False,
                    text: Annotated[str, Form()] = "") -> Response:
        csrf_ok(request, csrf)
        visible(user, case_id)
        try:
            _act(engine, user, case_id, action, owner=owner, due_at=time.time() + due_days * 86400,
                 reason=reason, force=force, text=text)
        except InputError as e:
            request.session["flash"] = e.text.get(lang_of(request))
        return RedirectResponse(f"/cases/{case_id}", status_code=303)

    # --- API ------------------------------------------------------------------------------
    @app.get("/api/me")
    def api_me(user: Annotated[User, Depends(current_user)]) -> dict[str, Any]:
        return {"username": user.username, "role": user.role, "region_code": user.region_code}

    @app.get("/api/cases")
    def api_cases(user: Annotated[User, Depends(current_user)], state: str | None = None,
                  overdue: bool = False) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in _case_rows(user, state, overdue)]

    @app.get("/api/cases/{case_id}")
    def api_case(case_id: int, user: Annotated[User, Depends(current_user)]) -> dict[str, Any]:
        detail = _case_detail(engine, visible(user, case_id))
        return {"case": dict(detail["case"]._mapping), "findings": detail["findings"],
                "tasks": [dict(r._mapping) for r in detail["tasks"]],
                "comments": [dict(r._mapping) for r in detail["comments"]],
                "history": [dict(r._mapping) for r in detail["history"]]}

    @app.post("/api/cases/{case_id}/assign")
    def api_assign(case_id: int, body: AssignBody, user: Annotated[User, Depends(editor)]) -> dict[str, str]:
        visible(user, case_id)
        workflow.assign(engine, case_id, body.owner, body.due_at, user.username)
        return {"status": "ok"}

    @app.post("/api/cases/{case_id}/advance")
    def api_advance(case_id: int, body: AdvanceBody, user: Annotated[User, Depends(editor)]) -> dict[str, str]:
        visible(user, case_id)
        workflow.advance(engine, case_id, body.to_state, user.username)
        return {"status": "ok"}

    @app.post("/api/cases/{case_id}/close")
    def api_close(case_id: int, body: CloseBody, user: Annotated[User, Depends(editor)]) -> dict[str, str]:
        visible(user, case_id)
        workflow.close(engine, case_id, body.reason, user.username, force=body.force)
        return {"status": "ok"}

    @app.post("/api/cases/{case_id}/tasks")
    def api_task(case_id: int, body: TextBody, user: Annotated[User, Depends(editor)]) -> dict[str, int]:
        visible(user, case_id)
        return {"task_id": workflow.add_task(engine, case_id, body.text, user.username)}

    @app.post("/api/cases/{case_id}/comments")
    def api_comment(case_id: int, body: TextBody, user: Annotated[User, Depends(editor)]) -> dict[str, str]:
        visible(user, case_id)
        workflow.add_comment(engine, case_id, body.text, user.username)
        return {"status": "ok"}

    @app.get("/api/dashboard")
    def api_dashboard(user: Annotated[User, Depends(current_user)], region: str = "") -> dict[str, Any]:
        """Counts, trend, places, organisations, hash rate and energy per algorithm for the user's area,
        or a part of it (``region``: a code prefix inside the user's area, for drill-down)."""
        scope = region_prefix(region) or user.scope
        if not scope.startswith(user.scope):
            raise HTTPException(404, f"no area {region} / 没有地区 {region}")
        return dashboard(engine, scope)

    @app.get("/api/ledger.xlsx", response_class=Response,
             responses={200: {"content": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}})
    def api_ledger(request: Request, user: Annotated[User, Depends(current_user)]) -> Response:
        """The ledger (台账) of the user's jurisdiction: one sheet for the area, one per sub-division."""
        data = ledger_xlsx(engine, user.region_code, lang_of(request))
        return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": 'attachment; filename="ledger.xlsx"'})

    # --- public reports (举报) ----------------------------------------------------------------
    limiter = RateLimiter(TIP_LIMIT, TIP_WINDOW_S)

    @app.get("/report", response_class=HTMLResponse, include_in_schema=False)
    def report_form(request: Request) -> HTMLResponse:
        return page(request, "report.html", None, places=_places(), code=None)

    @app.post("/report", response_class=HTMLResponse, include_in_schema=False)
    def report_submit(request: Request, region_code: Annotated[str, Form()], subject: Annotated[str, Form()],
                      description: Annotated[str, Form()], contact: Annotated[str, Form()] = "",
                      csrf: Annotated[str, Form()] = "") -> HTMLResponse:
        csrf_ok(request, csrf)
        if not limiter.allow(request.client.host if request.client else "?"):
            raise HTTPException(429, "too many reports from this address, try again later / 提交过于频繁，请稍后再试")
        code = submit_tip(engine, region_code, subject, description, contact)
        return page(request, "report.html", None, places=_places(), code=code)

    @app.get("/report/status", response_class=HTMLResponse, include_in_schema=False)
    def report_status(request: Request, code: str = "") -> HTMLResponse:
        status = tip_status(engine, code) if code else None
        return page(request, "report_status.html", None, code=code, status=status, TS=TIP_STATE_LABELS)

    @app.get("/tips", response_class=HTMLResponse, include_in_schema=False)
    def tips_page(request: Request, user: Annotated[User, Depends(current_user)]) -> HTMLResponse:
        return page(request, "tips.html", user, rows=tips_in(engine, user.scope), TS=TIP_STATE_LABELS)

    @app.post("/tips/{tip_id}/status", include_in_schema=False)
    def tips_set(request: Request, tip_id: int, user: Annotated[User, Depends(editor)],
                 status: Annotated[str, Form()], csrf: Annotated[str, Form()] = "") -> Response:
        csrf_ok(request, csrf)
        _visible_tip(engine, user, tip_id)
        set_tip_status(engine, tip_id, status)
        return RedirectResponse("/tips", status_code=303)

    @app.get("/api/tips")
    def api_tips(user: Annotated[User, Depends(current_user)]) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in tips_in(engine, user.scope)]

    @app.post("/api/tips/{tip_id}/status")
    def api_tip_status(tip_id: int, body: AdvanceBody, user: Annotated[User, Depends(editor)]) -> dict[str, str]:
        _visible_tip(engine, user, tip_id)
        set_tip_status(engine, tip_id, body.to_state)
        return {"status": "ok"}

    @app.get("/", include_in_schema=False)
    def home() -> Response:
        return RedirectResponse("/cases", status_code=303)

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


def _visible_tip(engine: Engine, user: User, tip_id: int) -> None:
    with engine.connect() as conn:
        region = conn.execute(select(tips.c.region_code).where(tips.c.id == tip_id)).scalar()
    if region is None or not user.sees(region):
        raise HTTPException(404, f"no tip {tip_id} / 没有举报 {tip_id}")


def _act(engine: Engine, user: User, case_id: int, action: str, **form: Any) -> None:
    if action == "assign":
        workflow.assign(engine, case_id, form["owner"] or user.username, form["due_at"], user.username)
    elif action in workflow.FORWARD.values():
        workflow.advance(engine, case_id, action, user.username)
    elif action == "close":
        workflow.close(engine, case_id, form["reason"], user.username, force=form["force"])
    elif action == "task" and form["text"]:
        workflow.add_task(engine, case_id, form["text"], user.username)
    elif action == "comment" and form["text"]:
        workflow.add_comment(engine, case_id, form["text"], user.username)
    elif action.startswith("done:"):
        workflow.complete_task(engine, int(action[5:]), user.username)
    else:
        raise HTTPException(400, f"unknown action {action}")


def _case_detail(engine: Engine, case: Row[Any]) -> dict[str, Any]:
    with engine.connect() as conn:
        found = [r[0] for r in conn.execute(select(findings.c.data).join(
            case_findings, case_findings.c.finding_id == findings.c.id).where(case_findings.c.case_id == case.id)
            .order_by(findings.c.first_seen))]
        tasks = list(conn.execute(select(case_tasks).where(case_tasks.c.case_id == case.id).order_by(case_tasks.c.id)))
        comments = list(conn.execute(select(case_comments).where(case_comments.c.case_id == case.id)
                                     .order_by(case_comments.c.id)))
        hist = list(conn.execute(select(case_history).where(case_history.c.case_id == case.id)
                                 .order_by(case_history.c.id)))
    return {"case": case, "findings": found, "tasks": tasks, "comments": comments, "history": hist}

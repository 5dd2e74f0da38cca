"""The console's account pages: ``/account`` (change one's own password) and, for admins,
``/admin/users`` (add, disable and enable, unlock, reset a password, change role or jurisdiction, API
tokens with scope and expiry, revocation, and each account's history) and ``/admin/authorities`` (the
issuing authority of each area of theirs, named on its rectification notices).

An admin manages the accounts of their own area and below (a national admin all of them); a county
admin cannot make a national or a city account. Every change is recorded in ``account_events`` with
the admin's name, as the CLI's ``minescope users …`` does with the login name of whoever runs it.
"""


import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine

from minescope.errors import InputError
from minescope.store import accounts
from minescope.store.accounts import User
from minescope.web.i18n import t

MAX_TOKEN_DAYS = 3650

# the issuing authorities page (its own labels: key → (zh, en), as ``web.i18n``)
AUTHORITY_LABELS: dict[str, tuple[str, str]] = {
    "authorities": ("发文机关", "Issuing authorities"),
    "about": ("整改通知书以案件所属县级地区设置的发文机关落款，文号使用其代字；县级未设置时依次使用市级、省级的；"
              "都未设置时，通知书以地区全称落款，并注明该地区尚未配置发文机关。",
              "A rectification notice is issued by the authority set for the case's county, with its code in the "
              "document number; when the county has none, the city's, else the province's. With none at all, "
              "the notice carries the area's full name and says that no issuing authority is configured for it."),
    "yours": ("你的辖区的通知书由此落款：", "Notices of your area are issued by:"),
    "none": ("未配置发文机关（以地区名称落款）", "no issuing authority configured (the area's name is used)"),
    "set_for": ("设置于", "set for"),
    "region": ("地区代码", "Region code"),
    "place": ("地区", "Area"),
    "name": ("机关名称", "Authority"),
    "prefix": ("文号代字", "Document number prefix"),
    "prefix_keep": ("不填则保留原值", "empty: keep the current one"),
    "updated": ("更新", "Updated"),
    "set": ("设置", "Set"),
    "remove": ("删除", "Remove"),
    "history": ("变更记录", "Changes"),
    "none_set": ("你的辖区内尚未设置发文机关", "no issuing authority is set in your area"),
}


def add_account_pages(app: FastAPI, store: Engine, page: Callable[..., HTMLResponse],
                      current_user: Callable[..., User], csrf_ok: Callable[[Request, str], None],
                      lang_of: Callable[[Request], str]) -> None:
    """Register the account pages on the console ``app`` (called by ``create_app``)."""

    def admin(user: Annotated[User, Depends(current_user)]) -> User:
        if not user.is_admin:
            raise HTTPException(403, "只有管理员可以管理账号 / only administrators manage accounts")
        return user

    def managed(user: User, username: str) -> dict[str, Any]:
        for row in accounts.list_users(store):
            if row["username"] == username and user.sees(row["region_code"]) \
                    and (row["region_code"] or user.scope == ""):
                return row
        raise HTTPException(404, f"没有用户 {username[:64]} / no user {username[:64]}")

    def within(user: User, region_code: str, national: bool) -> None:
        if national and user.scope:
            raise InputError("只有全国管理员可以设全国账号", "only a national administrator can make national accounts")
        if region_code and not user.sees(region_code.strip()):
            raise InputError(f"辖区 {region_code[:12]} 不在你的辖区内", f"{region_code[:12]} is outside your area")

    def authorities_page(request: Request, user: User) -> HTMLResponse:
        from minescope.outputs.notice import issuing_authority

        lang = lang_of(request)
        rows = [r for r in accounts.list_authorities(store) if user.sees(r["region_code"])]
        events = [e for e in accounts.authority_history(store) if user.sees(e.detail.get("region_code"))][:50]
        return page(request, "admin_authorities.html", user, rows=rows, events=events,
                    A={k: v[1 if lang == "en" else 0] for k, v in AUTHORITY_LABELS.items()},
                    yours=issuing_authority(store, user.region_code) if user.region_code else None)

    @app.get("/admin/authorities", response_class=HTMLResponse, include_in_schema=False)
    def authorities_list(request: Request, user: Annotated[User, Depends(admin)]) -> HTMLResponse:
        return authorities_page(request, user)

    @app.post("/admin/authorities", include_in_schema=False)
    def authorities_act(request: Request, user: Annotated[User, Depends(admin)],
                        action: Annotated[str, Form(max_length=16)],
                        region_code: Annotated[str, Form(max_length=12)], csrf: Annotated[str, Form()] = "",
                        name: Annotated[str, Form(max_length=200)] = "",
                        doc_prefix: Annotated[str, Form(max_length=64)] = "") -> Response:
        """Set (an empty prefix keeps the current one) or remove the issuing authority of an area of the admin's;
        recorded with the admin's name, as ``minescope authorities`` does."""
        csrf_ok(request, csrf)
        lang = lang_of(request)
        try:
            code = accounts.check_authority_region(region_code)
            within(user, code, False)
            if action == "set":
                accounts.set_authority(store, code, name, user.username, doc_prefix.strip() or None)
            elif action == "remove":
                accounts.remove_authority(store, code, user.username)
            else:
                raise HTTPException(400, f"未知操作 {action[:16]} / unknown action {action[:16]}")
            request.session["flash"] = t("saved", lang)
        except InputError as e:
            request.session["flash"] = e.text.get(lang)
        return RedirectResponse("/admin/authorities", status_code=303)

    @app.get("/account", response_class=HTMLResponse, include_in_schema=False)
    def account_page(request: Request, user: Annotated[User, Depends(current_user)]) -> HTMLResponse:
        return page(request, "account.html", user, error=None)

    @app.post("/account/password", include_in_schema=False)
    def account_password(request: Request, user: Annotated[User, Depends(current_user)],
                         old: Annotated[str, Form(max_length=1024)], new: Annotated[str, Form(max_length=1024)],
                         csrf: Annotated[str, Form()] = "") -> Response:
        csrf_ok(request, csrf)
        try:
            accounts.set_password(store, user.username, new, user.username, old_password=old)
        except InputError as e:
            response = page(request, "account.html", user, error=e.text.get(lang_of(request)))
            response.status_code = 422
            return response
        except accounts.LoginRefused as e:
            raise HTTPException(503, t("login_busy", "zh") + " / " + t("login_busy", "en")) from e
        request.session.clear()  # the password change ended every session of the user, this one too
        request.session["flash"] = t("password_changed", lang_of(request))
        return RedirectResponse("/login", status_code=303)

    @app.get("/admin/users", response_class=HTMLResponse, include_in_schema=False)
    def users_page(request: Request, user: Annotated[User, Depends(admin)]) -> HTMLResponse:
        rows = [r for r in accounts.list_users(store) if user.sees(r["region_code"])
                and (r["region_code"] or user.scope == "")]
        return page(request, "admin_users.html", user, rows=rows, roles=accounts.ROLES, now=time.time())

    @app.get("/admin/users/{username}", response_class=HTMLResponse, include_in_schema=False)
    def user_page(request: Request, username: str, user: Annotated[User, Depends(admin)]) -> HTMLResponse:
        row = managed(user, username)
        return page(request, "admin_user.html", user, row=row, roles=accounts.ROLES, now=time.time(),
                    tokens=accounts.list_tokens(store, username), events=accounts.account_history(store, username),
                    new_token=None)

    @app.post("/admin/users", include_in_schema=False)
    def user_add(request: Request, user: Annotated[User, Depends(admin)],
                 username: Annotated[str, Form(max_length=64)], password: Annotated[str, Form(max_length=1024)],
                 role: Annotated[str, Form(max_length=16)], region_code: Annotated[str, Form(max_length=12)] = "",
                 national: Annotated[bool, Form()] = False, csrf: Annotated[str, Form()] = "") -> Response:
        csrf_ok(request, csrf)
        try:
            within(user, region_code, national)
            accounts.add_user(store, username, password, role, region_code, national=national, actor=user.username)
            request.session["flash"] = t("saved", lang_of(request))
        except InputError as e:
            request.session["flash"] = e.text.get(lang_of(request))
        return RedirectResponse("/admin/users", status_code=303)

    @app.post("/admin/users/{username}", include_in_schema=False)
    def user_act(request: Request, username: str, user: Annotated[User, Depends(admin)],
                 action: Annotated[str, Form(max_length=32)], csrf: Annotated[str, Form()] = "",
                 password: Annotated[str, Form(max_length=1024)] = "",
                 role: Annotated[str, Form(max_length=16)] = "", region_code: Annotated[str, Form(max_length=12)] = "",
                 national: Annotated[bool, Form()] = False, name: Annotated[str, Form(max_length=64)] = "",
                 scope: Annotated[str, Form(max_length=8)] = "read",
                 days: Annotated[int, Form(ge=1, le=MAX_TOKEN_DAYS)] = 90,
                 token: Annotated[str, Form(max_length=64)] = "") -> Response:
        csrf_ok(request, csrf)
        row = managed(user, username)
        lang = lang_of(request)
        try:
            if action in ("disable", "enable"):
                if username == user.username and action == "disable":
                    raise InputError("不能停用自己的账号", "you cannot disable your own account")
                accounts.set_disabled(store, username, action == "disable", user.username)
            elif action == "unlock":
                accounts.unlock(store, user.username, username=username)
            elif action == "reset":
                accounts.set_password(store, username, password, user.username)
            elif action == "change":
                within(user, region_code, national)
                accounts.set_role_region(store, username, user.username, role=role or None,
                                         region_code=region_code or None, national=national)
            elif action == "token":
                owner = User(_user_id(store, username), username, row["role"], row["region_code"])
                made = accounts.new_token(store, owner, name=name, scope=scope, expires_at=time.time() + days * 86400,
                                          actor=user.username)
                # shown once, in this answer (never kept in the cookie)
                return page(request, "admin_user.html", user, row=row, roles=accounts.ROLES, now=time.time(),
                            tokens=accounts.list_tokens(store, username),
                            events=accounts.account_history(store, username), new_token=made)
            elif action == "revoke":
                accounts.revoke_token(store, username, token, user.username)
            else:
                raise HTTPException(400, f"未知操作 {action[:32]} / unknown action {action[:32]}")
            request.session["flash"] = t("saved", lang)
        except InputError as e:
            request.session["flash"] = e.text.get(lang)
        except accounts.LoginRefused as e:
            raise HTTPException(503, t("login_busy", "zh") + " / " + t("login_busy", "en")) from e
        return RedirectResponse(f"/admin/users/{username}", status_code=303)


def _user_id(store: Engine, username: str) -> int:
    from sqlalchemy import select

    with store.connect() as conn:
        found = conn.execute(select(accounts.users.c.id).where(accounts.users.c.username == username)).scalar()
    if found is None:
        raise InputError(f"没有用户 {username}", f"no user {username}")
    return int(found)

"""``minescope users …`` beyond ``add``: list, disable and enable, unlock, reset or change a password,
change role or jurisdiction, named API tokens (scope, expiry, listing, revocation), and the history
of each account. Every change is recorded with the login name of whoever runs the command.

The commands are attached to the ``users`` group of ``minescope.cli`` by ``add_user_commands``; like
every command they run inside its error boundary: a problem is one line in the chosen language.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from minescope import settings


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC") if ts else "-"


def _password(prompt_zh: str, prompt_en: str, lang: str) -> str:
    """One line of standard input (a terminal is asked without echo)."""
    if sys.stdin.isatty():
        return click.prompt(prompt_zh if lang == "zh" else prompt_en, hide_input=True, err=True)
    return sys.stdin.readline().rstrip("\n")


def add_user_commands(users: click.Group, db_option: Callable[[Any], Any], lang_option: Callable[[Any], Any]) -> None:
    """Attach the account commands to ``minescope users`` (the store is imported when one runs: the CLI
    starts without it)."""
    def say(lang: str, zh: str, en: str) -> None:
        click.echo(zh if lang == "zh" else en)

    @users.command("list")
    @db_option
    @lang_option
    def users_list(db: str, lang: str) -> None:
        """列出账号及其状态 / list accounts and their state."""
        from minescope.store import accounts
        from minescope.store.findings import open_store

        for r in accounts.list_users(open_store(db)):
            zh, en = ("停用", "disabled") if r["disabled"] else ("启用", "enabled")
            state = zh if lang == "zh" else en
            if r["locked_until"]:
                state += (" 锁定至 " if lang == "zh" else " locked until ") + _when(r["locked_until"])
            click.echo(f"{r['username']}\t{r['role']}\t{r['region_code'] or ('全国' if lang == 'zh' else 'national')}"
                       f"\t{state}")

    @users.command("disable")
    @click.argument("username")
    @db_option
    @lang_option
    def users_disable(username: str, db: str, lang: str) -> None:
        """停用账号（其会话与令牌立即失效）/ disable an account (its sessions and tokens stop at once)."""
        from minescope.store import accounts
        from minescope.store.findings import open_store

        accounts.set_disabled(open_store(db), username, True, settings.login_name())
        say(lang, f"已停用 {username}", f"disabled {username}")

    @users.command("enable")
    @click.argument("username")
    @db_option
    @lang_option
    def users_enable(username: str, db: str, lang: str) -> None:
        """重新启用账号 / enable an account again."""
        from minescope.store import accounts
        from minescope.store.findings import open_store

        accounts.set_disabled(open_store(db), username, False, settings.login_name())
        say(lang, f"已启用 {username}", f"enabled {username}")

    @users.command("unlock")
    @click.argument("username", required=False)
    @click.option("--address", help="解锁客户端地址 / unlock a client address")
    @db_option
    @lang_option
    def users_unlock(username: str | None, address: str | None, db: str, lang: str) -> None:
        """解除登录失败锁定（否则 15 分钟后自动解除）/ end a login lockout now (else it ends after 15 minutes)."""
        from minescope.store import accounts
        from minescope.store.findings import open_store

        if not username and not address:
            raise click.UsageError("give a user name or --address")
        was = accounts.unlock(open_store(db), settings.login_name(), username=username, address=address)
        what = username or address
        say(lang, f"已解锁 {what}" if was else f"{what} 未被锁定",
            f"unlocked {what}" if was else f"{what} was not locked")

    @users.command("reset-password")
    @click.argument("username")
    @db_option
    @lang_option
    def users_reset(username: str, db: str, lang: str) -> None:
        """重置密码（从标准输入读取新密码），结束该用户所有会话 / reset a password (the new one from standard
        input); every session of the user ends."""
        from minescope.store import accounts
        from minescope.store.findings import open_store

        store = open_store(db)
        password = _password("新密码", "new password", lang)
        accounts.set_password(store, username, password, settings.login_name())
        say(lang, f"已重置 {username} 的密码", f"reset the password of {username}")

    @users.command("passwd")
    @click.argument("username")
    @db_option
    @lang_option
    def users_passwd(username: str, db: str, lang: str) -> None:
        """修改密码：标准输入第一行为原密码，第二行为新密码 / change a password: the current one on the first
        line of standard input, the new one on the second."""
        from minescope.store import accounts
        from minescope.store.findings import open_store

        store = open_store(db)
        old = _password("原密码", "current password", lang)
        new = _password("新密码", "new password", lang)
        accounts.set_password(store, username, new, settings.login_name(), old_password=old)
        say(lang, f"已修改 {username} 的密码", f"changed the password of {username}")

    @users.command("set")
    @click.argument("username")
    @click.option("--role", type=click.Choice(["admin", "analyst", "viewer"]), help="新角色 / new role")
    @click.option("--region", "region_code", help="新辖区 GB/T 2260 代码 / new jurisdiction code")
    @click.option("--national", is_flag=True, help="改为全国辖区 / make the jurisdiction national")
    @db_option
    @lang_option
    def users_set(username: str, role: str | None, region_code: str | None, national: bool, db: str,
                  lang: str) -> None:
        """修改角色或辖区（记入账号记录，结束其会话）/ change role or jurisdiction (recorded; sessions end)."""
        from minescope.store import accounts
        from minescope.store.findings import open_store

        store = open_store(db)
        accounts.set_role_region(store, username, settings.login_name(), role=role, region_code=region_code,
                                 national=national)
        say(lang, f"已更新 {username}", f"updated {username}")

    @users.command("token")
    @click.argument("username")
    @click.option("--name", required=True, help="令牌名称 / a name for the token")
    @click.option("--scope", type=click.Choice(["read", "write"]), default="read", show_default=True,
                  help="read 只读；write 可改案件 / read only, or write (change cases)")
    @click.option("--days", type=click.IntRange(1, 3650), default=90, show_default=True,
                  help="有效天数 / valid for this many days")
    @db_option
    @lang_option
    def users_token(username: str, name: str, scope: str, days: int, db: str, lang: str) -> None:
        """新建 API 令牌并打印（只显示一次）/ make an API token and print it (shown this once only)."""
        from minescope.store import accounts
        from minescope.store.findings import open_store

        store = open_store(db)
        user = _user(store, username)
        click.echo(accounts.new_token(store, user, name=name, scope=scope, expires_at=time.time() + days * 86400,
                                      actor=settings.login_name()))

    @users.command("tokens")
    @click.argument("username")
    @db_option
    @lang_option
    def users_tokens(username: str, db: str, lang: str) -> None:
        """列出用户的 API 令牌 / list a user's API tokens."""
        from minescope.store import accounts
        from minescope.store.findings import open_store

        for k in accounts.list_tokens(open_store(db), username):
            state = ("已吊销 " if lang == "zh" else "revoked ") + _when(k["revoked_at"]) if k["revoked_at"] else \
                ("到期 " if lang == "zh" else "expires ") + _when(k["expires_at"])
            click.echo(f"{k['id']}\t{k['name']}\t{k['scope']}\t{state}")

    @users.command("revoke")
    @click.argument("username")
    @click.argument("token")
    @db_option
    @lang_option
    def users_revoke(username: str, token: str, db: str, lang: str) -> None:
        """吊销令牌（按 users tokens 列出的编号或名称）/ revoke a token (by the id users tokens lists, or name)."""
        from minescope.store import accounts
        from minescope.store.findings import open_store

        accounts.revoke_token(open_store(db), username, token, settings.login_name())
        say(lang, f"已吊销 {username} 的令牌 {token}", f"revoked token {token} of {username}")

    @users.command("history")
    @click.argument("username", required=False)
    @db_option
    @lang_option
    def users_history(username: str | None, db: str, lang: str) -> None:
        """账号的变更记录（新在前）/ the changes to accounts (newest first)."""
        import json

        from minescope.store import accounts
        from minescope.store.findings import open_store

        for e in accounts.account_history(open_store(db), username):
            click.echo(f"{_when(e.at)}\t{e.actor}\t{e.username}\t{e.action}\t"
                       f"{json.dumps(e.detail, ensure_ascii=False, sort_keys=True)}")


def _user(store: Any, username: str) -> Any:
    from sqlalchemy import select

    from minescope.errors import InputError
    from minescope.store.accounts import User, users

    with store.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None:
        raise InputError(f"没有用户 {username}", f"no user {username}")
    return User(row.id, row.username, row.role, row.region_code)

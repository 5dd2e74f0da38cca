"""Console accounts: users with a role and a jurisdiction, their sessions, API tokens, the login
throttle, and the audit trail of every change to an account.

Passwords are stored as Argon2id hashes (argon2-cffi) with bounded cost: 19 MiB of memory, 2 passes,
one lane (OWASP's recommended minimum for Argon2id), and at most ``KDF_SLOTS`` hashes at a time in a
process, so that parallel logins queue instead of exhausting memory. Hashes made with other parameters
(older stores: 64 MiB) still verify and are redone with these at the next successful login.

API tokens and session ids are stored as SHA-256 digests (they are long random strings, so a fast hash
is enough and lookups stay indexed). A user's jurisdiction is a GB/T 2260 code of the bundled
divisions: 320000 a province, 320100 a city, 320102 a county; the user sees that area and everything
below it. National scope ("") is given only on purpose (``national=True``, ``--national``).

Lockout: ``ACCOUNT_LIMIT`` failed logins for one user name within ``WINDOW_S`` lock that name for
``LOCK_S``; ``ADDRESS_LIMIT`` failures from one client address lock the address the same way. While
locked, even the right password is refused (and not hashed). A lock ends by itself, or with
``unlock`` (``minescope users unlock``, the console's accounts page).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    delete,
    false,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from minescope.errors import InputError
from minescope.knowledge.regions import division
from minescope.store.findings import metadata, reading

ROLES = ("admin", "analyst", "viewer")
SCOPES = ("read", "write")

# --- the password hash: bounded memory and concurrency --------------------------------------------
KDF_MEMORY_KIB = 19 * 1024  # 19 MiB per hash (OWASP Password Storage Cheat Sheet, Argon2id minimum)
KDF_TIME_COST = 2
KDF_PARALLELISM = 1
KDF_SLOTS = 2  # hashes at once per process: at most KDF_SLOTS × 19 MiB, whatever the number of logins
KDF_WAIT_S = 10.0  # a login that cannot get a slot in this time is answered "busy, try again"
_hasher = PasswordHasher(time_cost=KDF_TIME_COST, memory_cost=KDF_MEMORY_KIB, parallelism=KDF_PARALLELISM)
KDF_GATE = threading.BoundedSemaphore(KDF_SLOTS)

# --- the login throttle ------------------------------------------------------------------------------
WINDOW_S = 15 * 60.0
LOCK_S = 15 * 60.0
ACCOUNT_LIMIT = 5  # failures per user name in the window
ADDRESS_LIMIT = 20  # failures per client address in the window

SESSION_S = 8 * 3600.0  # a session ends 8 hours after login at the latest
PASSWORD_MIN = 12

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("region_code", String(12), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("disabled", Boolean, nullable=False, default=False, server_default=false()),
    Column("password_changed_at", Float, nullable=True),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("digest", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("name", String(64), nullable=False, default="", server_default=""),
    Column("scope", String(8), nullable=False, default="write", server_default="write"),
    Column("expires_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
)

sessions = Table(
    "sessions", metadata,
    Column("digest", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False, index=True),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
    Column("address", String(64), nullable=False),
)

login_throttle = Table(
    "login_throttle", metadata,
    Column("key", String(160), primary_key=True),  # "user:NAME" or "addr:ADDRESS"
    Column("failures", Integer, nullable=False),
    Column("window_start", Float, nullable=False),
    Column("locked_until", Float, nullable=True),
)

account_events = Table(
    "account_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("username", String(64), nullable=False, index=True),
    Column("action", String(32), nullable=False),
    Column("detail", JSON, nullable=False),
)


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    region_code: str
    token_scope: str = "write"  # "read": the request came with a read-only API token

    @property
    def scope(self) -> str:
        """The code prefix of the user's area: "" national, "32" Jiangsu, "3201" Nanjing, "320102" a county."""
        return region_prefix(self.region_code)

    def sees(self, region_code: str | None) -> bool:
        return self.scope == "" or (bool(region_code) and str(region_code).startswith(self.scope))

    @property
    def can_edit(self) -> bool:
        return self.role in ("admin", "analyst") and self.token_scope == "write"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin" and self.token_scope == "write"


class LoginRefused(Exception):
    """A login that did not succeed: ``reason`` is "bad" (name or password), "locked" or "busy"."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def region_prefix(code: str | None) -> str:
    code = (code or "").strip()
    while code.endswith("00"):
        code = code[:-2]
    return code


def check_region(region_code: str | None, national: bool) -> str:
    """The jurisdiction to store: a bundled GB/T 2260 code, or "" when ``national`` is asked for explicitly."""
    code = (region_code or "").strip()
    if national:
        if code:
            raise InputError("--national 与 --region 只能选一个", "give either --national or --region, not both")
        return ""
    if not code:
        raise InputError("请用 --region 给出辖区代码（GB/T 2260，如 320102），全国账号用 --national",
                         "give the jurisdiction with --region (a GB/T 2260 code such as 320102), or --national "
                         "for a national account")
    if division(code) is None:
        raise InputError(f"辖区代码 {code[:20]} 不是 GB/T 2260 行政区划代码（如 320000、320100、320102）；"
                         "全国账号用 --national",
                         f"{code[:20]} is not a GB/T 2260 division code (such as 320000, 320100, 320102); use "
                         "--national for a national account")
    return code


def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # the 30,000 most common passwords (MIT, see docs)

    return frozenset(FREQUENCY_LISTS["passwords"])


_COMMON: frozenset[str] | None = None


def check_password(password: str, username: str = "") -> None:
    """The password policy: at least 12 characters, not only digits or one or two characters, not a
    shorter string repeated, not containing the user name, not one of the 30,000 most common passwords
    of zxcvbn's list (nor one with digits or symbols around it)."""
    global _COMMON
    if len(password) < PASSWORD_MIN or not password.strip():
        raise InputError(f"密码至少 {PASSWORD_MIN} 个字符（不计首尾空格）",
                         f"the password needs at least {PASSWORD_MIN} characters (not only spaces)")
    if len(password.strip()) < PASSWORD_MIN:
        raise InputError(f"密码至少 {PASSWORD_MIN} 个字符（不计首尾空格）",
                         f"the password needs at least {PASSWORD_MIN} characters (not counting spaces around it)")
    if password.isdigit() or len(set(password)) <= 2:
        raise InputError("密码不能全是数字或重复字符，请用一句较长的话",
                         "the password may not be all digits or one repeated character: use a longer phrase")
    if _COMMON is None:
        _COMMON = _common_passwords()
    lowered = password.lower()
    core = lowered.strip().strip("0123456789!@#$%^&*()_+-=.,?~ ")  # "iloveyou1234", "!password!" are common too
    repeated = any(len(lowered) % n == 0 and lowered[:n] * (len(lowered) // n) == lowered
                   for n in range(1, len(lowered) // 2 + 1))  # "passwordpassword", "abcabcabcabc"
    if lowered in _COMMON or lowered.strip() in _COMMON or core in _COMMON or repeated \
            or (len(username) >= 4 and username.lower() in lowered):
        raise InputError("密码过于常见或包含用户名，请换一个", "the password is too common or contains the user name: "
                         "choose another")


def _hash(password: str) -> str:
    with _kdf_slot():
        return _hasher.hash(password)


class _kdf_slot:
    def __enter__(self) -> None:
        if not KDF_GATE.acquire(timeout=KDF_WAIT_S):
            raise LoginRefused("busy")

    def __exit__(self, *exc: object) -> None:
        KDF_GATE.release()


def _record(conn: Connection, actor: str, username: str, action: str, **detail: Any) -> None:
    conn.execute(insert(account_events).values(at=time.time(), actor=actor, username=username, action=action,
                                               detail=detail))


def _row_user(row: Any, token_scope: str = "write") -> User:
    return User(row.id, row.username, row.role, row.region_code, token_scope)


def add_user(store: Engine, username: str, password: str, role: str, region_code: str = "", *,
             national: bool = False, actor: str = "cli") -> User:
    if role not in ROLES:
        raise InputError(f"未知角色 {role}；可用：{'、'.join(ROLES)}",
                         f"unknown role {role}; use one of {', '.join(ROLES)}")
    if not username or len(username) > 64 or not username.isprintable() \
            or any(c.isspace() or c in "/\\?#%&" for c in username):
        raise InputError("用户名须为 1–64 个可见字符，不含空格与 / \\ ? # % &",
                         "the user name must be 1–64 printable characters without spaces or / \\ ? # % &")
    region_code = check_region(region_code, national)
    check_password(password, username)
    digest = _hash(password)
    with store.begin() as conn:
        if conn.execute(select(users.c.id).where(users.c.username == username)).first():
            raise InputError(f"用户 {username} 已存在", f"user {username} exists already")
        now = time.time()
        inserted = conn.execute(insert(users).values(
            username=username, password_hash=digest, role=role, region_code=region_code, created_at=now,
            disabled=False, password_changed_at=now)).inserted_primary_key
        _record(conn, actor, username, "add", role=role, region_code=region_code)
    assert inserted is not None
    return User(int(inserted[0]), username, role, region_code)


def _find(conn: Connection, username: str) -> Any:
    row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None:
        raise InputError(f"没有用户 {username}", f"no user {username}")
    return row


def list_users(store: Engine) -> list[dict[str, Any]]:
    """Every account with its state: disabled, locked until, and how many live sessions and tokens it has."""
    now = time.time()
    with store.connect() as conn:
        rows = list(conn.execute(select(users).order_by(users.c.username)))
        locks = {r.key: r.locked_until for r in conn.execute(select(login_throttle).where(
            login_throttle.c.locked_until > now))}
        live = {r.user_id for r in conn.execute(select(sessions.c.user_id).where(sessions.c.expires_at > now))}
    return [{"username": r.username, "role": r.role, "region_code": r.region_code, "disabled": bool(r.disabled),
             "created_at": r.created_at, "locked_until": locks.get(f"user:{r.username}"),
             "signed_in": r.id in live} for r in rows]


def set_disabled(store: Engine, username: str, disabled: bool, actor: str) -> None:
    """Disable (every session and token stops working at once) or enable an account."""
    with store.begin() as conn:
        row = _find(conn, username)
        conn.execute(update(users).where(users.c.id == row.id).values(disabled=disabled))
        if disabled:
            conn.execute(delete(sessions).where(sessions.c.user_id == row.id))
        _record(conn, actor, username, "disable" if disabled else "enable")


def set_password(store: Engine, username: str, password: str, actor: str, *, old_password: str | None = None) -> None:
    """Reset (an admin) or change (the user, giving the old one) a password; every session of the user ends."""
    check_password(password, username)
    with store.connect() as conn:
        row = _find(conn, username)
    if old_password is not None and not _verify(row.password_hash, old_password):
        raise InputError("原密码不正确", "the current password is not correct")
    digest = _hash(password)
    with store.begin() as conn:
        conn.execute(update(users).where(users.c.id == row.id).values(password_hash=digest,
                                                                       password_changed_at=time.time()))
        conn.execute(delete(sessions).where(sessions.c.user_id == row.id))
        _record(conn, actor, username, "change_password" if old_password is not None else "reset_password")


def set_role_region(store: Engine, username: str, actor: str, *, role: str | None = None,
                    region_code: str | None = None, national: bool = False) -> None:
    """Change an account's role and/or jurisdiction (recorded with before and after)."""
    if role is not None and role not in ROLES:
        raise InputError(f"未知角色 {role}；可用：{'、'.join(ROLES)}",
                         f"unknown role {role}; use one of {', '.join(ROLES)}")
    new_region = check_region(region_code, national) if (region_code or national) else None
    with store.begin() as conn:
        row = _find(conn, username)
        values: dict[str, Any] = {}
        if role is not None and role != row.role:
            values["role"] = role
        if new_region is not None and new_region != row.region_code:
            values["region_code"] = new_region
        if not values:
            return
        conn.execute(update(users).where(users.c.id == row.id).values(**values))
        conn.execute(delete(sessions).where(sessions.c.user_id == row.id))  # sign in again with the new rights
        _record(conn, actor, username, "change", before={k: getattr(row, k) for k in values}, after=values)


def account_history(store: Engine, username: str | None = None, limit: int = 200) -> list[Any]:
    query = select(account_events).order_by(account_events.c.id.desc()).limit(limit)
    if username is not None:
        query = query.where(account_events.c.username == username)
    with store.connect() as conn:
        return list(conn.execute(query))


# --- logging in ------------------------------------------------------------------------------------

def _verify(digest: str, password: str) -> bool:
    with _kdf_slot():
        try:
            return bool(_hasher.verify(digest, password))
        except (VerificationError, InvalidHashError):
            return False


def _locked(conn: Connection, keys: list[str], now: float) -> bool:
    return conn.execute(select(login_throttle.c.key).where(
        login_throttle.c.key.in_(keys), login_throttle.c.locked_until > now)).first() is not None


def _fail(store: Engine, key: str, limit: int, now: float) -> None:
    for _ in range(3):  # two workers may add the first failure of a key at once
        try:
            with store.begin() as conn:
                row = conn.execute(select(login_throttle).where(login_throttle.c.key == key)).first()
                if row is None:
                    conn.execute(insert(login_throttle).values(key=key, failures=1, window_start=now,
                                                               locked_until=now + LOCK_S if limit <= 1 else None))
                    return
                if now - row.window_start > WINDOW_S:
                    failures, start = 1, now
                else:
                    failures, start = row.failures + 1, row.window_start
                locked = now + LOCK_S if failures >= limit else row.locked_until
                conn.execute(update(login_throttle).where(login_throttle.c.key == key).values(
                    failures=failures, window_start=start, locked_until=locked))
                return
        except IntegrityError:
            continue


def login(store: Engine, username: str, password: str, address: str = "") -> User:
    """The user whose name and password these are; raises ``LoginRefused`` otherwise. Locked names and
    addresses are refused before the password is hashed; disabled accounts like a wrong password."""
    username = username[:64]
    now = time.time()
    keys = [f"user:{username}", f"addr:{address[:64]}"]
    with store.connect() as conn:
        if _locked(conn, keys, now):
            raise LoginRefused("locked")
        row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None:
        _hash(password)  # same work whether or not the user exists
    if row is None or not _verify(row.password_hash, password) or row.disabled:
        _fail(store, keys[0], ACCOUNT_LIMIT, now)
        _fail(store, keys[1], ADDRESS_LIMIT, now)
        raise LoginRefused("bad")
    with store.begin() as conn:
        conn.execute(delete(login_throttle).where(login_throttle.c.key == keys[0]))
        if _hasher.check_needs_rehash(row.password_hash):
            conn.execute(update(users).where(users.c.id == row.id).values(password_hash=_hash(password)))
    return _row_user(row)


def authenticate(store: Engine, username: str, password: str, address: str = "") -> User | None:
    try:
        return login(store, username, password, address)
    except LoginRefused:
        return None


def unlock(store: Engine, actor: str, username: str | None = None, address: str | None = None) -> bool:
    """End a lockout of a user name and/or a client address before its time; True if there was one."""
    keys = ([f"user:{username}"] if username else []) + ([f"addr:{address}"] if address else [])
    with store.begin() as conn:
        gone = conn.execute(delete(login_throttle).where(login_throttle.c.key.in_(keys))).rowcount
        _record(conn, actor, username or "", "unlock", address=address or "")
    return bool(gone)


# --- sessions ----------------------------------------------------------------------------------------

def new_session(store: Engine, user: User, address: str = "") -> str:
    """A session for a user who just logged in: the id goes in the (signed) cookie, its digest here."""
    sid = secrets.token_urlsafe(32)
    now = time.time()
    with store.begin() as conn:
        conn.execute(delete(sessions).where(sessions.c.expires_at <= now))  # tidy as we go
        conn.execute(insert(sessions).values(digest=_digest(sid), user_id=user.id, created_at=now,
                                             expires_at=now + SESSION_S, address=address[:64]))
    return sid


def user_for_session(store: Engine, sid: str) -> User | None:
    with reading(store) as conn:
        row = conn.execute(select(users).join(sessions, sessions.c.user_id == users.c.id).where(
            sessions.c.digest == _digest(sid), sessions.c.expires_at > time.time(),
            users.c.disabled.is_(False))).first()
    return _row_user(row) if row else None


def end_session(store: Engine, sid: str) -> None:
    with store.begin() as conn:
        conn.execute(delete(sessions).where(sessions.c.digest == _digest(sid)))


# --- API tokens --------------------------------------------------------------------------------------

def new_token(store: Engine, user: User, name: str = "", scope: str = "write", expires_at: float | None = None,
              actor: str = "cli") -> str:
    if scope not in SCOPES:
        raise InputError(f"令牌范围须为 {'、'.join(SCOPES)}", f"the token scope must be one of {', '.join(SCOPES)}")
    token = "ms_" + secrets.token_urlsafe(32)
    name = name or f"token-{int(time.time())}"
    with store.begin() as conn:
        conn.execute(insert(api_tokens).values(digest=_digest(token), user_id=user.id, created_at=time.time(),
                                               name=name[:64], scope=scope, expires_at=expires_at))
        _record(conn, actor, user.username, "token", name=name[:64], scope=scope, expires_at=expires_at)
    return token


def user_for_token(store: Engine, token: str) -> User | None:
    """The user a live token stands for (not revoked, not expired, account enabled), with its scope."""
    now = time.time()
    with reading(store) as conn:
        row = conn.execute(select(users, api_tokens.c.scope).join(api_tokens, api_tokens.c.user_id == users.c.id)
                           .where(api_tokens.c.digest == _digest(token), api_tokens.c.revoked_at.is_(None),
                                  users.c.disabled.is_(False))
                           .where((api_tokens.c.expires_at.is_(None)) | (api_tokens.c.expires_at > now))).first()
    return _row_user(row, row.scope) if row else None


def list_tokens(store: Engine, username: str) -> list[dict[str, Any]]:
    """A user's tokens: id (the first 12 hex digits of the digest), name, scope, created, expires, revoked."""
    with store.connect() as conn:
        row = _find(conn, username)
        rows = list(conn.execute(select(api_tokens).where(api_tokens.c.user_id == row.id)
                                 .order_by(api_tokens.c.created_at)))
    return [{"id": r.digest[:12], "name": r.name, "scope": r.scope, "created_at": r.created_at,
             "expires_at": r.expires_at, "revoked_at": r.revoked_at} for r in rows]


def revoke_token(store: Engine, username: str, token: str, actor: str) -> None:
    """Revoke one of a user's tokens, named by its id (as listed) or its name."""
    with store.begin() as conn:
        row = _find(conn, username)
        mine = list(conn.execute(select(api_tokens).where(api_tokens.c.user_id == row.id,
                                                          api_tokens.c.revoked_at.is_(None))))
        hits = [r for r in mine if r.digest[:12] == token or r.name == token]
        if len(hits) != 1:
            raise InputError(f"用户 {username} 没有有效令牌 {token[:40]}（或有多个同名）；"
                             "用 minescope users tokens 查看",
                             f"user {username} has no live token {token[:40]} (or several of that name); list them "
                             "with minescope users tokens")
        conn.execute(update(api_tokens).where(api_tokens.c.digest == hits[0].digest).values(revoked_at=time.time()))
        _record(conn, actor, username, "revoke_token", name=hits[0].name, id=hits[0].digest[:12])


def get_user(store: Engine, user_id: int) -> User | None:
    with reading(store) as conn:
        row = conn.execute(select(users).where(users.c.id == user_id, users.c.disabled.is_(False))).first()
    return _row_user(row) if row else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# --- issuing authorities ------------------------------------------------------------------------------
# The authority that issues an area's rectification notices (整改通知书), e.g. 320102 → 南京市玄武区发展和改革局
# with the code 玄发改 in the document number. Set by administrators; each change is recorded in
# ``account_events`` like a change to an account (user name "", action ``authority_set`` or
# ``authority_remove``, the region code and the values before and after), so ``minescope users history`` and
# ``minescope authorities history`` show who changed what and when.

issuing_authorities = Table(
    "issuing_authorities", metadata,
    Column("region_code", String(6), primary_key=True),  # GB/T 2260: a province, a city or a county
    Column("name", String(128), nullable=False),
    Column("doc_prefix", String(32), nullable=False, default="", server_default=""),
    Column("updated_at", Float, nullable=False),
    Column("updated_by", String(64), nullable=False),
)
AUTHORITY_ACTIONS = ("authority_set", "authority_remove")


def check_authority_region(region_code: str | None) -> str:
    """A region an authority can be set for: six digits of a bundled GB/T 2260 division."""
    code = (region_code or "").strip()
    if len(code) != 6 or not code.isdigit() or division(code) is None:
        raise InputError(f"{code[:20] or '（空）'} 不是 GB/T 2260 行政区划代码（六位数字，如 320000、320100、320102）",
                         f"{code[:20] or '(empty)'} is not a GB/T 2260 division code (six digits, such as 320000, "
                         "320100, 320102)")
    return code


def _authority_text(value: str, most: int, zh: str, en: str, *, empty_ok: bool) -> str:
    value = value.strip()
    if (not value and not empty_ok) or len(value) > most or not value.isprintable() \
            or any(c in "〔〕" for c in value):
        raise InputError(f"{zh}须为{'' if empty_ok else '1–'}{most} 个以内的可见字符，不含换行与〔〕",
                         f"the {en} must be {'at most' if empty_ok else '1 to'} {most} printable characters, "
                         "without line breaks or 〔〕")
    return value


def _authority(row: Any) -> dict[str, Any]:
    return {"region_code": row.region_code, "name": row.name, "doc_prefix": row.doc_prefix,
            "updated_at": row.updated_at, "updated_by": row.updated_by}


def set_authority(store: Engine, region_code: str, name: str, actor: str, doc_prefix: str | None = None) -> bool:
    """Set the issuing authority of an area (``doc_prefix`` None keeps the one set before, "" clears it);
    recorded with before and after. False when nothing changed (and nothing is recorded)."""
    code = check_authority_region(region_code)
    name = _authority_text(name, 128, "机关名称", "authority's name", empty_ok=False)
    prefix = None if doc_prefix is None else _authority_text(doc_prefix, 32, "文号代字", "document number prefix",
                                                             empty_ok=True)
    with store.begin() as conn:
        row = conn.execute(select(issuing_authorities).where(issuing_authorities.c.region_code == code)
                           .with_for_update()).first()
        before = {"name": row.name, "doc_prefix": row.doc_prefix} if row else None
        after = {"name": name, "doc_prefix": prefix if prefix is not None else (row.doc_prefix if row else "")}
        if before == after:
            return False
        values = {**after, "updated_at": time.time(), "updated_by": actor[:64]}
        if row is None:
            conn.execute(insert(issuing_authorities).values(region_code=code, **values))
        else:
            conn.execute(update(issuing_authorities).where(issuing_authorities.c.region_code == code).values(**values))
        _record(conn, actor, "", "authority_set", region_code=code, before=before, after=after)
    return True


def remove_authority(store: Engine, region_code: str, actor: str) -> None:
    """Remove an area's issuing authority (its notices then fall back to the area above, or to its name)."""
    code = check_authority_region(region_code)
    with store.begin() as conn:
        row = conn.execute(select(issuing_authorities).where(issuing_authorities.c.region_code == code)).first()
        if row is None:
            raise InputError(f"{code} 没有设置发文机关", f"no issuing authority is set for {code}")
        conn.execute(delete(issuing_authorities).where(issuing_authorities.c.region_code == code))
        _record(conn, actor, "", "authority_remove", region_code=code,
                before={"name": row.name, "doc_prefix": row.doc_prefix}, after=None)


def list_authorities(store: Engine) -> list[dict[str, Any]]:
    """Every configured issuing authority, by region code."""
    with store.connect() as conn:
        return [_authority(r) for r in conn.execute(select(issuing_authorities)
                                                    .order_by(issuing_authorities.c.region_code))]


def authorities_of(store: Engine, codes: list[str]) -> dict[str, dict[str, Any]]:
    """The issuing authorities configured for any of ``codes``, by region code."""
    with store.connect() as conn:
        return {r.region_code: _authority(r) for r in conn.execute(
            select(issuing_authorities).where(issuing_authorities.c.region_code.in_(codes)))}


def authority_history(store: Engine, region_code: str | None = None, limit: int = 200) -> list[Any]:
    """The recorded changes to issuing authorities (newest first), of one region or all."""
    query = select(account_events).where(account_events.c.action.in_(AUTHORITY_ACTIONS)) \
        .order_by(account_events.c.id.desc())
    with store.connect() as conn:
        rows = list(conn.execute(query))
    return [r for r in rows if region_code is None or r.detail.get("region_code") == region_code][:limit]

"""Console accounts: users with a role and a jurisdiction, and API tokens.

Passwords are stored as Argon2id hashes (argon2-cffi: salted and slow by design); API tokens are
stored as SHA-256 digests (they are long random strings, so a fast hash is enough and lookups stay
indexed). A user's jurisdiction is a GB/T 2260 code: "" for national, 320000 a province, 320100 a
city, 320102 a county; the user sees that area and everything below it.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Column, Engine, Float, ForeignKey, Integer, String, Table, insert, select

from minescope.errors import InputError
from minescope.store.findings import metadata

ROLES = ("admin", "analyst", "viewer")
_hasher = PasswordHasher()

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("region_code", String(12), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("digest", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id"), nullable=False),
    Column("created_at", Float, nullable=False),
)


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    region_code: str

    @property
    def scope(self) -> str:
        """The code prefix of the user's area: "" national, "32" Jiangsu, "3201" Nanjing, "320102" a county."""
        return region_prefix(self.region_code)

    def sees(self, region_code: str | None) -> bool:
        return self.scope == "" or (bool(region_code) and str(region_code).startswith(self.scope))

    @property
    def can_edit(self) -> bool:
        return self.role in ("admin", "analyst")


def region_prefix(code: str | None) -> str:
    code = (code or "").strip()
    while code.endswith("00"):
        code = code[:-2]
    return code


def add_user(store: Engine, username: str, password: str, role: str, region_code: str = "") -> User:
    if role not in ROLES:
        raise InputError(f"未知角色 {role}；可用：{'、'.join(ROLES)}",
                         f"unknown role {role}; use one of {', '.join(ROLES)}")
    if len(password) < 10:
        raise InputError("密码至少 10 个字符", "the password needs at least 10 characters")
    with store.begin() as conn:
        if conn.execute(select(users.c.id).where(users.c.username == username)).first():
            raise InputError(f"用户 {username} 已存在", f"user {username} exists already")
        inserted = conn.execute(insert(users).values(
            username=username, password_hash=_hasher.hash(password), role=role, region_code=region_code,
            created_at=time.time())).inserted_primary_key
    assert inserted is not None
    return User(int(inserted[0]), username, role, region_code)


def authenticate(store: Engine, username: str, password: str) -> User | None:
    with store.connect() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None:
        _hasher.hash(password)  # same work whether or not the user exists
        return None
    try:
        _hasher.verify(row.password_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    return User(row.id, row.username, row.role, row.region_code)


def new_token(store: Engine, user: User) -> str:
    token = "ms_" + secrets.token_urlsafe(32)
    with store.begin() as conn:
        conn.execute(insert(api_tokens).values(digest=_digest(token), user_id=user.id, created_at=time.time()))
    return token


def user_for_token(store: Engine, token: str) -> User | None:
    with store.connect() as conn:
        row = conn.execute(select(users).join(api_tokens, api_tokens.c.user_id == users.c.id)
                           .where(api_tokens.c.digest == _digest(token))).first()
    return User(row.id, row.username, row.role, row.region_code) if row else None


def get_user(store: Engine, user_id: int) -> User | None:
    with store.connect() as conn:
        row = conn.execute(select(users).where(users.c.id == user_id)).first()
    return User(row.id, row.username, row.role, row.region_code) if row else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()

"""Issue 13's security review, replayed: each attack that worked on the console now fails safely.

Brute force meets a lockout (and the documented unlocks); weak passwords and a silent national scope
are refused; a copied cookie dies with logout; another origin cannot write with the cookie alone; an
anonymous 60 MiB upload is refused before it is read; revoked, expired and read-only tokens cannot
write; parallel logins are held to ``KDF_SLOTS`` hashes at a time. No test here measures time.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import PASSWORD, STRATUM, Conversation, login, write_pcap
from minescope.cases.workflow import list_cases, sync_cases
from minescope.cli import main
from minescope.errors import InputError
from minescope.pipeline import Scanner, ScanOptions
from minescope.store import accounts
from minescope.store.accounts import add_user, new_token
from minescope.store.findings import open_store, save_scan
from minescope.web import security
from minescope.web.app import create_app


@pytest.fixture
def console(tmp_path: Path, store_target: str) -> Iterator[tuple[TestClient, Any, int]]:
    """A county with one mining case, an analyst and an admin of it, a viewer; (client, store, case id)."""
    registry = tmp_path / "orgs.csv"
    registry.write_text("cidr,organisation,type,region_code,contact\n10.1.0.0/16,玄武区某局,government,320102,\n",
                        encoding="utf-8")
    pcap = write_pcap(tmp_path / "c.pcap", [Conversation("10.1.0.5", 40000, "203.0.113.9", 3333, STRATUM)])
    engine = open_store(store_target)
    save_scan(engine, Scanner(ScanOptions(registry=registry)).scan([pcap]))
    sync_cases(engine)
    add_user(engine, "xuanwu", PASSWORD, "analyst", "320102")
    add_user(engine, "xuanwu-admin", PASSWORD, "admin", "320102")
    add_user(engine, "xuanwu-viewer", PASSWORD, "viewer", "320102")
    yield TestClient(create_app(store_target, secret="test")), engine, list_cases(engine)[0].id


def _csrf(client: TestClient, path: str = "/login") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)  # type: ignore[union-attr]


def _try(client: TestClient, username: str, password: str) -> int:
    r = client.post("/login", data={"username": username, "password": password, "csrf": _csrf(client)},
                    follow_redirects=False)
    return r.status_code


def _cli(*args: str, stdin: str = "") -> Any:
    return CliRunner().invoke(main, list(args), input=stdin, env={"MINESCOPE_DEBUG": None})


# --- brute force --------------------------------------------------------------------------------------

def test_brute_force_locks_the_account_and_the_right_password_is_refused_until_unlocked(console) -> None:  # type: ignore[no-untyped-def]
    client, engine, _ = console
    for _ in range(accounts.ACCOUNT_LIMIT):
        assert _try(client, "xuanwu", "wrong guess number one") == 401
    # locked: the right password is refused too (429), and the page says what to do
    r = client.post("/login", data={"username": "xuanwu", "password": PASSWORD, "csrf": _csrf(client)})
    assert r.status_code == 429 and "管理员解锁" in r.text
    assert next(u["locked_until"] for u in accounts.list_users(engine) if u["username"] == "xuanwu")
    # an admin unlocks (the CLI on the same store): the right password works again
    db = engine.url.render_as_string(hide_password=False)
    result = _cli("users", "unlock", "xuanwu", "--address", "testclient", "--db", db, "--lang", "en")
    assert result.exit_code == 0 and "unlocked xuanwu" in result.stdout
    assert _try(client, "xuanwu", PASSWORD) == 303
    assert "unlock" in [e.action for e in accounts.account_history(engine, "xuanwu")]


def test_a_lock_ends_by_itself_after_its_time(console, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = console
    for _ in range(accounts.ACCOUNT_LIMIT):
        _try(client, "xuanwu", "wrong guess number one")
    assert _try(client, "xuanwu", PASSWORD) == 429
    later = time.time() + accounts.LOCK_S + 1
    monkeypatch.setattr(accounts.time, "time", lambda: later)  # the clock moves on; nothing waits
    assert _try(client, "xuanwu", PASSWORD) == 303


def test_one_address_guessing_many_names_is_locked_out(console) -> None:  # type: ignore[no-untyped-def]
    client, engine, _ = console
    for i in range(accounts.ADDRESS_LIMIT):  # a different name each time: no single account reaches its limit
        assert _try(client, f"guess-{i}", "wrong guess number one") == 401
    assert _try(client, "xuanwu-viewer", PASSWORD) == 429  # the address is locked, whoever it tries
    assert accounts.unlock(engine, "test", address="testclient")
    assert _try(client, "xuanwu-viewer", PASSWORD) == 303


def test_a_disabled_account_cannot_log_in_and_its_sessions_and_tokens_end(console) -> None:  # type: ignore[no-untyped-def]
    client, engine, _ = console
    user = accounts.get_user(engine, 1)
    assert user is not None
    token = new_token(engine, user, name="t", scope="read")
    login(client, user.username)
    assert client.get("/api/me").status_code == 200
    accounts.set_disabled(engine, user.username, True, "test")
    assert client.get("/api/me").status_code == 401
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert _try(client, user.username, PASSWORD) == 401
    accounts.set_disabled(engine, user.username, False, "test")
    assert _try(client, user.username, PASSWORD) == 303


# --- passwords and regions ----------------------------------------------------------------------------

@pytest.mark.parametrize("weak", ["1234567890", " " * 10, "123456789012", "password1234", "iloveyou1234",
                                  "passwordpassword", "aaaaaaaaaaaaaa", "xuanwu-2026-pw"])
def test_weak_passwords_are_refused(weak: str, tmp_path: Path) -> None:
    engine = open_store(tmp_path / "m.db")
    with pytest.raises(InputError):
        add_user(engine, "xuanwu", weak, "analyst", "320102")
    result = _cli("users", "add", "xuanwu", "--role", "analyst", "--region", "320102", "--db",
                  str(tmp_path / "m.db"), "--lang", "en", stdin=weak + "\n")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")


def test_region_is_required_and_national_scope_only_by_the_flag(tmp_path: Path) -> None:
    db = str(tmp_path / "m.db")
    for region in (["--region", "000000"], [], ["--region", "999999"], ["--region", "32"]):
        result = _cli("users", "add", "someone", "--role", "admin", *region, "--db", db, stdin=PASSWORD + "\n")
        assert result.exit_code == 1 and result.stderr.startswith("错误：") and "--national" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert accounts.list_users(open_store(db)) == []
    assert _cli("users", "add", "someone", "--role", "admin", "--national", "--db", db,
                stdin=PASSWORD + "\n").exit_code == 0
    assert _cli("users", "add", "county", "--role", "viewer", "--region", "320102", "--db", db,
                stdin=PASSWORD + "\n").exit_code == 0
    assert {u["username"]: u["region_code"] for u in accounts.list_users(open_store(db))} == {
        "someone": "", "county": "320102"}


def test_cli_manages_accounts_and_records_each_change(tmp_path: Path) -> None:
    db = str(tmp_path / "m.db")
    assert _cli("users", "add", "county", "--role", "viewer", "--region", "320102", "--db", db,
                stdin=PASSWORD + "\n").exit_code == 0
    assert _cli("users", "set", "county", "--role", "analyst", "--region", "320100", "--db", db).exit_code == 0
    assert _cli("users", "reset-password", "county", "--db", db, stdin="another long phrase\n").exit_code == 0
    assert _cli("users", "passwd", "county", "--db", db, stdin="another long phrase\nand yet another one\n"
                ).exit_code == 0
    wrong = _cli("users", "passwd", "county", "--db", db, stdin="not the password\nand yet another one\n")
    assert wrong.exit_code == 1 and wrong.stderr.count("\n") == 1
    assert _cli("users", "disable", "county", "--db", db).exit_code == 0
    assert _cli("users", "enable", "county", "--db", db).exit_code == 0
    history = _cli("users", "history", "county", "--db", db).stdout
    for action in ("add", "change", "reset_password", "change_password", "disable", "enable"):
        assert f"\t{action}\t" in history
    assert "320100" in _cli("users", "list", "--db", db).stdout
    assert accounts.authenticate(open_store(db), "county", "and yet another one") is not None


# --- sessions ------------------------------------------------------------------------------------------

def test_a_copied_cookie_stops_working_at_logout(console) -> None:  # type: ignore[no-untyped-def]
    client, _, case_id = console
    login(client, "xuanwu")
    thief = TestClient(client.app)
    thief.cookies.update(dict(client.cookies))
    assert thief.get(f"/cases/{case_id}").status_code == 200  # the copy works while the session lives
    client.post("/logout", data={"csrf": _csrf(client, "/account")})
    assert thief.get(f"/cases/{case_id}", follow_redirects=False).status_code == 303
    assert thief.get("/api/me").status_code == 401


def test_changing_the_password_ends_every_session(console) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = console
    login(client, "xuanwu")
    other = TestClient(client.app)
    login(other, "xuanwu")
    weak = client.post("/account/password", data={"old": PASSWORD, "new": "1234567890",
                                                   "csrf": _csrf(client, "/account")})
    assert weak.status_code == 422 and "12" in weak.text
    r = client.post("/account/password", data={"old": PASSWORD, "new": "a brand new passphrase",
                                                "csrf": _csrf(client, "/account")}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert other.get("/api/me").status_code == 401 and client.get("/api/me").status_code == 401


def test_cookie_only_api_write_from_another_origin_is_refused(console) -> None:  # type: ignore[no-untyped-def]
    client, _, case_id = console
    login(client, "xuanwu")
    # what a page on another port of the same host made the browser send: the cookie, no token
    evil = {"Origin": "http://127.0.0.1:9999", "Content-Type": "application/json"}
    r = client.post(f"/api/cases/{case_id}/notice", headers=evil)
    assert r.status_code == 403 and " / " in r.json()["detail"]
    assert client.post(f"/api/cases/{case_id}/comments", json={"text": "forged"}, headers=evil).status_code == 403
    assert [c for c in client.get(f"/api/cases/{case_id}").json()["comments"] if c["text"] == "forged"] == []
    # the console's own page can: it has the token (form field, or X-CSRF-Token for the API)
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/account").text).group(1)  # type: ignore[union-attr]
    ok = client.post(f"/api/cases/{case_id}/comments", json={"text": "mine"}, headers={"X-CSRF-Token": token})
    assert ok.status_code == 200


def test_security_headers_and_secure_cookies(console, monkeypatch: pytest.MonkeyPatch, store_target: str) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = console
    r = client.get("/login")
    csp = r.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in r.headers  # plain HTTP, no trusted proxy
    assert "<style>" not in r.text and "style=" not in r.text
    docs = client.get("/docs")
    assert "unsafe-inline" not in docs.headers["content-security-policy"]
    assert "'sha256-" in docs.headers["content-security-policy"]
    monkeypatch.setenv("MINESCOPE_SECURE_COOKIES", "1")
    monkeypatch.setenv("MINESCOPE_TRUSTED_PROXIES", "testclient")
    behind_tls = TestClient(create_app(store_target, secret="test"))
    r = behind_tls.get("/login", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"})
    assert r.headers["strict-transport-security"].startswith("max-age=")
    assert "secure" in r.headers["set-cookie"].lower()
    # a client that is not a trusted proxy cannot claim TLS or another address
    monkeypatch.setenv("MINESCOPE_TRUSTED_PROXIES", "192.0.2.1")
    r = TestClient(create_app(store_target, secret="test")).get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" not in r.headers


# --- tokens --------------------------------------------------------------------------------------------

def test_revoked_expired_and_read_tokens_cannot_write(console) -> None:  # type: ignore[no-untyped-def]
    client, engine, case_id = console
    user = accounts.get_user(engine, 1)
    assert user is not None

    def comment(token: str) -> int:
        return client.post(f"/api/cases/{case_id}/comments", json={"text": "via token"},
                           headers={"Authorization": f"Bearer {token}"}).status_code

    read = new_token(engine, user, name="reader", scope="read")
    assert client.get("/api/me", headers={"Authorization": f"Bearer {read}"}).status_code == 200
    assert comment(read) == 403
    write = new_token(engine, user, name="writer", scope="write", expires_at=time.time() + 3600)
    assert comment(write) == 200
    accounts.revoke_token(engine, user.username, "writer", "test")
    assert comment(write) == 401
    expired = new_token(engine, user, name="old", scope="write", expires_at=time.time() - 1)
    assert comment(expired) == 401
    listed = {k["name"]: k for k in accounts.list_tokens(engine, user.username)}
    assert listed["writer"]["revoked_at"] and listed["reader"]["scope"] == "read"
    db = engine.url.render_as_string(hide_password=False)
    made = _cli("users", "token", user.username, "--name", "ci", "--scope", "write", "--days", "1", "--db", db)
    assert made.exit_code == 0 and made.stdout.startswith("ms_")
    assert comment(made.stdout.strip()) == 200
    tid = next(k["id"] for k in accounts.list_tokens(engine, user.username) if k["name"] == "ci")
    assert tid in _cli("users", "tokens", user.username, "--db", db).stdout
    assert _cli("users", "revoke", user.username, tid, "--db", db).exit_code == 0
    assert comment(made.stdout.strip()) == 401


# --- bodies and memory ---------------------------------------------------------------------------------

def _asgi(app: Any, path: str, headers: list[tuple[bytes, bytes]], chunks: int) -> tuple[int, int]:
    """Send a POST of ``chunks`` MiB straight to the ASGI app; (status, chunks the app pulled)."""
    pulled = 0
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        head = b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n\r\n' if pulled == 1 else b""
        return {"type": "http.request", "body": head + b"\0" * 2**20, "more_body": pulled < chunks}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"), *headers], "client": ("127.0.0.1", 5000),
             "server": ("testserver", 80)}
    anyio.run(app, scope, receive, send)
    return status[0], pulled


def test_unauthenticated_60_mib_upload_is_refused_unread(console) -> None:  # type: ignore[no-untyped-def]
    client, engine, case_id = console
    multipart = (b"content-type", b"multipart/form-data; boundary=x")
    path = f"/api/cases/{case_id}/attachments"
    declared = (b"content-length", str(60 * 2**20).encode())
    assert _asgi(client.app, path, [multipart, declared], 60) == (413, 0)  # said too large: nothing read
    assert _asgi(client.app, path, [multipart], 60) == (401, 0)  # chunked, anonymous: nothing read
    assert _asgi(client.app, f"/cases/{case_id}/attachments", [multipart], 60) == (401, 0)
    # logged in, chunked: counted as it comes and cut just past the limit, never read to the end
    token = new_token(engine, accounts.get_user(engine, 1), name="up", scope="write")  # type: ignore[arg-type]
    status, pulled = _asgi(client.app, path, [multipart, (b"authorization", f"Bearer {token}".encode())], 60)
    assert status == 413 and pulled <= security.UPLOAD_LIMIT // 2**20 + 1
    # any other write is held to 1 MiB, before authentication
    status, pulled = _asgi(client.app, "/login", [(b"content-type", b"application/x-www-form-urlencoded")], 60)
    assert status == 413 and pulled <= 2


def test_parallel_wrong_logins_hash_at_most_kdf_slots_at_once(console, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    _, engine, _ = console
    real = accounts._hasher
    assert real.memory_cost == accounts.KDF_MEMORY_KIB <= 19 * 1024 and accounts.KDF_SLOTS <= 4
    lock, running, peak, calls = threading.Lock(), [0], [0], [0]

    class Counting:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def _count(self, fn: Any, *args: Any) -> Any:
            with lock:
                running[0] += 1
                calls[0] += 1
                peak[0] = max(peak[0], running[0])
            try:
                return fn(*args)
            finally:
                with lock:
                    running[0] -= 1

        def hash(self, password: str) -> str:
            return self._count(real.hash, password)  # type: ignore[no-any-return]

        def verify(self, digest: str, password: str) -> bool:
            return self._count(real.verify, digest, password)  # type: ignore[no-any-return]

    monkeypatch.setattr(accounts, "_hasher", Counting())
    start = threading.Barrier(24)

    def attempt(i: int) -> None:
        start.wait()
        with pytest.raises(accounts.LoginRefused):
            accounts.login(engine, "xuanwu" if i % 2 else f"nobody-{i}", "wrong guess number one", f"192.0.2.{i}")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(24)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert calls[0] >= 12  # the unknown names are hashed too (same work as a wrong password)
    assert 1 <= peak[0] <= accounts.KDF_SLOTS  # memory: at most KDF_SLOTS × 19 MiB, whatever the crowd
    with engine.connect() as conn:
        locked = conn.execute(select(accounts.login_throttle.c.locked_until)
                              .where(accounts.login_throttle.c.key == "user:xuanwu")).scalar()
    assert locked is not None


# --- the console's accounts page --------------------------------------------------------------------------

def test_admin_page_disables_unlocks_resets_and_changes_within_its_area(console) -> None:  # type: ignore[no-untyped-def]
    client, engine, _ = console
    victim = TestClient(client.app)
    login(victim, "xuanwu")
    login(client, "xuanwu-admin")
    page = client.get("/admin/users")
    assert page.status_code == 200 and 'data-user="xuanwu"' in page.text
    csrf = _csrf(client, "/admin/users")
    assert client.post("/admin/users/xuanwu", data={"action": "disable", "csrf": csrf}).status_code == 200
    assert victim.get("/api/me").status_code == 401  # the disabled user's session ended
    client.post("/admin/users/xuanwu", data={"action": "enable", "csrf": csrf})
    client.post("/admin/users/xuanwu", data={"action": "reset", "password": "reset by the admin", "csrf": csrf})
    assert accounts.authenticate(engine, "xuanwu", "reset by the admin") is not None
    client.post("/admin/users/xuanwu", data={"action": "change", "role": "viewer", "region_code": "320102",
                                             "csrf": csrf})
    # outside the admin's county: refused, nothing changes
    client.post("/admin/users/xuanwu", data={"action": "change", "role": "viewer", "region_code": "320104",
                                             "csrf": csrf})
    assert [(u["role"], u["region_code"]) for u in accounts.list_users(engine) if u["username"] == "xuanwu"] == [
        ("viewer", "320102")]
    made = client.post("/admin/users/xuanwu", data={"action": "token", "name": "bot", "scope": "read", "days": "7",
                                                    "csrf": csrf})
    assert re.search(r'id="new-token">ms_', made.text)
    actions = [e.action for e in accounts.account_history(engine, "xuanwu")]
    assert {"disable", "enable", "reset_password", "change", "token"} <= set(actions)
    assert client.post("/admin/users/xuanwu", data={"action": "disable"}).status_code == 403  # no CSRF token
    login(victim, "xuanwu-viewer")
    assert victim.get("/admin/users").status_code == 403  # not an admin

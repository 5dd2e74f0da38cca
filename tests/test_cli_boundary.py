"""Every command behind one error boundary, and one scan stored in one transaction.

The commands are found by walking the click group, so a new command is covered as soon as it exists:
it needs an entry in ``ARGS`` only if it takes arguments, and one in ``STORELESS`` if it has no store.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
import sqlalchemy
from click.testing import CliRunner, Result
from sqlalchemy.exc import OperationalError

from helpers import CORPUS
from minescope.cli import main

MINING_PCAP = CORPUS / "mining" / "ndpi_mining.pcapng"
NO_FEEDS = tempfile.mkdtemp(prefix="minescope-feeds-")  # keep a user's own feeds out of the tests

# Minimal valid arguments of the commands that need some ({out}: a folder the command may write to).
ARGS: dict[str, list[str]] = {
    "scan": [str(MINING_PCAP)],
    "content scan": [str(MINING_PCAP)],  # the store is opened, and found unusable, before the export is read
    "export": ["csv"],
    "probe": ["127.0.0.1:3333"],  # the store is opened, and found unusable, before anything is probed
    "users add": ["someone", "--role", "viewer", "--region", "320102"],
    **{f"users {c}": ["someone"] for c in ("disable", "enable", "reset-password", "passwd", "tokens", "unlock")},
    "users set": ["someone", "--role", "viewer"],
    "users token": ["someone", "--name", "ci"],
    "users revoke": ["someone", "0123456789ab"],
    "cases assign": ["1", "--owner", "someone", "--due-days", "7"],
    "cases ledger": ["-o", "{out}/ledger.xlsx"],
    "cases duanka": ["-o", "{out}/duanka.xlsx"],
    "cases account": ["1", "6222000011112222", "freeze"],
    "cases notice": ["1", "-o", "{out}/notice.pdf"],
    "authorities set": ["320102", "某局"],
    **{f"authorities {c}": ["320102"] for c in ("remove", "which")},
}
# Commands without a store, with arguments that make them meet a file they cannot use instead.
STORELESS: dict[str, list[str]] = {
    "flows import": [str(MINING_PCAP), "-o", "/proc/minescope-nope/dataset"],
    "flows repair": ["/proc/minescope-nope/dataset"],
    "host check": ["-o", "/proc/minescope-nope/report.json", "--no-default-paths", "--sample", "0"],
}


def _commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    for name, command in sorted(group.commands.items()):
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from _commands(command, path + " ")
        else:
            yield path, command


COMMANDS = dict(_commands(main))


def _has_db(command: click.Command) -> bool:
    return any("--db" in getattr(p, "opts", ()) for p in command.params)


def _unusable_stores() -> dict[str, Callable[[Path], str]]:
    def directory(tmp: Path) -> str:
        (tmp / "a-folder").mkdir()
        return str(tmp / "a-folder")

    def read_only(tmp: Path) -> str:  # read-only as SQLite opens it (root ignores file modes)
        (tmp / "ro.db").write_bytes(b"")
        return f"sqlite:///file:{tmp / 'ro.db'}?mode=ro&uri=true"

    def not_a_database(tmp: Path) -> str:
        (tmp / "notes.db").write_text("these are notes, not a database\n" * 20)
        return str(tmp / "notes.db")

    def newer_schema(tmp: Path) -> str:  # written by a later minescope
        store = sqlalchemy.create_engine(f"sqlite:///{tmp / 'newer.db'}")
        with store.begin() as conn:
            conn.execute(sqlalchemy.text("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"))
            conn.execute(sqlalchemy.text("INSERT INTO alembic_version VALUES ('9001')"))
        store.dispose()
        return str(tmp / "newer.db")

    stores: dict[str, Callable[[Path], str]] = {
        "newer-schema": newer_schema,
        "port-not-a-number": lambda tmp: "postgresql+psycopg://nobody:a-password@127.0.0.1:abc/minescope",
        "directory": directory,
        "under-proc": lambda tmp: "/proc/minescope-nope/m.db",
        "read-only-uri": read_only,
        "not-a-database": not_a_database,
        "unreachable-postgresql": lambda tmp: "postgresql+psycopg://nobody:a-password@127.0.0.1:1/minescope",
    }
    if os.geteuid() != 0:  # file modes bind everyone but root

        def read_only_file(tmp: Path) -> str:
            (tmp / "ro-mode.db").write_bytes(b"")
            (tmp / "ro-mode.db").chmod(0o444)
            return str(tmp / "ro-mode.db")

        stores["read-only-file"] = read_only_file
    return stores


STORES = _unusable_stores()


def _invoke(args: list[str], lang: str | None = None, **kw: object) -> Result:
    env = {"MINESCOPE_FEEDS": NO_FEEDS, "MINESCOPE_LANG": lang, "MINESCOPE_DB": None, "MINESCOPE_DEBUG": None}
    return CliRunner().invoke(main, args, env=env, input="a-long-password\n", **kw)  # type: ignore[arg-type]


def _one_line(result: Result, word: str) -> str:
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr + result.stdout
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(word), lines[0]
    return lines[0]


def test_every_command_is_covered() -> None:
    assert {"scan", "export", "serve", "flows import", "users add", "cases sync", "cases list", "cases ledger",
            "cases notice", "cases verify"} <= set(COMMANDS)
    for path, command in COMMANDS.items():
        assert _has_db(command) or path in STORELESS, f"{path}: no --db; add it to STORELESS with an unusable file"
        assert any("--lang" in getattr(p, "opts", ()) for p in command.params), f"{path}: no --lang"
    assert set(ARGS) | set(STORELESS) <= set(COMMANDS)


@pytest.mark.parametrize("store", sorted(STORES))
@pytest.mark.parametrize("path", sorted(p for p, c in COMMANDS.items() if _has_db(c)))
def test_unusable_store_is_one_line_and_exit_1(path: str, store: str, tmp_path: Path) -> None:
    target = STORES[store](tmp_path)
    args = [a.format(out=tmp_path) for a in ARGS.get(path, [])]
    line = _one_line(_invoke([*path.split(), *args, "--db", target]), "错误：")
    assert "结果库" in line
    assert "a-password" not in line  # a URL's password is never shown
    en = _one_line(_invoke([*path.split(), *args, "--db", target, "--lang", "en"]), "error: ")
    assert "findings store" in en and "--db" in en


@pytest.mark.parametrize("path", sorted(STORELESS))
def test_unusable_file_is_one_line_and_exit_1(path: str) -> None:
    _one_line(_invoke([*path.split(), *STORELESS[path]]), "错误：")
    line = _one_line(_invoke([*path.split(), *STORELESS[path]], lang="en"), "error: ")
    assert "/proc/minescope-nope" in line


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_a_usage_error_is_one_line_in_either_language_and_exit_1(path: str) -> None:
    zh = _one_line(_invoke([*path.split(), "--no-such-option"]), "错误：")
    assert "--no-such-option" in zh and "--help" in zh and "没有选项" in zh
    en = _one_line(_invoke([*path.split(), "--no-such-option"], lang="en"), "error: ")
    assert "no such option" in en and f"minescope {path} --help" in en


def test_a_bad_value_or_a_missing_argument_is_one_line() -> None:
    line = _one_line(_invoke(["scan", "--format", "nope", str(MINING_PCAP), "--lang", "en"]), "error: ")
    assert "'--format'" in line and "'nope'" in line
    assert "缺少参数" in _one_line(_invoke(["cases", "notice"]), "错误：")
    assert "没有命令" in _one_line(_invoke(["no-such-command"]), "错误：")


def test_the_bare_command_shows_its_help() -> None:
    result = _invoke([])
    assert result.exit_code == 0 and "Usage: minescope" in result.stdout


def test_serve_on_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = _one_line(_invoke(["serve", "--port", str(port), "--db", str(tmp_path / "m.db"), "--lang", "en"]),
                         "error: ")
    assert f"127.0.0.1:{port}" in line and "--port" in line


def test_the_real_command_says_one_line() -> None:
    """As the issue had it: ``cases list --db /proc/nope/m.db`` printed a 14-frame traceback."""
    env = {k: v for k, v in os.environ.items() if k not in ("MINESCOPE_DB", "MINESCOPE_DEBUG")}
    p = subprocess.run([sys.executable, "-m", "minescope", "cases", "list", "--db", "/proc/nope/m.db"],
                       capture_output=True, text=True, env={**env, "MINESCOPE_LANG": "en"}, timeout=120)
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert p.stderr.strip().count("\n") == 0 and p.stderr.startswith("error: /proc/nope/m.db: cannot use")


def test_a_bug_is_one_line_unless_debugging(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import minescope.cases.workflow as workflow

    def broken(*_: object, **__: object) -> None:
        raise KeyError("subject_ip")

    monkeypatch.setattr(workflow, "list_cases", broken)
    line = _one_line(_invoke(["cases", "list", "--db", str(tmp_path / "m.db")], lang="en"), "error: ")
    assert "KeyError" in line and "MINESCOPE_DEBUG=1" in line
    debugging = CliRunner().invoke(main, ["cases", "list", "--db", str(tmp_path / "m.db")],
                                   env={"MINESCOPE_DEBUG": "1"})
    assert isinstance(debugging.exception, KeyError)  # the traceback goes through


# --- one scan, one transaction ---------------------------------------------------------------------

def _rows(target: str) -> dict[str, int]:
    engine = sqlalchemy.create_engine(target if "://" in target else f"sqlite:///{target}")
    try:
        with engine.connect() as conn:
            return {table: conn.execute(sqlalchemy.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
                    for table in ("scans", "findings", "sightings", "dataset_files", "cases", "case_findings",
                                  "case_history")}
    finally:
        engine.dispose()


@pytest.mark.parametrize("step", ["sync_cases", "verify_clean"])
def test_a_failing_step_stores_nothing_of_the_scan(step: str, store_target: str, monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    import minescope.cases.workflow as workflow

    dataset, db = tmp_path / "dataset", store_target
    imported = _invoke(["flows", "import", str(MINING_PCAP), "-o", str(dataset)])
    assert imported.exit_code == 0, imported.stderr
    scan = ["scan", str(MINING_PCAP), str(dataset), "--db", db, "--format", "json"]

    real = getattr(workflow, step)

    def fails(*args: object, **kw: object) -> object:
        real(*args, **kw)  # its writes happen, then the step fails: they must go with the rest
        raise OperationalError("INSERT INTO cases …", {}, Exception("disk I/O error"))

    monkeypatch.setattr(workflow, step, fails)
    failed = _invoke(scan, lang="en")
    assert failed.exit_code == 1, failed.stderr
    assert "Traceback" not in failed.stderr
    assert failed.stderr.strip().splitlines()[-1].endswith("this scan was not stored")
    assert '"findings"' in failed.stdout  # the report is still given
    assert set(_rows(db).values()) == {0}  # nothing of the scan: findings, scan, dataset files, cases

    monkeypatch.setattr(workflow, step, real)
    stored = _invoke(scan, lang="en")
    assert stored.exit_code == 0, stored.stderr
    rows = _rows(db)
    assert rows["scans"] == 1 and rows["findings"] >= 4 and rows["dataset_files"] >= 1 and rows["cases"] >= 1
    assert "read 2 file(s), skipped 0" in stored.stderr or "skipped 0 scanned before" in stored.stderr

"""Issuing authorities per area (``issuing_authorities``, migration 0009): set, list and remove them, from
Python and from ``minescope authorities``, each change recorded with its actor, before and after."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect

from helpers import cli, cli_env, no_traceback
from minescope.errors import InputError
from minescope.store import accounts
from minescope.store.findings import migrate, migrations_config, open_store


def test_migration_0009_adds_the_table_and_goes_back(store_target: str) -> None:
    engine = open_store(store_target)
    with engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("issuing_authorities")}
        assert columns == {"region_code", "name", "doc_prefix", "updated_at", "updated_by"}
        assert inspect(conn).get_pk_constraint("issuing_authorities")["constrained_columns"] == ["region_code"]
    accounts.set_authority(engine, "320102", "南京市玄武区发展和改革局", "admin", "玄发改")
    with engine.begin() as conn:
        command.downgrade(migrations_config(conn), "0008")
    with engine.connect() as conn:
        assert "issuing_authorities" not in inspect(conn).get_table_names()
    migrate(engine)
    assert accounts.list_authorities(engine) == []  # the table is back, empty


def test_set_list_remove_are_recorded_with_before_and_after(store_target: str) -> None:
    engine = open_store(store_target)
    assert accounts.set_authority(engine, " 320102 ", " 南京市玄武区发展和改革局 ", "wang", "玄发改")
    assert not accounts.set_authority(engine, "320102", "南京市玄武区发展和改革局", "wang")  # unchanged: no record
    assert accounts.set_authority(engine, "320102", "南京市玄武区发展和改革委员会", "li")  # the prefix is kept
    accounts.set_authority(engine, "320100", "南京市发展和改革委员会", "li", "宁发改")
    rows = accounts.list_authorities(engine)
    assert [(r["region_code"], r["name"], r["doc_prefix"], r["updated_by"]) for r in rows] == [
        ("320100", "南京市发展和改革委员会", "宁发改", "li"),
        ("320102", "南京市玄武区发展和改革委员会", "玄发改", "li")]
    accounts.remove_authority(engine, "320100", "zhao")
    with pytest.raises(InputError):
        accounts.remove_authority(engine, "320100", "zhao")  # nothing left to remove
    history = accounts.authority_history(engine)
    assert [(e.actor, e.action, e.detail["region_code"]) for e in history] == [
        ("zhao", "authority_remove", "320100"), ("li", "authority_set", "320100"),
        ("li", "authority_set", "320102"), ("wang", "authority_set", "320102")]
    assert history[0].detail["before"] == {"name": "南京市发展和改革委员会", "doc_prefix": "宁发改"}
    assert history[0].detail["after"] is None
    assert history[2].detail["before"] == {"name": "南京市玄武区发展和改革局", "doc_prefix": "玄发改"}
    assert history[2].detail["after"] == {"name": "南京市玄武区发展和改革委员会", "doc_prefix": "玄发改"}
    assert history[3].detail["before"] is None
    assert [e.action for e in accounts.account_history(engine)][:4] == [e.action for e in history]  # one audit trail
    assert len(accounts.authority_history(engine, "320102")) == 2


@pytest.mark.parametrize("code", ["", "32010", "3201020", "999999", "32O102", "320199"])
def test_only_gbt2260_codes_take_an_authority(tmp_path: Path, code: str) -> None:
    engine = open_store(tmp_path / "m.db")
    with pytest.raises(InputError, match="GB/T 2260"):
        accounts.set_authority(engine, code, "某局", "admin")
    assert accounts.list_authorities(engine) == []


@pytest.mark.parametrize(("name", "prefix"), [("", None), ("某局\n第二行", None), ("某" * 129, None),
                                              ("某局", "玄〔发改"), ("某局", "码" * 33)])
def test_names_and_prefixes_are_checked(tmp_path: Path, name: str, prefix: str | None) -> None:
    with pytest.raises(InputError):
        accounts.set_authority(open_store(tmp_path / "m.db"), "320102", name, "admin", prefix)


def test_cli_set_list_which_remove_and_history(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    env = cli_env(USER="city-admin", MINESCOPE_LANG="en")
    run = cli("authorities", "set", "320100", "南京市发展和改革委员会", "--prefix", "宁发改", "--db", db, env=env)
    assert run.rc == 0, run.explain()
    assert "320100" in run.stdout.decode() and "南京市发展和改革委员会" in run.stdout.decode()
    listed = cli("authorities", "list", "--db", db, env=env)
    assert listed.rc == 0, listed.explain()
    assert listed.stdout.decode().split("\t")[:5] == ["320100", "江苏省南京市", "南京市发展和改革委员会", "宁发改",
                                                       "city-admin"]
    which = cli("authorities", "which", "320102", "--db", db, "--lang", "zh", env=env)
    assert which.rc == 0 and "南京市发展和改革委员会" in which.stdout.decode() and "320100" in which.stdout.decode()
    removed = cli("authorities", "remove", "320100", "--db", db, env=env)
    assert removed.rc == 0, removed.explain()
    assert "no issuing authority is set" in cli("authorities", "list", "--db", db, env=env).stdout.decode()
    history = cli("authorities", "history", "--db", db, env=env).stdout.decode().splitlines()
    assert [line.split("\t")[1:4] for line in history] == [["city-admin", "320100", "authority_remove"],
                                                            ["city-admin", "320100", "authority_set"]]
    assert "宁发改" in history[0] and "宁发改" in history[1]  # before, then after


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_cli_refuses_an_unknown_region_in_one_line(tmp_path: Path, lang: str) -> None:
    db = tmp_path / "m.db"
    for args in (("set", "999999", "某局"), ("remove", "12345"), ("which", "abc")):
        run = cli("authorities", *args, "--db", db, "--lang", lang, env=cli_env())
        no_traceback(run)
        assert run.rc == 1 and len(run.stderr.strip().splitlines()) == 1, run.explain()
        assert "GB/T 2260" in run.stderr
        assert ("行政区划代码" in run.stderr) == (lang == "zh")
    assert cli("authorities", "remove", "320102", "--db", db, env=cli_env(MINESCOPE_LANG="en")).stderr.strip() \
        == "error: no issuing authority is set for 320102"

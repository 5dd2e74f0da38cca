"""The store's schema comes from Alembic migrations, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, func, inspect, select

from conftest import CORPUS
from minescope.engine.scan import Scanner
from minescope.store import accounts, cases, tips  # noqa: F401  (their tables are on the metadata)
from minescope.store.findings import findings, metadata, migrate, migrations_config, open_store, save_scan


def _head() -> str:
    head = ScriptDirectory.from_config(migrations_config()).get_current_head()
    assert head
    return head


def test_migrations_build_exactly_the_tables_the_code_uses(store_target: str) -> None:
    engine = open_store(store_target)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, metadata) == []  # a schema change without its migration fails here
        assert ctx.get_current_revision() == _head()


def test_a_store_made_before_migrations_keeps_its_findings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "old.db"
    old = create_engine(f"sqlite:///{db}")
    findings.create(old)  # the findings table alone, as the first releases' create_all made it
    for t in ("scans", "sightings"):
        metadata.tables[t].create(old)
    save_scan(old, Scanner().scan([CORPUS / "mining" / "ndpi_mining.pcapng"]))
    with old.connect() as conn:
        before = conn.execute(select(func.count()).select_from(findings)).scalar_one()
    assert before > 0
    engine = open_store(db)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(findings)).scalar_one() == before
        assert "cases" in inspect(conn).get_table_names()
        assert MigrationContext.configure(conn).get_current_revision() == _head()


def test_downgrade_and_upgrade_again(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = open_store(tmp_path / "m.db")
    with engine.begin() as conn:
        command.downgrade(migrations_config(conn), "base")
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    migrate(engine)
    with engine.connect() as conn:
        assert "findings" in inspect(conn).get_table_names()

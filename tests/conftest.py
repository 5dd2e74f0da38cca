from __future__ import annotations

import os
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from helpers import PG_URL
from minescope.pipeline import Scanner


@pytest.fixture
def scanner() -> Scanner:
    return Scanner()


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """A Spark session (local[2]) for a module's tests that compare Spark with DuckDB."""
    from minescope.engines.sql import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()


# In CI every test must run: MINESCOPE_NO_SKIP=1 (the Makefile's test target sets it) turns any skip, say
# for a missing tool or package, into a failure that names the reason (scripts/system-deps.sh installs the tools).
NO_SKIP = os.environ.get("MINESCOPE_NO_SKIP") == "1"


def _no_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    if NO_SKIP and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but MINESCOPE_NO_SKIP=1 forbids skips: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _no_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    report = yield  # a module-level skip (importorskip, allow_module_level) happens while collecting
    _no_skip(report)
    return report


# PostgreSQL for the store tests: an SQLAlchemy URL of a role that may create databases, e.g.
# postgresql+psycopg://minescope:minescope@127.0.0.1/minescope (.ci/run starts a server and sets it).
# Without it those tests skip, unless MINESCOPE_REQUIRE_PG=1 (CI) makes that a failure.


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    if not PG_URL:
        if os.environ.get("MINESCOPE_REQUIRE_PG") == "1":
            pytest.fail("MINESCOPE_TEST_PG is not set but MINESCOPE_REQUIRE_PG=1")
        pytest.skip("set MINESCOPE_TEST_PG to run the PostgreSQL tests")
    name = f"minescope_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's store lives: an SQLite file, then a PostgreSQL database (the same tests on both)."""
    if request.param == "sqlite":
        return str(tmp_path / "m.db")
    return str(request.getfixturevalue("pg_url"))

"""Scans running at the same time into one store, on SQLite and PostgreSQL: every one stored, nothing twice.

Four processes start together, each scanning all the mining captures of the corpus but one (so their
findings overlap almost wholly, and all of them reach the store within moments of each other); the round
is repeated on fresh stores. Every process must exit 0 having stored its scan; the store must hold exactly
the findings and cases of one scan of all the captures, each finding counted as new by exactly one scan,
each case subject once, each finding in one case, each scan's sightings complete. Scans started together
on a store that does not exist yet make its schema once between them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers import (
    CORPUS,
    FAULTS_SCALE,
    cli,
    finish,
    no_traceback,
    start_cli,
    stop,
    store_problems,
    store_state,
)

CAPTURES = sorted((CORPUS / "mining").iterdir())
PROCESSES = 4


@pytest.fixture(scope="session")
def one_scan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The store one scan of every capture makes."""
    store = str(tmp_path_factory.mktemp("one-scan") / "m.db")
    run = cli("scan", *CAPTURES, "--db", store, "--lang", "en")
    assert run.rc == 0, run.explain()
    return store_state(store)


def _round(store: str, one_scan: dict[str, Any]) -> None:
    _all_stored([["scan", *[c for k, c in enumerate(CAPTURES) if k != i], "--db", store, "--lang", "en"]
                 for i in range(PROCESSES)])
    assert store_problems(store) == []
    state = store_state(store)
    assert state["findings"] == one_scan["findings"]
    assert [c[0] for c in state["cases"]] == [c[0] for c in one_scan["cases"]]
    assert [c[2] for c in state["cases"]] == [c[2] for c in one_scan["cases"]]
    assert state["tables"]["scans"] == PROCESSES


@pytest.mark.parametrize("rep", range(3 * FAULTS_SCALE))
def test_concurrent_scans_on_sqlite(tmp_path: Path, one_scan: dict[str, Any], rep: int) -> None:
    """On a store that exists (its schema made by an earlier command; the first start is the next test)."""
    from minescope.store.findings import open_store

    store = str(tmp_path / "m.db")
    open_store(store).dispose()
    _round(store, one_scan)


def test_concurrent_first_start_of_a_sqlite_store(tmp_path: Path) -> None:
    """Scans started together on a store that does not exist yet: they make its schema once, between them."""
    store = str(tmp_path / "new.db")
    small = CORPUS / "mining" / "zeekcm_bitcoin-mining-in-progress.pcap"
    _all_stored([["scan", small, "--db", store, "--lang", "en"]] * PROCESSES)
    assert store_problems(store) == []
    assert store_state(store)["tables"]["scans"] == PROCESSES


@pytest.mark.parametrize("rep", range(2 * FAULTS_SCALE))
def test_concurrent_scans_on_postgresql(pg_url: str, one_scan: dict[str, Any], rep: int) -> None:
    """Also the first start of a store: the processes create its schema together."""
    _round(pg_url, one_scan)


def _all_stored(commands: list[list[Any]]) -> None:
    """Run the commands at once; each must store its scan and say so in one line."""
    procs = [start_cli(*args) for args in commands]
    try:
        runs = [finish(p) for p in procs]
    finally:
        for p in procs:
            stop(p)
    for run in runs:
        no_traceback(run)
        assert run.rc == 0 and len(run.lines) == 1 and run.lines[0].startswith("stored in "), run.explain()

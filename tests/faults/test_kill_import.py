"""``flows import`` killed while it writes, and scans that overlap an import: nothing torn, nothing twice.

The input is a Zeek conn log of a day (``ROWS_PER_HOUR`` rows an hour, so the import writes two dozen
hourly Parquet files for a few seconds), with one connection an hour from a new host to an address the
test's pool feed lists: one ``pool_contact`` finding per hour, in every partition. The import is killed
(SIGKILL, SIGTERM, Ctrl-C) once its first file has appeared and grown, and at random moments. After
each kill: the process said at most one line and no traceback; a scan of the dataset reports no torn
file; importing the same log again, then scanning, gives exactly the rows and findings of one clean
import (nothing lost, nothing twice). A scan that runs while an import writes must not mark as read what
the import has not finished: once the import is done, the next scan of the store finds the rest.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from helpers import (
    FAULTS_SCALE,
    FAULTS_SEED,
    FLOWLOGS,
    Run,
    cli,
    cli_env,
    finish,
    no_traceback,
    start_cli,
    stop,
    store_problems,
)

ROWS_PER_HOUR = 6000
HOURS = 24
POOL = "198.51.100.77"
T0 = 1_700_000_000 - 1_700_000_000 % 3600
SMALL = (FLOWLOGS / "zeek", FLOWLOGS / "netflow" / "v9.bin")  # real logs of several kinds, a few seconds to import


def _conn_log(path: Path) -> Path:
    """A day of real conn rows (zat-conn.log's, shifted in time and spread over hosts), one pool session an
    hour."""
    lines = (FLOWLOGS / "zeek" / "zat-conn.log").read_text().splitlines()
    head = [line for line in lines if line.startswith("#") and not line.startswith("#close")]
    rows = [line.split("\t") for line in lines if not line.startswith("#")]
    out = ["\n".join(head)]
    for h in range(HOURS):
        chunk = []
        for i in range(ROWS_PER_HOUR):
            r = list(rows[i % len(rows)])
            r[0] = f"{T0 + h * 3600 + i * 3600 / ROWS_PER_HOUR:.6f}"
            r[1] = f"C{h:02d}{i:06d}"
            r[2] = f"10.{20 + h}.{i // 250 % 250}.{i % 250 + 1}"
            chunk.append("\t".join(r))
        pool = [f"{T0 + h * 3600 + 60:.6f}", f"Cpool{h:02d}", f"10.77.0.{h + 1}", "40000", POOL, "3333", "tcp", "-",
                "3000.0", "60000", "90000", "SF", "-", "0", "ShADadFf", "500", "80000", "400", "110000", "(empty)"]
        chunk.append("\t".join(pool))
        out.append("\n".join(chunk))
    path.write_text("\n".join(out) + "\n")
    return path


@pytest.fixture(scope="session")
def day(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The log, the pool feed, and what one clean import of it gives a scan."""
    d = tmp_path_factory.mktemp("kill-import")
    log = _conn_log(d / "conn.log")
    feed = d / "pools.txt"
    feed.write_text(f"{POOL}\n")
    clean = d / "clean"
    run = cli("flows", "import", log, "-o", clean, "--lang", "en")
    assert run.rc == 0, run.explain()
    small = d / "small"
    run = cli("flows", "import", *SMALL, "-o", small, "--lang", "en")
    assert run.rc == 0, run.explain()
    return {"log": log, "feed": feed, "clean": _scan(clean, feed), "small": _scan(small, feed)}


def _scan(dataset: Path, feed: Path, *store: str) -> dict[str, Any]:
    run = cli("scan", dataset, "--feed", feed, *(("--db", *store) if store else ("--no-store",)),
              "--format", "json", "--lang", "en")
    no_traceback(run)
    doc = orjson.loads(run.stdout) if run.stdout else {"findings": [], "scan": {"flows": None}}
    return {"run": run, "ids": sorted(f["id"] for f in doc["findings"]), "flows": doc["scan"]["flows"],
            "pool": sorted(f["id"] for f in doc["findings"] if f["kind"] == "pool_contact")}


def _wait_for_a_file(proc: Any, dataset: Path, timeout: float = 60) -> None:
    """Until a Parquet file of the import holds more than its magic number (the import is then writing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the import ended before a file was seen: make the input larger"
        if (dataset / "flows").is_dir() and any(f.is_file() and f.stat().st_size > 4
                                                for f in (dataset / "flows").rglob("*")):
            return
        time.sleep(0.02)
    raise AssertionError("no file of the import grew in time")


def _said(run: Run, sig: signal.Signals) -> None:
    no_traceback(run)
    if sig != signal.SIGKILL and run.rc == 0 and len(run.lines) == 1 and run.lines[0].startswith("written to"):
        return  # the signal came while the import was completing: it completed, whole, and says so
    if sig == signal.SIGKILL:
        assert run.rc == -sig and run.lines == [], run.explain()
    elif sig == signal.SIGTERM:
        assert (run.rc in (-sig, 128 + sig) and run.lines == []) or (run.rc == 1 and len(run.lines) == 1), \
            run.explain()
    else:
        assert run.rc in (1, 128 + sig) and len(run.lines) == 1, run.explain()


def _after_a_kill(dataset: Path, day: dict[str, Any], inputs: tuple[Path, ...] = ()) -> None:
    """A scan of what the kill left reports nothing; importing the same inputs again, then scanning, gives
    what one clean import gives."""
    left = _scan(dataset, day["feed"])
    assert left["run"].rc == 0 and left["run"].lines[1:] == [], \
        f"the interrupted import left files a scan reports: {left['run'].explain()}"
    again = cli("flows", "import", *(inputs or (day["log"],)), "-o", dataset, "--lang", "en")
    assert again.rc == 0, again.explain()
    final = _scan(dataset, day["feed"])
    clean = day["small"] if inputs else day["clean"]
    assert final["run"].rc == 0, final["run"].explain()
    assert final["flows"] == clean["flows"], "importing again after the kill lost rows or added them twice"
    assert final["ids"] == clean["ids"]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_import_killed_while_writing(tmp_path: Path, day: dict[str, Any], sig: signal.Signals) -> None:
    dataset = tmp_path / "ds"
    proc = start_cli("flows", "import", day["log"], "-o", dataset, "--lang", "en")
    try:
        _wait_for_a_file(proc, dataset)
        proc.send_signal(sig)
        run = finish(proc, timeout=60)
    finally:
        stop(proc)
    _said(run, sig)
    _after_a_kill(dataset, day)


@pytest.mark.parametrize("n", range(FAULTS_SCALE))
def test_import_killed_at_a_random_moment(tmp_path: Path, day: dict[str, Any], n: int) -> None:
    rng = random.Random(FAULTS_SEED * 1000 + n)
    dataset = tmp_path / "ds"
    proc = start_cli("flows", "import", day["log"], "-o", dataset, "--lang", "en")
    try:
        time.sleep(rng.uniform(0.8, 4.0))
        proc.send_signal(signal.SIGKILL)
        finish(proc, timeout=60)
    finally:
        stop(proc)
    _after_a_kill(dataset, day)


def test_a_scan_overlapping_an_import_misses_nothing(tmp_path: Path, day: dict[str, Any]) -> None:
    """Scans into a store while the import writes, then one after it: the store holds every finding of
    the clean import, each once."""
    dataset, store = tmp_path / "ds", str(tmp_path / "m.db")
    proc = start_cli("flows", "import", day["log"], "-o", dataset, "--lang", "en")
    try:
        _wait_for_a_file(proc, dataset)
        during = _scan(dataset, day["feed"], store)
        imported = finish(proc)
    finally:
        stop(proc)
    assert imported.rc == 0, imported.explain()
    assert during["run"].rc in (0, 2), during["run"].explain()
    after = _scan(dataset, day["feed"], store)
    assert after["run"].rc == 0, after["run"].explain()
    assert store_problems(store) == []
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{store}")
    try:
        with engine.connect() as conn:
            stored = sorted(conn.execute(text("SELECT id FROM findings WHERE kind = 'pool_contact'")).scalars())
    finally:
        engine.dispose()
    assert len(day["clean"]["pool"]) == HOURS
    assert stored == day["clean"]["pool"], "a scan during the import marked as read what it had not finished"


# The import's own failpoints (minescope.failpoints, placed by the dataset writer): its first rows written
# to unfinished files, and its first file published under its final name.
IMPORT_KILLS = [("dataset.written", "kill9"), ("dataset.written", "sigint"), ("dataset.publish", "kill9")]


@pytest.mark.parametrize(("point", "action"), IMPORT_KILLS)
def test_import_killed_at_its_failpoints(tmp_path: Path, day: dict[str, Any], point: str, action: str) -> None:
    dataset = tmp_path / "ds"
    run = cli("flows", "import", *SMALL, "-o", dataset, "--lang", "en",
              env=cli_env(MINESCOPE_FAILPOINT=f"{point}:{action}"))
    assert f"minescope failpoint {point}: {action}" in run.stderr, f"the import has no failpoint {point}"
    if action == "kill9":
        _said(run, signal.SIGKILL)
    else:  # Ctrl-C: one line, exit 1 or 130
        no_traceback(run)
        assert run.rc in (1, 130) and len(run.lines) == 1, run.explain()
    _after_a_kill(dataset, day, SMALL)

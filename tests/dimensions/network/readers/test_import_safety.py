"""``minescope flows import`` is all or nothing, and ``scan`` never sees half an import (issue 11, item 5).

The real command runs in a subprocess and is stopped where it writes: the ``dataset.written``
failpoint (its first rows in unfinished files) pauses it until the test sends SIGKILL, SIGINT or
SIGTERM; ``dataset.publish:kill9`` kills it with one file renamed into place and the rest not. After
each: a scan sees nothing of the import and says no problem, importing again gives the rows of one
clean import (and a third time nothing), ``flows repair`` finds nothing left or rolls the import back.
A full disk is a 512 KiB tmpfs in a private mount namespace (gone with the namespace). A scan that
overlaps an import (the import held by a test gate while it publishes) reads none of it, and the next
scan reads all of it: together they find what one scan of the finished dataset finds.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from helpers import FLOWLOGS, STRATUM_PCAP
from minescope.cli import main
from minescope.dimensions.network.readers.dataset import (
    IMPORTS,
    QUARANTINE,
    DatasetWriter,
    FlowDataset,
    import_states,
)

# logs only (no capture: no packet engine to start in the subprocess); 13 files over several partitions
LOGS = [FLOWLOGS / "zeek" / "zat-conn.log", FLOWLOGS / "zeek" / "zat-json_dns.log",
        FLOWLOGS / "zeek" / "ctu-sme-11-conn.log.labeled", FLOWLOGS / "netflow" / "v9.bin"]
NO_FEEDS = tempfile.mkdtemp(prefix="minescope-feeds-")  # keep a user's own pool lists out of the tests
WAIT_S = 60.0  # the longest any step may take before the test fails (none should come near it)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("MINESCOPE_DB", "MINESCOPE_DEBUG", "MINESCOPE_FAILPOINT")}
    return {**env, "MINESCOPE_FEEDS": NO_FEEDS, "MINESCOPE_LANG": "en", **extra}


def _cli(*args: object) -> Result:
    env = {"MINESCOPE_FEEDS": NO_FEEDS, "MINESCOPE_LANG": "en", "MINESCOPE_DB": None, "MINESCOPE_DEBUG": None,
           "MINESCOPE_FAILPOINT": None}
    return CliRunner().invoke(main, [str(a) for a in args], env=env)  # type: ignore[arg-type]


def _rows(root: Path) -> dict[str, int]:
    """Rows per table in the files a scan would read."""
    dataset = FlowDataset(root)
    return {table: sum(pq.ParquetFile(f.path).metadata.num_rows for f in dataset.files(table))
            for table in ("flows", "dns", "alerts")}


def _leftovers(root: Path) -> list[str]:
    """Unfinished files and records of imports not complete: what an interrupted import leaves."""
    hidden = [p for table in ("flows", "dns", "alerts") if (root / table).is_dir()
              for p in (root / table).rglob(".*") if p.is_file()]
    running = [i for i, state in import_states(root).items() if state != "complete"]
    return sorted(str(p.relative_to(root)) for p in hidden) + running


def _problem_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:") or "Traceback" in line]


@pytest.fixture(scope="module")
def clean_rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """The rows of one uninterrupted import of LOGS."""
    root = tmp_path_factory.mktemp("clean") / "ds"
    res = _cli("flows", "import", *LOGS, "-o", root)
    assert res.exit_code == 0, res.stderr
    rows = _rows(root)
    assert rows["flows"] > 500 and rows["dns"] > 0 and len(FlowDataset(root).files("flows")) > 5
    return rows


class Running:
    """A ``minescope`` subprocess whose stderr is read as it comes; always stopped at the end."""

    def __init__(self, args: list[object], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "minescope", *map(str, args)], env=env, text=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, marker: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not any(marker in line for line in self.lines):
            assert self.proc.poll() is None, ("ended before", marker, self.lines)
            assert time.monotonic() < deadline, ("no", marker, self.lines)
            time.sleep(0.01)

    def finish(self) -> tuple[int, str]:
        code = self.proc.wait(timeout=WAIT_S)
        self._reader.join(timeout=WAIT_S)
        return code, "\n".join(self.lines)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT_S)


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for r in started:
        r.stop()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_an_import_stopped_while_it_writes_leaves_nothing_a_scan_sees(
        sig: signal.Signals, tmp_path: Path, clean_rows: dict[str, int], running: list[Running]) -> None:
    root, db = tmp_path / "ds", tmp_path / "store.db"
    importing = Running(["flows", "import", *LOGS, "-o", root], _env(MINESCOPE_FAILPOINT="dataset.written:pause"))
    running.append(importing)
    importing.wait_for("minescope failpoint dataset.written")
    assert _leftovers(root)  # caught while it writes: unfinished files exist, under hidden names
    importing.proc.send_signal(sig)
    code, stderr = importing.finish()
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL and _leftovers(root)  # nothing ran after the kill
    else:  # Ctrl-C and SIGTERM roll the import back before the process ends
        said = "Ctrl-C" if sig == signal.SIGINT else "SIGTERM"
        assert code == 1 and _leftovers(root) == [], stderr
        assert f"the import was interrupted ({said}) and rolled back" in stderr and "Traceback" not in stderr
    # a scan sees none of it, and says no problem
    res = _cli("scan", root, "--db", db, "--format", "json")
    assert res.exit_code == 0 and _problem_lines(res.stderr) == [], res.stderr
    assert "read 0 file(s)" in res.stderr and json.loads(res.stdout)["findings"] == []
    if sig == signal.SIGKILL:  # the cleanup command rolls the dead import back
        res = _cli("flows", "repair", root)
        assert res.exit_code == 0, res.output
        assert "rolled back the interrupted import" in res.stdout and _leftovers(root) == []
    # importing again gives the rows of one clean import; once more, nothing is added
    res = _cli("flows", "import", *LOGS, "-o", root)
    assert res.exit_code == 0 and "already imported" not in res.stderr, res.stderr
    assert _rows(root) == clean_rows
    res = _cli("flows", "import", *LOGS, "-o", root)
    assert res.exit_code == 0 and res.stderr.count("already imported into this dataset") == len(LOGS)
    assert _rows(root) == clean_rows
    res = _cli("scan", root, "--db", db, "--format", "json", "--all-partitions")
    assert res.exit_code == 0 and json.loads(res.stdout)["inputs"][0]["flows"] == clean_rows["flows"]  # once each
    res = _cli("flows", "repair", root)
    assert res.exit_code == 0 and "is sound" in res.stdout and QUARANTINE not in res.stdout


def test_an_import_killed_while_it_publishes_is_rolled_back_by_the_next(
        tmp_path: Path, clean_rows: dict[str, int], running: list[Running]) -> None:
    """Killed with one file renamed into place: the scan still reads none of the import (its record
    is not complete), and the next import removes it before importing again."""
    root = tmp_path / "ds"
    importing = Running(["flows", "import", *LOGS, "-o", root], _env(MINESCOPE_FAILPOINT="dataset.publish:kill9"))
    running.append(importing)
    code, stderr = importing.finish()
    assert code == -signal.SIGKILL, stderr
    published = [f for table in ("flows", "dns") for f in (root / table).rglob("part-*.parquet")]
    assert len(published) == 1  # visible by name, not to a scan
    res = _cli("scan", root, "--no-store", "--format", "json")
    assert res.exit_code == 0 and _problem_lines(res.stderr) == [] and "read 0 file(s)" in res.stderr, res.stderr
    res = _cli("flows", "import", *LOGS, "-o", root)
    assert res.exit_code == 0 and "rolled back the interrupted import" in res.stderr, res.stderr
    assert not published[0].exists() and _leftovers(root) == []
    assert _rows(root) == clean_rows


def test_a_scan_overlapping_an_import_loses_no_finding(tmp_path: Path, running: list[Running]) -> None:
    """The import is held (a test gate at the ``dataset.publish`` failpoint) with its flows file renamed
    into place and its DNS file not: the scan then must not read the flows alone (it would mark them
    read, and the passive-DNS finding that needs both would be lost)."""
    root, db = tmp_path / "ds", tmp_path / "store.db"
    assert _cli("flows", "import", LOGS[0], "-o", root).exit_code == 0
    held, release = tmp_path / "held", tmp_path / "release"
    gate = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "import minescope.dimensions.network.readers.dataset as dataset\n"
        "from minescope.cli import main\n"
        "def gate(name):\n"
        "    if name == 'dataset.publish':\n"
        "        Path(sys.argv[1]).touch()\n"
        "        deadline = time.monotonic() + 60\n"
        "        while not Path(sys.argv[2]).exists() and time.monotonic() < deadline:\n"
        "            time.sleep(0.01)\n"
        "dataset.failpoint = gate\n"
        "main(sys.argv[3:], prog_name='minescope')\n")
    proc = subprocess.Popen([sys.executable, "-c", gate, str(held), str(release), "flows", "import",
                             str(STRATUM_PCAP), "-o", str(root)], env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + WAIT_S
        while not held.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.01)
        assert len(list(root.rglob("part-*.parquet"))) == 2  # the first import's, and one of this one
        first = _cli("scan", root, "--db", db, "--format", "json")
        assert first.exit_code == 0 and _problem_lines(first.stderr) == [], first.stderr
        assert "read 1 file(s)" in first.stderr  # the finished import's file only
    finally:
        release.touch()
        _, stderr = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, stderr
    second = _cli("scan", root, "--db", db, "--format", "json")
    assert second.exit_code == 0 and "read 2 file(s), skipped 1" in second.stderr, second.stderr
    found = {f["id"] for scan in (first, second) for f in json.loads(scan.stdout)["findings"]}
    whole = _cli("scan", root, "--no-store", "--format", "json")
    expected = {f["id"] for f in json.loads(whole.stdout)["findings"]}
    assert found == expected and any(f["peer"].get("host") == "la01.supportxmr.com"
                                     for f in json.loads(second.stdout)["findings"])


def _zeek_conn(path: Path, rows: int) -> Path:
    """A Zeek conn log of ``rows`` random connections over a few hours (random, so Parquet does not
    compress it below a small disk)."""
    rnd = random.Random(11)
    head = ("#separator \\x09\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\t"
            "proto\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\n")
    lines = [f"{1_700_000_000 + rnd.random() * 14400:.6f}\tC{i}\t10.{rnd.randrange(256)}.{rnd.randrange(256)}."
             f"{rnd.randrange(256)}\t{rnd.randrange(1024, 65536)}\t198.51.{rnd.randrange(256)}.{rnd.randrange(256)}"
             f"\t{rnd.randrange(1, 65536)}\ttcp\t{rnd.randrange(1, 9999)}\t{rnd.randrange(40, 999999)}\t"
             f"{rnd.randrange(1, 9999)}\t{rnd.randrange(40, 999999)}\n" for i in range(rows)]
    path.write_text(head + "".join(lines))
    return path


def test_a_full_disk_is_one_line_and_leaves_the_dataset_as_it_was(tmp_path: Path, clean_rows: dict[str, int]) -> None:
    """On a 512 KiB tmpfs: the logs fit, a large log does not. The failed import says one line (exit 1),
    leaves no file, and the dataset still holds exactly the first import."""
    big = _zeek_conn(tmp_path / "big-conn.log", 60_000)
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    out.mkdir()
    script = """
mount -t tmpfs -o size=512k tmpfs "$DISK" || exit 97
"$PY" -m minescope flows import $LOGS -o "$DISK/ds" >/dev/null 2>"$OUT/first.err"; echo $? >"$OUT/first.rc"
"$PY" -m minescope flows import "$BIG" -o "$DISK/ds" >/dev/null 2>"$OUT/import.err"; echo $? >"$OUT/import.rc"
find "$DISK" -mindepth 1 >"$OUT/listing"
"$PY" -m minescope scan "$DISK/ds" --no-store --format json >"$OUT/scan.json" 2>"$OUT/scan.err"; echo $? >"$OUT/scan.rc"
umount "$DISK"
"""
    # root may mount in a private namespace; anyone else, as root of a user namespace of their own
    unshare = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        unshare[1:1] = ["--user", "--map-root-user"]
    env = _env(DISK=str(disk), OUT=str(out), PY=sys.executable, BIG=str(big), LOGS=" ".join(map(str, LOGS)))
    p = subprocess.run([*unshare, "sh", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, (p.stdout, p.stderr)
    first = (out / "first.err").read_text()
    assert (out / "first.rc").read_text().strip() == "0", first
    assert f"written to {disk}/ds: dns {clean_rows['dns']}, flows {clean_rows['flows']} rows, 13 file(s)" in first
    err = (out / "import.err").read_text()
    assert (out / "import.rc").read_text().strip() == "1", err
    assert err.splitlines() == [f"error: {disk}/ds: the import failed (No space left on device) and was rolled "
                                "back; the dataset is as before; fix it and run the command again"]
    listing = (out / "listing").read_text().splitlines()
    assert not [p for p in listing if Path(p).name.startswith(".part-") or "running" in p], listing
    assert len([p for p in listing if p.endswith(".parquet")]) == 13  # the first import's, no more
    assert (out / "scan.rc").read_text().strip() == "0", (out / "scan.err").read_text()
    assert _problem_lines((out / "scan.err").read_text()) == []
    scanned: dict[str, Any] = json.loads((out / "scan.json").read_text())["inputs"][0]
    assert scanned["flows"] == clean_rows["flows"]
    assert not any(disk.iterdir())  # the tmpfs went with its namespace


def test_repair_quarantines_what_older_imports_left(tmp_path: Path) -> None:
    """Leftovers of imports made before import records were kept (an older minescope killed while it
    wrote), and strays: repair moves them to _quarantine/ (exit 2), and the scan is clean again."""
    root = tmp_path / "ds"
    assert _cli("flows", "import", LOGS[0], LOGS[1], "-o", root).exit_code == 0
    good = FlowDataset(root).files("flows")[0].path
    folder = good.parent
    # an unrecorded import: one file torn by a kill, one whole (its rows are partial all the same)
    torn = folder / "part-20200101T000000-0badf00d-00000.parquet"
    torn.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    whole_of_torn = folder / "part-20200101T000000-0badf00d-00001.parquet"
    shutil.copyfile(good, whole_of_torn)
    older = folder / "part-20200101T000000-00c0ffee-00000.parquet"  # an older, whole import: kept
    shutil.copyfile(good, older)
    stray = folder / ".part-20200101T000000-0ddba11d-00000.parquet.tmp"  # unfinished, no import runs
    stray.write_bytes(b"PAR1")
    record = next((root / IMPORTS).glob("*.json"))
    unlisted = folder / f"part-{record.stem}-00099.parquet"  # the complete import never wrote it
    shutil.copyfile(good, unlisted)
    res = _cli("scan", root, "--no-store", "--format", "json")
    assert res.exit_code == 2 and "not a readable Parquet file" in res.stderr and "flows repair" in res.stderr

    res = _cli("flows", "repair", root)
    assert res.exit_code == 2, res.output
    lines = res.stdout.splitlines()
    assert sum("quarantined to" in line for line in lines) == 4, lines
    assert not any(p.exists() for p in (torn, whole_of_torn, stray, unlisted)) and older.exists()
    kept = {p.name for p in (root / QUARANTINE).rglob("*") if p.is_file()}
    assert kept == {torn.name, whole_of_torn.name, stray.name, unlisted.name}
    res = _cli("scan", root, "--no-store", "--format", "json")
    assert res.exit_code == 0 and _problem_lines(res.stderr) == [], res.stderr
    again = _cli("flows", "repair", root, "--lang", "zh")
    assert again.exit_code == 0 and "完好" in again.stdout


def test_repair_says_one_line_when_it_cannot_work(tmp_path: Path) -> None:
    res = _cli("flows", "repair", tmp_path)
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert res.stderr.strip().splitlines() == [f"error: {tmp_path}: not a flow dataset (no _minescope_dataset.json, "
                                               "and no flows/ or dns/ partitions)"]


def test_the_writer_publishes_whole_imports_and_knows_its_inputs(tmp_path: Path) -> None:
    """The Python API: an exception inside ``with`` leaves nothing; an input is known by its content,
    under any name; a running import's inputs are not taken by a second one."""
    root = tmp_path / "ds"
    from minescope.dimensions.network.readers.inputs import FlowLogInput

    with pytest.raises(RuntimeError), DatasetWriter(root) as writer:
        for table, batch in FlowLogInput(LOGS[0]):
            writer.write(table, batch)
        assert FlowDataset(root).files("flows") == [] and _leftovers(root)  # written, unpublished
        raise RuntimeError("a reader failed")
    assert _leftovers(root) == [] and not list((root / "flows").rglob("*"))
    renamed = shutil.copyfile(LOGS[0], tmp_path / "same-content.log")
    with DatasetWriter(root) as first:
        todo, skipped = first.claim([LOGS[0], renamed])
        assert todo == [LOGS[0]] and "same content as" in skipped[0][1].en
        second = DatasetWriter(root)
        todo, skipped = second.claim([renamed])
        assert todo == [] and "being imported by another running import" in skipped[0][1].en
        second.abort()
        for table, batch in FlowLogInput(LOGS[0]):
            first.write(table, batch)
        unfinished = _leftovers(root)
        res = _cli("flows", "repair", root)  # a running import's files are left alone
        assert res.exit_code == 0 and f"the import {first.import_id} is still running" in res.stdout, res.output
        assert _leftovers(root) == unfinished and not (root / QUARANTINE).exists()
    third = DatasetWriter(root)
    todo, skipped = third.claim([renamed])
    assert todo == [] and f"import {first.import_id}" in skipped[0][1].en and "已导入过" in skipped[0][1].zh
    third.close()  # took nothing, wrote nothing: leaves no record
    assert import_states(root) == {first.import_id: "complete"}

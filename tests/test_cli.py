"""The command as a user runs it: outputs, store, and bad input."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from helpers import CORPUS, ROOT, first_frame, without_read_override, write_pcapng_ticks

MINING_PCAP = CORPUS / "mining" / "ndpi_mining.pcapng"
ETH_PCAP = CORPUS / "mining" / "ndpi_2018_ethereum_stratum.pcap"


NO_FEEDS = tempfile.mkdtemp(prefix="minescope-feeds-")  # keep a user's own feeds out of the tests


def run(*args: str, db: Path | str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MINESCOPE_LANG": "en", "MINESCOPE_FEEDS": NO_FEEDS}
    store = ["--db", str(db)] if db else ["--no-store"]
    cmd = [sys.executable, "-m", "minescope", "scan", *args, *(store if args and args[0] != "-h" else [])]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def test_json_to_stdout_has_kind_and_flows() -> None:
    p = run(str(MINING_PCAP), "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["schema"] == "minescope.scan"
    sessions = [f for f in doc["findings"] if f["kind"] == "mining_session"]
    assert len(sessions) == 4
    for f in doc["findings"]:
        assert f["flows"]
        for fl in f["flows"]:
            assert {"src_ip", "src_port", "dst_ip", "dst_port", "proto"} <= fl.keys()


def test_terminal_summary_in_both_languages() -> None:
    en = run(str(MINING_PCAP))
    assert en.returncode == 0 and "mining" in en.stdout.lower()
    zh = run(str(MINING_PCAP), "--lang", "zh")
    assert zh.returncode == 0 and "挖矿" in zh.stdout


def test_html_report(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    p = run(str(MINING_PCAP), "--format", "html", "-o", str(out))
    assert p.returncode == 0, p.stderr
    html = out.read_text()
    assert "<svg" in html and "94.23.199.191" in html


def test_scanning_again_does_not_duplicate(tmp_path: Path) -> None:
    from minescope.store.findings import count_findings, open_store

    db = tmp_path / "f.db"
    assert run(str(MINING_PCAP), db=db).returncode == 0
    first = count_findings(open_store(db))
    assert first >= 4
    assert run(str(MINING_PCAP), db=db).returncode == 0
    assert count_findings(open_store(db)) == first


def test_gzip_and_directories(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with open(ETH_PCAP, "rb") as src, gzip.open(tmp_path / "d" / "eth.pcap.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    p = run(str(tmp_path / "d"), "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["inputs"][0]["format"] == "pcap.gz"
    assert sum(f["kind"] == "mining_session" for f in doc["findings"]) == 2


def _one_clean_error(p: subprocess.CompletedProcess[str], words: str) -> None:
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, lines
    assert words in lines[0]


def test_truncated_capture_keeps_the_readable_part(tmp_path: Path, ) -> None:
    cut = tmp_path / "cut.pcap"
    data = ETH_PCAP.read_bytes()
    cut.write_bytes(data[: len(data) * 2 // 3 + 7])
    p = run(str(cut), "--format", "json")
    _one_clean_error(p, "truncated")
    assert "cut.pcap" in p.stderr
    doc = json.loads(p.stdout)
    assert any(f["kind"] == "mining_session" for f in doc["findings"])


def test_corrupt_record_header(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pcap"
    data = bytearray(MINING_PCAP.with_name("ndpi_2018_zcash.pcap").read_bytes())
    data[24 + 16 + 200 : 24 + 16 + 260] = b"\xff" * 60  # garbage over record headers
    bad.write_bytes(bytes(data))
    p = run(str(bad))
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "bad.pcap" in p.stderr


def test_not_a_capture(tmp_path: Path) -> None:
    txt = tmp_path / "notes.pcap"
    txt.write_text("hello, this is not a capture\n")
    _one_clean_error(run(str(txt)), "not a pcap or pcapng capture")


def test_truncated_gzip(tmp_path: Path) -> None:
    gz = tmp_path / "x.pcap.gz"
    packed = gzip.compress(ETH_PCAP.read_bytes())
    gz.write_bytes(packed[: len(packed) * 2 // 3])
    p = run(str(gz), "--format", "json")
    _one_clean_error(p, "x.pcap.gz")
    json.loads(p.stdout)


def test_missing_file_and_good_file_together(tmp_path: Path) -> None:
    p = run(str(tmp_path / "nope.pcap"), str(MINING_PCAP), "--format", "json")
    _one_clean_error(p, "no such file")
    assert sum(f["kind"] == "mining_session" for f in json.loads(p.stdout)["findings"]) == 4


@pytest.mark.parametrize("lang, word", [("zh", "错误"), ("en", "error")])
def test_no_inputs_is_one_line(lang: str, word: str) -> None:
    env = {**os.environ}
    p = subprocess.run([sys.executable, "-m", "minescope", "scan", "--lang", lang], capture_output=True, text=True,
                       env=env)
    assert p.returncode == 1 and word in p.stderr and "Traceback" not in p.stderr


def test_a_report_that_cannot_be_written_fails_before_the_scan_stores_anything(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    p = run(str(ETH_PCAP), "--format", "json", "-o", str(tmp_path / "missing" / "r.json"), db=db)
    assert p.returncode == 1 and len(p.stderr.splitlines()) == 1, p.stderr
    assert "missing" in p.stderr and "does not exist" in p.stderr and "Traceback" not in p.stderr
    assert not db.exists()  # checked before the store was opened


def test_a_report_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    """A failed write keeps the previous report and says the findings were stored (the store holds them)."""
    from click.testing import CliRunner

    from minescope.cli import main
    from minescope.store.findings import count_findings, open_store

    report, db = tmp_path / "r.json", tmp_path / "m.db"
    report.write_text("the previous report", encoding="utf-8")
    (tmp_path / f".r.json.{os.getpid()}.partial").mkdir()  # where the new report would be written: it fails
    res = CliRunner().invoke(main, ["scan", str(ETH_PCAP), "--format", "json", "-o", str(report), "--db", str(db),
                                    "--lang", "en"], env={"MINESCOPE_FEEDS": NO_FEEDS})
    assert res.exit_code == 1 and "cannot write the report" in res.output and "findings were stored" in res.output
    assert report.read_text(encoding="utf-8") == "the previous report"
    assert count_findings(open_store(db)) > 0


def test_nothing_in_a_directory_is_skipped_without_a_line(tmp_path: Path) -> None:
    shutil.copy(ETH_PCAP, tmp_path / "a.pcap")
    os.mkfifo(tmp_path / "pipe.pcap")
    (tmp_path / "gone.pcap").symlink_to(tmp_path / "nowhere.pcap")
    p = run(str(tmp_path), "--format", "json")
    assert p.returncode == 2, p.stderr
    assert json.loads(p.stdout)["findings"]  # the readable capture is read
    lines = p.stderr.splitlines()
    assert len(lines) == 2 and all("not a regular file" in line for line in lines), lines
    named = run(str(tmp_path / "pipe.pcap"), "--format", "json")  # named: said, not waited on
    assert named.returncode == 2 and "not a regular file" in named.stderr


def test_files_beside_an_interface_are_refused() -> None:
    p = run(str(ETH_PCAP), "--interface", "lo")
    assert p.returncode == 1 and "not both" in p.stderr and len(p.stderr.splitlines()) == 1


# --- file names that are not UTF-8, unreadable inputs, impossible capture times (issue 11) ---------

GBK_NAME = "挖矿.pcap".encode("gbk")  # as a Windows share hands it over
GBK_TEXT = r"\xcd\xda\xbf\xf3.pcap"  # how minescope names it (readers.names.path_text)


def _gbk_capture(folder: Path) -> Path:
    folder.mkdir()
    path = Path(os.fsdecode(os.fsencode(folder) + b"/" + GBK_NAME))
    shutil.copy(MINING_PCAP, path)
    return path


@pytest.mark.parametrize("fmt", ["terminal", "json", "html"])
def test_a_gbk_file_name_is_carried_into_every_output(tmp_path: Path, fmt: str) -> None:
    capture = _gbk_capture(tmp_path / "in")
    for target in (capture.parent, capture):
        report = tmp_path / f"report.{fmt}"
        p = run(str(target), "--format", fmt, "-o", str(report))
        assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
        text = report.read_text(encoding="utf-8")  # strict: the name arrives as UTF-8 text
        if fmt == "html":
            assert GBK_TEXT in text
        if fmt == "json":
            doc = json.loads(text)
            assert [i["path"] for i in doc["inputs"]] == [f"{tmp_path}/in/{GBK_TEXT}"]
            assert {f["source"] for f in doc["findings"]} == {GBK_TEXT}
            assert sum(f["kind"] == "mining_session" for f in doc["findings"]) == 4
    to_stdout = run(str(capture), "--format", fmt, *(["-o", str(tmp_path / "r.html")] if fmt == "html" else []))
    assert to_stdout.returncode == 0, to_stdout.stderr
    if fmt == "json":
        assert {f["source"] for f in json.loads(to_stdout.stdout)["findings"]} == {GBK_TEXT}


def test_a_gbk_file_name_is_stored(tmp_path: Path, store_target: str) -> None:
    from minescope.store.findings import open_store, sources_of, stored_findings

    capture = _gbk_capture(tmp_path / "in")
    p = run(str(capture), db=store_target)  # the terminal run
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr
    assert run(str(capture.parent), "--format", "json", db=store_target).returncode == 0
    found = stored_findings(open_store(store_target))
    assert sum(f["kind"] == "mining_session" for f in found) == 4
    assert {f["source"] for f in found} == {GBK_TEXT}
    assert sources_of(open_store(store_target), found[0]["id"]) == [GBK_TEXT]


def test_a_dataset_in_a_gbk_folder_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    """DuckDB, Spark and Arrow open a dataset's files by name and take only UTF-8 names: said, not crashed."""
    folder = Path(os.fsdecode(os.fsencode(tmp_path) + b"/" + "数据集".encode("gbk")))
    env = {**os.environ, "MINESCOPE_LANG": "en", "MINESCOPE_FEEDS": NO_FEEDS}
    log = ROOT / "tests" / "data" / "flowlogs" / "zeek" / "zat-conn.log"
    imported = subprocess.run([sys.executable, "-m", "minescope", "flows", "import", str(log), "-o", str(folder)],
                              capture_output=True, text=True, env=env, timeout=300)
    assert imported.returncode == 1 and imported.stderr.count("\n") == 1, imported.stderr
    assert "not UTF-8" in imported.stderr and "rename the folder" in imported.stderr
    good = tmp_path / "dataset"
    subprocess.run([sys.executable, "-m", "minescope", "flows", "import", str(log), "-o", str(good)],
                   capture_output=True, env=env, timeout=300, check=True)
    os.rename(good, folder)  # made elsewhere, then copied from a share
    p = run(str(folder), str(MINING_PCAP), "--format", "json")
    assert p.returncode == 2 and "not UTF-8" in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert sum(f["kind"] == "mining_session" for f in json.loads(p.stdout)["findings"]) == 4  # the rest read


def _run_unprivileged(*args: str) -> subprocess.CompletedProcess[str]:
    """``minescope ARGS`` unable to read what its mode bits forbid, root or not."""
    env = {**os.environ, "MINESCOPE_LANG": "en", "MINESCOPE_FEEDS": NO_FEEDS}
    return subprocess.run([sys.executable, "-m", "minescope", *args], capture_output=True, text=True, env=env,
                          timeout=300, preexec_fn=without_read_override)


@pytest.mark.parametrize("lang, cannot, missing", [("en", "cannot read this file (", "no such file"),
                                                   ("zh", "无法读取此文件（", "文件不存在")])
def test_an_unreadable_input_is_one_line_and_the_others_are_read(tmp_path: Path, lang: str, cannot: str,
                                                                 missing: str) -> None:
    locked = tmp_path / "locked.pcap"
    shutil.copy(ETH_PCAP, locked)
    locked.chmod(0)
    named = [str(locked), str(MINING_PCAP), str(tmp_path / "nope.pcap")]
    p = _run_unprivileged("scan", *named, "--format", "json", "--no-store", "--lang", lang)
    assert p.returncode == 2 and "Traceback" not in p.stderr and "Usage" not in p.stderr, p.stderr
    assert sum(f["kind"] == "mining_session" for f in json.loads(p.stdout)["findings"]) == 4  # the readable one
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 2, lines
    assert "locked.pcap" in lines[0] and cannot in lines[0] and "nope.pcap" in lines[1] and missing in lines[1]
    imported = _run_unprivileged("flows", "import", *named, "-o", str(tmp_path / "ds"), "--lang", lang)
    assert imported.returncode == 2 and "Traceback" not in imported.stderr, imported.stderr
    assert sum(cannot in line or missing in line for line in imported.stderr.splitlines()) == 2
    assert list((tmp_path / "ds").rglob("*.parquet"))  # the readable capture's flows


def test_flows_import_takes_the_capture_times_scan_takes(tmp_path: Path) -> None:
    """A pcapng timestamp that is no time (2^64-1 seconds): one line on both routes, the rest imported."""
    frame = first_frame(ETH_PCAP)
    capture = write_pcapng_ticks(tmp_path / "odd.pcapng", frame, 0, [1_700_000_000, 1_700_000_001, (1 << 64) - 1])
    scanned = run(str(capture), "--format", "json")
    assert scanned.returncode == 2 and json.loads(scanned.stdout)["inputs"][0]["packets"] == 2
    env = {**os.environ, "MINESCOPE_LANG": "en", "MINESCOPE_FEEDS": NO_FEEDS}
    p = subprocess.run([sys.executable, "-m", "minescope", "flows", "import", str(capture), "-o", str(tmp_path / "ds")],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    said = [line for line in p.stderr.splitlines() if line.startswith("error")]
    assert said == [line for line in scanned.stderr.splitlines() if line.startswith("error")]
    assert len(said) == 1 and "not within years 1–9999" in said[0]
    assert list((tmp_path / "ds").rglob("*.parquet"))


"""The column-mapped reader every dimension shares: JSON lines with dotted paths, CSV, Parquet, wide layouts,
value translations and row filters, into the host and power tables (the network's are tested with the flow
logs)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import cli, no_traceback
from minescope.dimensions.host.detectors import sigma
from minescope.dimensions.host.readers import read_host_log
from minescope.pipeline import Scanner, ScanOptions, split_inputs
from minescope.readers.mapped import Mapping, MappingError, identity_mapping, read_mapped
from minescope.readers.report import InputReport

OTRF = Path(__file__).parents[1] / "data" / "host" / "otrf" / "covenant_psremoting_grunt.zip"
WALLET = "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7otXft3XjrpDtQGv7SqSsaBYBb98uNbr2VBBEt7f2wfn3RVGQBEP3A"

# An EDR export in the Elastic Common Schema's nesting (process.*, host.*): the fields ECS documents.
ECS_MAPPING = {
    "table": "processes", "source": "edr",
    "columns": {"ts": "@timestamp", "host": "host.name", "pid": "process.pid", "ppid": "process.parent.pid",
                "image": "process.executable", "command_line": "process.command_line",
                "parent_image": "process.parent.executable", "user": "user.name", "sha256": "process.hash.sha256"},
}


def _ecs_line(ts: str, host: str, pid: object, exe: str, cmd: str) -> str:
    return json.dumps({"@timestamp": ts, "host": {"name": host}, "user": {"name": "svc"},
                       "process": {"pid": pid, "executable": exe, "command_line": cmd,
                                   "hash": {"sha256": "AB" * 32}, "parent": {"pid": 1, "executable": "/sbin/init"}}})


def _rows(path: Path, mapping: object) -> tuple[list[dict], InputReport]:
    report = InputReport(str(path))
    rows = [r for _, b in read_mapped(path, report, mapping) for r in b.to_pylist()]  # type: ignore[arg-type]
    return rows, report


def test_json_lines_with_nested_fields_become_host_processes_and_a_miner_is_found(tmp_path: Path) -> None:
    log = tmp_path / "edr.jsonl"
    log.write_text("\n".join([
        _ecs_line("2024-03-01T10:00:00Z", "WEB-01", 4242, "/tmp/.x/kworker",
                  f"/tmp/.x/kworker -o stratum+tcp://pool.example.net:3333 -u {WALLET} -p x"),
        _ecs_line("2024-03-01T10:00:05Z", "WEB-01", "not-a-pid", "/usr/bin/ls", "ls -la"),
        "{not json",
        _ecs_line("2024-03-01T10:00:06Z", "WEB-02", 77, "/usr/bin/ls", "ls -la /var/log"),
    ]) + "\n")
    got = read_host_log(log, mapping=ECS_MAPPING)
    rows = got["processes"].to_pylist()
    assert [(r["host"], r["pid"], r["name"]) for r in rows] == [("web-01", 4242, "kworker"), ("web-02", 77, "ls")]
    assert rows[0]["sha256"] == "ab" * 32 and rows[0]["ppid"] == 1 and rows[0]["source"] == "edr"
    lines = [t.en for t in got.report.summary()]
    assert any("line 3: not JSON" in t for t in lines)
    assert any("line 2: unparsable value (process.pid" in t for t in lines)
    assert got.events == {"mapped:processes": 2}
    found = sigma.detect({"processes": got["processes"]})
    assert [(f.subject.value, f.kind) for f in found] == [("web-01", "miner_process")]


def test_a_real_sysmon_export_through_a_mapping_gives_the_dedicated_readers_processes(tmp_path: Path) -> None:
    """OTRF's NXLog lines (written by others) read as any JSON-lines export, filtered to Sysmon event 1."""
    with zipfile.ZipFile(OTRF) as z:
        member = z.infolist()[0]
        exported = tmp_path / "export.json"
        exported.write_bytes(z.read(member))
    mapping = {"table": "processes", "where": {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational"},
               "columns": {"ts": "@timestamp", "host": "Hostname", "image": "Image", "command_line": "CommandLine",
                           "parent_image": "ParentImage", "user": "User", "original_name": "OriginalFileName"}}
    mapped = read_host_log(exported, mapping=mapping)["processes"]
    dedicated = read_host_log(OTRF)["processes"].filter(
        pa.compute.equal(read_host_log(OTRF)["processes"]["event"], "sysmon:1"))
    key = ["ts", "host", "image", "command_line", "parent_image", "user", "original_name"]
    assert mapped.num_rows == dedicated.num_rows > 10
    assert sorted(mapped.select(key).to_pylist(), key=str) == sorted(dedicated.select(key).to_pylist(), key=str)


def test_a_csv_named_like_the_processes_table_is_scanned_as_host_evidence(tmp_path: Path) -> None:
    export = tmp_path / "processes.csv"
    export.write_text("ts,host,user,image,command_line\n"
                      f"2024-03-01T10:00:00Z,db-01,root,/opt/x/xmrig,/opt/x/xmrig -o pool.example.net:443 -u {WALLET}"
                      " --donate-level 1\n"
                      "2024-03-01T10:00:01Z,db-01,root,/usr/bin/ls,ls\n")
    split = split_inputs([export])
    assert split.host_logs == [export] and split.mappings[export].table == "processes"
    result = Scanner(ScanOptions()).scan([export])
    assert {(f.kind, f.subject.value) for f in result.findings} >= {("miner_process", "db-01")}
    assert [i.format for i in result.inputs] == ["mapped"]


def test_a_given_mapping_routes_exports_by_their_columns_in_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "edr-1.jsonl").write_text(_ecs_line("2024-03-01T10:00:00Z", "pc-9", 1, "/usr/bin/ls", "ls") + "\n")
    (folder / "notes.csv").write_text("a,b\n1,2\n")  # no mapping fits: passed over, as before
    split = split_inputs([folder], [Mapping.load(ECS_MAPPING)])
    assert split.host_logs == [folder / "edr-1.jsonl"] and not split.logs


def test_wide_daily_rows_with_a_column_per_interval_become_readings(tmp_path: Path) -> None:
    export = tmp_path / "meter.csv"
    export.write_text("户号,日期,P1,P2,P3,P4\n"
                      "A001,2024-01-01,1.0,2.0,3.0,4.0\n"
                      "A001,2024-01-02,1.5,x,3.5,-1\n")
    mapping = {"table": "readings", "columns": {"meter": "户号", "ts": "日期"},
               "time": {"timezone": "Asia/Shanghai"}, "wide": {"columns": "P*"}}
    rows, report = _rows(export, mapping)
    assert [(r["ts"].isoformat(), r["kwh"], r["interval_s"]) for r in rows[:2]] == [
        ("2023-12-31T16:00:00+00:00", 1.0, 21600), ("2023-12-31T22:00:00+00:00", 2.0, 21600)]
    assert [r["kwh"] for r in rows] == [1.0, 2.0, 3.0, 4.0, 1.5, 3.5]  # the bad readings alone are left out
    lines = [t.en for t in report.summary()]
    assert any("line 3: unparsable value (P2:" in t for t in lines)
    assert any("line 3: unparsable value (P4: negative" in t for t in lines)


def test_wide_parquet_and_translated_values(tmp_path: Path) -> None:
    export = tmp_path / "meter.parquet"
    pq.write_table(pa.table({"meter": ["M1", "M2"], "day": ["2024-01-01", "2024-01-01"],
                             "h00": [0.5, 2.0], "h12": [0.25, 2.0]}), export)
    rows, _ = _rows(export, {"table": "readings", "columns": {"meter": "meter", "ts": "day"},
                             "wide": {"columns": ["h00", "h12"], "interval_s": 43200}})
    assert [(r["meter"], r["ts"].hour, r["kwh"]) for r in rows] == [
        ("M1", 0, 0.5), ("M1", 12, 0.25), ("M2", 0, 2.0), ("M2", 12, 2.0)]
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("户号,用电类别,运行容量\nA1,居民生活用电,8\nA2,大工业用电,630\n")
    rows, _ = _rows(accounts, {"table": "accounts",
                               "columns": {"account": "户号", "tariff": "用电类别", "running_kva": "运行容量"},
                               "values": {"tariff": {"居民生活用电": "residential", "大工业用电": "industrial"}}})
    assert [(r["account"], r["tariff"], r["running_kva"]) for r in rows] == [
        ("A1", "residential", 8.0), ("A2", "industrial", 630.0)]


def test_identity_mapping_picks_the_table_whose_needed_columns_are_there() -> None:
    assert identity_mapping(["ts", "src_ip", "dst_ip", "dst_port"]).table == "flows"  # type: ignore[union-attr]
    assert identity_mapping(["ts", "host", "command_line"]).table == "processes"  # type: ignore[union-attr]
    assert identity_mapping(["meter", "ts", "kwh"]).table == "readings"  # type: ignore[union-attr]
    assert identity_mapping(["a", "b"]) is None


@pytest.mark.parametrize(("spec", "says"), [
    ({"table": "nope", "columns": {"ts": "t"}}, "unknown table nope"),
    ({"table": "processes", "columns": {"host": "h"}}, "must name the columns for: ts, command_line"),
    ({"table": "readings", "columns": {"meter": "m", "ts": "d", "kwh": "v", "speed": "s"}}, "unknown target fields"),
    ({"table": "readings", "columns": {"meter": "m", "ts": "d"}, "wide": {"columns": []}}, "wide.columns must list"),
    ({"table": "processes", "columns": ["ts"]}, "must be tables"),
])
def test_a_bad_mapping_says_what_is_wrong_in_both_languages(spec: dict, says: str) -> None:
    with pytest.raises(MappingError) as e:
        Mapping.load(spec)
    assert says in e.value.en and e.value.zh


def test_scan_takes_a_mapping_file_and_says_a_bad_one_in_one_line(tmp_path: Path) -> None:
    log = tmp_path / "edr.jsonl"
    log.write_text(_ecs_line("2024-03-01T10:00:00Z", "WEB-01", 4242, "/tmp/.x/kworker",
                             f"/tmp/.x/kworker -o stratum+tcp://pool.example.net:3333 -u {WALLET}") + "\n")
    mapping = tmp_path / "edr.json"
    mapping.write_text(json.dumps(ECS_MAPPING))
    run = cli("scan", log, "--mapping", mapping, "--no-store", "--format", "json", "--lang", "en")
    assert run.rc == 0, run.explain()
    found = json.loads(run.stdout)["findings"]
    assert {(f["kind"], f["subject"]["value"]) for f in found} >= {("miner_process", "web-01")}
    bad = tmp_path / "bad.toml"
    bad.write_text('table = "processes"\n[columns]\nhost = "h"\n')
    run = cli("scan", log, "--mapping", bad, "--no-store", "--lang", "en")
    no_traceback(run)
    assert run.rc == 1 and "bad.toml: the mapping must name the columns for: ts, command_line" in run.stderr


def test_where_keeps_the_rows_of_the_table_also_when_the_column_is_a_list(tmp_path: Path) -> None:
    log = tmp_path / "ecs.jsonl"
    lines = [json.loads(_ecs_line("2024-03-01T10:00:00Z", "h1", 1, "/bin/a", "a")),
             json.loads(_ecs_line("2024-03-01T10:00:01Z", "h1", 2, "/bin/b", "b"))]
    lines[0]["event"] = {"category": ["process"], "type": ["start"]}
    lines[1]["event"] = {"category": ["network"], "type": ["connection"]}
    log.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    rows = read_host_log(log, mapping={**ECS_MAPPING, "where": {"event.category": "process"}})["processes"]
    assert rows.column("command_line").to_pylist() == ["a"]


def test_a_constant_fills_a_field_the_export_leaves_out_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    export = tmp_path / "long.csv"
    export.write_text("meter,ts,kwh\nM1,2024-01-01T00:00:00Z,0.5\nM1,2024-01-01T00:30:00Z,0.4\n")
    rows, report = _rows(export, {"table": "readings", "columns": {"meter": "meter", "ts": "ts", "kwh": "kwh"},
                                  "constants": {"interval_s": 1800}})
    assert [r["interval_s"] for r in rows] == [1800, 1800] and not report.summary()
    with pytest.raises(MappingError) as e:
        Mapping.load({"table": "readings", "columns": {"meter": "m", "ts": "t", "kwh": "k"},
                      "constants": {"interval_s": "half an hour"}})
    assert "constants.interval_s" in e.value.en

"""The host dimension's readers on real endpoint logs (EVTX-ATTACK-SAMPLES, OTRF Security-Datasets, SigmaHQ
regression data: counts from tests/data/host/MANIFEST.tsv) and on auditd/osquery logs written from their
documented formats."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pyarrow as pa

from helpers import DATA
from minescope.dimensions.host.readers import HostLogInput, detect_host_format, read_host_log
from minescope.dimensions.host.tables import TABLES

HOST = DATA / "host"
EVTX = HOST / "evtx-attack-samples"
PANACHE = EVTX / "AutomatedTestingTools" / "PanacheSysmon_vs_AtomicRedTeam01.evtx"
RDP_5156 = EVTX / "Command_and_Control" / "DE_RDP_Tunnel_5156.evtx"
SYSMON_3 = EVTX / "Command_and_Control" / "DE_sysmon-3-rdp-tun.evtx"
OTRF = HOST / "otrf" / "covenant_psremoting_grunt.zip"
SIGMA = sorted((HOST / "sigma").rglob("*.evtx"))
AUDIT = HOST / "auditd" / "audit.log"
OSQUERY = HOST / "osquery" / "osqueryd.results.log"


def _schemas_hold(log) -> None:
    for name, table in log.tables.items():
        assert table.schema == TABLES[name]


def test_evtx_sysmon_counts_and_fields():
    log = read_host_log(PANACHE)
    assert log.report.format == "evtx" and not log.report.summary()
    # MANIFEST: 565 events [Sysmon:1x511, Sysmon:13x30, Sysmon:7x5, Sysmon:11x4, Sysmon:3x4, Sysmon:12x3, other x8]
    assert sum(log.events.values()) == 565
    assert {k: log.events[k] for k in ("sysmon:1", "sysmon:13", "sysmon:7", "sysmon:11", "sysmon:3", "sysmon:12")} == \
        {"sysmon:1": 511, "sysmon:13": 30, "sysmon:7": 5, "sysmon:11": 4, "sysmon:3": 4, "sysmon:12": 3}
    assert log["processes"].num_rows == 511
    assert log["connections"].num_rows == 4
    assert log["files"].num_rows == 9  # 5 image loads + 4 file creations
    procs = log["processes"]
    assert len(set(procs["command_line"].to_pylist())) == 457  # MANIFEST: 457 distinct CommandLine
    first = procs.slice(0, 1).to_pylist()[0]
    assert first["host"] == "msedgewin10" and first["event"] == "sysmon:1" and first["source"] == "evtx"
    assert first["image"] == "C:\\Windows\\System32\\consent.exe" and first["name"] == "consent.exe"
    assert first["command_line"] == "consent.exe 4516 288 0000023C0CA21C70"
    assert (first["pid"], first["ppid"]) == (5828, 4516)
    assert first["sha256"] == "8f112431143a22baaafb448eefd63bf90e7691c890ac69a296574fd07ba03ec6"
    assert first["md5"] == "27992d7ebe51aec655a088de88bad5c9"
    assert first["parent_image"] == "C:\\Windows\\System32\\svchost.exe"
    assert str(first["ts"]) == "2019-07-19 14:42:51.446280+00:00"
    runs = log["persistence"].to_pylist()  # only the Run/RunOnce values of the 30 registry sets
    assert [(r["kind"], r["name"]) for r in runs] == [("run_key", "Atomic Red Team"), ("run_key", "NextRun")]
    assert runs[1]["location"] == "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\RunOnce"
    assert runs[0]["command"] == "C:\\Path\\AtomicRedTeam.exe"
    conn = log["connections"].to_pylist()[0]
    assert (conn["proto"], conn["local_ip"], conn["remote_ip"], conn["remote_port"]) == \
        ("tcp", "10.0.2.15", "172.217.17.132", 80)
    assert conn["remote_name"] == "ams15s30-in-f4.1e100.net" and conn["name"] == "powershell.exe"
    _schemas_hold(log)


def test_evtx_security_4688_hex_ids():
    log = read_host_log(RDP_5156)
    # MANIFEST: 101 events [Security:5156x63, Security:4688x17, Security:5158x9, Security:4624x5, …]
    assert sum(log.events.values()) == 101
    assert log.events["security:4688"] == 17 and log.events["security:5156"] == 63
    procs = log["processes"].to_pylist()
    assert len(procs) == 17 and {p["event"] for p in procs} == {"security:4688"}
    tstheme = procs[0]
    assert tstheme["image"] == "C:\\Windows\\System32\\TSTheme.exe" and tstheme["name"] == "tstheme.exe"
    assert (tstheme["pid"], tstheme["ppid"]) == (0x1FC, 0x278)  # NewProcessId "0x1fc", ProcessId "0x278"
    assert tstheme["user"] == "EXAMPLE\\PC01$" and tstheme["host"] == "pc01.example.corp"
    assert log["connections"].num_rows == 0  # 5156 (WFP) is counted, not kept


def test_evtx_sysmon_network_connections():
    log = read_host_log(SYSMON_3)
    assert log.events["sysmon:3"] == 42 and log["connections"].num_rows == 42
    assert log.events["sysmon:6"] == 6 and log["files"].num_rows == 6  # drivers loaded
    plink = next(c for c in log["connections"].to_pylist() if c["name"] == "plink.exe")
    assert (plink["local_ip"], plink["remote_ip"], plink["remote_port"], plink["remote_name"]) == \
        ("10.0.2.17", "10.0.2.18", 80, "pc02")
    drivers = log["files"].to_pylist()
    assert all(d["event"] == "sysmon:6" and d["path"] for d in drivers)
    assert drivers[0]["path"] == "C:\\Windows\\System32\\rdpdd.dll" and drivers[0]["sha256"] is None  # SHA1 only


def _comparable(table: pa.Table) -> list[dict]:
    return table.drop_columns(["source", "input"]).to_pylist()


def test_sigma_json_and_evtx_give_the_same_rows():
    assert len(SIGMA) == 3
    total = 0
    for evtx in SIGMA:
        rendered = evtx.with_suffix(".json")
        a, b = read_host_log(evtx), read_host_log(rendered)
        assert b.report.format == "sysmon-json" and not a.report.summary() and not b.report.summary()
        assert a["processes"].num_rows >= 1
        assert _comparable(a["processes"]) == _comparable(b["processes"])
        assert set(b["processes"]["source"].to_pylist()) == {"sysmon_json"}
        total += a["processes"].num_rows
    assert total == 6  # 1 + 3 (concatenated pretty-printed objects) + 2
    bits = read_host_log(next(p for p in SIGMA if "bitsadmin" in str(p)))["processes"].to_pylist()[0]
    assert bits["command_line"] == \
        "bitsadmin  /transfer n https://www.atomicredteam.io/atomic-red-team/atomics/T1218.011 hello.html"
    assert bits["parent_image"] is None  # "-" is no value
    assert bits["user"] == "swachchhanda\\xodih" and bits["original_name"] == "bitsadmin.exe"


def test_otrf_flattened_json_lines_in_a_zip():
    log = read_host_log(OTRF)
    assert log.report.format == "sysmon-json" and not log.report.summary()
    # MANIFEST: 4305 events, Sysmon EID1 x17, EID3 x276 (and 17 Security 4688, 20 Sysmon 22)
    assert sum(log.events.values()) == 4305
    assert log.events["sysmon:1"] == 17 and log.events["sysmon:3"] == 276
    assert log.events["security:4688"] == 17 and log.events["sysmon:22"] == 20
    assert log["processes"].num_rows == 34 and log["connections"].num_rows == 296
    gpupdate = next(p for p in log["processes"].to_pylist() if p["event"] == "sysmon:1")
    assert gpupdate["command_line"] == "gpupdate.exe /target:computer" and gpupdate["host"] == "it001.shire.com"
    assert gpupdate["pid"] == 4892  # the event's ProcessId, from its message (NXLog kept the service's ProcessID)
    assert gpupdate["original_name"] == "GPUpdate.exe" and gpupdate["md5"] == "d4f01bec9ca921c13ed1bdd1bf1d2d24"
    dns = [c for c in log["connections"].to_pylist() if c["event"] == "sysmon:22"]
    assert len(dns) == 20 and all(c["proto"] == "udp" and c["remote_name"] for c in dns)
    local = next(c for c in dns if c["remote_name"] == "localhost")
    assert local["remote_ip"] == "::1"  # the first of "::1;::ffff:127.0.0.1;"
    _schemas_hold(log)


def test_winlogbeat_and_a_bad_line(tmp_path: Path):
    with zipfile.ZipFile(OTRF) as z:
        member = z.infolist()[0]
        every = z.open(member).read().splitlines()
    head = every[:50]
    sysmon1 = next(e for e in map(json.loads, every) if e["EventID"] == 1 and "Sysmon" in e["Channel"])
    beat = {"@timestamp": "2023-11-14T22:13:20.000Z", "winlog": {
        "event_id": "1", "channel": "Microsoft-Windows-Sysmon/Operational", "computer_name": "WS-7.corp.local",
        "event_data": {"ProcessId": "7000", "Image": "C:\\Users\\a\\xmrig.exe", "CommandLine": "xmrig.exe -o x:3333",
                       "Hashes": "SHA256=AB12,MD5=CD34", "User": "CORP\\a"}}}
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([*head, b'{"EventID": 1, "Channel": "Micro', json.dumps(beat).encode(),
                                 b'{"no": "event"}', json.dumps(sysmon1).encode()]) + b"\n")
    assert detect_host_format(path) == "sysmon-json"
    log = read_host_log(path)
    assert log.report.skipped == 2 and log.report.error is None
    lines = [t.en for t in log.report.summary()]
    assert len(lines) == 2 and "line 51: not a complete JSON object" in lines[0] and "line 53" in lines[1]
    procs = log["processes"].to_pylist()
    xmrig = next(p for p in procs if p["name"] == "xmrig.exe")
    assert (xmrig["host"], xmrig["pid"], xmrig["sha256"], xmrig["md5"]) == ("ws-7.corp.local", 7000, "ab12", "cd34")
    assert str(xmrig["ts"]) == "2023-11-14 22:13:20+00:00"
    assert procs[-1]["command_line"] == sysmon1["CommandLine"]


def test_damaged_evtx_keeps_the_good_records(tmp_path: Path):
    data = bytearray(PANACHE.read_bytes())
    for off in (0x1000 + 5000, 0x1000 + 0x10000 + 3000):
        data[off:off + 400] = b"\xff" * 400
    damaged = tmp_path / "damaged.evtx"
    damaged.write_bytes(bytes(data))
    log = read_host_log(damaged)
    assert 400 < log["processes"].num_rows < 511 and log.report.skipped > 0
    lines = log.report.summary()
    assert len(lines) == 1 and "EVTX records that cannot be parsed" in lines[0].en and lines[0].zh
    cut = tmp_path / "cut.evtx"
    cut.write_bytes(PANACHE.read_bytes()[:300_000])
    log = read_host_log(cut)
    assert log["processes"].num_rows > 100
    assert [t.en for t in log.report.summary()] == [
        f"{cut}: the file is cut short at byte 300000 (its header announces 15 chunks of 64 KiB); the events "
        "before that were read: copy or export the whole file"]
    garbage = tmp_path / "garbage.evtx"
    garbage.write_bytes(b"ElfFile\x00" + b"\x00" * 100)
    log = read_host_log(garbage)
    assert sum(t.num_rows for t in log.tables.values()) == 0 and log.report.error is not None
    not_evtx = tmp_path / "flows.csv"
    not_evtx.write_text("ts,src,dst\n1,10.0.0.1,10.0.0.2\n")
    report = HostLogInput(not_evtx, "evtx")
    assert list(report) == []
    assert report.report.error is not None and "not a Windows event log (.evtx)" in report.report.error.en


def test_auditd_execve_hex_and_split_arguments():
    log = read_host_log(AUDIT)
    assert log.report.format == "auditd"
    assert dict(log.events) == {"auditd:execve": 2, "auditd:syscall": 2, "auditd:user_login": 1}
    lines = [t.en for t in log.report.summary()]
    assert len(lines) == 1 and "line 11: not an auditd record" in lines[0]
    first, second = log["processes"].to_pylist()
    # a1 hex, a3 split in three parts (quoted, hex, empty), a4 hex with a space
    assert first["command_line"] == "./xmrig --donate-level=0 -o pool.example.org:3333 my worker"
    assert (first["pid"], first["ppid"], first["user"], first["image"], first["name"], first["cwd"]) == \
        (1240, 1201, "1000", "/tmp/.x/xmrig", "xmrig", "/tmp/.x")
    assert first["host"] is None and str(first["ts"]) == "2023-11-14 22:13:20.123000+00:00"
    # node=, ENRICHED names after 0x1D, hex exe and cwd
    assert (second["host"], second["user"], second["image"], second["cwd"], second["command_line"]) == \
        ("miner-01", "root", "/tmp/my dirs/kworkerds", "/root/my dir", "kworkerds -B")
    _schemas_hold(log)


def test_osquery_differential_and_snapshot():
    log = read_host_log(OSQUERY)
    assert log.report.format == "osquery"
    assert [t.en for t in log.report.summary()] == [f"{OSQUERY}, line 6: not a complete JSON object; line skipped"]
    assert log.events["osquery:processes"] == 1 and log.events["osquery:processes:removed"] == 1
    proc = log["processes"].to_pylist()[0]
    assert (proc["host"], proc["pid"], proc["ppid"], proc["user"], proc["name"], proc["cwd"]) == \
        ("build-server-07", 4242, 1, "33", "kworkerds", "/tmp/.x")
    assert proc["command_line"] == "/tmp/.x/kworkerds -o pool.example.org:3333 --donate-level=0"
    miner, listening = log["connections"].to_pylist()
    assert (miner["proto"], miner["remote_ip"], miner["remote_port"], miner["local_port"]) == \
        ("tcp", "198.51.100.20", 3333, 50412)
    assert (listening["remote_ip"], listening["remote_port"], listening["local_ip"]) == (None, None, "::")
    kinds = [(p["kind"], p["name"]) for p in log["persistence"].to_pylist()]
    assert kinds == [("cron", "*/5 * * * *"), ("systemd_unit", "kworkerds.service"),
                     ("systemd_timer", "kworkerds.timer"), ("run_key", "Updater"), ("service", "WinRing0 helper")]
    cron = log["persistence"].to_pylist()[0]
    assert cron["user"] == "www-data" and cron["command"].startswith("curl -fsSL")
    _schemas_hold(log)


def test_detection_by_content(tmp_path: Path):
    assert detect_host_format(PANACHE) == "evtx"
    assert detect_host_format(RDP_5156) == "evtx"
    assert all(detect_host_format(p.with_suffix(".json")) == "sysmon-json" for p in SIGMA)
    assert detect_host_format(OTRF) == "sysmon-json"
    assert detect_host_format(AUDIT) == "auditd"
    assert detect_host_format(OSQUERY) == "osquery"
    renamed = tmp_path / "log.txt"  # by content, not by name
    renamed.write_bytes(PANACHE.read_bytes()[:70_000])
    assert detect_host_format(renamed) == "evtx"
    pcap = tmp_path / "capture.evtx"
    pcap.write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + b"\x00" * 16)
    assert detect_host_format(pcap) is None
    csv = tmp_path / "flows.json"
    csv.write_text("ts,src_ip,dst_ip\n2023-11-14T22:13:20Z,10.0.0.1,10.0.0.2\n")
    assert detect_host_format(csv) is None
    eve = tmp_path / "eve.json"
    eve.write_text('{"timestamp": "2023-11-14T22:13:20Z", "event_type": "flow", "src_ip": "10.0.0.1"}\n')
    assert detect_host_format(eve) is None
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    assert detect_host_format(empty) is None
    other_zip = tmp_path / "other.zip"
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("a.csv", "a,b\n1,2\n")
    assert detect_host_format(other_zip) is None

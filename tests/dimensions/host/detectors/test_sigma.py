"""Sigma rules as data, compiled to one SQL text for DuckDB and Spark, over the host tables.

Positives are the miners' own documented command lines (tests/data/host/miner_command_lines.tsv, each with the
page it follows); negatives are real command lines someone else recorded (tests/data/host/benign_command_lines.tsv:
SigmaHQ regression data, DRL 1.1; OTRF Security-Datasets, MIT) and hard negatives written here.
"""

from __future__ import annotations

import csv
import importlib.util
import re
import uuid
from collections import Counter
from pathlib import Path, PurePath
from typing import Any

import pyarrow as pa
import pytest
import yaml

from helpers import DATA, table
from minescope.dimensions.host.detectors import sigma
from minescope.dimensions.host.tables import CONNECTIONS, PERSISTENCE, PROCESSES
from minescope.engines.sql import DuckDBEngine
from minescope.knowledge import data_path
from minescope.model import SubjectType

T0 = 1_795_000_000.0
MINERS = ("xmrig", "xmr-stak", "t-rex", "lolminer", "nbminer", "srbminer-multi", "phoenixminer", "ethminer",
          "cpuminer", "cpuminer-opt", "gminer", "teamredminer", "nanominer", "bzminer", "rigel", "cgminer", "bfgminer")


def read_tsv(name: str) -> list[dict[str, str]]:
    with open(DATA / "host" / name, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def processes(rows: list[dict[str, Any]]) -> pa.Table:
    out = []
    for i, r in enumerate(rows):
        image = r.get("image") or ""
        out.append({"ts": T0 + i, "host": r.get("host", f"host{i}"), "event": "sysmon:1", "pid": 1000 + i,
                    "ppid": 1, "user": r.get("user", "alice"), "image": image or None,
                    "name": PurePath(image.replace("\\", "/")).name.lower() or None,
                    "command_line": r.get("command_line"), "parent_image": r.get("parent_image") or None,
                    "original_name": r.get("original_name"), "input": r.get("input", "sysmon.evtx")})
    return table(PROCESSES, out)


def hits_by_row(matches: list[sigma.SigmaMatch]) -> dict[int, set[str]]:
    """Rule file names (without .yml) that matched each row, by pid − 1000."""
    paths = {r.id: PurePath(r.path).stem for r in sigma.load_rules().rules}
    out: dict[int, set[str]] = {}
    for m in matches:
        out.setdefault((m.pid or 0) - 1000, set()).add(paths[m.rule_id])
    return out


# --- the rules themselves -----------------------------------------------------------------------------------

def test_bundled_rules_compile_and_the_one_that_cannot_run_says_why() -> None:
    rules = sigma.load_rules()
    titles = {r.title for r in rules.rules}
    assert {"Potential Crypto Mining Activity", "Linux Crypto Mining Indicators",
            "Possible Coin Miner CPU Priority Param", "Network Communication With Crypto Mining Pool",
            "Linux Crypto Mining Pool Connections",
            "Remove Scheduled Cron Task/Job", "Blue Mockingbird", "Blue Mockingbird - Registry"} <= titles
    assert Counter(r.source for r in rules.rules) == {"sigmahq": 9, "minescope": 8}
    skipped = {s.title: s.reason for s in sigma.skipped(rules)}
    assert list(skipped) == ["Vulnerable WinRing0 Driver Load"]
    assert skipped["Vulnerable WinRing0 Driver Load"].startswith("log source driver_load: driver loads (Sysmon 6)")
    for r in rules.rules:  # one SQL text: no engine's escaping inside literals
        assert "\\" not in r.condition and '"' not in r.condition
        assert set(re.findall(r"\{(\w+)\}", r.condition)) <= {"startswith", "endswith", "regexp"}


def test_own_rules_carry_every_sigma_field() -> None:
    folder = data_path("host", "rules")
    files = sorted(folder.glob("*.yml"))
    assert len(files) == 8
    for path in files:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert uuid.UUID(doc["id"]) and doc["author"] == "minescope", path.name
        for key in ("title", "status", "description", "references", "level", "logsource", "detection",
                    "falsepositives"):
            assert doc.get(key), f"{path.name}: {key}"
        assert all(str(u).startswith("https://") for u in doc["references"])


def test_sigmahq_rules_ship_verbatim_with_their_licence() -> None:
    import hashlib

    root = data_path("host")
    rows = list(csv.DictReader((root / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t"))
    assert {r["file"] for r in rows} >= {"sigma-LICENSE", "DRL-1.1-LICENSE"}
    for r in rows:
        assert hashlib.sha256((root / r["file"]).read_bytes()).hexdigest() == r["sha256"], r["file"]
    shipped = {p.relative_to(root).as_posix() for p in (root / "sigma").rglob("*.yml")}
    assert shipped == {r["file"] for r in rows if r["file"].endswith(".yml")}
    assert "Detection Rule License" in (root / "DRL-1.1-LICENSE").read_text(encoding="utf-8")


def test_rules_that_need_missing_fields_are_listed_not_dropped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "integrity.yml").write_text(
        "title: Miner At High Integrity\nid: 0b7c1a52-3f55-4a55-9a44-5b2f0c1d0e01\nlogsource:\n"
        "    category: process_creation\n    product: windows\ndetection:\n    selection:\n"
        "        Image|endswith: '\\xmrig.exe'\n        IntegrityLevel: High\n    condition: selection\nlevel: high\n",
        encoding="utf-8")
    (tmp_path / "keywords.yml").write_text(
        "title: Keyword Miner\nid: 0b7c1a52-3f55-4a55-9a44-5b2f0c1d0e02\nlogsource:\n    product: linux\n"
        "    service: syslog\ndetection:\n    keywords:\n        - xmrig\n    condition: keywords\nlevel: high\n",
        encoding="utf-8")
    (tmp_path / "mine.yml").write_text(
        "title: Our Miner Wrapper\nid: 0b7c1a52-3f55-4a55-9a44-5b2f0c1d0e03\nlogsource:\n"
        "    category: process_creation\ndetection:\n    selection:\n        CommandLine|contains|all:\n"
        "            - 'minewrap'\n            - \"--it's\"\n    condition: selection\nlevel: high\n",
        encoding="utf-8")
    monkeypatch.setenv("MINESCOPE_SIGMA_RULES", str(tmp_path))
    rules = sigma.load_rules()
    reasons = {s.title: s.reason for s in rules.skipped}
    assert reasons["Miner At High Integrity"] == "field IntegrityLevel is not in the processes table (process_creation)"
    assert reasons["Keyword Miner"] == "log source linux/syslog: no host table holds it"
    mine = [r for r in rules.rules if r.title == "Our Miner Wrapper"]
    assert mine and mine[0].source == tmp_path.name
    found = sigma.match_tables({"processes": processes([{"image": "/usr/bin/minewrap",
                                                           "command_line": "minewrap --it's on"}])}, rules=rules)
    assert [m.title for m in found] == ["Our Miner Wrapper"]
    monkeypatch.setenv("MINESCOPE_SIGMA_RULES", str(tmp_path / "absent"))
    with pytest.raises(Exception, match="does not exist"):
        sigma.load_rules()


# --- positives -----------------------------------------------------------------------------------------------

def test_every_documented_miner_command_line_is_matched_by_its_rule() -> None:
    rows = read_tsv("miner_command_lines.tsv")
    per_miner = Counter(r["miner"] for r in rows)
    assert set(per_miner) == set(MINERS) and min(per_miner.values()) >= 3
    assert {r["platform"] for r in rows} == {"windows", "linux"}
    hits = hits_by_row(sigma.match_tables({"processes": processes(rows)}))
    missed = [(i, r["rule"], r["command_line"]) for i, r in enumerate(rows) if r["rule"] not in hits.get(i, set())]
    assert missed == []


def test_a_renamed_miner_is_known_by_its_original_name() -> None:
    rows = [{"image": r"C:\Windows\Temp\svchost.exe", "original_name": "xmrig.exe",
             "command_line": r"C:\Windows\Temp\svchost.exe"},
            {"image": r"C:\Tools\xmrig.exe", "original_name": "xmrig.exe", "command_line": r"C:\Tools\xmrig.exe"},
            {"image": r"C:\Windows\System32\svchost.exe", "original_name": "svchost.exe",
             "command_line": r"C:\Windows\System32\svchost.exe -k netsvcs"}]
    hits = hits_by_row(sigma.match_tables({"processes": processes(rows)}))
    assert hits[0] == {"proc_creation_miner_renamed"}
    assert hits[1] == {"proc_creation_miner_image_no_pool_args"}  # named as it is: the name rule, not this one
    assert 2 not in hits


def test_auditd_arguments_match_on_the_whole_command_line() -> None:
    rows = [{"image": "/usr/bin/kthreadd", "command_line": "/usr/bin/kthreadd --cpu-priority=5 -B"}]
    titles = {m.title for m in sigma.match_tables({"processes": processes(rows)})}
    assert titles == {"Possible Coin Miner CPU Priority Param", "Potential Crypto Mining Activity",
                      "Linux Crypto Mining Indicators", "Options Only Coin Miners Take"}


def connections(rows: list[tuple[str, int, str]]) -> pa.Table:
    return table(CONNECTIONS, [{"ts": T0 + i, "host": "web01", "event": "sysmon:3", "pid": 4000 + i,
                                "image": image, "name": PurePath(image).name, "user": "www-data", "proto": "tcp",
                                "local_ip": "10.0.0.5", "local_port": 40000 + i, "remote_ip": "198.51.100.7",
                                "remote_port": port, "remote_name": name, "input": "sysmon.json"}
                               for i, (name, port, image) in enumerate(rows)])


def test_connections_to_pool_names_on_stratum_ports() -> None:
    rows = [("xmr-eu1.nanopool.org", 14444, "/tmp/.x/kworker"),  # listed by SigmaHQ, and pool-like on 14444
            ("gulf.moneroocean.stream", 10128, "/tmp/.x/kworker"),  # a brand on a pool port
            ("pool.ntp.org", 123, "/usr/sbin/ntpd"),  # pool word, no pool port
            ("db-pool.internal", 5432, "/usr/bin/psql"),  # pool word, PostgreSQL's port
            ("threadpool.example.com", 3333, "/usr/bin/java"),  # "pool" inside a word, on 3333
            ("grafana.example.com", 3333, "/usr/bin/curl")]  # a pool port, no pool word
    found = sigma.match_tables({"connections": connections(rows)})
    by_pid: dict[int, set[str]] = {}
    for m in found:
        by_pid.setdefault((m.pid or 0) - 4000, set()).add(m.title)
    assert by_pid == {
        0: {"Linux Crypto Mining Pool Connections", "Monero Crypto Coin Mining Pool Lookup",
            "Network Communication With Crypto Mining Pool", "Connection To A Pool-Like Name On A Stratum Port"},
        1: {"Network Communication With Crypto Mining Pool", "Connection To A Pool-Like Name On A Stratum Port"}}
    assert {(m.remote_name, m.remote_port) for m in found} == {("xmr-eu1.nanopool.org", 14444),
                                                                ("gulf.moneroocean.stream", 10128)}


def test_persistence_that_starts_a_miner() -> None:
    rows = [{"ts": T0, "host": "db02", "event": "check:cron", "kind": "cron", "name": "root",
             "location": "/var/spool/cron/crontabs/root", "command": "*/5 * * * * /tmp/.x/xmrig -c /tmp/.x/c.json",
             "user": "root"},
            {"ts": T0, "host": "db02", "event": "check:cron", "kind": "cron", "name": "root",
             "location": "/etc/cron.daily/logrotate", "command": "/usr/sbin/logrotate /etc/logrotate.conf",
             "user": "root"},
            {"ts": T0, "host": "pc7", "event": "sysmon:13", "kind": "service", "name": "ServiceDll",
             "location": r"HKLM\System\CurrentControlSet\Services\wercplsupport\Parameters",
             "command": r"c:\windows\System32\wercplsupporte.dll", "user": "SYSTEM"}]
    tables = {"persistence": table(PERSISTENCE, rows)}
    assert {(m.host, m.title) for m in sigma.match_tables(tables)} == {
        ("db02", "Persistence Entry Starts A Coin Miner"), ("pc7", "Blue Mockingbird - Registry")}
    found = sigma.detect(tables)
    assert [(f.kind, f.subject.value) for f in found] == [("miner_persistence", "db02"), ("miner_persistence", "pc7")]


# --- negatives -----------------------------------------------------------------------------------------------

# Realistic lines that mention pools, miners, stratum or wallets outside mining. None may match: each names a
# word a careless rule would take (the reason is beside it).
HARD_NEGATIVES = [
    ("/usr/bin/git", "git clone https://github.com/xmrig/xmrig"),  # the miner's source, not a miner
    ("/usr/bin/wget", "wget https://github.com/xmrig/xmrig/releases/download/v6.21.0/xmrig-6.21.0-linux-x64.tar.gz"),
    ("/usr/bin/mysqld", "mysqld --thread-pool-size=16 --pool-of-threads"),  # thread pools
    ("/usr/bin/python3", "python3 -m pool_manager --pool main --workers 8"),
    ("/usr/sbin/zpool", "zpool status tank"),  # ZFS storage pools
    ("/usr/bin/ceph", "ceph osd pool create rbd 128"),
    ("/usr/bin/curl", "curl -o /tmp/pool.json -u admin:secret https://pool.example.com/api/pools"),  # -o and -u
    ("/usr/bin/curl", "curl -s -o wallet.html -u user:pw https://wallet.example.org/"),
    ("/usr/bin/ssh", "ssh -a -o ServerAliveInterval=60 -p 2222 admin@bastion.example.com"),
    ("/bin/cp", "cp -a cn/ /srv/www/locale/cn/"),  # -a with a folder named like an algorithm's prefix
    ("/usr/bin/cksum", "cksum -a sha256 --check SHA256SUMS"),  # -a with a hash name
    ("/usr/bin/shasum", "shasum -a 256 xmrig-6.21.0-linux-x64.tar.gz"),
    ("/usr/bin/docker", "docker pull ghcr.io/example/stratum-gateway:latest"),  # a product named stratum
    ("/usr/bin/apt-get", "apt-get install -y minetest-server"),  # a game that mines blocks
    ("/usr/bin/python3", "python3 manage.py runserver 0.0.0.0:3333"),  # a pool port, nothing else
    (r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
     "powershell.exe Get-Process | Where-Object { $_.ProcessName -like '*miner*' } | Stop-Process"),  # a hunt
    (r"C:\Program Files\Google\Chrome\Application\chrome.exe",
     '"chrome.exe" --type=gpu-process --disable-gpu-sandbox --algorithm-pool-size=4'),
    ("/usr/bin/make", "make -C /usr/src/xmrig/build -j8"),  # building a miner is not running one
    ("/usr/bin/gcc", "gcc -O2 -c pool.c -o pool.o"),  # SigmaHQ's own filter case
    ("/usr/bin/java", "java -Dpool.size=4 -jar minecraft_server.jar --nogui"),
    ("/usr/bin/openssl", "openssl enc -a -d -in wallet.b64 -out wallet.dat"),
]


# Lines that look harmless at first and must match, and which rule says so.
HARD_POSITIVES = [
    ("/bin/bash", 'bash -c "cd /tmp/.ICE-unix && ./kdevtmpfsi -o stratum+tcp://45.9.148.125:443 -u 48edfHu7V9Z84Yzz"',
     "Mining Pool URL On A Command Line"),  # a renamed miner behind a shell: the URL gives it away
    (r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
     "powershell.exe -nop -w hidden -c $a='LS1kb25hdGUtbGV2ZWw9MQ=='; iex $a",
     "Potential Crypto Mining Activity"),  # base64 of --donate-level=, SigmaHQ's own variant
    ("/usr/bin/docker", "docker run -d --restart always metal3d/xmrig -o pool.supportxmr.com:443 -u 48edf --tls",
     "Linux Crypto Mining Indicators"),  # a miner in a container: its arguments are on the docker line
    ("/usr/bin/nohup", "nohup /var/tmp/.font/systemd-helper --algo rx/0 --url xmr.2miners.com:2222 --user 48edf",
     "Coin Miner Algorithm Or Coin Option"),  # renamed, detached: the algorithm names it
]


def test_hard_positives_match_the_rule_that_names_them() -> None:
    rows = [{"image": image, "command_line": line} for image, line, _ in HARD_POSITIVES]
    found = sigma.match_tables({"processes": processes(rows)})
    titles: dict[int, set[str]] = {}
    for m in found:
        titles.setdefault((m.pid or 0) - 1000, set()).add(m.title)
    for i, (_, line, title) in enumerate(HARD_POSITIVES):
        assert title in titles.get(i, set()), line


def test_no_rule_matches_benign_command_lines() -> None:
    benign = read_tsv("benign_command_lines.tsv")
    assert len(benign) > 500 and {r["licence"] for r in benign} == {"DRL-1.1", "MIT"}
    rows = [{"image": r["image"], "parent_image": r["parent_image"], "command_line": r["command_line"]} for r in benign]
    rows += [{"image": image, "command_line": line} for image, line in HARD_NEGATIVES]
    found = sigma.match_tables({"processes": processes(rows)})
    assert [(m.title, m.command_line) for m in found] == []


# --- findings ------------------------------------------------------------------------------------------------

def test_one_finding_per_process_with_every_rule_pool_and_wallet() -> None:
    xmr = "48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGzKt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZijBGUicoD"
    line = f"/tmp/.x/xmrig -o stratum+tcp://pool.supportxmr.com:3333 -u {xmr}.rig7 --donate-level=0 -a rx/0"
    rows = [{"host": "web01", "image": "/tmp/.x/xmrig", "command_line": line, "user": "www-data"}] * 3
    rows += [{"host": "web01", "image": "/usr/bin/crontab", "command_line": "crontab -r"}]  # medium alone: no finding
    found = sigma.detect({"processes": processes(rows)})
    assert len(found) == 1
    f = found[0]
    assert f.kind == "miner_process" and f.subject.type == SubjectType.HOST and f.subject.value == "web01"
    assert f.first_seen == T0 and f.last_seen == T0 + 2
    rules = {e.detail["title"] for e in f.evidence if e.type == "sigma_rule"}
    assert rules == {"Potential Crypto Mining Activity", "Linux Crypto Mining Indicators",
                     "Mining Pool URL On A Command Line", "Options Only Coin Miners Take",
                     "Coin Miner Algorithm Or Coin Option", "Coin Miner Executable Started With Pool Or Wallet Options"}
    assert {e.detail["rule_source"] for e in f.evidence if e.type == "sigma_rule"} == {"sigmahq", "minescope"}
    args = next(e for e in f.evidence if e.type == "miner_arguments").detail
    assert (args["pool"], args["wallet"], args["worker"], args["algorithm"]) == (
        "pool.supportxmr.com:3333", xmr, "rig7", "rx/0")
    assert f.mining is not None and f.mining.wallet == xmr and f.mining.pool_host == "pool.supportxmr.com"
    assert any("pool.supportxmr.com:3333" in r.en for r in f.reasons) and all(r.zh for r in f.reasons)
    assert sigma.detect({"processes": processes(rows)})[0].id == f.id  # the same finding on a rescan


@pytest.mark.parametrize(("line", "pool", "wallet", "login"), [
    ("ethminer -P stratum1+tcp://0x5a3c1e8b8f0b7a4bfd3f3c2a1e9d8c7b6a5f4e3d.w1@eth-eu1.nanopool.org:9999",
     "eth-eu1.nanopool.org:9999", "0x5a3c1e8b8f0b7a4bfd3f3c2a1e9d8c7b6a5f4e3d", None),
    ("PhoenixMiner.exe -epool eu1.ethermine.org:4444 -ewal 0x5a3c1e8b8f0b7a4bfd3f3c2a1e9d8c7b6a5f4e3d.Rig001",
     "eu1.ethermine.org:4444", "0x5a3c1e8b8f0b7a4bfd3f3c2a1e9d8c7b6a5f4e3d", None),
    ("minerd --url=stratum+tcp://litecoinpool.org:3333 --userpass=user.worker:pass", "litecoinpool.org:3333",
     None, "user.worker"),
    ('"C:\\x\\rigel.exe" -a kheavyhash -o [1]stratum+tcp://pool.woolypooly.com:3112 -u kaspa:qr0l -w rig',
     "pool.woolypooly.com:3112", None, "kaspa:qr0l"),
    ("./xmrig -c config.json", None, None, None),
])
def test_pool_and_wallet_from_the_command_line(line: str, pool: str | None, wallet: str | None,
                                               login: str | None) -> None:
    args = sigma.parse_miner_args(line)
    assert args.pool == pool and args.wallet == wallet
    if login is not None:
        assert args.login == login


# --- the same on Spark -------------------------------------------------------------------------------------

@pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark is not installed")
def test_spark_gives_the_same_matches(spark: Any) -> None:
    from minescope.engines.sql import SparkEngine

    rows = read_tsv("miner_command_lines.tsv") + read_tsv("benign_command_lines.tsv")[::5]
    rows += [{"image": r"C:\Windows\Temp\svchost.exe", "original_name": "xmrig.exe", "command_line": "svchost.exe"},
             {"image": "/usr/bin/crontab", "command_line": "crontab -r"},
             {"image": "/usr/bin/minewrap", "command_line": "minewrap --it's {braced} \\back"}]
    tables = {"processes": processes(rows),
              "connections": connections([("xmr-eu1.nanopool.org", 14444, "/tmp/x"), ("pool.ntp.org", 123, "/x")]),
              "persistence": table(PERSISTENCE, [{"ts": T0, "host": "h", "event": "check:cron", "kind": "cron",
                                                  "name": "root", "location": "/var/spool/cron/crontabs/root",
                                                  "command": "@reboot /opt/xmrig/xmrig", "user": "root"}])}
    duckdb, sparkengine = DuckDBEngine(), SparkEngine(spark)
    try:
        duck = sigma.match_tables(tables, duckdb)
        sparked = sigma.match_tables(tables, sparkengine)
    finally:
        duckdb.close()
        sparkengine.close()
    assert len(duck) > 150
    assert sparked == duck

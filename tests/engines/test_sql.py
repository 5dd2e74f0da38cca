"""One detector definition, two engines; flow datasets read incrementally.

DuckDB and Spark (local[2]) run the same SQL on the same data and must give the same findings,
field by field. Datasets (``minescope flows import``) are scanned once per file: a second scan
reads nothing, an import of new logs is read alone, and DNS answers from older partitions still
explain the new flows.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner

from helpers import FLOWLOGS as DATA
from helpers import MINING_PCAP, ROOT, STRATUM_PCAP, capture_tables, sni_logs, table
from minescope.cli import main
from minescope.dimensions.network.detectors.flowlog import FlowLogDetector, detect_tables
from minescope.dimensions.network.readers.dataset import DatasetWriter, FlowDataset, select_files
from minescope.dimensions.network.readers.inputs import read_flow_log
from minescope.dimensions.network.tables import DNS, FLOWS
from minescope.engines.sql import DuckDBEngine, SparkEngine
from minescope.knowledge.pools import PoolIntel
from minescope.model import Finding

pyspark = pytest.importorskip("pyspark")

T0 = 1_795_000_000.0  # 2026-11-18 11:06:40 UTC
HOUR = 3600.0


@pytest.fixture(scope="module")
def intel() -> PoolIntel:
    return PoolIntel.load(user_feeds=False)


def as_data(findings: list[Finding]) -> list[dict[str, Any]]:
    return sorted((f.to_dict() for f in findings), key=lambda d: d["id"])


def pool_session(client: str, first: float, n: int, *, pool: str = "203.0.113.7", port: int = 3333) -> list[dict]:
    """A miner's connection, logged as one record per 5 minutes."""
    return [{"ts": first + 300 * i, "src_ip": client, "src_port": 40000, "dst_ip": pool, "dst_port": port,
             "proto": 6, "duration_s": 299.5, "src_packets": 12, "src_bytes": 1900, "dst_packets": 10,
             "dst_bytes": 2600, "source": "ipfix", "input": "udp://192.0.2.1:4739"} for i in range(n)]


def pool_answer(client: str, when: float, ttl: float = 300.0) -> dict:
    return {"ts": when, "client_ip": client, "resolver_ip": "10.0.0.53", "query": "la01.supportxmr.com",
            "rcode": "NOERROR", "answers": ["203.0.113.7"], "ttls": [ttl], "source": "zeek_dns",
            "input": "dns.log"}


def mixed_tables() -> list[tuple[str, pa.Table]]:
    """Pool contacts by every rule: passive DNS, SNI (Zeek name rows), DNS askers; and benign logs."""
    flows = table(FLOWS, pool_session("10.2.2.2", T0 + 10, 30) + pool_session("10.4.4.4", T0 + 20, 3, port=443))
    dns = table(DNS, [pool_answer("10.2.2.2", T0), pool_answer("10.4.4.4", T0 + 5)])
    out = [("flows", flows), ("dns", dns)]
    for path in sorted((DATA / "zeek").iterdir())[:4]:
        log = read_flow_log(path)
        out += [("flows", log["flows"]), ("dns", log["dns"])]
    return out


def test_duckdb_and_spark_give_identical_findings(intel: PoolIntel, spark: Any, tmp_path: Path) -> None:
    sni = []
    for path in sni_logs(tmp_path):
        log = read_flow_log(path)
        sni += [("flows", log["flows"]), ("dns", log["dns"])]
    cases = {"stratum capture": capture_tables(STRATUM_PCAP, intel),
             "mining capture": capture_tables(MINING_PCAP, intel), "rules": mixed_tables(), "sni": sni}
    found_any = 0
    for name, tables in cases.items():
        duck = as_data(detect_tables(intel, tables, DuckDBEngine()))
        sparked = as_data(detect_tables(intel, tables, SparkEngine(spark)))
        assert duck == sparked, name
        found_any += len(duck)
    assert found_any >= 5  # the comparison is about findings, not two empty lists


def on_both_engines(intel: PoolIntel, spark: Any, dataset: FlowDataset) -> list[list[dict[str, Any]]]:
    """The findings of the dataset's files on DuckDB, then on Spark."""
    chosen = select_files(dataset)
    results = []
    for engine in (DuckDBEngine(), SparkEngine(spark)):
        det = FlowLogDetector(intel, engine)
        det.add_parquet("flows", [f.path for f in chosen.flows])
        det.add_parquet("dns", [f.path for f in chosen.dns])
        try:
            results.append(as_data(det.run()))
        finally:
            det.close()
    return results


def write_dataset(root: Path, tables: list[tuple[str, pa.Table]]) -> DatasetWriter:
    writer = DatasetWriter(root, "hour")
    for name, data in tables:
        writer.write(name, data)
    writer.close()
    return writer


def test_dataset_partitions_by_hour_and_both_engines_agree(intel: PoolIntel, spark: Any, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    writer = write_dataset(root, mixed_tables())
    dataset = FlowDataset(root)
    hours = {f.rel.split("/")[2] for f in dataset.files("flows") if "2026-11-18" in f.rel}
    assert hours == {"hour=11", "hour=12", "hour=13"}  # 30 records, 5 min apart, 11:06:50 to 13:31:50
    assert writer.rows["flows"] == sum(t.num_rows for n, t in mixed_tables() if n == "flows")
    results = on_both_engines(intel, spark, dataset)
    assert results[0] == results[1]
    # the same findings as from the tables themselves
    assert results[0] == as_data(detect_tables(intel, mixed_tables()))
    subjects = {(d["subject_ip"], d["peer"]["ip"], d["peer"]["port"]) for d in results[0]}
    assert ("10.2.2.2", "203.0.113.7", 3333) in subjects and ("10.4.4.4", "203.0.113.7", 443) in subjects


def scan_json(args: list[str]) -> tuple[int, dict[str, Any], str]:
    res = CliRunner().invoke(main, ["scan", "--format", "json", *args])
    data = json.loads(res.stdout) if res.stdout.strip().startswith("{") else {}
    return res.exit_code, data, res.stderr


def test_incremental_scan_reads_new_files_only(tmp_path: Path) -> None:
    root, db = tmp_path / "ds", str(tmp_path / "store.db")
    # hour 1: the DNS answer and the first records; scanned
    write_dataset(root, [("dns", table(DNS, [pool_answer("10.2.2.2", T0)])),
                         ("flows", table(FLOWS, pool_session("10.2.2.2", T0 + 60, 2)))])
    code, first, err = scan_json([str(root), "--db", db])
    assert code == 0, err
    assert [(f["subject_ip"], f["peer"]["port"]) for f in first["findings"]] == [
        ("10.2.2.2", 3333), ("10.2.2.2", 53)]  # the session and the asking host
    assert "read 2 file(s), skipped 0" in CliRunner().invoke(
        main, ["scan", str(root), "--no-store", "--format", "json", "--lang", "en"]).stderr
    # nothing new: nothing read, nothing found
    code, again, err = scan_json([str(root), "--db", db, "--lang", "en"])
    assert code == 0 and again["findings"] == [] and "read 0 file(s), skipped 2" in err
    # the next hour arrives: its flows are explained by the older partition's answer (context),
    # whose question is not reported twice
    write_dataset(root, [("flows", table(FLOWS, pool_session("10.2.2.2", T0 + HOUR, 2)))])
    code, later, err = scan_json([str(root), "--db", db, "--lang", "en"])
    assert code == 0 and "read 1 file(s), skipped 2" in err
    (f,) = later["findings"]
    assert f["peer"]["host"] == "la01.supportxmr.com" and f["flows"][0]["first_seen"] == T0 + HOUR
    # --all-partitions reads everything again
    code, full, err = scan_json([str(root), "--db", db, "--all-partitions", "--lang", "en"])
    assert "read 3 file(s)" in err and len(full["findings"]) == 2


def test_dns_context_window(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    for day_offset in (0, 1, 3):  # DNS on three days; flows only on day 3
        write_dataset(root, [("dns", table(DNS, [pool_answer("10.2.2.2", T0 + day_offset * 86400)]))])
    seen = {f.key for f in FlowDataset(root).files("dns")}
    write_dataset(root, [("flows", table(FLOWS, pool_session("10.2.2.2", T0 + 3 * 86400 + 60, 1)))])
    chosen = select_files(FlowDataset(root), seen)
    assert len(chosen.flows) == 1 and chosen.dns == []
    # day 3's answer and day 2's hour that lies within a day before the flows; not day 0
    assert [f.rel.split("/")[1] for f in chosen.dns_context] == ["day=2026-11-21"]


def test_import_rejects_what_it_cannot_import(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    res = CliRunner().invoke(main, ["flows", "import", str(tmp_path / "nope.log"),
                                    str(DATA / "zeek" / "zat-conn.log"), "-o", str(root), "--lang", "en"])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert any("no such file" in line for line in lines)
    assert "Traceback" not in res.output + res.stderr
    assert FlowDataset(root).files("flows")  # the good log was still imported
    again = CliRunner().invoke(main, ["flows", "import", str(root), "-o", str(tmp_path / "other"), "--lang", "en"])
    assert again.exit_code == 2 and "already a dataset" in again.stderr


def test_captures_and_logs_in_one_dataset(intel: PoolIntel, tmp_path: Path) -> None:
    """A capture's flows and DNS answers join the dataset beside the logs: scanning it finds the
    coinhive capture's pool contact by passive DNS, as the capture's own tables do."""
    root = tmp_path / "ds"
    res = CliRunner().invoke(main, ["flows", "import", str(STRATUM_PCAP), str(DATA / "zeek" / "zat-conn.log"),
                                    "-o", str(root)])
    assert res.exit_code == 0, res.stderr
    code, data, err = scan_json([str(root), "--no-store", "--no-behaviour"])
    assert code == 0, err
    expected = detect_tables(intel, capture_tables(STRATUM_PCAP, intel), behaviour=False)
    assert {(f["subject_ip"], f["peer"]["ip"], f["peer"]["port"]) for f in data["findings"]} == {
        (f.subject_ip, f.peer.ip, f.peer.port) for f in expected} >= {("10.0.2.15", "192.110.160.114", 3333)}


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_scan_command_with_either_engine(engine: str, spark: Any, tmp_path: Path) -> None:
    root = tmp_path / "ds"
    write_dataset(root, mixed_tables())
    code, data, err = scan_json([str(root), "--no-store", "--engine", engine])
    assert code == 0, err
    assert {(f["subject_ip"], f["peer"]["port"]) for f in data["findings"]} >= {("10.2.2.2", 3333),
                                                                              ("10.4.4.4", 443)}


def test_generated_carrier_dataset_same_findings_on_both_engines(spark: Any, tmp_path: Path) -> None:
    """benchmarks/flowgen.py data (planted sessions among background, decoys): both engines find every
    planted listed and passive-DNS session, no decoy, nothing else (list detectors), and agree field by
    field (behaviour leads included)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import flow_scale
    import flowgen

    root = tmp_path / "carrier"
    truth = flowgen.generate(root, 60_000, seed=5, hours=3, planted=40, progress=False)
    intel = PoolIntel.load([root / "feeds"], user_feeds=False)
    results = on_both_engines(intel, spark, FlowDataset(root))
    assert results[0] == results[1]
    # the list detectors against the truth (the behaviour model's leads may include the keep-alive decoys)
    score = flow_scale.score([d for d in results[0] if d["kind"] != "mining_behaviour_suspect"], truth)
    assert score["listed"]["found"] == score["listed"]["planted"] > 0
    assert score["pdns"]["found"] == score["pdns"]["planted"] > 0
    assert score["decoys"]["found"] == 0 and score["unexplained"] == 0


def test_behaviour_leads_can_be_left_out(tmp_path: Path) -> None:
    """A pool-like session to an unlisted address is a behaviour lead, unless --no-behaviour."""
    root = tmp_path / "ds"
    write_dataset(root, [("flows", table(FLOWS, pool_session("10.7.7.7", T0, 12, pool="198.51.100.77")))])
    _, with_leads, _ = scan_json([str(root), "--no-store"])
    assert [(f["kind"], f["subject_ip"]) for f in with_leads["findings"]] == [
        ("mining_behaviour_suspect", "10.7.7.7")]
    _, without, _ = scan_json([str(root), "--no-store", "--no-behaviour"])
    assert without["findings"] == []


def test_unreadable_dataset_file_is_reported_and_skipped(tmp_path: Path) -> None:
    root, db = tmp_path / "ds", str(tmp_path / "store.db")
    write_dataset(root, [("dns", table(DNS, [pool_answer("10.2.2.2", T0)])),
                         ("flows", table(FLOWS, pool_session("10.2.2.2", T0 + 60, 2)))])
    broken = root / "flows" / "day=2026-11-18" / "hour=11" / "part-broken.parquet"
    broken.write_bytes(b"PAR1 not really parquet")
    res = CliRunner().invoke(main, ["scan", str(root), "--db", db, "--format", "json", "--lang", "en"])
    assert res.exit_code == 2 and "Traceback" not in res.stderr
    assert "part-broken.parquet: not a readable Parquet file" in res.stderr
    data = json.loads(res.stdout)
    assert ("10.2.2.2", 3333) in {(f["subject_ip"], f["peer"]["port"]) for f in data["findings"]}
    # the broken file was not marked as scanned: replaced by a good one, it is read next time
    broken.unlink()
    write_dataset(root, [("flows", table(FLOWS, pool_session("10.2.2.2", T0 + HOUR, 1)))])
    code, later, err = scan_json([str(root), "--db", db, "--lang", "en"])
    assert code == 0 and "read 1 file(s)" in err
    assert [f["peer"]["port"] for f in later["findings"]] == [3333]  # explained by the older answer

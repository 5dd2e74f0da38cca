"""``minescope scan`` reads endpoint logs and host-check reports beside captures and flow logs (by content) and
runs the host detectors over them: nothing on real background logs, the miners of the synthetic logs found."""

from __future__ import annotations

from pathlib import Path

from helpers import DATA, MINING_PCAP
from minescope.dimensions.host.kinds import MINER_PROCESS, MINING_HOST
from minescope.model import Dimension
from minescope.pipeline import Scanner, split_inputs

HOST = DATA / "host"
BACKGROUND = [HOST / "evtx-attack-samples", HOST / "otrf", HOST / "sigma"]


def test_real_endpoint_logs_make_no_host_finding() -> None:
    result = Scanner().scan(BACKGROUND)
    formats = {i.format for i in result.inputs}
    assert {"evtx", "sysmon-json"} <= formats and all(i.problem is None for i in result.inputs)
    assert [f for f in result.findings if f.dimension == Dimension.HOST] == []


def test_endpoint_logs_are_routed_by_content_beside_captures() -> None:
    split = split_inputs([HOST, MINING_PCAP])
    assert split.captures == [MINING_PCAP]
    assert len(split.host_logs) == 12 and not split.logs  # the TSV test tables are not flow logs
    result = Scanner().scan([HOST / "auditd", HOST / "osquery", MINING_PCAP])
    hosts = {(f.kind, f.subject.value) for f in result.findings if f.dimension == Dimension.HOST}
    # the auditd log names no machine: its findings are the file's; osquery names build-server-07
    assert hosts == {(MINER_PROCESS, "(audit.log)"), (MINING_HOST, "(audit.log)"),
                     (MINER_PROCESS, "build-server-07"), (MINING_HOST, "build-server-07")}
    assert any(f.kind == "mining_session" for f in result.findings)  # the capture's, in the same scan
    process = next(f for f in result.findings if f.kind == MINER_PROCESS and f.subject.value == "build-server-07")
    assert process.mining is not None and process.mining.pool_host and process.source == "osqueryd.results.log"
    assert Path(process.source).suffix == ".log"


def test_a_process_connected_to_a_listed_pool_is_a_miner_process() -> None:
    import pyarrow as pa

    from minescope.dimensions.host.detectors.facts import connection_findings
    from minescope.dimensions.host.tables import CONNECTIONS
    from minescope.knowledge.pools import PoolIntel

    def row(name: str | None, ip: str, port: int, image: str) -> dict[str, object]:
        return {"ts": 1_700_000_000.0, "host": "pc-1", "event": "sysmon:3", "pid": 7, "image": image,
                "remote_name": name, "remote_ip": ip, "remote_port": port, "source": "evtx", "input": "s.evtx"}

    rows = [row("pool.supportxmr.com", "203.0.113.5", 3333, "C:\\\\x\\\\svc.exe")] * 3 + [
        row("www.example.com", "198.51.100.1", 443, "C:\\\\b\\\\browser.exe"), row(None, "198.51.100.2", 53, "dns")]
    table = pa.Table.from_pylist(rows).select([n for n in CONNECTIONS.names if n in rows[0]])
    found = connection_findings(table, PoolIntel.load(), "s.evtx")
    assert [(f.kind, f.subject.value) for f in found] == [(MINER_PROCESS, "pc-1")]
    assert found[0].evidence[0].detail["connections"] == 3 and found[0].source == "s.evtx"

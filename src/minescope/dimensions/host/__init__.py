"""The host dimension (主机): endpoints: process, network-by-process, file, persistence and resource evidence from
EVTX, Sysmon, auditd, osquery and live checks.

    readers/     EVTX (Sysmon, Security 4688), Sysmon/Winlogbeat JSON, auditd, osquery, host-check reports
    tables.py    the processes, connections, files, persistence and resources tables
    detectors/   Sigma rules compiled to SQL (any engine), YARA and hash lists over files
    kinds.py     miner_process, miner_binary, miner_persistence, mining_host
"""

from minescope.dimensions.host.kinds import KINDS
from minescope.registry import Plugin, TableSpec

_TABLES = "minescope.dimensions.host.tables"

PLUGIN = Plugin(
    name="host", dimension="host", kinds=KINDS,
    doc="endpoint logs and live checks: processes, their connections, files, persistence, resources",
    tables=(
        TableSpec("processes", "host", f"{_TABLES}:PROCESSES", "one row per process start or running process"),
        TableSpec("connections", "host", f"{_TABLES}:CONNECTIONS",
                  "network connections and name look-ups by process"),
        TableSpec("files", "host", f"{_TABLES}:FILES", "files seen, with hashes and YARA/hash-list matches"),
        TableSpec("persistence", "host", f"{_TABLES}:PERSISTENCE",
                  "what starts a program again: cron, systemd, Run keys, services, tasks, WMI"),
        TableSpec("resources", "host", f"{_TABLES}:RESOURCES", "load and tuning samples of a checked machine"),
    ),
)

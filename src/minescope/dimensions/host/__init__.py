"""The host dimension (主机): endpoints: process, network-by-process, file, persistence and resource evidence from
EVTX, Sysmon, auditd, osquery and live checks.

    readers/     EVTX (Sysmon, Security 4688), Sysmon/Winlogbeat JSON, auditd, osquery, host-check reports
    tables.py    the processes, connections, files, persistence and resources tables
    detectors/   Sigma rules compiled to SQL (any engine), YARA and hash lists over files
    kinds.py     miner_process, miner_binary, miner_persistence, mining_host
"""

from minescope.dimensions.host.kinds import KINDS, MINER_BINARY, MINER_PERSISTENCE, MINER_PROCESS, MINING_HOST
from minescope.registry import Detector, Plugin, Reader, TableSpec

_TABLES = "minescope.dimensions.host.tables"
_READERS = "minescope.dimensions.host.readers"
_DETECTORS = "minescope.dimensions.host.detectors"
_ENDPOINT = ("processes", "connections", "files", "persistence")

PLUGIN = Plugin(
    name="host", dimension="host", kinds=KINDS,
    doc="endpoint logs and live checks: processes, their connections, files, persistence, resources",
    tables=(
        TableSpec("processes", "host", f"{_TABLES}:PROCESSES", "one row per process start or running process",
                  ("ts", "command_line")),
        TableSpec("connections", "host", f"{_TABLES}:CONNECTIONS",
                  "network connections and name look-ups by process",
                  ("ts", "remote_ip|remote_name")),
        TableSpec("files", "host", f"{_TABLES}:FILES", "files seen, with hashes and YARA/hash-list matches",
                  ("ts", "path")),
        TableSpec("persistence", "host", f"{_TABLES}:PERSISTENCE",
                  "what starts a program again: cron, systemd, Run keys, services, tasks, WMI",
                  ("ts", "kind", "command")),
        TableSpec("resources", "host", f"{_TABLES}:RESOURCES", "load and tuning samples of a checked machine",
                  ("ts", "cpu_percent")),
    ),
    readers=(
        Reader("evtx", "host", _ENDPOINT, "Windows event logs: Sysmon 1, 3, 6, 7, 11, 13, 22 and Security 4688",
               f"{_READERS}.evtx:read_evtx", in_directories=True),
        Reader("sysmon-json", "host", _ENDPOINT, "Sysmon/Security events as JSON: Winlogbeat, flattened lines "
               "(OTRF), rendered EVTX; zipped too", f"{_READERS}.winjson:read_winjson", in_directories=True),
        Reader("auditd", "host", ("processes",), "Linux audit logs: execve with its arguments (hex and split)",
               f"{_READERS}.auditd:read_auditd", in_directories=True),
        Reader("osquery", "host", ("processes", "connections", "persistence"), "osquery result logs: processes, "
               "process_open_sockets, crontab, systemd_units, startup_items", f"{_READERS}.osquery:read_osquery",
               in_directories=True),
        Reader("host-export", "host", _ENDPOINT, "any EDR or SIEM export (CSV, Parquet, JSON lines with nested "
               "fields) through a column mapping (docs/mapping.md)", f"{_READERS}:read_host_mapped"),
        Reader("host-check", "host", (*_ENDPOINT, "resources"), "reports of minescope host check (one per machine)",
               f"{_READERS}.host_check:read_host_check", in_directories=True),
    ),
    detectors=(
        Detector("sigma", "host", (MINER_PROCESS, MINER_PERSISTENCE), ("processes", "connections", "persistence"),
                 "SigmaHQ's coin-miner rules and minescope's own, compiled to SQL with pySigma (docs/host.md)",
                 f"{_DETECTORS}.sigma:detect", sql=True),
        Detector("host-facts", "host", (MINER_BINARY, MINER_PROCESS, MINING_HOST), ("files", "connections",
                 "resources"), "files named by YARA, hash lists or a miner configuration; processes connected to "
                 "known pools; one mining_host per machine", f"{_DETECTORS}.facts:file_findings"),
    ),
)

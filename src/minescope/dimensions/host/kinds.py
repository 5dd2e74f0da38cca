"""The finding kinds of the host dimension, about a ``host`` subject (the machine's name, with its addresses
when known). Labels, colours, case policy and the reports' sections derive from these declarations."""

from minescope.model import Severity, Text
from minescope.registry import KindSpec

MINER_PROCESS = KindSpec(
    "miner_process", dimension="host", label=Text("挖矿进程", "Miner process"), colour="#a93226",
    mining=True, opens_case=True, severity=Severity.HIGH,
    doc="a process that is a miner: its command line (pool, wallet, algorithm, miner options), its name or "
        "hashes, or its connection to a pool; with the process, user, command line, pool, wallet and rule")
MINER_BINARY = KindSpec(
    "miner_binary", dimension="host", label=Text("挖矿程序文件", "Miner binary at rest"), colour="#cb4335",
    mining=True, opens_case=False, severity=Severity.MEDIUM,
    doc="a miner executable or miner configuration on disk, found by YARA or by hash (also renamed)")
MINER_PERSISTENCE = KindSpec(
    "miner_persistence", dimension="host", label=Text("挖矿持久化", "Miner persistence"), colour="#943126",
    mining=True, opens_case=True, severity=Severity.HIGH,
    doc="a cron entry, systemd unit or timer, shell profile, Run key, service, scheduled task or WMI "
        "subscription that starts a miner")
MINING_HOST = KindSpec(
    "mining_host", dimension="host", label=Text("挖矿主机", "Mining host"), colour="#78281f",
    mining=True, opens_case=True, severity=Severity.HIGH,
    doc="one per machine, summing its miner processes, binaries, persistence and tuning (huge pages with MSR "
        "writes, sustained load)")

KINDS = (MINER_PROCESS, MINER_BINARY, MINER_PERSISTENCE, MINING_HOST)

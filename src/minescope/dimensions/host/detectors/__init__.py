"""Detectors of the host dimension, over the host tables of every endpoint log and host-check report of a scan:

    sigma     Sigma rules (SigmaHQ's coin-miner rules and minescope's own) compiled to SQL, on DuckDB or Spark:
              miner_process, miner_persistence
    facts     files named by YARA, hash lists or a miner's configuration (miner_binary); processes connected
              to pools the intelligence knows (miner_process); one mining_host per machine summing them all
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace

import pyarrow as pa

from minescope.dimensions.host.detectors import facts, sigma
from minescope.dimensions.host.tables import host_of
from minescope.engines.sql import SqlEngine
from minescope.knowledge.pools import PoolIntel
from minescope.model import Finding


def detect(tables: Mapping[str, pa.Table], intel: PoolIntel, engine: SqlEngine | None = None,
           source: str = "host") -> list[Finding]:
    """Every host finding of these tables; ``engine`` runs the Sigma rules (default: a DuckDB of their own)."""
    found = sigma.detect(tables, engine)
    found += facts.file_findings(tables.get("files"), source)
    found += facts.connection_findings(tables.get("connections"), intel, source)
    found += facts.host_findings(found, tables.get("resources"), source)
    address = host_addresses(tables)
    # the machine's address makes a host finding meet the network findings of that address (attribution, cases)
    return [replace(f, subject_ip=address[f.subject.value]) if f.subject.value in address else f for f in found]


def host_addresses(tables: Mapping[str, pa.Table]) -> dict[str, str]:
    """Each machine's address: the first of its interface addresses a host check saw (IPv4 before IPv6), else
    the local address of most of its logged connections; loopback, link-local and unspecified never."""
    out: dict[str, str] = {}
    resources = tables.get("resources")
    if resources is not None:
        for row in resources.to_pylist():
            usable = sorted(_usable(row.get("addresses") or []), key=lambda a: (":" in a, a))
            if usable:
                out.setdefault(host_of(row["host"], row.get("input")), usable[0])
    connections = tables.get("connections")
    if connections is not None and connections.num_rows:
        seen: dict[str, Counter[str]] = {}
        for row in connections.select(["host", "input", "local_ip"]).to_pylist():
            for ip in _usable([row["local_ip"]] if row["local_ip"] else []):
                seen.setdefault(host_of(row["host"], row["input"]), Counter())[ip] += 1
        for host, counts in seen.items():
            out.setdefault(host, counts.most_common(1)[0][0])
    return out


def _usable(addresses: list[str]) -> list[str]:
    out = []
    for text in addresses:
        try:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            continue
        if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast):
            out.append(str(ip))
    return out

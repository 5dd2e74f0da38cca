"""Detectors of the host dimension, over the host tables of every endpoint log and host-check report of a scan:

    sigma     Sigma rules (SigmaHQ's coin-miner rules and minescope's own) compiled to SQL, on DuckDB or Spark:
              miner_process, miner_persistence
    facts     files named by YARA, hash lists or a miner's configuration (miner_binary); processes connected
              to pools the intelligence knows (miner_process); one mining_host per machine summing them all
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from minescope.dimensions.host.detectors import facts, sigma
from minescope.engines.sql import SqlEngine
from minescope.knowledge.pools import PoolIntel
from minescope.model import Finding


def detect(tables: Mapping[str, pa.Table], intel: PoolIntel, engine: SqlEngine | None = None,
           source: str = "host") -> list[Finding]:
    """Every host finding of these tables; ``engine`` runs the Sigma rules (default: a DuckDB of their own)."""
    found = sigma.detect(tables, engine)
    found += facts.file_findings(tables.get("files"), source)
    found += facts.connection_findings(tables.get("connections"), intel, source)
    return found + facts.host_findings(found, tables.get("resources"), source)

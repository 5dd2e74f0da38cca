"""Flow logs (NetFlow/IPFIX, nfdump, Zeek, Suricata, mapped CSV/Parquet) into one columnar schema.

See ``schema`` for the tables and ``inputs`` for the entry points; docs/flowlogs.md describes
each format, the libraries chosen and the limits.
"""

from minescope.dimensions.network.readers.inputs import (
           FORMATS,
           FlowLog,
           FlowLogInput,
           detect_format,
           iter_batches,
           read_flow_log,
)
from minescope.dimensions.network.readers.netflow import Collector
from minescope.dimensions.network.tables import ALERTS, DNS, FLOWS, TABLES
from minescope.readers.mapped import Mapping, MappingError
from minescope.readers.report import InputReport

__all__ = ["ALERTS", "DNS", "FLOWS", "FORMATS", "TABLES", "Collector", "FlowLog", "FlowLogInput", "InputReport",
           "Mapping", "MappingError", "detect_format", "iter_batches", "read_flow_log"]

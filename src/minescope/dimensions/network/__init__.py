"""The network dimension: captures, flow records, sensor logs and DNS.

    capture/     the compiled packet engine only (numba decode and flow table)
    protocols/   payload parsers: mining protocols, DNS, TLS ClientHello, HTTP heads, node protocols
    readers/     capture files and live interfaces, NetFlow/IPFIX, nfdump, Zeek, Suricata, mapped CSV/Parquet,
                 and partitioned flow datasets → the tables of ``tables``
    tables.py    the flows, dns and alerts tables (and tls: what encrypted connections show)
    detectors/   payload (needs packets), flowlog (SQL on any engine), behaviour (SQL + a scored model)
    kinds.py     mining_session, pool_contact, encrypted_mining_suspect, crypto_node, mining_behaviour_suspect,
                 exchange_access
"""

from minescope.dimensions.network.kinds import (
    CRYPTO_NODE,
    ENCRYPTED_MINING_SUSPECT,
    EXCHANGE_ACCESS,
    KINDS,
    MINING_SESSION,
    POOL_CONTACT,
)
from minescope.registry import Detector, Plugin, Reader, TableSpec

_READERS = "minescope.dimensions.network.readers"
_LOGS = ("flows", "dns", "alerts")

PLUGIN = Plugin(
    name="network", dimension="network", kinds=KINDS,
    doc="captures, flow records, sensor logs and DNS (docs/detection.md, docs/flowlogs.md)",
    tables=(
        TableSpec("flows", "network", "minescope.dimensions.network.tables:FLOWS",
                  "one row per flow record or connection (docs/flowlogs.md)", ("ts", "src_ip", "dst_ip")),
        TableSpec("dns", "network", "minescope.dimensions.network.tables:DNS",
                  "one row per DNS transaction: client, question, answers and TTLs", ("ts", "query")),
        TableSpec("alerts", "network", "minescope.dimensions.network.tables:ALERTS",
                  "sensor alerts and notices (Suricata alert, Zeek notice)", ("ts", "signature")),
    ),
    readers=(
        Reader("pcap", "network", ("flows", "dns"), "pcap/pcapng capture files, optionally gzipped; the packet "
               "engine also reads their payload", f"{_READERS}.pcap:CaptureFile", in_directories=True),
        Reader("interface", "network", ("flows", "dns"), "live capture from a network interface (root or "
               "CAP_NET_RAW)", f"{_READERS}.live:live_blocks"),
        Reader("netflow", "network", _LOGS, "NetFlow v5/v9/IPFIX export packets back to back (collector dump, "
               "RFC 5655 file)", f"{_READERS}.netflow", in_directories=True),
        Reader("netflow-pcap", "network", _LOGS, "pcap/pcapng capture of NetFlow v5/v9/IPFIX export traffic",
               f"{_READERS}.netflow", in_directories=True),
        Reader("nfdump-csv", "network", _LOGS, "nfdump -o csv export", f"{_READERS}.nfdump", in_directories=True),
        Reader("nfcapd", "network", _LOGS, "nfcapd binary file (read through the nfdump program)",
               f"{_READERS}.nfdump", in_directories=True),
        Reader("zeek", "network", _LOGS, "Zeek conn/dns/ssl/http/notice log, TSV or JSON", f"{_READERS}.zeek",
               in_directories=True),
        Reader("suricata", "network", _LOGS, "Suricata EVE JSON", f"{_READERS}.suricata", in_directories=True),
        Reader("csv", "network", _LOGS, "CSV with a column mapping", "minescope.readers.mapped:read_mapped"),
        Reader("parquet", "network", _LOGS, "Parquet with a column mapping", "minescope.readers.mapped:read_mapped"),
        Reader("flow-dataset", "network", ("flows", "dns"), "a flow dataset: Parquet partitioned by day or hour, "
               "written by minescope flows import and read incrementally", f"{_READERS}.dataset:FlowDataset"),
    ),
    detectors=(
        Detector("payload", "network", (MINING_SESSION, CRYPTO_NODE), ("packets",),
                 "mining protocols and node framing in a capture's payload; the pools they show are learned",
                 "minescope.dimensions.network.detectors.payload:CaptureDetector"),
        Detector("flowlog", "network", (POOL_CONTACT, ENCRYPTED_MINING_SUSPECT), ("flows", "dns"),
                 "listed or learned pool addresses, pool SNI/Host, passive DNS, hosts asking for pool names, TLS "
                 "to listed or pool-like endpoints; flow logs and captures alike",
                 "minescope.dimensions.network.detectors.flowlog:FlowLogDetector", sql=True),
        Detector("exchanges", "network", (EXCHANGE_ACCESS,), ("flows", "dns"),
                 "hosts reaching exchanges (TLS server name, HTTP Host, passive DNS, listed addresses, DNS "
                 "questions), per host and exchange, with the flowlog detector's hit SQL",
                 "minescope.dimensions.network.detectors.exchanges:findings", sql=True),
        Detector("behaviour", "network", (KINDS[4],), ("flows",),
                 "long-lived, low-rate, small-packet sessions scored by a held-out-evaluated model",
                 "minescope.dimensions.network.detectors.behaviour:behaviour_findings", sql=True),
    ),
)

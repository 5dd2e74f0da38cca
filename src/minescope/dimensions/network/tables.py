"""The columnar tables every flow-log reader writes: ``flows``, ``dns`` and ``alerts`` (Apache Arrow).

One schema for all sources, so a detector written once (SQL on DuckDB or Spark) runs on NetFlow,
IPFIX, nfdump, Zeek, Suricata, mapped CSV/Parquet and flows from captures alike. Field by field:

``flows`` — one row per flow record, or per connection as the sensor logged it:
  ts            timestamp[us, UTC]  start of the flow (first packet)
  duration_s    float64    last packet − first packet, seconds; null when the log has none
  src_ip        string     initiator's address where the format knows it (Zeek orig_h, Suricata
                           src_ip, capture engine initiator); for NetFlow/IPFIX the record's
                           source (unidirectional records: each direction is its own row).
                           IPv6 in canonical compressed form (RFC 5952).
  dst_ip        string     the other end (responder)
  src_port      int32      null when the protocol has no ports (ICMP and others)
  dst_port      int32
  proto         uint8      IANA protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6); null if unknown
  src_packets   int64      packets src → dst
  src_bytes     int64      bytes src → dst, as the sensor counts them: IP bytes (header and
                           payload) for NetFlow/IPFIX/nfdump and Zeek (orig_ip_bytes); Suricata and
                           the capture engine count whole frames (link-layer header included)
  dst_packets   int64      packets dst → src; null when the record is unidirectional (NetFlow v5/v9,
                           IPFIX without RFC 5103 reverse elements, nfdump without out counters)
  dst_bytes     int64      bytes dst → src; null likewise
  tcp_flags     uint8      OR of the TCP flags seen (NetFlow/IPFIX/nfdump), null otherwise
  server_name   string     TLS SNI or HTTP Host, lower-case, when the record carries one
  app           string     the sensor's protocol label: Zeek service, Suricata app_proto, the
                           capture engine's payload class, Zeek/Suricata ssl/tls/http rows
  sensor_uid    string     Zeek uid / Suricata flow_id / capture flow serial: joins records of one
                           connection (conn and ssl rows, flow and tls events, alerts)
  label         string     ground-truth label when the log carries one (labelled Zeek logs:
                           ``label`` or ``label:detailedlabel``; a mapped column); null otherwise
  source        string     the reader kind (see ``SOURCES``)
  input         string     the file (or collector) the row came from

Name rows: Zeek ssl.log/http.log and Suricata tls/http events become ``flows`` rows of their own,
with ``server_name`` set and every counter (packets, bytes, duration) null; ``sensor_uid`` joins
them to the connection's counted row. Count connections with ``src_packets IS NOT NULL`` (or by
distinct ``sensor_uid``); look names up with ``server_name`` over all rows.

``dns`` — one row per DNS transaction as the log gives it:
  ts            timestamp[us, UTC]  query time (Zeek) or event time (Suricata)
  client_ip     string     who asked
  resolver_ip   string     who was asked
  query         string     the name asked for, lower-case, no trailing dot
  qtype         string     the record type asked for (A, AAAA, TXT, …)
  rcode         string     response code name (NOERROR, NXDOMAIN, …); null when no response was seen
  answers       list<string>  addresses and names in the answer section (names lower-case, no dot)
  ttls          list<float64> their TTLs in seconds, same order; null when the log gives none
  sensor_uid    string     Zeek uid / Suricata flow_id
  source, input as in ``flows``

``alerts`` — one row per sensor alert (Suricata ``alert`` events, Zeek notice.log):
  ts, src_ip, src_port, dst_ip, dst_port, proto  as in ``flows``
  signature     string     rule message (Suricata) / notice message (Zeek)
  signature_id  int64      rule id (Suricata sid); null for Zeek
  category      string     rule classification (Suricata) / notice type (Zeek ``note``)
  severity      int32      Suricata severity (1 high … 4 low); null for Zeek
  sensor_uid, source, input as in ``flows``
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from minescope.readers.values import TS, proto_number  # noqa: F401  (defined with the readers; imported from here too)

FLOWS = pa.schema([
    ("ts", TS), ("duration_s", pa.float64()),
    ("src_ip", pa.string()), ("dst_ip", pa.string()),
    ("src_port", pa.int32()), ("dst_port", pa.int32()), ("proto", pa.uint8()),
    ("src_packets", pa.int64()), ("src_bytes", pa.int64()),
    ("dst_packets", pa.int64()), ("dst_bytes", pa.int64()),
    ("tcp_flags", pa.uint8()), ("server_name", pa.string()), ("app", pa.string()),
    ("sensor_uid", pa.string()), ("label", pa.string()),
    ("source", pa.string()), ("input", pa.string()),
])

DNS = pa.schema([
    ("ts", TS), ("client_ip", pa.string()), ("resolver_ip", pa.string()),
    ("query", pa.string()), ("qtype", pa.string()), ("rcode", pa.string()),
    ("answers", pa.list_(pa.string())), ("ttls", pa.list_(pa.float64())),
    ("sensor_uid", pa.string()), ("source", pa.string()), ("input", pa.string()),
])

ALERTS = pa.schema([
    ("ts", TS), ("src_ip", pa.string()), ("src_port", pa.int32()),
    ("dst_ip", pa.string()), ("dst_port", pa.int32()), ("proto", pa.uint8()),
    ("signature", pa.string()), ("signature_id", pa.int64()), ("category", pa.string()),
    ("severity", pa.int32()), ("sensor_uid", pa.string()),
    ("source", pa.string()), ("input", pa.string()),
])

TABLES: dict[str, pa.Schema] = {"flows": FLOWS, "dns": DNS, "alerts": ALERTS}

# ``tls`` — optional, one row per encrypted connection with a sign of mining traffic (``TLS_MIN_EXCHANGES``
# exchanges or a Stratum V2 handshake), for what its first bytes and message sizes show
# (``detectors.encrypted``). Captures fill it (``readers.capture_flows.tls_from_capture``); flow logs that
# carry ClientHello fingerprints (Zeek ssl.log ``ja3``/``ja4``, Suricata ``tls.ja3``/``tls.ja4``) can fill the
# first two columns. Not part of flow datasets (``TABLES``): a dataset keeps no payload-derived columns.
#   sensor_uid, input  the connection's ``flows`` row
#   ja3, ja4           ClientHello fingerprints (``protocols.tls``)
#   exchanges          initiator messages answered at once by a message at most half their size
#                      (``capture.packets``: XCHG_*, ACK_*): shares and their acknowledgements
#   exchange_min, exchange_max, answer_min, answer_max   their sizes in bytes (TLS records)
#   exchange_cv        coefficient of variation of the times between exchanges (null below 2 intervals)
#   pushes             responder messages sent unasked (``capture.packets``: PUSH_*): pool jobs
#   handshake          ``sv2_noise`` (Stratum V2 Noise NX handshake sizes), ``sv2_plain`` (clear-text
#                      SetupConnection), or null
TLS_MIN_EXCHANGES = 2  # fewer share-like exchanges are no sign of mining traffic: the connection is not scored
TLS = pa.schema([
    ("sensor_uid", pa.string()), ("input", pa.string()), ("ja3", pa.string()), ("ja4", pa.string()),
    ("exchanges", pa.int32()), ("exchange_min", pa.int32()), ("exchange_max", pa.int32()),
    ("answer_min", pa.int32()), ("answer_max", pa.int32()), ("exchange_cv", pa.float64()),
    ("pushes", pa.int32()), ("handshake", pa.string()),
])



def tls_fingerprints(sensor_uid: pa.Array, ja3: pa.Array, ja4: pa.Array, *, input_path: str) -> pa.RecordBatch:
    """``tls`` rows of a log that gives ClientHello fingerprints (Zeek ssl.log's ``ja3``/``ja4``, Suricata's
    ``tls.ja3.hash``/``tls.ja4``): the connection and its fingerprints, no message shapes (null)."""
    keep = pc.or_(pc.is_valid(ja3), pc.is_valid(ja4))
    n = len(sensor_uid)
    columns = {"sensor_uid": sensor_uid.cast(pa.string()), "input": pa.array([input_path] * n, pa.string()),
               "ja3": ja3.cast(pa.string()), "ja4": ja4.cast(pa.string())}
    batch = pa.RecordBatch.from_arrays([columns[f.name] if f.name in columns else pa.nulls(n, f.type) for f in TLS],
                                       schema=TLS)
    return batch.filter(keep)


# Values of the ``source`` column, one per reader kind.
SOURCES = ("netflow_v5", "netflow_v9", "ipfix", "nfdump", "zeek_conn", "zeek_ssl", "zeek_http", "zeek_dns",
           "zeek_notice", "suricata_flow", "suricata_netflow", "suricata_tls", "suricata_http", "suricata_dns",
           "suricata_alert", "mapped", "capture")

# Protocols whose flows have ports; other protocols get null ports.
PORT_PROTOS = frozenset({6, 17, 33, 132})
BATCH_ROWS = 65536


class Columns:
    """Rows of one table gathered column by column (Python lists), turned into a RecordBatch.

    Readers append one value per column per row (``add``) and call ``take`` when ``full``; a
    column they never fill stays null. Conversion is done by Arrow, in C, once per batch.
    """

    def __init__(self, schema: pa.Schema, batch_rows: int = BATCH_ROWS, **constant: str) -> None:
        self.schema = schema
        self.batch_rows = batch_rows
        self.constant = constant  # columns with one value for the whole input (source, input)
        self.cols: dict[str, list[Any]] = {name: [] for name in schema.names if name not in constant}
        self.rows = 0

    def add(self, **values: Any) -> None:
        for name, col in self.cols.items():
            col.append(values.get(name))
        self.rows += 1

    @property
    def full(self) -> bool:
        return self.rows >= self.batch_rows

    def take(self) -> pa.RecordBatch:
        """The gathered rows as a batch (ts given as float epoch seconds); starts a new one."""
        arrays = []
        for field in self.schema:
            if field.name in self.constant:
                arrays.append(pa.array([self.constant[field.name]] * self.rows, field.type))
            elif field.name == "ts":
                arrays.append(epoch_to_ts(self.cols["ts"]))
            elif field.name == "duration_s":  # differences of epoch floats: keep whole microseconds
                arrays.append(pc.round(pa.array(self.cols["duration_s"], pa.float64()), 6))
            else:
                arrays.append(pa.array(self.cols[field.name], field.type))
        batch = pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        self.cols = {name: [] for name in self.cols}
        self.rows = 0
        return batch


def epoch_to_ts(seconds: Any) -> pa.Array:
    """Float epoch seconds (list or array, nulls allowed) → timestamp[us, UTC], rounded to the µs."""
    arr = pa.array(seconds, pa.float64()) if not isinstance(seconds, pa.Array) else seconds.cast(pa.float64())
    micros = pc.round(pc.multiply(arr, 1e6))
    return pc.cast(micros, pa.int64()).cast(TS)


def empty(table: str) -> pa.Table:
    return TABLES[table].empty_table()

"""Payload-less detectors over flow-log tables (``flows``, ``dns``): SQL run by DuckDB or Spark.

The detector logic is plain SQL strings (below, ``*_SQL``), written once and run unchanged by
either engine (``detect.engines``: joins, GROUP BY, ROW_NUMBER windows; no engine-specific
functions), over four tables:

  flows        the readers' ``flows`` rows as the engine prepares them: epoch seconds
               ``t_start``/``t_end``, ``counted`` (a connection row, not a name row), a ``row_id``
  dns_answers  one row per address answer of the ``dns`` table, with its TTL
  dns_questions  one row per DNS question (``is_new``: false for context files of an incremental run)
  pool_ips     addresses that a pool list (or a pool learned in this scan) names, with a match id
  pool_names   server names and DNS questions that ``PoolIntel.match_mining_domain`` calls mining
               names (exchanges excluded), with a match id

List matching is done in Python on the *distinct* addresses (prefiltered by ``PoolIntel.ip_candidates``
in one vectorised pass) and names; the joins and the aggregation run in SQL. Findings are aggregated per (subject, pool
endpoint, input) — a million flows make one finding, with counts, bytes, first and last seen and
the first ``SAMPLE_FLOWS`` flows as references.

Every finding is a ``pool_contact``, never a ``mining_session``: without payload nothing shows the
mining protocol itself.

pool_contact by address (``ADDRESS_HITS_SQL``)
    Signal: connections to an address on a pool list (networks of user feeds) or learned in this
    scan from a capture's mining session. False positives: shared hosting and CDN addresses on a
    list, stale entries. Confidence 0.45–0.7 by list category.
pool_contact by server name (``NAME_HITS_SQL``)
    Signal: the TLS SNI or HTTP Host of a connection (Zeek ssl/http, Suricata tls/http, captures)
    is a listed pool or browser-miner name. False positives: visits to a pool's web site
    (dashboards, payout pages), research. Confidence 0.45–0.7 by list category.
pool_contact by passive DNS (``PDNS_HITS_SQL``)
    Signal: a DNS answer gave a pool name's address, and a connection from any client to that
    address began within the answer's window: from 1 s before the answer (sensor clocks) up to
    max(TTL, 1 h) after it. False positives: a pool name on a shared (CDN) address whose other
    sites the client visited in that window. Confidence 0.45–0.7 by list category.
pool_contact by DNS question (``DNS_ASKERS_SQL``)
    Signal: a host asked DNS for a pool name. False positives: when the DNS log is taken between a
    forwarding resolver (home router, enterprise DNS) and the upstream, the asking "client" is the
    resolver, not the miner behind it; look-ups by browsers prefetching or by security tools.
    Confidence 0.45–0.7 by list category.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePath
from typing import Any

import pyarrow as pa

from minescope.dimensions.network.detectors.payload import CATEGORY_CONFIDENCE, _list_evidence, _list_reason
from minescope.dimensions.network.tables import TABLES
from minescope.engines.sql import SqlEngine, open_engine
from minescope.knowledge.pools import ListMatch, PoolIntel
from minescope.knowledge.ranges import parse_ip
from minescope.model import Evidence, Finding, FlowRef, Kind, Peer, Severity, Text

SAMPLE_FLOWS = 20  # flow references kept per finding (the counts cover all flows)
PDNS_WINDOW_S = 3600.0  # a flow may follow a DNS answer by max(TTL, this)
PDNS_SKEW_S = 1.0  # a flow may start this long before the answer (clocks of different sensors)
PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp6"}

# The tables the SQL reads (flows, dns_answers, dns_questions) are made by the engine from the
# readers' tables: see ``detect.engines``. pool_ips and pool_names are registered by the detector.
#
# pool_flows: the prefilter. A carrier's day is billions of rows, and reading every column of
# every row costs several times more than testing one column. So the detectors first learn, from
# narrow scans, which addresses, names and connection ids could hit at all (listed and learned
# addresses, addresses that pool names resolved to, pool names, the connections of name rows), then
# keep those rows once — one scan that tests them as constants, which the engines push down into
# the Parquet reader — and run the joins on those few rows.
PREFILTER_SQL = "SELECT * FROM flows WHERE {condition}"
SAFE_LITERAL = re.compile(r"[A-Za-z0-9._:*@/+=-]*")
LITERALS_MAX = 20_000  # beyond this many values the test is a join with a registered table

# --- the detectors: each gives hit rows (one per flow and reason) with the same columns ----------

HIT_COLUMNS = ("f.row_id, f.src_ip AS subject, f.dst_ip AS peer_ip, f.dst_port AS peer_port, f.input, f.t_start, "
               "f.t_end, f.src_ip, f.src_port, f.dst_ip, f.dst_port, f.proto, f.packets, f.bytes_fwd, f.bytes_rev")

ADDRESS_HITS_SQL = f"""
SELECT {HIT_COLUMNS}, 'address' AS via, p.match_id, CAST(NULL AS STRING) AS name,
       f.source AS seen_in, CAST(NULL AS DOUBLE) AS dns_t, CAST(NULL AS STRING) AS dns_client
FROM pool_flows f JOIN pool_ips p ON f.dst_ip = p.ip
WHERE f.counted
"""

# Name rows (Zeek ssl/http, Suricata tls/http) carry no counters: take them from the connection's
# counted row (same sensor_uid) when the log has it; a counted row with a name (captures) is itself.
NAME_HITS_SQL = """
SELECT COALESCE(c.row_id, f.row_id) AS row_id, f.src_ip AS subject, f.dst_ip AS peer_ip, f.dst_port AS peer_port,
       COALESCE(c.input, f.input) AS input, COALESCE(c.t_start, f.t_start) AS t_start,
       COALESCE(c.t_end, f.t_end) AS t_end, f.src_ip, f.src_port, f.dst_ip, f.dst_port,
       COALESCE(c.proto, f.proto) AS proto, COALESCE(c.packets, f.packets) AS packets,
       COALESCE(c.bytes_fwd, f.bytes_fwd) AS bytes_fwd, COALESCE(c.bytes_rev, f.bytes_rev) AS bytes_rev,
       CASE WHEN f.app IN ('tls', 'ssl') THEN 'tls_sni' ELSE 'http_host' END AS via, p.match_id,
       f.server_name AS name, f.source AS seen_in,
       CAST(NULL AS DOUBLE) AS dns_t, CAST(NULL AS STRING) AS dns_client
FROM pool_flows f
JOIN pool_names p ON f.server_name = p.name
LEFT JOIN pool_flows c ON NOT f.counted AND c.counted AND c.sensor_uid = f.sensor_uid
"""

HIT_NAMES = ("row_id, subject, peer_ip, peer_port, input, t_start, t_end, src_ip, src_port, dst_ip, dst_port, proto, "
             "packets, bytes_fwd, bytes_rev, via, match_id, name, seen_in, dns_t, dns_client")

# The latest pool answer before each flow explains it (one hit per flow and name).
PDNS_HITS_SQL = f"""
SELECT {HIT_NAMES} FROM (
  SELECT {HIT_COLUMNS}, 'dns' AS via, p.match_id, a.query AS name, a.source AS seen_in,
         a.t AS dns_t, a.client_ip AS dns_client,
         ROW_NUMBER() OVER (PARTITION BY f.row_id, a.query ORDER BY a.t DESC, a.client_ip, a.source, a.input) AS rn
  FROM pool_flows f
  JOIN dns_answers a ON f.dst_ip = a.answer
  JOIN pool_names p ON a.query = p.name
  WHERE f.counted AND f.t_start >= a.t - {PDNS_SKEW_S}
    AND f.t_start <= a.t + CASE WHEN a.ttl > {PDNS_WINDOW_S} THEN a.ttl ELSE {PDNS_WINDOW_S} END
) latest WHERE rn = 1
"""

HIT_QUERIES = (ADDRESS_HITS_SQL, NAME_HITS_SQL, PDNS_HITS_SQL)
GROUP = "subject, peer_ip, peer_port, input"
# Samples are ordered by the flows' own fields, so that only identical rows tie and every engine
# picks the same references (row ids differ between engines).
FLOW_ORDER = ("t_start, src_port, t_end, src_ip, dst_ip, dst_port, proto, packets, bytes_fwd, bytes_rev, "
              "row_id")

# One row per (subject, endpoint, input): flows counted once even when several reasons hit them.
GROUPS_SQL = f"""
SELECT {GROUP}, COUNT(*) AS flows, SUM(COALESCE(bytes_fwd, 0) + COALESCE(bytes_rev, 0)) AS bytes,
       MIN(t_start) AS first_seen, MAX(t_end) AS last_seen
FROM (SELECT DISTINCT row_id, {GROUP}, t_start, t_end, bytes_fwd, bytes_rev FROM hits) flowset
GROUP BY {GROUP}
"""

REASONS_SQL = f"""
SELECT {GROUP}, via, match_id, name, seen_in, COUNT(DISTINCT row_id) AS flows, MIN(dns_t) AS dns_t,
       MIN(dns_client) AS dns_client
FROM hits GROUP BY {GROUP}, via, match_id, name, seen_in
"""

SAMPLES_SQL = f"""
SELECT * FROM (
  SELECT flowset.*, ROW_NUMBER() OVER (PARTITION BY {GROUP} ORDER BY {FLOW_ORDER}) AS rn
  FROM (SELECT DISTINCT row_id, {GROUP}, t_start, t_end, src_ip, src_port, dst_ip, dst_port, proto, packets,
               bytes_fwd, bytes_rev FROM hits) flowset
) ranked WHERE rn <= {SAMPLE_FLOWS}
"""

DNS_ASKERS_SQL = """
SELECT q.client_ip, q.query, p.match_id, q.input, q.source, COUNT(*) AS questions,
       MIN(q.t) AS first_seen, MAX(q.t) AS last_seen, MIN(q.resolver_ip) AS resolver_ip
FROM dns_questions q JOIN pool_names p ON q.query = p.name
WHERE q.client_ip IS NOT NULL AND q.is_new
GROUP BY q.client_ip, q.query, p.match_id, q.input, q.source
"""


# --- the detector ----------------------------------------------------------------------------------

class FlowLogDetector:
    """Runs the detectors on an engine (``detect.engines``: DuckDB by default, or Spark); findings
    refer to ``PoolIntel``.

    Give it reader batches (``add``: DNS from one log may explain flows of another) and Parquet
    files of a flow dataset (``add_parquet``) in any mix, then ``run``.
    """

    def __init__(self, intel: PoolIntel, engine: SqlEngine | None = None) -> None:
        self.intel = intel
        self.engine = engine or open_engine("duckdb")
        self.prepared = False
        # (subject, peer address, peer port, input) of the list detectors' findings
        self.reported: set[tuple[str, str, int, str]] = set()

    def add(self, table: str, batch: pa.RecordBatch | pa.Table) -> None:
        """A reader batch of ``flows`` or ``dns`` (``alerts`` are not used by these detectors yet)."""
        self.engine.append(table, batch)

    def add_table(self, table: str, data: pa.Table) -> None:
        self.engine.append(table, data.cast(TABLES[table]))

    def add_parquet(self, table: str, files: Sequence[Path], is_new: bool = True) -> None:
        """Parquet files of a reader table; ``is_new=False`` for DNS read only to explain new flows."""
        self.engine.add_parquet(table, files, is_new)

    def close(self) -> None:
        self.engine.close()

    def _prepare(self) -> None:
        if not self.prepared:
            self.engine.prepare()
            self.prepared = True

    def hosts(self) -> set[str]:
        """The clients of the loaded flows (for a clean scan's case verification): a miner is the
        source of its connections (of its own records, for unidirectional NetFlow)."""
        self._prepare()
        return set(self.engine.column("SELECT DISTINCT src_ip FROM flows WHERE counted").to_pylist()) - {None}

    def _distinct(self, sql: str) -> list[str]:
        return sorted(row["v"] for row in self.engine.query(sql) if row["v"])

    def _match_tables(self) -> list[ListMatch]:
        """Match names and addresses in Python; register what matched (sorted, so match ids are the
        same on every engine); keep the rows any detector could hit as ``pool_flows``."""
        matches: list[ListMatch] = []
        names: list[tuple[str, int]] = []
        for name in self._distinct("SELECT DISTINCT server_name AS v FROM flows UNION SELECT DISTINCT query "
                                   "FROM dns_answers UNION SELECT DISTINCT query FROM dns_questions"):
            m = self.intel.match_mining_domain(name)
            if m is not None:
                names.append((name, len(matches)))
                matches.append(m)
        self.engine.register("pool_names", pa.table({"name": pa.array([n for n, _ in names], pa.string()),
                                                     "match_id": pa.array([k for _, k in names], pa.int64())}))
        listed, networks = self.intel.listed_addresses()
        if networks:  # members of listed networks: found among the distinct addresses seen
            seen = self.engine.column("SELECT DISTINCT dst_ip FROM flows WHERE counted")
            listed = sorted(set(listed) | set(self.intel.ip_candidates(seen)))
        ips: list[tuple[str, int]] = []
        for ip in listed:
            m = self.intel.match_ip(ip)
            if m is not None and m.category != "exchange":
                ips.append((ip, len(matches)))
                matches.append(m)
        self.engine.register("pool_ips", pa.table({"ip": pa.array([i for i, _ in ips], pa.string()),
                                                   "match_id": pa.array([k for _, k in ips], pa.int64())}))
        if matches:
            self.engine.materialize("pool_flows", PREFILTER_SQL.format(condition=self._prefilter(ips, names)))
        return matches

    def _prefilter(self, ips: list[tuple[str, int]], names: list[tuple[str, int]]) -> str:
        """The rows a detector could hit, as constants: listed addresses, addresses pool names
        resolved to, pool names, and the connections their name rows belong to."""
        answered = self._distinct("SELECT DISTINCT a.answer AS v FROM dns_answers a "
                                  "JOIN pool_names p ON a.query = p.name")
        addresses = sorted({ip for ip, _ in ips} | {a for a in answered if parse_ip(a) is not None})
        name_list = [n for n, _ in names]
        uids = self._distinct("SELECT DISTINCT f.sensor_uid AS v FROM flows f JOIN pool_names p "
                              "ON f.server_name = p.name WHERE NOT f.counted") if names else []
        terms = [self._in_list("dst_ip", addresses), self._in_list("server_name", name_list),
                 self._in_list("sensor_uid", uids)]
        return " OR ".join(t for t in terms if t) or "FALSE"

    def _in_list(self, column: str, values: list[str]) -> str:
        """``column IN ('a', …)`` with constants both engines read alike; values with quotes or
        backslashes (possible in names from logs), or very many, go through a registered table."""
        if not values:
            return ""
        if len(values) <= LITERALS_MAX and all(SAFE_LITERAL.fullmatch(v) for v in values):
            return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"
        self.engine.register(f"prefilter_{column}", pa.table({column: pa.array(values, pa.string())}))
        return f"{column} IN (SELECT {column} FROM prefilter_{column})"

    def run(self, behaviour: bool = True) -> list[Finding]:
        """The list detectors' findings, then (``behaviour``) the behaviour model's for endpoints
        they did not report."""
        from minescope.dimensions.network.detectors.behaviour import (
            behaviour_findings,  # it builds on this module's helpers
        )

        self._prepare()
        matches = self._match_tables()
        found: list[Finding] = []
        if matches:
            self.engine.materialize("hits", " UNION ALL ".join(
                f"SELECT {HIT_NAMES} FROM ({q}) h{i}" for i, q in enumerate(HIT_QUERIES)))
            found = self._endpoint_findings(matches) + self._asker_findings(matches)
        if behaviour:
            found += behaviour_findings(self.engine, self.reported)
        return sorted(found, key=lambda f: (f.source, f.subject_ip, f.peer.ip, f.peer.port, f.kind,
                                            f.peer.host or ""))

    def _endpoint_findings(self, matches: list[ListMatch]) -> list[Finding]:
        def key(row: dict[str, Any]) -> tuple[Any, ...]:
            return row["subject"], row["peer_ip"], row["peer_port"], row["input"]

        reasons: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
        for row in self.engine.query(REASONS_SQL):
            reasons[key(row)].append(row)
        samples: dict[tuple[Any, ...], list[FlowRef]] = defaultdict(list)
        for row in sorted(self.engine.query(SAMPLES_SQL), key=lambda r: r["rn"]):
            samples[key(row)].append(_flow_ref(row))
        out = []
        for group in self.engine.query(GROUPS_SQL):
            k = key(group)
            out.append(self._endpoint_finding(group, sorted(reasons[k], key=_reason_order), samples[k], matches))
            self.reported.add((group["subject"], group["peer_ip"], int(group["peer_port"] or 0), group["input"]))
        return out

    def _endpoint_finding(self, group: dict[str, Any], reasons: list[dict[str, Any]], refs: list[FlowRef],
                          matches: list[ListMatch]) -> Finding:
        subject, peer_ip, peer_port = group["subject"], group["peer_ip"], group["peer_port"] or 0
        name = next((r["name"] for r in reasons if r["name"]), None)
        where = f"{name or peer_ip}:{peer_port}"
        n, nbytes = group["flows"], int(group["bytes"] or 0)
        texts = [Text(zh=f"{subject} 与已知矿池 {where} 有 {n} 条连接（共 {nbytes} 字节），无载荷可读：仅凭流日志判断",
                      en=f"{subject} had {n} connection(s) ({nbytes} bytes) with the known pool {where}; "
                         "no payload to read: judged from flow logs only")]
        evidence: list[Evidence] = []
        for r in reasons:
            m = matches[r["match_id"]]
            evidence.append(_list_evidence(m, r["via"]))
            texts.append(_list_reason(m))
            seen = _via_evidence(r, peer_ip)
            if seen is not None:
                evidence.append(seen)
            if r["via"] == "dns":
                texts.append(Text(
                    zh=f"DNS 应答将 {r['name']} 解析为 {peer_ip}，随后出现到该地址的连接",
                    en=f"a DNS answer gave {peer_ip} for {r['name']}, and connections to that address followed"))
        evidence.append(Evidence("behaviour", f"{n} flows, {nbytes} bytes",
                                 {"flows": n, "bytes": nbytes, "first_seen": group["first_seen"],
                                  "last_seen": group["last_seen"], "flows_listed": len(refs)}, "flow logs"))
        confidence = max(CATEGORY_CONFIDENCE.get(matches[r["match_id"]].category, 0.4) for r in reasons)
        return Finding(
            kind=Kind.POOL_CONTACT, subject_ip=subject, peer=Peer(peer_ip, peer_port, name, known_pool=True),
            flows=tuple(refs), confidence=confidence, severity=Severity.MEDIUM, reasons=tuple(_unique(texts)),
            evidence=tuple(evidence), source=_name(group["input"]),
        )

    def _asker_findings(self, matches: list[ListMatch]) -> list[Finding]:
        out = []
        for row in self.engine.query(DNS_ASKERS_SQL):
            client, name, m = row["client_ip"], row["query"], matches[row["match_id"]]
            resolver = row["resolver_ip"] or ""
            ref = FlowRef(client, 0, resolver, 53, "udp", row["first_seen"], row["last_seen"], 0, 0)
            out.append(Finding(
                kind=Kind.POOL_CONTACT, subject_ip=client, peer=Peer(resolver, 53, name), flows=(ref,),
                confidence=CATEGORY_CONFIDENCE.get(m.category, 0.4), severity=Severity.MEDIUM,
                reasons=(Text(zh=f"{client} 查询了域名 {name}（{row['questions']} 次）",
                              en=f"{client} asked DNS for {name} ({row['questions']} time(s))"),
                         _list_reason(m),
                         Text(zh="若该日志位于转发解析器之后，提问方可能是解析器而非矿机本身",
                              en="if this log is taken behind a forwarding resolver, the asker may be the resolver, "
                                 "not the miner itself")),
                evidence=(Evidence("dns", f"DNS question {name}",
                                   {"qname": name, "questions": row["questions"], "resolver": resolver},
                                   row["source"] or ""),
                          _list_evidence(m, "dns")),
                source=_name(row["input"]),
            ))
        return out


def detect_tables(intel: PoolIntel, tables: Iterable[tuple[str, pa.Table]],
                  engine: SqlEngine | None = None, behaviour: bool = True) -> list[Finding]:
    """Findings from whole tables (tests, small inputs): ``[("flows", t), ("dns", d)]``; the list
    detectors alone with ``behaviour=False``."""
    det = FlowLogDetector(intel, engine)
    try:
        for name, data in tables:
            det.add_table(name, data)
        return det.run(behaviour)
    finally:
        det.close()


def _flow_ref(row: dict[str, Any]) -> FlowRef:
    fwd, rev = int(row["bytes_fwd"] or 0), int(row["bytes_rev"] or 0)
    proto = row["proto"]
    return FlowRef(row["src_ip"], row["src_port"] or 0, row["dst_ip"], row["dst_port"] or 0,
                   PROTO_NAMES.get(proto, str(proto)) if proto is not None else "", row["t_start"], row["t_end"],
                   int(row["packets"] or 0), fwd + rev, fwd, rev)


def _via_evidence(r: dict[str, Any], peer_ip: str) -> Evidence | None:
    """What the log showed besides the list entry: the server name or DNS answer (None for an address)."""
    via, name, seen_in = r["via"], r["name"], r["seen_in"] or ""
    if via in ("tls_sni", "http_host"):
        what = "TLS server name" if via == "tls_sni" else "HTTP Host"
        return Evidence(via, f"{what} {name}", {"server_name": name, "flows": r["flows"]}, seen_in)
    if via == "dns":
        return Evidence("dns", f"DNS answer {name} → {peer_ip}",
                        {"qname": name, "answer": peer_ip, "answered_at": r["dns_t"], "client": r["dns_client"],
                         "flows": r["flows"]}, seen_in)
    return None


def _reason_order(r: dict[str, Any]) -> tuple[str, int, str]:
    return ({"tls_sni": "0", "http_host": "0", "dns": "1"}.get(r["via"], "2"), r["match_id"], r["name"] or "")


def _name(input_path: str | None) -> str:
    """The input's file name, as capture findings name their capture."""
    return PurePath(input_path).name if input_path else ""


def _unique(texts: list[Text]) -> list[Text]:
    return list(dict.fromkeys(texts))

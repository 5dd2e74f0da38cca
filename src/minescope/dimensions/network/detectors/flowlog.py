"""Payload-less detectors over the ``flows`` and ``dns`` tables: SQL run by DuckDB or Spark.

One definition for every route: flow logs (NetFlow/IPFIX, nfdump, Zeek, Suricata, mapped files), flow
datasets, and captures — a capture scanned directly and the same capture imported with ``minescope
flows import`` give these detectors the same tables (``readers.capture_flows``), so the same findings.
What needs payload (mining protocols, node framing) is ``detectors.payload``'s; it hands over the pools
it learned (an Arrow table, ``LEARNED_POOLS``) and the flows it explained, which are left alone here.

The detector logic is plain SQL strings (below, ``*_SQL``), written once and run unchanged by
either engine (``engines.sql``: joins, GROUP BY, ROW_NUMBER windows; no engine-specific
functions), over these tables:

  flows        the readers' ``flows`` rows as ``PREPARED`` makes them: epoch seconds
               ``t_start``/``t_end``, ``counted`` (a connection row, not a name row), a ``row_id``
  dns_answers  one row per address answer of the ``dns`` table, with its TTL
  dns_questions  one row per DNS question (``is_new``: false for context files of an incremental run)
  pool_ips     addresses that a pool list or a learned pool names, with a match id
  pool_names   server names and DNS questions that a list (``PoolIntel.match_mining_domain``, exchanges
               excluded) or a learned pool names, with a match id; and names that only look like a
               pool's (``pool_likeness``), with no match id
  explained_flows  flows the payload explained (a capture's mining sessions and node traffic)

List matching is done in Python on the *distinct* addresses (prefiltered by ``PoolIntel.ip_candidates``
in one vectorised pass) and names; the joins and the aggregation run in SQL. Findings are aggregated per
(subject, pool endpoint, input, TLS or not) — a million flows make one finding, with counts, bytes, first
and last seen of the whole group and the first ``SAMPLE_FLOWS`` flows as references.

No finding here is a ``mining_session``: without payload nothing shows the mining protocol itself.
A group of TLS connections (the sensor's protocol label ``tls``/``ssl``) is an
``encrypted_mining_suspect``, any other a ``pool_contact``.

pool_contact by address (``ADDRESS_HITS``)
    Signal: connections to an address on a pool list (networks of user feeds) or learned in this
    scan from a capture's mining session. False positives: shared hosting and CDN addresses on a
    list, stale entries. Confidence 0.45–0.7 by list category.
pool_contact by server name (``NAME_HITS``)
    Signal: the HTTP Host (or TLS SNI, see below) of a connection (Zeek ssl/http, Suricata tls/http,
    captures) is a listed pool or browser-miner name. False positives: visits to a pool's web site
    (dashboards, payout pages), research. Confidence 0.45–0.7 by list category.
pool_contact by passive DNS (``PDNS_HITS``)
    Signal: a DNS answer gave a pool name's address, and a connection from any client to that
    address began within the answer's window: from 1 s before the answer (sensor clocks) up to
    max(TTL, 1 h) after it. False positives: a pool name on a shared (CDN) address whose other
    sites the client visited in that window. Confidence 0.45–0.7 by list category.
pool_contact by DNS question (``DNS_ASKERS``)
    Signal: a host asked DNS for a pool name. False positives: when the DNS log is taken between a
    forwarding resolver (home router, enterprise DNS) and the upstream, the asking "client" is the
    resolver, not the miner behind it; look-ups by browsers prefetching or by security tools.
    Confidence 0.45–0.7 by list category.
encrypted_mining_suspect (the same hits, on TLS connections)
    Signal: TLS to a listed or learned pool (SNI, passive DNS or address), or to a pool-like
    endpoint: a name with pool words (``pool_likeness``, by SNI or passive DNS) plus a stratum port
    or a long, low-rate session (at least ``LONG_SESSION_S`` under ``LOW_RATE_BPS``). Miners move to
    TLS to hide their wallets. False positives: pool web dashboards (HTTPS to the pool's site),
    services whose names contain pool words. Confidence 0.30–0.75: the list category (0.3 without
    one) plus 0.05 for each pool-like hint (name, port, long and slow).
encrypted_mining_suspect (the classifier, ``detectors.encrypted``)
    Signal: what an encrypted connection shows of itself — share-like exchanges, pool pushes, a Stratum
    V2 handshake, a miner's TLS stack, no SNI or ALPN, the port, the name — scored against a threshold;
    from the ``tls`` table, which captures fill (``readers.capture_flows``). An endpoint the rules above
    report too gets one finding with both (``encrypted.joined``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from minescope.dimensions.network.detectors.lists import CATEGORY_CONFIDENCE, list_evidence, list_reason
from minescope.dimensions.network.kinds import ENCRYPTED_MINING_SUSPECT, POOL_CONTACT
from minescope.dimensions.network.tables import DNS, FLOWS, TLS
from minescope.engines.sql import Preparation, SqlEngine, Unnest, View, open_engine
from minescope.knowledge.pools import LearnedPools, ListMatch, PoolIntel, normalise_domain, pool_likeness
from minescope.knowledge.ranges import parse_ip
from minescope.model import Evidence, Finding, FlowRef, Peer, Severity, Text

if TYPE_CHECKING:
    from minescope.dimensions.network.detectors.encrypted import Scored

SAMPLE_FLOWS = 20  # flow references kept per finding (the counts cover all flows)
PDNS_WINDOW_S = 3600.0  # a flow may follow a DNS answer by max(TTL, this)
PDNS_SKEW_S = 1.0  # a flow may start this long before the answer (clocks of different sensors)
PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp6"}
# Long, low-rate sessions: the shape of a miner idling between shares (a hint for TLS, with others).
LONG_SESSION_S = 120.0
LOW_RATE_BPS = 20_000
# The flows the payload explained (``detectors.payload``), by the flows table's own columns.
EXPLAINED = pa.schema([("sensor_uid", pa.string()), ("input", pa.string())])

# --- the tables the detectors read, over the readers' tables --------------------------------------
# {relation}, {epoch_us} and {row_id} are the engine's dialect (``engines.sql``); the rest is shared.

FLOWS_VIEW_SQL = """
SELECT {row_id} AS row_id,
       CAST({epoch_us} AS DOUBLE) / 1000000 AS t_start,
       CAST({epoch_us} AS DOUBLE) / 1000000 + COALESCE(duration_s, 0) AS t_end,
       src_ip, dst_ip, src_port, dst_port, CAST(proto AS INTEGER) AS proto,
       COALESCE(src_packets, 0) + COALESCE(dst_packets, 0) AS packets,
       src_packets AS packets_fwd, dst_packets AS packets_rev, src_bytes AS bytes_fwd, dst_bytes AS bytes_rev,
       CAST(tcp_flags AS INTEGER) AS tcp_flags, src_packets IS NOT NULL AS counted,
       server_name, app, sensor_uid, source, input
FROM {relation}
"""

# is_new: false for DNS files read only as context for an incremental run (older answers can
# explain new flows, but their questions were reported when those files were new)
QUESTIONS_VIEW_SQL = """
SELECT CAST({epoch_us} AS DOUBLE) / 1000000 AS t, client_ip, resolver_ip, query, source, input, is_new
FROM {relation} WHERE query IS NOT NULL
"""

# one row per answer, with its TTL when the log gives one per answer
ANSWERS_VIEW_SQL = """
SELECT CAST({epoch_us} AS DOUBLE) / 1000000 AS t, client_ip, resolver_ip, query, answer, ttl, source, input
FROM {relation} WHERE query IS NOT NULL AND answer IS NOT NULL
"""

# what encrypted connections showed of themselves (``tables.TLS``; captures only), for ``detectors.encrypted``
TLS_VIEW_SQL = """
SELECT sensor_uid AS tls_uid, input AS tls_input, ja3, ja4, exchanges, exchange_min, exchange_max, answer_min,
       answer_max, exchange_cv, pushes, handshake
FROM {relation}
"""

PREPARED = Preparation(
    tables={"flows": FLOWS, "dns": DNS, "tls": TLS},
    views=(View("flows", "flows", FLOWS_VIEW_SQL),
           View("dns_questions", "dns", QUESTIONS_VIEW_SQL),
           View("dns_answers", "dns", ANSWERS_VIEW_SQL, Unnest("answers", "ttls", "answer", "ttl")),
           View("tls_rows", "tls", TLS_VIEW_SQL)),
)

# pool_ips and pool_names are registered by the detector.
#
# pool_flows: the prefilter. A carrier's day is billions of rows, and reading every column of
# every row costs several times more than testing one column. So the detectors first learn, from
# narrow scans, which addresses, names and connection ids could hit at all (listed and learned
# addresses, addresses that pool names resolved to, pool names, the connections of name rows), then
# keep those rows once — one scan that tests them as constants, which the engines push down into
# the Parquet reader — and run the joins on those few rows.
PREFILTER_SQL = "SELECT * FROM flows WHERE {condition}"
# ... without the flows the payload explained
PREFILTER_EXPLAINED_SQL = ("SELECT f.* FROM flows f LEFT JOIN explained_flows e ON f.sensor_uid = e.explained_uid "
                           "AND f.input = e.explained_input WHERE e.explained_uid IS NULL AND ({condition})")
SAFE_LITERAL = re.compile(r"[A-Za-z0-9._:*@/+=-]*")
LITERALS_MAX = 20_000  # beyond this many values the test is a join with a registered table

# --- the detectors: each gives hit rows (one per flow and reason) with the same columns ----------
# tls_hit: 1 when the connection is TLS by the sensor's protocol label. Names without a match id are
# only pool-like: they count on TLS connections alone (the group's hints are weighed in Python).

TLS_F = "COALESCE(f.app IN ('tls', 'ssl'), FALSE)"
TLS_C = "COALESCE(c.app IN ('tls', 'ssl'), FALSE)"

HIT_COLUMNS = ("f.row_id, f.src_ip AS subject, f.dst_ip AS peer_ip, f.dst_port AS peer_port, f.input, f.t_start, "
               "f.t_end, f.src_ip, f.src_port, f.dst_ip, f.dst_port, f.proto, f.packets, f.bytes_fwd, f.bytes_rev")

# The hit queries are templates over the prefiltered flows and the matched addresses and names: pools
# ({flows}=pool_flows, {ips}=pool_ips, {names}=pool_names) here, exchanges in ``detectors.exchanges``.
ADDRESS_HITS = f"""
SELECT {HIT_COLUMNS}, 'address' AS via, p.match_id, CAST(NULL AS STRING) AS name,
       f.source AS seen_in, CAST(NULL AS DOUBLE) AS dns_t, CAST(NULL AS STRING) AS dns_client,
       CASE WHEN {TLS_F} THEN 1 ELSE 0 END AS tls_hit
FROM {{flows}} f JOIN {{ips}} p ON f.dst_ip = p.ip
WHERE f.counted
"""

# Name rows (Zeek ssl/http, Suricata tls/http) carry no counters: take them from the connection's
# counted row (same sensor_uid) when the log has it; a counted row with a name (captures) is itself.
NAME_HITS = f"""
SELECT COALESCE(c.row_id, f.row_id) AS row_id, f.src_ip AS subject, f.dst_ip AS peer_ip, f.dst_port AS peer_port,
       COALESCE(c.input, f.input) AS input, COALESCE(c.t_start, f.t_start) AS t_start,
       COALESCE(c.t_end, f.t_end) AS t_end, f.src_ip, f.src_port, f.dst_ip, f.dst_port,
       COALESCE(c.proto, f.proto) AS proto, COALESCE(c.packets, f.packets) AS packets,
       COALESCE(c.bytes_fwd, f.bytes_fwd) AS bytes_fwd, COALESCE(c.bytes_rev, f.bytes_rev) AS bytes_rev,
       CASE WHEN f.app IN ('tls', 'ssl') THEN 'tls_sni' ELSE 'http_host' END AS via, p.match_id,
       f.server_name AS name, f.source AS seen_in,
       CAST(NULL AS DOUBLE) AS dns_t, CAST(NULL AS STRING) AS dns_client,
       CASE WHEN {TLS_F} OR {TLS_C} THEN 1 ELSE 0 END AS tls_hit
FROM {{flows}} f
JOIN {{names}} p ON f.server_name = p.name
LEFT JOIN {{flows}} c ON NOT f.counted AND c.counted AND c.sensor_uid = f.sensor_uid
WHERE p.match_id IS NOT NULL OR {TLS_F} OR {TLS_C}
"""

HIT_NAMES = ("row_id, subject, peer_ip, peer_port, input, t_start, t_end, src_ip, src_port, dst_ip, dst_port, proto, "
             "packets, bytes_fwd, bytes_rev, via, match_id, name, seen_in, dns_t, dns_client, tls_hit")

# The latest pool answer before each flow explains it (one hit per flow and name).
PDNS_HITS = f"""
SELECT {HIT_NAMES} FROM (
  SELECT {HIT_COLUMNS}, 'dns' AS via, p.match_id, a.query AS name, a.source AS seen_in,
         a.t AS dns_t, a.client_ip AS dns_client, CASE WHEN {TLS_F} THEN 1 ELSE 0 END AS tls_hit,
         ROW_NUMBER() OVER (PARTITION BY f.row_id, a.query ORDER BY a.t DESC, a.client_ip, a.source, a.input) AS rn
  FROM {{flows}} f
  JOIN dns_answers a ON f.dst_ip = a.answer
  JOIN {{names}} p ON a.query = p.name
  WHERE f.counted AND f.t_start >= a.t - {PDNS_SKEW_S}
    AND f.t_start <= a.t + CASE WHEN a.ttl > {PDNS_WINDOW_S} THEN a.ttl ELSE {PDNS_WINDOW_S} END
    AND (p.match_id IS NOT NULL OR {TLS_F})
) latest WHERE rn = 1
"""

HIT_TEMPLATES = (ADDRESS_HITS, NAME_HITS, PDNS_HITS)
# every hit of a connection knows whether any of its rows says TLS (a Zeek ssl.log name row and its conn row)
HITS_SQL = "SELECT h.*, MAX(h.tls_hit) OVER (PARTITION BY h.row_id) AS tls FROM ({hits}) h"


def hit_queries(flows: str, ips: str, names: str) -> str:
    """The hit queries over these tables, as one: a row per flow and reason (``HIT_NAMES``), and ``tls`` when
    any of its connection's rows says TLS."""
    return HITS_SQL.format(hits=" UNION ALL ".join(
        f"SELECT {HIT_NAMES} FROM ({q.format(flows=flows, ips=ips, names=names)}) h{i}"
        for i, q in enumerate(HIT_TEMPLATES)))


GROUP = "subject, peer_ip, peer_port, input, tls"
# Samples are ordered by the flows' own fields, so that only identical rows tie and every engine
# picks the same references (row ids differ between engines).
FLOW_ORDER = ("t_start, src_port, t_end, src_ip, dst_ip, dst_port, proto, packets, bytes_fwd, bytes_rev, "
              "row_id")

# a long, low-rate connection (no division: a zero duration is not one)
SLOW = (f"(t_end - t_start >= {LONG_SESSION_S:.1E} AND 8 * (COALESCE(bytes_fwd, 0) + COALESCE(bytes_rev, 0)) "
        f"< {LOW_RATE_BPS} * (t_end - t_start))")

# One row per (subject, endpoint, input, TLS): flows counted once even when several reasons hit them;
# first and last seen, counts and the long, low-rate connections over all of them.
GROUPS_SQL = f"""
SELECT {GROUP}, COUNT(*) AS flows, SUM(COALESCE(bytes_fwd, 0) + COALESCE(bytes_rev, 0)) AS bytes,
       MIN(t_start) AS first_seen, MAX(t_end) AS last_seen,
       SUM(CASE WHEN {SLOW} THEN 1 ELSE 0 END) AS slow_flows,
       MAX(CASE WHEN {SLOW} THEN t_end - t_start END) AS slow_longest_s,
       MAX(CASE WHEN {SLOW} THEN 8.0E0 * (COALESCE(bytes_fwd, 0) + COALESCE(bytes_rev, 0)) / (t_end - t_start) END)
         AS slow_max_bps
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

DNS_ASKERS = """
SELECT q.client_ip, q.query, p.match_id, q.input, q.source, COUNT(*) AS questions,
       MIN(q.t) AS first_seen, MAX(q.t) AS last_seen, MIN(q.resolver_ip) AS resolver_ip
FROM dns_questions q JOIN {names} p ON q.query = p.name
WHERE q.client_ip IS NOT NULL AND q.is_new AND p.match_id IS NOT NULL
GROUP BY q.client_ip, q.query, p.match_id, q.input, q.source
"""


# --- the detector ----------------------------------------------------------------------------------

class FlowLogDetector:
    """Runs the detectors on an engine (``engines.sql``: DuckDB by default, or Spark); findings
    refer to ``PoolIntel`` and to ``learned``, the pools learned from payload (a ``LEARNED_POOLS``
    table; none when not given: the intel's own learned pools are not consulted).

    Give it reader batches (``add``: DNS from one log may explain flows of another) and Parquet
    files of a flow dataset (``add_parquet``) in any mix, then ``run``.
    """

    def __init__(self, intel: PoolIntel, engine: SqlEngine | None = None, learned: pa.Table | None = None) -> None:
        self.intel = intel
        self.learned = LearnedPools.from_table(learned)
        self.engine = engine or open_engine("duckdb")
        self.prepared = False
        # (subject, peer address, peer port, input) of the list detectors' findings
        self.reported: set[tuple[str, str, int, str]] = set()
        # endpoints the encrypted-mining classifier scored (``detectors.encrypted``), by the same key
        self.classified: dict[tuple[str, str, int, str], Scored] = {}
        # what ``_match_tables`` saw for ``detectors.exchanges``: every distinct name, listed exchange addresses
        self.names_seen: list[str] = []
        self.exchange_ips: list[tuple[str, ListMatch]] = []

    def add(self, table: str, batch: pa.RecordBatch | pa.Table) -> None:
        """A reader batch of ``flows``, ``dns`` or ``tls`` (``alerts`` are not used by these detectors yet)."""
        schema = PREPARED.tables.get(table)
        if schema is not None and batch.num_rows:
            self.engine.append(table, batch if batch.schema.equals(schema) else batch.cast(schema))

    def add_table(self, table: str, data: pa.Table) -> None:
        self.add(table, data)

    def add_parquet(self, table: str, files: Sequence[Path], is_new: bool = True) -> None:
        """Parquet files of a reader table; ``is_new=False`` for DNS read only to explain new flows."""
        self.engine.add_parquet(table, files, is_new)

    def close(self) -> None:
        self.engine.close()

    def _prepare(self) -> None:
        if not self.prepared:
            self.engine.prepare(PREPARED)
            self.prepared = True

    def hosts(self) -> set[str]:
        """The clients of the loaded flows (for a clean scan's case verification): a miner is the
        source of its connections (of its own records, for unidirectional NetFlow)."""
        self._prepare()
        return set(self.engine.column("SELECT DISTINCT src_ip FROM flows WHERE counted").to_pylist()) - {None}

    def _distinct(self, sql: str) -> list[str]:
        return sorted(row["v"] for row in self.engine.query(sql) if row["v"])

    def _match_tables(self, explained: bool) -> list[ListMatch] | None:
        """Match names and addresses in Python; register what matched (sorted, so match ids are the
        same on every engine); keep the rows any detector could hit as ``pool_flows``. None when nothing
        can hit."""
        matches: list[ListMatch] = []
        names: list[tuple[str, int | None]] = []
        self.exchange_ips = []
        self.names_seen = self._distinct("SELECT DISTINCT server_name AS v FROM flows UNION SELECT DISTINCT query "
                                         "FROM dns_answers UNION SELECT DISTINCT query FROM dns_questions")
        for name in self.names_seen:
            m = self.learned.hosts.get(normalise_domain(name)) or self.intel.match_mining_domain(name, learned=False)
            if m is not None:
                names.append((name, len(matches)))
                matches.append(m)
            elif _name_likeness(name):
                names.append((name, None))
        self.engine.register("pool_names", pa.table({"name": pa.array([n for n, _ in names], pa.string()),
                                                     "match_id": pa.array([k for _, k in names], pa.int64())}))
        listed, networks = self.intel.listed_addresses(learned=False)
        candidates = set(listed) | set(self.learned.ips)
        if networks:  # members of listed networks: found among the distinct addresses seen
            seen = self.engine.column("SELECT DISTINCT dst_ip FROM flows WHERE counted")
            candidates |= set(self.intel.ip_candidates(seen, learned=False))
        ips: list[tuple[str, int]] = []
        for ip in sorted(candidates):
            addr = parse_ip(ip)
            learned = self.learned.ips.get(str(addr)) if addr is not None else None
            m = learned or self.intel.match_ip(ip, learned=False)
            if m is not None and m.category == "exchange":
                self.exchange_ips.append((ip, m))
            elif m is not None:
                ips.append((ip, len(matches)))
                matches.append(m)
        self.engine.register("pool_ips", pa.table({"ip": pa.array([i for i, _ in ips], pa.string()),
                                                   "match_id": pa.array([k for _, k in ips], pa.int64())}))
        if not names and not ips:
            return None
        prefilter = PREFILTER_EXPLAINED_SQL if explained else PREFILTER_SQL
        self.engine.materialize("pool_flows", prefilter.format(condition=self.prefilter(ips, names, "pool_names")))
        return matches

    def prefilter(self, ips: Sequence[tuple[str, object]], names: Sequence[tuple[str, object]],
                  names_table: str) -> str:
        """The rows a detector could hit, as constants: listed addresses, addresses the names of
        ``names_table`` resolved to, those names, and the connections their name rows belong to."""
        answered = self._distinct(f"SELECT DISTINCT a.answer AS v FROM dns_answers a "
                                  f"JOIN {names_table} p ON a.query = p.name")
        addresses = sorted({ip for ip, _ in ips} | {a for a in answered if parse_ip(a) is not None})
        name_list = [n for n, _ in names]
        uids = self._distinct(f"SELECT DISTINCT f.sensor_uid AS v FROM flows f JOIN {names_table} p "
                              "ON f.server_name = p.name WHERE NOT f.counted") if names else []
        terms = [self._in_list("dst_ip", addresses, names_table), self._in_list("server_name", name_list, names_table),
                 self._in_list("sensor_uid", uids, names_table)]
        return " OR ".join(t for t in terms if t) or "FALSE"

    def _in_list(self, column: str, values: list[str], owner: str) -> str:
        """``column IN ('a', …)`` with constants both engines read alike; values with quotes or
        backslashes (possible in names from logs), or very many, go through a table registered for ``owner``."""
        if not values:
            return ""
        if len(values) <= LITERALS_MAX and all(SAFE_LITERAL.fullmatch(v) for v in values):
            return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"
        table = f"prefilter_{owner}_{column}"
        self.engine.register(table, pa.table({column: pa.array(values, pa.string())}))
        return f"{column} IN (SELECT {column} FROM {table})"

    def run(self, behaviour: bool = True, explained: pa.Table | None = None,
            leads_top: int | None = None) -> list[Finding]:
        """The list detectors' findings, then (``behaviour``) the behaviour model's for endpoints
        they did not report (the first ``leads_top`` by rank when given). ``explained`` (``EXPLAINED``:
        sensor_uid, input) names flows the payload explained: no detector here judges them or their
        endpoints again."""
        from minescope.dimensions.network.detectors import encrypted, exchanges  # they build on this module
        from minescope.dimensions.network.detectors.behaviour import behaviour_findings

        self._prepare()
        has_explained = explained is not None and explained.num_rows > 0
        if explained is not None and has_explained:
            self.engine.register("explained_flows", pa.table({
                "explained_uid": explained.column("sensor_uid").cast(pa.string()),
                "explained_input": explained.column("input").cast(pa.string())}))
        self.classified = encrypted.classify(self.engine, has_explained)
        matches = self._match_tables(has_explained)
        found: list[Finding] = []
        if matches is not None:
            self.engine.materialize("hits", hit_queries("pool_flows", "pool_ips", "pool_names"))
            found = self._endpoint_findings(matches) + self._asker_findings(matches)
        # the classifier's endpoints the list detectors did not report
        found += encrypted.findings(self.classified, skip=self.reported)
        self.reported |= set(self.classified)
        trading, exchange_endpoints = exchanges.findings(self)
        found += trading
        if behaviour:
            exclude = self.reported | exchange_endpoints  # an exchange's long websocket is no pool session
            if has_explained:
                exclude |= self._explained_endpoints()
            found += behaviour_findings(self.engine, exclude, leads_top)
        return sorted(found, key=lambda f: (f.source, f.subject.value, f.endpoint.ip, f.endpoint.port, f.kind,
                                            f.endpoint.host or ""))

    def _explained_endpoints(self) -> set[tuple[str, str, int, str]]:
        """Both ends of every explained flow, as (subject, peer, peer port, input) either way round."""
        out: set[tuple[str, str, int, str]] = set()
        for r in self.engine.query("SELECT DISTINCT f.src_ip, f.src_port, f.dst_ip, f.dst_port, f.input FROM flows f "
                                   "JOIN explained_flows e ON f.sensor_uid = e.explained_uid "
                                   "AND f.input = e.explained_input"):
            out.add((r["src_ip"], r["dst_ip"], int(r["dst_port"] or 0), r["input"]))
            out.add((r["dst_ip"], r["src_ip"], int(r["src_port"] or 0), r["input"]))
        return out

    def _endpoint_findings(self, matches: list[ListMatch]) -> list[Finding]:
        def key(row: dict[str, Any]) -> tuple[Any, ...]:
            return row["subject"], row["peer_ip"], row["peer_port"], row["input"], row["tls"]

        reasons: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
        for row in self.engine.query(REASONS_SQL):
            reasons[key(row)].append(row)
        samples: dict[tuple[Any, ...], list[FlowRef]] = defaultdict(list)
        for row in sorted(self.engine.query(SAMPLES_SQL), key=lambda r: r["rn"]):
            samples[key(row)].append(_flow_ref(row))
        out = []
        for group in self.engine.query(GROUPS_SQL):
            k = key(group)
            found = self._endpoint_finding(group, sorted(reasons[k], key=_reason_order), samples[k], matches)
            if found is not None:
                out.append(found)
                self.reported.add((group["subject"], group["peer_ip"], int(group["peer_port"] or 0), group["input"]))
        return out

    def _endpoint_finding(self, group: dict[str, Any], reasons: list[dict[str, Any]], refs: list[FlowRef],
                          matches: list[ListMatch]) -> Finding | None:
        """A pool_contact, or an encrypted_mining_suspect for TLS; None for TLS to an unlisted name that
        looks like a pool's without a second hint (a stratum port, a long and slow connection)."""
        subject, peer_ip, peer_port = group["subject"], group["peer_ip"], group["peer_port"] or 0
        listed = [matches[r["match_id"]] for r in reasons if r["match_id"] is not None]
        name = next((r["name"] for r in reasons if r["name"]), None)
        where = f"{name or peer_ip}:{peer_port}"
        n, nbytes = group["flows"], int(group["bytes"] or 0)
        scored = self.classified.get((subject, peer_ip, int(peer_port), group["input"]))
        encrypted = bool(group["tls"]) or scored is not None  # a Stratum V2 handshake is encryption too
        slow = int(group["slow_flows"] or 0)
        name_hints, port_hints = (_name_likeness(name), _port_likeness(int(peer_port))) if encrypted else ([], [])
        if not listed and not (name_hints and (port_hints or slow)) and scored is None:
            return None
        if encrypted:
            texts = [Text(zh=f"{subject} 与疑似矿池 {where} 有 {n} 条加密（TLS）连接（共 {nbytes} 字节）",
                          en=f"{subject} held {n} encrypted (TLS) connection(s) ({nbytes} bytes) with the suspected "
                             f"pool {where}")]
        else:
            texts = [Text(zh=f"{subject} 与已知矿池 {where} 有 {n} 条连接（共 {nbytes} 字节），未读到挖矿协议："
                             "依据流记录、名称与名单判断",
                          en=f"{subject} had {n} connection(s) ({nbytes} bytes) with the known pool {where}; "
                             "no mining protocol was read: judged from flow records, names and lists")]
        evidence: list[Evidence] = []
        for r in reasons:
            if r["match_id"] is not None:
                m = matches[r["match_id"]]
                evidence.append(list_evidence(m, r["via"]))
                texts.append(list_reason(m))
            seen = _via_evidence(r, peer_ip)
            if seen is not None:
                evidence.append(seen)
            if r["via"] == "dns":
                texts.append(Text(
                    zh=f"DNS 应答将 {r['name']} 解析为 {peer_ip}，随后出现到该地址的连接",
                    en=f"a DNS answer gave {peer_ip} for {r['name']}, and connections to that address followed"))
        texts += name_hints + port_hints
        if encrypted and slow:
            longest, rate = float(group["slow_longest_s"]), float(group["slow_max_bps"])
            texts.append(Text(
                zh=f"{slow} 条连接持续至少 {LONG_SESSION_S:.0f} 秒而平均速率低于 {LOW_RATE_BPS / 1000:.0f} kbit/s"
                   f"（最长 {longest:.0f} 秒），符合矿工长连接低速率特征",
                en=f"{slow} connection(s) last at least {LONG_SESSION_S:.0f} s at under "
                   f"{LOW_RATE_BPS / 1000:.0f} kbit/s on average (the longest {longest:.0f} s), the shape of a "
                   "miner's long, low-rate pool connection"))
            evidence.append(Evidence("behaviour", "long, low-rate sessions",
                                     {"flows": slow, "longest_s": round(longest, 1), "max_rate_bps": round(rate)}))
        evidence.append(Evidence("behaviour", f"{n} flows, {nbytes} bytes",
                                 {"flows": n, "bytes": nbytes, "first_seen": group["first_seen"],
                                  "last_seen": group["last_seen"], "flows_listed": len(refs)}, "flow logs"))
        best = max((CATEGORY_CONFIDENCE.get(m.category, 0.4) for m in listed), default=0.3)
        if encrypted:
            hints = len(name_hints) + len(port_hints) + (1 if slow else 0)
            confidence = round(min(0.75, best + 0.05 * hints), 2)
        else:
            confidence = best
        found = Finding(
            kind=ENCRYPTED_MINING_SUSPECT if encrypted else POOL_CONTACT, subject_ip=subject,
            peer=Peer(peer_ip, peer_port, name, known_pool=bool(listed)), flows=tuple(refs), confidence=confidence,
            severity=Severity.MEDIUM, reasons=tuple(_unique(texts)), evidence=tuple(evidence),
            source=_name(group["input"]), first_seen=group["first_seen"], last_seen=group["last_seen"],
        )
        if scored is None:
            return found
        from minescope.dimensions.network.detectors.encrypted import joined

        return joined(found, scored)

    def _asker_findings(self, matches: list[ListMatch]) -> list[Finding]:
        out = []
        for row in self.engine.query(DNS_ASKERS.format(names="pool_names")):
            client, name, m = row["client_ip"], row["query"], matches[row["match_id"]]
            resolver = row["resolver_ip"] or ""
            ref = FlowRef(client, 0, resolver, 53, "udp", row["first_seen"], row["last_seen"], 0, 0)
            out.append(Finding(
                kind=POOL_CONTACT, subject_ip=client, peer=Peer(resolver, 53, name), flows=(ref,),
                confidence=CATEGORY_CONFIDENCE.get(m.category, 0.4), severity=Severity.MEDIUM,
                reasons=(Text(zh=f"{client} 查询了域名 {name}（{row['questions']} 次）",
                              en=f"{client} asked DNS for {name} ({row['questions']} time(s))"),
                         list_reason(m),
                         Text(zh="若该日志位于转发解析器之后，提问方可能是解析器而非矿机本身",
                              en="if this log is taken behind a forwarding resolver, the asker may be the resolver, "
                                 "not the miner itself")),
                evidence=(Evidence("dns", f"DNS question {name}",
                                   {"qname": name, "questions": row["questions"], "resolver": resolver},
                                   row["source"] or ""),
                          list_evidence(m, "dns")),
                source=_name(row["input"]), first_seen=row["first_seen"], last_seen=row["last_seen"],
            ))
        return out


def detect_tables(intel: PoolIntel, tables: Iterable[tuple[str, pa.Table]],
                  engine: SqlEngine | None = None, behaviour: bool = True,
                  learned: pa.Table | None = None) -> list[Finding]:
    """Findings from whole tables (tests, small inputs): ``[("flows", t), ("dns", d)]``; the list
    detectors alone with ``behaviour=False``."""
    det = FlowLogDetector(intel, engine, learned)
    try:
        for name, data in tables:
            det.add_table(name, data)
        return det.run(behaviour)
    finally:
        det.close()


@lru_cache(maxsize=65536)
def _name_likeness(host: str | None) -> list[Text]:
    """Pool words in a host name (``pool_likeness``)."""
    return pool_likeness(host, 0)


@lru_cache(maxsize=65536)
def _port_likeness(port: int) -> list[Text]:
    """A stratum port (``pool_likeness``)."""
    return pool_likeness(None, port)


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


def _reason_order(r: dict[str, Any]) -> tuple[str, bool, int, str, str, str]:
    """Names before addresses, list matches before names that only look like a pool's; a total order, so
    every engine lists the evidence alike."""
    match = r["match_id"]
    return ({"tls_sni": "0", "http_host": "0", "dns": "1"}.get(r["via"], "2"), match is None, match or 0,
            r["name"] or "", r["via"], r["seen_in"] or "")


def _name(input_path: str | None) -> str:
    """The input's file name, as capture findings name their capture."""
    return PurePath(input_path).name if input_path else ""


def _unique(texts: list[Text]) -> list[Text]:
    return list(dict.fromkeys(texts))

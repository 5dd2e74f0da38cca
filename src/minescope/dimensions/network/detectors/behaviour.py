"""The behaviour model: flows that behave like a pool session, without a list match or payload.

A mining client keeps one TCP connection to its pool for hours, sends a small share now and then and
gets small job notices back: long-lived, low-rate, small packets both ways, balanced, client-initiated.
``behaviour_findings`` scores every candidate endpoint (subject, peer address, peer port, input) of
the ``flows`` table with a logistic model whose weights are read from
``knowledge/data/behaviour-model.json`` and inlined into the SQL, so the same text runs on DuckDB and
on Spark SQL. Each finding carries the score and every feature's contribution ``w_i·x_i``.

Orientation (who is the client):
  * a bidirectional record (Zeek, Suricata, IPFIX biflows, captures: ``packets_rev`` not null) —
    ``src`` is the client, as the format reports the initiator, except when ``src`` sits below the
    ephemeral range (``EPHEMERAL_PORTS``) and ``dst`` in it: then the record runs server → client
    (softflowd's biflows do not keep the initiator; a capture that starts mid-session sees the
    server speak first);
  * a unidirectional record (NetFlow v5/v9, plain IPFIX, nfcapd: ``packets_rev`` null) is folded
    onto its unordered endpoint pair: the side with the lower port is the server (services listen on
    fixed ports, clients take ephemeral ones); with equal ports, the side whose first record starts
    first is the client (ties: the lower address). A record from the server side counts as the
    down direction of the pair.

Candidates: endpoints with a TCP record, packets both ways and at least ``MIN_ACTIVE_S`` of
activity (a pool session shorter than that shows no rhythm); only they are scored.

Features (per endpoint, over all its counted records; the model uses (raw - mean) / scale, both
stored in the model file):
  duration    ln(1 + active minutes): the span from first start to last end, but at most the sum
              of the records' durations (repeated short contacts are not one long session)
  rate        ln(1 + packets per active minute, both ways)           low-rate
  up_size     ln(1 + mean bytes per packet client → server)          small packets
  down_size   ln(1 + mean bytes per packet server → client; 0 if none)   small packets
  balance     -|ln((bytes up + 1) / (bytes down + 1))|               neither download nor upload
  regular     1 - min(1, CV of per-record up bytes/packet), ≥ 3 records; else 0   regular sizes
  initiated   share of records from an ephemeral client port (≥ 1024) to a lower server port
  high_port   the server port is not a well-known one (≥ 1024): pools listen on registered ports,
              web and mail on well-known ones (pools on 443 are missed by this feature)
  pool_port   the server port is a conventional stratum port (weak prior; not a list lookup)

Ranking (``rank_sql``, ``rank_leads``): the flagged endpoints the list detectors did not report are the
leads, ordered by rank_z = the model's log-odds + fixed terms (``RANK_WEIGHTS``): a known long-lived
service's port (``SERVICE_PORTS``: MQTT, push, XMPP, SSH, VPN, node P2P, …) ranks a lead down, so do
keep-alive-sized packets from the server (a pool hands work down), a steady client cadence ranks it up;
how many hosts share the endpoint is told, not weighed. Confidence = CONFIDENCE_CAP × sigmoid(rank_z),
so reports and ``minescope probe --from-findings`` take the leads best first; ``top`` keeps the first N.
The set of leads is the model's (score ≥ threshold), whatever the rank.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from minescope.dimensions.network.detectors.flowlog import SAMPLE_FLOWS, _flow_ref, _name
from minescope.dimensions.network.kinds import MINING_BEHAVIOUR_SUSPECT
from minescope.engines.sql import SqlEngine
from minescope.knowledge import data_path
from minescope.knowledge.lists import service_ports
from minescope.knowledge.pools import stratum_ports
from minescope.model import Evidence, Finding, FlowRef, Peer, Severity, Text

MODEL_PATH = data_path("behaviour-model.json")
CONFIDENCE_CAP = 0.6  # behaviour alone is a lead, never proof
TOP_REASONS = 4  # contributions put into words
# Ports pools document for stratum (knowledge/data/pools/pool-ports.txt); a prior, not a pool list:
# anyone can use them.
STRATUM_PORTS = tuple(sorted(stratum_ports()))

EPHEMERAL_PORTS = 32768  # start of the ephemeral range of Linux (32768) and Windows (49152)
MIN_ACTIVE_S = 20.0  # candidates: TCP, packets both ways, active this long (shorter shows no rhythm)
CADENCE_MIN_S = 10.0  # records shorter than this say nothing about the client's packets per minute

Key = tuple[str, str, int, str]

# --- the ranking of leads ---------------------------------------------------------------------------
# Services whose clients hold one TCP connection open for hours with a keep-alive now and then — the
# shape the model looks for — on the port their registry entry or their vendor names. A long, quiet
# session to one of them is explained by the service; none of these ports is a pool's (checked against
# knowledge/data/pools/pool-ports.txt by the tests). The list is data: port, service and its source. UDP
# services (NTP 123, IKE/IPsec 500/4500, WireGuard 51820, QUIC) need no entry: the model only scores TCP.
SERVICE_PORTS: dict[int, tuple[str, str]] = service_ports()  # knowledge/data/behaviour/service-ports.csv
# The rank: the model's log-odds plus these terms (log-odds too), fixed by reasoning, not fitted — 18
# sessions cannot fit four more weights. Every term is in the finding's evidence.
RANK_WEIGHTS: dict[str, float] = {
    "service": -3.0,  # the port is a known long-lived service (SERVICE_PORTS): the service explains the session
    "heartbeat": -2.0,  # × how far the server's packets are keep-alive-sized: no work is handed down
    "steady": 1.0,  # × steadiness of the client's packets per minute over ≥ 3 records: a share cadence
    # × ln(hosts holding pool-like sessions with the same endpoint, at most FAN_IN_CAP). A pool has many
    # miners, but at a carrier the most shared long-lived endpoints are push, broker and vendor clouds:
    # at +0.25 it halved the precision at 100 on the synthetic carrier day (benchmarks/flow_behaviour_eval.py)
    # and changed nothing on the real flows. Kept at 0: in the evidence and the reasons, not in the rank.
    "fan_in": 0.0,
}
RANK_TERMS = ("model", *RANK_WEIGHTS)
# A pool hands work down: a job notice is hundreds of bytes and a share's answer ~60 bytes of JSON, so
# pool → miner packets average ≥ ~100 bytes (IP). Keep-alives are ACKs (52) and pings (MQTT PINGRESP 54,
# a TLS-wrapped ping ~85). Full weight at or under the first size, none from the second up (IP bytes;
# captures count frames, 14 more).
HEARTBEAT_BYTES = (64.0, 96.0)
FAN_IN_CAP = 50
STEADY_MIN_RECORDS = 3

# --- the features, as SQL over the per-endpoint aggregates (table ``g``) -------------------------

# raw feature expressions; every division is by a non-zero double, every LN of a value ≥ 1
FEATURES: dict[str, str] = {
    "duration": "LN(1.0E0 + g.active_s / 6.0E1)",
    "rate": "LN(1.0E0 + 6.0E1 * (g.up_packets + g.down_packets) / GREATEST(g.active_s, 1.0E0))",
    "up_size": "LN(1.0E0 + g.up_bytes / GREATEST(g.up_packets, 1.0E0))",
    "down_size": "LN(1.0E0 + g.down_bytes / GREATEST(g.down_packets, 1.0E0))",
    "balance": "-ABS(LN((g.up_bytes + 1.0E0) / (g.down_bytes + 1.0E0)))",
    "regular": ("CASE WHEN g.up_records >= 3 AND g.up_bpp_mean > 0 THEN 1.0E0 - LEAST(1.0E0, "
                "COALESCE(g.up_bpp_sd, 0.0E0) / g.up_bpp_mean) ELSE 0.0E0 END"),
    "initiated": "g.initiated_records / g.records",
    "high_port": "CASE WHEN g.peer_port >= 1024 THEN 1.0E0 ELSE 0.0E0 END",
    "pool_port": f"CASE WHEN g.peer_port IN ({', '.join(map(str, STRATUM_PORTS))}) THEN 1.0E0 ELSE 0.0E0 END",
}

# One row per counted record, oriented client → server (see the module docstring).
_RECORDS = """
SELECT row_id, t_start, t_end, src_ip, src_port, dst_ip, dst_port, proto, packets, bytes_fwd, bytes_rev, input,
       packets_fwd, packets_rev, CAST(COALESCE(src_port, 0) AS INTEGER) AS sp,
       CAST(COALESCE(dst_port, 0) AS INTEGER) AS dp,
       CASE WHEN src_ip < dst_ip OR (src_ip = dst_ip AND COALESCE(src_port, 0) <= COALESCE(dst_port, 0))
            THEN 1 ELSE 0 END AS src_lo
FROM {source}
WHERE counted AND packets_fwd IS NOT NULL AND src_ip IS NOT NULL AND dst_ip IS NOT NULL
"""

# is_up: 1 when the record's src is the client (rules: module docstring). Equal-port unidirectional
# records (rare: NTP, IKE) need the pair's first records, so only they go through a window.
_ORIENTED = f"""
SELECT r.*, CASE WHEN packets_rev IS NOT NULL AND NOT (dp >= {EPHEMERAL_PORTS} AND sp < {EPHEMERAL_PORTS}) THEN 1
                 WHEN packets_rev IS NULL AND dp < sp THEN 1 ELSE 0 END AS is_up
FROM ({_RECORDS}) r WHERE packets_rev IS NOT NULL OR sp <> dp
UNION ALL
SELECT e.row_id, e.t_start, e.t_end, e.src_ip, e.src_port, e.dst_ip, e.dst_port, e.proto, e.packets, e.bytes_fwd,
       e.bytes_rev, e.input, e.packets_fwd, e.packets_rev, e.sp, e.dp, e.src_lo,
       CASE WHEN e.lo_first IS NULL THEN 1 - e.src_lo
            WHEN e.hi_first IS NULL THEN e.src_lo
            WHEN e.lo_first <= e.hi_first THEN e.src_lo ELSE 1 - e.src_lo END AS is_up
FROM (
  SELECT q.*,
         MIN(CASE WHEN src_lo = 1 THEN t_start END) OVER (PARTITION BY input, proto, lo_ip, hi_ip, sp) AS lo_first,
         MIN(CASE WHEN src_lo = 0 THEN t_start END) OVER (PARTITION BY input, proto, lo_ip, hi_ip, sp) AS hi_first
  FROM (SELECT r.*, CASE WHEN src_lo = 1 THEN src_ip ELSE dst_ip END AS lo_ip,
               CASE WHEN src_lo = 1 THEN dst_ip ELSE src_ip END AS hi_ip
        FROM ({_RECORDS}) r WHERE packets_rev IS NULL AND sp = dp) q
) e
"""

_SIDES = """
SELECT o.*,
       CASE WHEN is_up = 1 THEN src_ip ELSE dst_ip END AS client_ip,
       CASE WHEN is_up = 1 THEN sp ELSE dp END AS client_port,
       CASE WHEN is_up = 1 THEN dst_ip ELSE src_ip END AS server_ip,
       CASE WHEN is_up = 1 THEN dp ELSE sp END AS server_port,
       CAST(CASE WHEN is_up = 1 THEN packets_fwd ELSE COALESCE(packets_rev, 0) END AS DOUBLE) AS up_pk,
       CAST(CASE WHEN is_up = 1 THEN COALESCE(bytes_fwd, 0) ELSE COALESCE(bytes_rev, 0) END AS DOUBLE) AS up_b,
       CAST(CASE WHEN is_up = 1 THEN COALESCE(packets_rev, 0) ELSE packets_fwd END AS DOUBLE) AS dn_pk,
       CAST(CASE WHEN is_up = 1 THEN COALESCE(bytes_rev, 0) ELSE COALESCE(bytes_fwd, 0) END AS DOUBLE) AS dn_b
FROM ({oriented}) o
"""

_GROUPS = """
SELECT client_ip AS subject, server_ip AS peer_ip, server_port AS peer_port, input,
       CAST(COUNT(*) AS DOUBLE) AS records, COUNT(DISTINCT client_port) AS client_ports,
       MIN(t_start) AS first_seen, MAX(t_end) AS last_seen,
       GREATEST(MAX(t_end) - MIN(t_start), 0.0E0) AS span_s, MAX(t_end - t_start) AS longest_s,
       LEAST(GREATEST(MAX(t_end) - MIN(t_start), 0.0E0), SUM(GREATEST(t_end - t_start, 0.0E0))) AS active_s,
       SUM(up_pk) AS up_packets, SUM(dn_pk) AS down_packets, SUM(up_b) AS up_bytes, SUM(dn_b) AS down_bytes,
       SUM(CASE WHEN up_pk > 0 THEN 1 ELSE 0 END) AS up_records,
       AVG(CASE WHEN up_pk > 0 THEN up_b / up_pk END) AS up_bpp_mean,
       STDDEV_SAMP(CASE WHEN up_pk > 0 THEN up_b / up_pk END) AS up_bpp_sd,
       CAST(SUM(CASE WHEN proto = 6 THEN 1 ELSE 0 END) AS DOUBLE) AS tcp_records,
       MAX(CASE WHEN proto = 6 AND t_end - t_start >= {min_active} THEN 1 ELSE 0 END) AS long_tcp,
       SUM(CASE WHEN up_pk > 0 AND t_end - t_start >= {cadence_min} THEN 1 ELSE 0 END) AS cadence_records,
       AVG(CASE WHEN up_pk > 0 AND t_end - t_start >= {cadence_min} THEN 6.0E1 * up_pk / (t_end - t_start) END)
         AS up_rate_mean,
       STDDEV_SAMP(CASE WHEN up_pk > 0 AND t_end - t_start >= {cadence_min} THEN 6.0E1 * up_pk / (t_end - t_start)
                   END) AS up_rate_sd,
       CAST(SUM(CASE WHEN client_port >= 1024 AND server_port < client_port THEN 1 ELSE 0 END) AS DOUBLE)
         AS initiated_records
FROM sides
GROUP BY client_ip, server_ip, server_port, input
"""



def sides_sql(source: str = "flows") -> str:
    """Every counted record of ``source`` with its client/server sides and up/down counters."""
    return _SIDES.format(oriented=_ORIENTED).replace("{source}", source)


SIDES_SQL = sides_sql()

# The prefilter at scale: only address pairs with a long TCP record can hold a candidate endpoint
# (``long_tcp`` below), so only their records are oriented and grouped — a few percent of a
# carrier's rows. The pair (both addresses, any ports, the input) is coarser than the endpoint, so
# the endpoints found are exactly the candidates of the unfiltered SQL.
SESSION_PAIRS_SQL = f"""
SELECT DISTINCT LEAST(src_ip, dst_ip) AS lo_ip, GREATEST(src_ip, dst_ip) AS hi_ip, input AS pair_input
FROM flows WHERE counted AND proto = 6 AND t_end - t_start >= {MIN_ACTIVE_S!r}
"""
PAIR_RECORDS = ("(SELECT f.* FROM flows f JOIN behaviour_pairs p ON LEAST(f.src_ip, f.dst_ip) = p.lo_ip "
                "AND GREATEST(f.src_ip, f.dst_ip) = p.hi_ip AND f.input = p.pair_input) pair_flows")

GROUP_COLUMNS = ("subject", "peer_ip", "peer_port", "input", "records", "client_ports", "first_seen", "last_seen",
                 "span_s", "longest_s", "active_s", "up_packets", "down_packets", "up_bytes", "down_bytes",
                 "up_records", "up_bpp_mean", "up_bpp_sd", "tcp_records", "long_tcp", "cadence_records",
                 "up_rate_mean", "up_rate_sd")


_CANDIDATE = (f"CASE WHEN g.long_tcp = 1 AND g.up_packets > 0 AND g.down_packets > 0 AND g.active_s >= "
              f"{MIN_ACTIVE_S!r} THEN 1 ELSE 0 END")


def _lit(x: float) -> str:
    """A DOUBLE literal both engines read alike (Spark reads 0.5 as DECIMAL)."""
    return f"CAST({float(x)!r} AS DOUBLE)"


def features_sql(sides: str | None = None) -> str:
    """Raw (unstandardised) features per endpoint, over the records of ``sides`` (a table of
    ``sides_sql`` rows; default: all of ``flows``, as the training tools read it)."""
    raw = ", ".join(f"{expr} AS x_{name}" for name, expr in FEATURES.items())
    source = f"WITH sides AS ({SIDES_SQL}), " if sides is None else f"WITH sides AS (SELECT * FROM {sides}), "
    groups = _GROUPS.format(min_active=repr(MIN_ACTIVE_S), cadence_min=repr(CADENCE_MIN_S))
    return (f"{source}groups AS ({groups})\n"
            f"SELECT {', '.join('g.' + c for c in GROUP_COLUMNS)}, {_CANDIDATE} AS candidate, {raw} FROM groups g")


# --- the model ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Model:
    intercept: float
    threshold: float
    weights: dict[str, float]
    means: dict[str, float]
    sds: dict[str, float]


def parse_model(doc: dict[str, Any]) -> Model:
    """The model file's numbers, checked against the features this code computes."""
    feats = {f["name"]: f for f in doc["features"]}
    if set(feats) != set(FEATURES):
        raise ValueError(f"behaviour model features {sorted(feats)} differ from the code's {sorted(FEATURES)}")
    numbers = [doc["intercept"], doc["threshold"]] + [f[k] for f in feats.values() for k in ("weight", "mean", "sd")]
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in numbers):
        raise ValueError("behaviour model: every weight, mean, sd and the threshold must be finite numbers")
    if not 0 < doc["threshold"] < 1 or any(f["sd"] <= 0 for f in feats.values()):
        raise ValueError("behaviour model: threshold must lie in (0, 1) and every sd be positive")
    return Model(float(doc["intercept"]), float(doc["threshold"]),
                 {n: float(feats[n]["weight"]) for n in FEATURES}, {n: float(feats[n]["mean"]) for n in FEATURES},
                 {n: float(feats[n]["sd"]) for n in FEATURES})


@cache
def load_model(path: Path = MODEL_PATH) -> Model:
    return parse_model(json.loads(path.read_text(encoding="utf-8")))


def scores_sql(model: Model, sides: str | None = None) -> str:
    """Endpoints scoring at least the threshold, with every contribution ``c_<feature>`` and the
    log-odds ``z`` (bounded to ±50) the score is made of."""
    contrib = {n: f"{_lit(model.weights[n])} * (x_{n} - {_lit(model.means[n])}) / {_lit(model.sds[n])}"
               for n in FEATURES}
    z = " + ".join([_lit(model.intercept), *(f"c_{n}" for n in FEATURES)])
    return (f"SELECT * FROM (SELECT l.*, {_lit(1.0)} / ({_lit(1.0)} + EXP(-l.z)) AS score "
            f"FROM (SELECT s.*, LEAST(GREATEST({z}, -5.0E1), 5.0E1) AS z "
            f"FROM (SELECT f.*, {', '.join(f'{e} AS c_{n}' for n, e in contrib.items())} "
            f"FROM ({features_sql(sides)}) f WHERE f.candidate = 1) s) l) scored "
            f"WHERE score >= {_lit(model.threshold)}")


# The rank terms, over a flagged endpoint ``k`` and its endpoint's fan-in ``n`` (see RANK_WEIGHTS).
_RANK_FEATURES: dict[str, str] = {
    "service": f"CASE WHEN k.peer_port IN ({', '.join(map(str, sorted(SERVICE_PORTS)))}) THEN 1.0E0 ELSE 0.0E0 END",
    "heartbeat": (f"LEAST(1.0E0, GREATEST(0.0E0, ({_lit(HEARTBEAT_BYTES[1])} - k.down_bytes / "
                  f"GREATEST(k.down_packets, 1.0E0)) / {_lit(HEARTBEAT_BYTES[1] - HEARTBEAT_BYTES[0])}))"),
    "steady": (f"CASE WHEN k.cadence_records >= {STEADY_MIN_RECORDS} AND k.up_rate_mean > 0 THEN 1.0E0 - "
               "LEAST(1.0E0, COALESCE(k.up_rate_sd, 0.0E0) / k.up_rate_mean) ELSE 0.0E0 END"),
    "fan_in": f"LN(CAST(LEAST(n.fan_in, {FAN_IN_CAP}) AS DOUBLE))",
}


def rank_sql(flagged: str = "behaviour_flagged", exclude: str = "behaviour_exclude", top: int | None = None) -> str:
    """The leads: the endpoints of ``flagged`` (``scores_sql`` rows) not in ``exclude`` (ex_subject,
    ex_peer_ip, ex_peer_port, ex_input), each with its rank features ``f_<term>``, terms ``r_<term>``
    (weight × feature; ``r_model`` is the model's log-odds), ``rank_z``, ``rank`` and its ``position``
    (1 = first) among ``leads``; the first ``top`` when given. Fan-in counts the hosts of every flagged
    endpoint, reported or not. Positions follow ``rank_z`` rounded to 6 decimals (engines that sum in
    another order agree), then the endpoint."""
    feats = ", ".join(f"{e} AS f_{n}" for n, e in _RANK_FEATURES.items())
    terms = " + ".join(["t.z", *(f"{_lit(w)} * t.f_{n}" for n, w in RANK_WEIGHTS.items())])
    each = ", ".join(["t.z AS r_model", *(f"{_lit(w)} * t.f_{n} AS r_{n}" for n, w in RANK_WEIGHTS.items())])
    return f"""
WITH flagged AS (SELECT * FROM {flagged}),
fan AS (SELECT peer_ip AS fan_ip, peer_port AS fan_port, COUNT(DISTINCT subject) AS fan_in
        FROM flagged GROUP BY peer_ip, peer_port),
kept AS (SELECT f.* FROM flagged f LEFT JOIN {exclude} e ON f.subject = e.ex_subject AND f.peer_ip = e.ex_peer_ip
         AND f.peer_port = e.ex_peer_port AND f.input = e.ex_input WHERE e.ex_subject IS NULL),
terms AS (SELECT k.*, CAST(n.fan_in AS DOUBLE) AS fan_in, {feats}
          FROM kept k JOIN fan n ON k.peer_ip = n.fan_ip AND k.peer_port = n.fan_port),
ranked AS (SELECT t.*, {each}, {terms} AS rank_z FROM terms t),
placed AS (
  SELECT r.*, {_lit(1.0)} / ({_lit(1.0)} + EXP(-LEAST(GREATEST(r.rank_z, -5.0E1), 5.0E1))) AS rank,
         ROW_NUMBER() OVER (ORDER BY ROUND(r.rank_z, 6) DESC, r.subject, r.peer_ip, r.peer_port, r.input) AS position,
         COUNT(*) OVER () AS leads
  FROM ranked r)
SELECT * FROM placed{'' if top is None else f' WHERE position <= {int(top)}'}
"""


def samples_sql(flagged: str, sides: str) -> str:
    """The first ``SAMPLE_FLOWS`` records of each flagged endpoint (table ``flagged``) from the
    records of ``sides``, in a total order."""
    return f"""
WITH flagged AS (SELECT * FROM {flagged}), records AS (SELECT * FROM {sides})
SELECT * FROM (
  SELECT s.row_id, s.t_start, s.t_end, s.src_ip, s.src_port, s.dst_ip, s.dst_port, s.proto, s.packets,
         s.bytes_fwd, s.bytes_rev, k.subject, k.peer_ip, k.peer_port, k.input,
         ROW_NUMBER() OVER (PARTITION BY k.subject, k.peer_ip, k.peer_port, k.input
                            ORDER BY s.t_start, s.src_port, s.t_end, s.dst_ip, s.dst_port, s.proto, s.packets,
                                     s.bytes_fwd, s.bytes_rev, s.row_id) AS rn
  FROM records s JOIN flagged k ON s.client_ip = k.subject AND s.server_ip = k.peer_ip
                             AND s.server_port = k.peer_port AND s.input = k.input
) ranked WHERE rn <= {SAMPLE_FLOWS}
"""


# --- findings -------------------------------------------------------------------------------------

def _round(x: Any, digits: int = 6) -> Any:
    """Floats to ``digits`` significant digits, so engines that sum in another order agree."""
    if isinstance(x, float):
        return 0.0 if x == 0 or not math.isfinite(x) else float(f"{x:.{digits}g}")
    return x


def _duration(seconds: float) -> tuple[str, str]:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} 小时", f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} 分钟", f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} 秒", f"{seconds:.0f} s"


def _reason(name: str, row: dict[str, Any]) -> Text:
    """One contribution in words, with the value it rests on."""
    up_p, dn_p = float(row["up_packets"] or 0), float(row["down_packets"] or 0)
    up_b, dn_b = float(row["up_bytes"] or 0), float(row["down_bytes"] or 0)
    records = int(row["records"])
    if name == "duration":
        zh, en = _duration(float(row["active_s"]))
        return Text(zh=f"长连接 {zh}（{records} 条记录）", en=f"long-lived: {en} ({records} record(s))")
    if name == "rate":
        rate = 60 * (up_p + dn_p) / max(float(row["active_s"]), 1.0)
        return Text(zh=f"低速率：每分钟 {rate:.1f} 个包", en=f"low rate: {rate:.1f} packets/min")
    if name == "up_size":
        v = up_b / max(up_p, 1)
        return Text(zh=f"上行小包：平均 {v:.0f} 字节", en=f"small packets up: {v:.0f} B mean")
    if name == "down_size":
        v = dn_b / max(dn_p, 1)
        return Text(zh=f"下行小包：平均 {v:.0f} 字节", en=f"small packets down: {v:.0f} B mean")
    if name == "balance":
        share = 100 * up_b / max(up_b + dn_b, 1)
        return Text(zh=f"上下行字节相当：上行占 {share:.0f}%", en=f"balanced bytes: {share:.0f}% up")
    if name == "regular":
        cv = float(row["up_bpp_sd"] or 0) / max(float(row["up_bpp_mean"] or 0), 1e-9)
        return Text(zh=f"包长规律：{row['up_records']} 条记录的平均包长变异系数 {cv:.2f}",
                    en=f"regular packet sizes: CV {cv:.2f} over {row['up_records']} records")
    if name == "initiated":
        return Text(zh=f"客户端发起：由临时端口连到固定端口 {row['peer_port']}",
                    en=f"client-initiated: ephemeral port to the fixed port {row['peer_port']}")
    if name == "high_port":
        return Text(zh=f"服务端口 {row['peer_port']} 不是知名服务端口（矿池多用此类端口）",
                    en=f"the server port {row['peer_port']} is not a well-known service port (as pools use)")
    return Text(zh=f"常见矿池端口 {row['peer_port']}（仅为弱先验）",
                en=f"a common stratum port {row['peer_port']} (weak prior)")


def _rank_reason(name: str, row: dict[str, Any]) -> Text:
    """One rank term in words, with the value it rests on."""
    port = int(row["peer_port"] or 0)
    if name == "service":
        service = SERVICE_PORTS[port][0]
        return Text(zh=f"端口 {port} 是已知的长连接服务（{service}），长而安静的会话可由该服务解释：排序靠后",
                    en=f"port {port} is a known long-lived service ({service}), which explains a long, quiet "
                       "session: ranked down")
    if name == "heartbeat":
        v = float(row["down_bytes"] or 0) / max(float(row["down_packets"] or 0), 1.0)
        return Text(zh=f"服务端只发心跳大小的包（平均 {v:.0f} 字节），不像在下发挖矿任务：排序靠后",
                    en=f"the server sends only keep-alive-sized packets ({v:.0f} B mean), not work being handed "
                       "down: ranked down")
    if name == "steady":
        cv = float(row["up_rate_sd"] or 0) / max(float(row["up_rate_mean"] or 0), 1e-9)
        return Text(zh=f"客户端发包节奏稳定：{int(row['cadence_records'])} 条记录每分钟包数的变异系数 {cv:.2f}"
                       "（矿工按难度均匀提交份额）",
                    en=f"a steady client cadence: packets per minute vary by CV {cv:.2f} over "
                       f"{int(row['cadence_records'])} records (a miner submits shares at a steady pace)")
    others = int(row["fan_in"]) - 1
    return Text(zh=f"另有 {others} 台主机与同一端点 {row['peer_ip']}:{port} 有类似矿池的会话（一次探测可核实全部）",
                en=f"{others} other host(s) hold pool-like sessions with the same endpoint {row['peer_ip']}:{port} "
                   "(one probe checks them all)")


def _key(row: dict[str, Any]) -> Key:
    return row["subject"], row["peer_ip"], int(row["peer_port"] or 0), row["input"]


def _finding(row: dict[str, Any], refs: list[FlowRef]) -> Finding:
    subject, peer_ip, peer_port = row["subject"], row["peer_ip"], int(row["peer_port"] or 0)
    score, rank = float(row["score"]), float(row["rank"])
    position, leads = int(row["position"]), int(row["leads"])
    contributions = {n: _round(float(row[f"c_{n}"])) for n in FEATURES}
    top = sorted((n for n in FEATURES if contributions[n] > 0), key=lambda n: (-contributions[n], n))[:TOP_REASONS]
    terms = {n: _round(float(row[f"r_{n}"])) for n in RANK_TERMS}
    # the rank terms that moved it, in words: what ranks it down first, then what ranks it up; then
    # the other hosts at the same endpoint (whatever its weight)
    moved = [n for n in RANK_WEIGHTS if terms[n] < 0] + [n for n in RANK_WEIGHTS if terms[n] > 0 and n != "fan_in"]
    if row["fan_in"] > 1:
        moved.append("fan_in")
    zh, en = _duration(float(row["active_s"]))
    texts = [Text(zh=f"{subject} 与 {peer_ip}:{peer_port} 的流量像矿池会话（评分 {score:.2f}，持续 {zh}；"
                     f"线索排序第 {position}/{leads} 位）；未命中矿池名单，也无载荷：仅为线索，需人工核实",
                  en=f"traffic of {subject} with {peer_ip}:{peer_port} behaves like a pool session (score "
                     f"{score:.2f}, {en}; lead {position} of {leads} by rank); no pool list match and no payload: "
                     "a lead to verify, not proof")]
    texts += [_rank_reason(n, row) for n in moved]
    texts += [_reason(n, row) for n in top]
    raw = {n: _round(float(row[f"x_{n}"])) for n in FEATURES}
    detail = {
        "score": _round(score), "records": int(row["records"]), "client_ports": int(row["client_ports"]),
        "span_s": _round(float(row["span_s"])), "active_s": _round(float(row["active_s"])),
        "longest_s": _round(float(row["longest_s"])),
        "packets_up": int(row["up_packets"]), "packets_down": int(row["down_packets"]),
        "bytes_up": int(row["up_bytes"]), "bytes_down": int(row["down_bytes"]),
        "first_seen": _round(float(row["first_seen"]), 15), "last_seen": _round(float(row["last_seen"]), 15),
        "features": raw, "contributions": contributions, "top": top, "model": MODEL_PATH.name,
        "rank": {"rank": _round(rank), "z": _round(float(row["rank_z"])), "position": position, "leads": leads,
                 "terms": terms, "features": {n: _round(float(row[f"f_{n}"])) for n in RANK_WEIGHTS},
                 "fan_in": int(row["fan_in"]), "service": SERVICE_PORTS.get(peer_port, (None,))[0]},
    }
    return Finding(
        kind=MINING_BEHAVIOUR_SUSPECT, subject_ip=subject, peer=Peer(peer_ip, peer_port, None, known_pool=False),
        flows=tuple(refs), confidence=round(min(CONFIDENCE_CAP, CONFIDENCE_CAP * rank), 4), severity=Severity.LOW,
        reasons=tuple(texts),
        evidence=(Evidence("behaviour", f"behaviour score {score:.2f}, lead {position} of {leads} by rank, over "
                                        f"{int(row['records'])} record(s)", detail, "behaviour model"),),
        source=_name(row["input"]), first_seen=float(row["first_seen"]), last_seen=float(row["last_seen"]),
    )


EXCLUDE = pa.schema([("ex_subject", pa.string()), ("ex_peer_ip", pa.string()), ("ex_peer_port", pa.int32()),
                     ("ex_input", pa.string())])


def rank_leads(engine: SqlEngine, exclude: AbstractSet[Key] = frozenset(), top: int | None = None,
               ) -> list[dict[str, Any]]:
    """The leads of the engine's ``flows``, best first: endpoints the model scores as pool-like, minus
    those in ``exclude`` (subject, peer_ip, peer_port, input) that the list detectors already reported,
    ranked (``rank_sql``); the first ``top`` when given.

    Kept on the engine: the address pairs with a long TCP record (``behaviour_pairs``), the oriented
    records of those pairs (``behaviour_sides``), the flagged endpoints (``behaviour_flagged``) and the
    ranked leads kept (``behaviour_leads``), each computed once."""
    model = load_model()
    engine.materialize("behaviour_pairs", SESSION_PAIRS_SQL)
    engine.materialize("behaviour_sides", sides_sql(PAIR_RECORDS))
    engine.materialize("behaviour_flagged", scores_sql(model, "behaviour_sides"))
    ex = sorted(exclude)
    engine.register("behaviour_exclude", pa.table([pa.array([k[i] for k in ex], f.type) for i, f in enumerate(EXCLUDE)],
                                                  schema=EXCLUDE))
    engine.materialize("behaviour_leads", rank_sql("behaviour_flagged", "behaviour_exclude", top))
    return sorted(engine.query("SELECT * FROM behaviour_leads"), key=lambda r: int(r["position"]))


def behaviour_findings(engine: SqlEngine, exclude: AbstractSet[Key] = frozenset(),
                       top: int | None = None) -> list[Finding]:
    """``mining_behaviour_suspect`` findings for the leads of ``rank_leads``, best first (confidence
    = CONFIDENCE_CAP × rank); only the first ``top`` when given."""
    rows = rank_leads(engine, exclude, top)
    if not rows:
        return []
    samples: dict[Key, list[dict[str, Any]]] = defaultdict(list)
    for s in engine.query(samples_sql("behaviour_leads", "behaviour_sides")):
        samples[_key(s)].append(s)
    out = []
    for row in rows:
        refs = [_flow_ref(s) for s in sorted(samples[_key(row)], key=lambda s: s["rn"])]
        if refs:
            out.append(_finding(row, refs))
    return out

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

from minescope.dimensions.network.detectors.flowlog import SAMPLE_FLOWS, _flow_ref, _name
from minescope.dimensions.network.kinds import MINING_BEHAVIOUR_SUSPECT
from minescope.engines.sql import SqlEngine
from minescope.knowledge import data_path
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

Key = tuple[str, str, int, str]

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
                 "up_records", "up_bpp_mean", "up_bpp_sd", "tcp_records", "long_tcp")


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
    return (f"{source}groups AS ({_GROUPS.format(min_active=repr(MIN_ACTIVE_S))})\n"
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
    """Endpoints scoring at least the threshold, with every contribution ``c_<feature>``."""
    contrib = {n: f"{_lit(model.weights[n])} * (x_{n} - {_lit(model.means[n])}) / {_lit(model.sds[n])}"
               for n in FEATURES}
    z = " + ".join([_lit(model.intercept), *(f"c_{n}" for n in FEATURES)])
    return (f"SELECT * FROM (SELECT s.*, {_lit(1.0)} / ({_lit(1.0)} + EXP(-LEAST(GREATEST({z}, -5.0E1), 5.0E1))) "
            f"AS score FROM (SELECT f.*, {', '.join(f'{e} AS c_{n}' for n, e in contrib.items())} "
            f"FROM ({features_sql(sides)}) f WHERE f.candidate = 1) s) scored WHERE score >= {_lit(model.threshold)}")


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


def _key(row: dict[str, Any]) -> Key:
    return row["subject"], row["peer_ip"], int(row["peer_port"] or 0), row["input"]


def _finding(row: dict[str, Any], refs: list[FlowRef]) -> Finding:
    subject, peer_ip, peer_port = row["subject"], row["peer_ip"], int(row["peer_port"] or 0)
    score = float(row["score"])
    contributions = {n: _round(float(row[f"c_{n}"])) for n in FEATURES}
    top = sorted((n for n in FEATURES if contributions[n] > 0), key=lambda n: (-contributions[n], n))[:TOP_REASONS]
    zh, en = _duration(float(row["active_s"]))
    texts = [Text(zh=f"{subject} 与 {peer_ip}:{peer_port} 的流量像矿池会话（评分 {score:.2f}，持续 {zh}）；"
                     "未命中矿池名单，也无载荷：仅为线索，需人工核实",
                  en=f"traffic of {subject} with {peer_ip}:{peer_port} behaves like a pool session (score "
                     f"{score:.2f}, {en}); no pool list match and no payload: a lead to verify, not proof")]
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
    }
    return Finding(
        kind=MINING_BEHAVIOUR_SUSPECT, subject_ip=subject, peer=Peer(peer_ip, peer_port, None, known_pool=False),
        flows=tuple(refs), confidence=round(min(CONFIDENCE_CAP, CONFIDENCE_CAP * score), 3), severity=Severity.LOW,
        reasons=tuple(texts),
        evidence=(Evidence("behaviour", f"behaviour score {score:.2f} over {int(row['records'])} record(s)", detail,
                           "behaviour model"),),
        source=_name(row["input"]), first_seen=float(row["first_seen"]), last_seen=float(row["last_seen"]),
    )


def behaviour_findings(engine: SqlEngine, exclude: AbstractSet[Key] = frozenset()) -> list[Finding]:
    """Endpoints of the engine's ``flows`` the model scores as pool-like, minus those in ``exclude``
    (subject, peer_ip, peer_port, input) that the list detectors already reported.

    Three tables are kept on the engine: the address pairs with a long TCP record, the oriented
    records of those pairs, and the flagged endpoints (so each is computed once)."""
    model = load_model()
    engine.materialize("behaviour_pairs", SESSION_PAIRS_SQL)
    engine.materialize("behaviour_sides", sides_sql(PAIR_RECORDS))
    engine.materialize("behaviour_flagged", scores_sql(model, "behaviour_sides"))
    rows = [r for r in engine.query("SELECT * FROM behaviour_flagged") if _key(r) not in exclude]
    if not rows:
        return []
    samples: dict[Key, list[dict[str, Any]]] = defaultdict(list)
    for s in engine.query(samples_sql("behaviour_flagged", "behaviour_sides")):
        samples[_key(s)].append(s)
    out = []
    for row in rows:
        refs = [_flow_ref(s) for s in sorted(samples[_key(row)], key=lambda s: s["rn"])]
        if refs:
            out.append(_finding(row, refs))
    return sorted(out, key=lambda f: (f.source, f.subject.value, f.endpoint.ip, f.endpoint.port, f.id))

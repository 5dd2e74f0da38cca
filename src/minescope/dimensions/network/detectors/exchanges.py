"""exchange_access: hosts that reach virtual-currency exchanges, per host and exchange (issue: trading).

The 2021 campaign blocked the exchanges' network presence (银发〔2021〕237号): offshore exchanges serving
mainland residents are illegal. Which hosts still reach them is the same question as which reach pools, asked
of another list, so it is answered by the same SQL: the hit templates of ``detectors.flowlog`` (TLS server
name or HTTP Host, passive DNS, listed address) over exchange names and addresses instead of pools', then one
group per (host, exchange, input) — sessions, bytes, first and last seen, the channels used — and hosts that
only asked DNS for an exchange (``DNS_ASKERS``). Both engines run the same text.

Names are an exchange's when an exchange list names them (``PoolIntel.match_exchange``: never a name a
pool-grade list names or with pool words) and the service is a trading venue (``knowledge.exchanges``:
exchanges, DEXs, OTC desks, exchangers; not wallets, explorers or news). The channel comes from the host name
(``knowledge.exchanges.channel``): the app API and websocket streams are the trading app or a bot at work;
the web site may be a visit; downloads install the app.

Confidence: 0.9 by TLS server name or HTTP Host (the client named the exchange), 0.8 by passive DNS (a
connection to an address an exchange name had just resolved to; a CDN address may serve other sites), 0.6 by
a listed address alone (a user feed), 0.5 by a DNS question alone (maybe blocked, maybe a prefetch, maybe a
forwarding resolver asking for its clients).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from minescope.dimensions.network.detectors.flowlog import (
    DNS_ASKERS,
    FLOW_ORDER,
    PREFILTER_SQL,
    SAMPLE_FLOWS,
    _flow_ref,
    _name,
    _via_evidence,
    hit_queries,
)
from minescope.dimensions.network.detectors.lists import list_evidence
from minescope.dimensions.network.kinds import EXCHANGE_ACCESS
from minescope.knowledge.exchanges import CHANNELS, Exchange, channel, exchange_of
from minescope.knowledge.pools import ListMatch
from minescope.model import Evidence, Finding, FlowRef, Peer, Severity, Text

if TYPE_CHECKING:
    from minescope.dimensions.network.detectors.flowlog import FlowLogDetector

VIA_CONFIDENCE = {"tls_sni": 0.9, "http_host": 0.9, "dns": 0.8, "address": 0.6, "dns_question": 0.5}
VIA_TEXT = {"tls_sni": ("TLS 服务器名", "TLS server name"), "http_host": ("HTTP Host", "HTTP Host"),
            "dns": ("DNS 解析后的连接", "connections after a DNS answer"), "address": ("名单地址", "a listed address"),
            "dns_question": ("DNS 查询", "DNS questions")}
CHANNEL_TEXT = {"api": ("应用 API", "app API"), "websocket": ("行情/账户推送（websocket）", "websocket streams"),
                "download": ("下载", "downloads"), "web": ("网站", "web site")}
GROUP = "subject, service, input"

# one row per (host, exchange, input): connections counted once whatever names hit them
GROUPS_SQL = f"""
SELECT {GROUP}, COUNT(*) AS sessions, SUM(COALESCE(bytes_fwd, 0) + COALESCE(bytes_rev, 0)) AS bytes,
       SUM(COALESCE(bytes_fwd, 0)) AS bytes_up, MIN(t_start) AS first_seen, MAX(t_end) AS last_seen
FROM (SELECT DISTINCT h.row_id, h.subject, m.service, h.input, h.t_start, h.t_end, h.bytes_fwd, h.bytes_rev
      FROM exchange_hits h JOIN exchange_matches m ON h.match_id = m.match_id) flowset
GROUP BY {GROUP}
"""

# what hit, by name and how (the evidence), and the sessions of each channel
REASONS_SQL = """
SELECT h.subject, m.service, h.input, h.via, h.name, h.seen_in, MIN(h.match_id) AS match_id,
       COUNT(DISTINCT h.row_id) AS flows, MIN(h.dns_t) AS dns_t, MIN(h.dns_client) AS dns_client,
       MIN(h.peer_ip) AS peer_ip
FROM exchange_hits h JOIN exchange_matches m ON h.match_id = m.match_id
GROUP BY h.subject, m.service, h.input, h.via, h.name, h.seen_in
"""
CHANNELS_SQL = """
SELECT h.subject, m.service, h.input, m.channel, COUNT(DISTINCT h.row_id) AS sessions
FROM exchange_hits h JOIN exchange_matches m ON h.match_id = m.match_id
GROUP BY h.subject, m.service, h.input, m.channel
"""
SAMPLES_SQL = f"""
SELECT * FROM (
  SELECT flowset.*, ROW_NUMBER() OVER (PARTITION BY {GROUP} ORDER BY {FLOW_ORDER}) AS rn
  FROM (SELECT DISTINCT h.row_id, h.subject, m.service, h.input, h.t_start, h.t_end, h.src_ip, h.src_port, h.dst_ip,
               h.dst_port, h.proto, h.packets, h.bytes_fwd, h.bytes_rev
        FROM exchange_hits h JOIN exchange_matches m ON h.match_id = m.match_id) flowset
) ranked WHERE rn <= {SAMPLE_FLOWS}
"""
ENDPOINTS_SQL = "SELECT DISTINCT subject, peer_ip, peer_port, input FROM exchange_hits"


class _Match:
    """One matched name or address: the list entry, the service and the channel."""

    __slots__ = ("channel", "exchange", "list_match")

    def __init__(self, list_match: ListMatch, exchange: Exchange, channel: str | None) -> None:
        self.list_match, self.exchange, self.channel = list_match, exchange, channel


def findings(det: FlowLogDetector) -> tuple[list[Finding], set[tuple[str, str, int, str]]]:
    """The ``exchange_access`` findings of the flows and DNS loaded into ``det`` (after its ``_match_tables``),
    and the (host, address, port, input) endpoints they rest on."""
    matches: list[_Match] = []
    names: list[tuple[str, int]] = []
    for name in det.names_seen:
        m = det.intel.match_exchange(name, learned=False)
        exchange = exchange_of(m) if m is not None and name not in det.learned.hosts else None
        if m is not None and exchange is not None:
            names.append((name, len(matches)))
            matches.append(_Match(m, exchange, channel(name)))
    ips: list[tuple[str, int]] = []
    for ip, m in det.exchange_ips:
        exchange = exchange_of(m)
        if exchange is not None:
            ips.append((ip, len(matches)))
            matches.append(_Match(m, exchange, None))
    if not matches:
        return [], set()
    engine = det.engine
    engine.register("exchange_names", pa.table({"name": pa.array([n for n, _ in names], pa.string()),
                                                "match_id": pa.array([k for _, k in names], pa.int64())}))
    engine.register("exchange_ips", pa.table({"ip": pa.array([i for i, _ in ips], pa.string()),
                                              "match_id": pa.array([k for _, k in ips], pa.int64())}))
    engine.register("exchange_matches", pa.table({
        "match_id": pa.array(range(len(matches)), pa.int64()),
        "service": pa.array([m.exchange.service for m in matches], pa.string()),
        "channel": pa.array([m.channel for m in matches], pa.string())}))
    engine.materialize("exchange_flows", PREFILTER_SQL.format(condition=det.prefilter(ips, names, "exchange_names")))
    engine.materialize("exchange_hits", hit_queries("exchange_flows", "exchange_ips", "exchange_names"))

    def key(row: dict[str, Any]) -> tuple[str, str, str]:
        return row["subject"], row["service"], row["input"]

    groups = {key(r): r for r in engine.query(GROUPS_SQL)}
    reasons: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in engine.query(REASONS_SQL):
        reasons[key(r)].append(r)
    channels: dict[tuple[str, str, str], dict[str, int]] = defaultdict(dict)
    for r in engine.query(CHANNELS_SQL):
        if r["channel"]:
            channels[key(r)][r["channel"]] = int(r["sessions"])
    samples: dict[tuple[str, str, str], list[FlowRef]] = defaultdict(list)
    for r in sorted(engine.query(SAMPLES_SQL), key=lambda r: r["rn"]):
        samples[key(r)].append(_flow_ref(r))
    questions: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in engine.query(DNS_ASKERS.format(names="exchange_names")):
        m = matches[r["match_id"]]
        questions[(r["client_ip"], m.exchange.service, r["input"])].append(r)
    endpoints = {(r["subject"], r["peer_ip"], int(r["peer_port"] or 0), r["input"])
                 for r in engine.query(ENDPOINTS_SQL)}
    out = [_finding(k, groups.get(k), sorted(reasons[k], key=_reason_order), channels[k], samples[k],
                    sorted(questions[k], key=lambda r: (r["query"], r["source"] or "")), matches)
           for k in sorted(set(groups) | set(questions))]
    return out, endpoints


def _finding(k: tuple[str, str, str], group: dict[str, Any] | None, reasons: list[dict[str, Any]],
             channels: dict[str, int], refs: list[FlowRef], questions: list[dict[str, Any]],
             matches: list[_Match]) -> Finding:
    subject, _, input_path = k
    first = matches[(reasons or questions)[0]["match_id"]]
    ex = first.exchange
    sessions = int(group["sessions"]) if group else 0
    nbytes, up = (int(group["bytes"] or 0), int(group["bytes_up"] or 0)) if group else (0, 0)
    hosts = sorted({r["name"] for r in reasons if r["name"]} | {q["query"] for q in questions})
    vias = sorted({r["via"] for r in reasons} | ({"dns_question"} if questions else set()),
                  key=lambda v: -VIA_CONFIDENCE[v])
    top_name = max(reasons, key=lambda r: (r["flows"], r["name"] or ""))["name"] if reasons else questions[0]["query"]
    texts = [Text(zh=f"{subject} 访问了虚拟货币交易所 {ex.name_zh}：{sessions} 个连接（共 {nbytes} 字节）",
                  en=f"{subject} reached the virtual-currency exchange {ex.name_en}: {sessions} connection(s) "
                     f"({nbytes} bytes)")]
    if channels:
        used = [c for c in CHANNELS if c in channels]
        texts.append(Text(zh="使用渠道：" + "、".join(f"{CHANNEL_TEXT[c][0]} {channels[c]} 个" for c in used),
                          en="channels: " + ", ".join(f"{CHANNEL_TEXT[c][1]} {channels[c]}" for c in used)))
    if questions:
        asked = sum(int(q["questions"]) for q in questions)
        texts.append(Text(zh=f"查询交易所域名 {asked} 次（{', '.join(sorted({q['query'] for q in questions}))}）",
                          en=f"asked DNS for the exchange's names {asked} time(s) "
                             f"({', '.join(sorted({q['query'] for q in questions}))})"))
    texts.append(Text(zh="依据：" + "、".join(VIA_TEXT[v][0] for v in vias) + f"；名单 {first.list_match.list_name}",
                      en="seen by " + ", ".join(VIA_TEXT[v][1] for v in vias)
                         + f"; list {first.list_match.list_name}"))
    evidence = [Evidence("exchange", f"{ex.name_en} ({ex.type})", {
        "exchange": ex.service, "name_zh": ex.name_zh, "name_en": ex.name_en, "type": ex.type,
        "sessions": sessions, "bytes": nbytes, "bytes_up": up, "channels": channels, "app_api": bool(
            channels.get("api") or channels.get("websocket")), "names": hosts, "via": vias,
        "questions": sum(int(q["questions"]) for q in questions)}, first.list_match.source),
        list_evidence(first.list_match, vias[0])]
    for r in reasons:
        seen = _via_evidence(r, r["peer_ip"])
        if seen is not None:
            evidence.append(seen)
    if refs:
        flows = tuple(refs)
        peer = Peer(refs[0].dst_ip, refs[0].dst_port, top_name)
    else:  # DNS questions only: the resolver asked is the far end, as for a pool's askers
        q = questions[0]
        resolver = q["resolver_ip"] or ""
        flows = (FlowRef(subject, 0, resolver, 53, "udp", q["first_seen"], q["last_seen"], 0, 0),)
        peer = Peer(resolver, 53, top_name)
        evidence.append(Evidence("dns", f"DNS question {q['query']}",
                                 {"qname": q["query"], "questions": q["questions"], "resolver": resolver},
                                 q["source"] or ""))
    seen_at = [(g["first_seen"], g["last_seen"]) for g in ([group] if group else [])]
    seen_at += [(q["first_seen"], q["last_seen"]) for q in questions]
    return Finding(
        kind=EXCHANGE_ACCESS, subject_ip=subject, peer=peer, flows=flows,
        confidence=VIA_CONFIDENCE[vias[0]], severity=Severity.MEDIUM if sessions else Severity.LOW,
        reasons=tuple(texts), evidence=tuple(evidence), source=_name(input_path),
        first_seen=min(a for a, _ in seen_at), last_seen=max(b for _, b in seen_at), key=ex.service,
    )


def _reason_order(r: dict[str, Any]) -> tuple[float, str, str, str]:
    """Strongest evidence first, then by name: a total order, so every engine lists the evidence alike."""
    return -VIA_CONFIDENCE[r["via"]], r["name"] or "", r["via"], r["seen_in"] or ""

"""Network detectors over one capture's flows: from flows and payload facts to findings.

Each detector below states its signal, its known false positives and its confidence. They run
in this order because each may teach the next: an endpoint seen speaking a mining protocol is
learned as a pool, and later flows to it (TLS, unknown framing) are judged with that knowledge.

mining_session
    Signal: the flow speaks a mining protocol (Stratum, CryptoNote/XMRig JSON-RPC, Ethereum
    getwork/EthereumStratum, getwork/getblocktemplate over HTTP), as read by
    ``protocols.mining``: mining methods with mining-shaped parameters, in either direction.
    False positives: a pool *simulator* or test harness speaking the protocol; a node's own
    getblocktemplate RPC to a local wallet (solo mining is still mining). Confidence 0.85–0.99.
crypto_node
    Signal: blockchain node framing (Bitcoin-family network magic + command, Monero levin
    signature, Ethereum discv4/RLPx handshake shapes, Nano header). Not mining.
    False positives: random UDP payloads matching the discv4 shape. Confidence 0.9 (magic-framed
    protocols) or 0.7 (Ethereum, Nano: shapes).
pool_contact
    Signal: DNS questions for listed pool names; flows to listed or learned pool endpoints
    without a readable mining protocol; HTTP requests whose Host is a listed pool or browser
    miner. False positives: list entries that are stale or that share hosting; research
    visits to pool web sites. Confidence 0.45–0.7 by list category. Exchanges (also on the mixed
    crypto list) are trading, not mining: they give no finding here.
encrypted_mining_suspect
    Signal: TLS to a listed or learned pool (SNI or address), or to a pool-like endpoint (pool
    words in the server name plus a stratum port or a long, low-rate session). Miners move to
    TLS to hide their wallets. False positives: pool web dashboards (HTTPS to the pool's site),
    services whose names contain pool words. Confidence 0.40–0.75.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from minescope.dimensions.network.capture import packets as pk
from minescope.dimensions.network.capture.flows import DnsAnswer, FlowPayload, ip_str
from minescope.knowledge.pools import ListMatch, PoolIntel, pool_likeness
from minescope.model import Evidence, Finding, FlowRef, Kind, MiningFacts, Peer, Severity, Text

NODE_CLASSES = {pk.C_NODE_BTC, pk.C_NODE_XMR, pk.C_NODE_ETH, pk.C_NODE_NANO}
CATEGORY_CONFIDENCE = {"pool": 0.7, "learned": 0.7, "browser_mining": 0.6, "crypto_mixed": 0.45}
# Long, low-rate sessions: the shape of a miner idling between shares (used only with other hints).
LOW_RATE_BPS = 20_000
LONG_SESSION_S = 120.0


@dataclass(frozen=True, slots=True)
class Flow:
    """One kept flow as detectors see it; ``src`` is the initiator."""

    serial: int
    ref: FlowRef
    cls: int

    @property
    def rate_bps(self) -> float:
        return 8 * self.ref.bytes / self.ref.duration if self.ref.duration > 0 else 0.0


def flows_from_table(t: dict[str, np.ndarray]) -> list[Flow]:
    out = []
    for i in range(len(t["serial"])):
        a = ip_str(int(t["a_hi"][i]), int(t["a_lo"][i]))
        b = ip_str(int(t["b_hi"][i]), int(t["b_lo"][i]))
        ap, bp = int(t["a_port"][i]), int(t["b_port"][i])
        ab, ba = int(t["bytes_ab"][i]), int(t["bytes_ba"][i])
        proto = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp6"}.get(int(t["proto"][i]), str(int(t["proto"][i])))
        pkts = int(t["pkts_ab"][i] + t["pkts_ba"][i])
        first, last = float(t["first_ts"][i]), float(t["last_ts"][i])
        if t["initiator"][i] == 0:
            ref = FlowRef(a, ap, b, bp, proto, first, last, pkts, ab + ba, ab, ba)
        else:
            ref = FlowRef(b, bp, a, ap, proto, first, last, pkts, ab + ba, ba, ab)
        out.append(Flow(int(t["serial"][i]), ref, int(t["cls"][i])))
    return out


class CaptureDetector:
    """Turns one capture's flows, payload facts and passive DNS into findings."""

    def __init__(self, intel: PoolIntel, source: str) -> None:
        self.intel = intel
        self.source = source
        # Look-ups repeat across flows (the same server names and pool endpoints); pools are learned
        # before these are used, so the answers hold for the rest of this capture.
        self._domain_cache: dict[str | None, ListMatch | None] = {}
        self._endpoint_cache: dict[tuple[str, int], ListMatch | None] = {}

    def run(self, flows: list[Flow], payload: dict[int, FlowPayload], pdns: dict[str, list[DnsAnswer]],
            dns_hits: dict[int, list[str]]) -> list[Finding]:
        findings: list[Finding] = []
        mining_serials: set[int] = set()
        for flow in flows:
            state = payload.get(flow.serial)
            if state is not None and state.mining is not None and state.mining.is_mining:
                findings.append(self._mining_session(flow, state, pdns))
                mining_serials.add(flow.serial)
        findings.extend(self._nodes([f for f in flows if f.cls in NODE_CLASSES], payload))
        findings.extend(self._dns_contacts([f for f in flows if f.serial in dns_hits], dns_hits))
        for flow in flows:
            if flow.serial in mining_serials or flow.cls in NODE_CLASSES or flow.serial in dns_hits:
                continue
            found = self._contact(flow, payload.get(flow.serial), pdns)
            if found is not None:
                findings.append(found)
        return findings

    # --- mining_session -------------------------------------------------------------------
    def _mining_session(self, flow: Flow, state: FlowPayload, pdns: dict[str, list[DnsAnswer]]) -> Finding:
        stream = state.mining
        assert stream is not None
        facts = stream.facts()
        assert facts is not None
        ref = flow.ref
        if stream.miner_side == 1:  # the capture began mid-session: the pool's packet came first
            ref = FlowRef(ref.dst_ip, ref.dst_port, ref.src_ip, ref.src_port, ref.proto, ref.first_seen,
                          ref.last_seen, ref.packets, ref.bytes, ref.bytes_to_src, ref.bytes_to_dst)
        host, host_from = _name_for(ref.dst_ip, ref.first_seen, pdns, state, facts)
        evidence = [Evidence("protocol", _protocol_summary(facts), _protocol_detail(facts), "protocols.mining")]
        reasons = [Text(
            zh=f"{ref.src_ip} 与 {ref.dst_ip}:{ref.dst_port} 之间的会话使用挖矿协议 {facts.protocol}"
               + (f"（{', '.join(sorted(facts.methods))}）" if facts.methods else ""),
            en=f"the session between {ref.src_ip} and {ref.dst_ip}:{ref.dst_port} speaks the mining protocol "
               f"{facts.protocol}" + (f" ({', '.join(sorted(facts.methods))})" if facts.methods else ""),
        )]
        if host:
            evidence.append(Evidence(host_from, f"pool host name {host}", {"host": host}, host_from))
        confidence = 0.85
        if facts.shares_submitted or facts.login_seen:
            confidence = 0.95
        if facts.shares_accepted:
            confidence = 0.98
        listed = [m for m in (self.intel.match_mining_domain(host), self.intel.match_ip(ref.dst_ip)) if m is not None]
        for m in listed:
            evidence.append(_list_evidence(m))
            reasons.append(_list_reason(m))
            confidence = min(0.99, confidence + 0.01)
        if not facts.login_seen:
            reasons.append(Text(zh="抓包始于会话中途：未见登录，按矿池下发的任务和提交判断",
                                en="the capture starts mid-session: no login seen; judged from pool jobs and submits"))
        self.intel.learn(ref.dst_ip, ref.dst_port, host, f"{facts.protocol} session from {ref.src_ip}")
        return Finding(
            kind=Kind.MINING_SESSION, subject_ip=ref.src_ip,
            peer=Peer(ref.dst_ip, ref.dst_port, host, known_pool=True), flows=(ref,),
            confidence=round(confidence, 2), severity=Severity.HIGH, reasons=tuple(reasons),
            evidence=tuple(evidence), source=self.source, mining=facts,
        )

    # --- crypto_node ------------------------------------------------------------------------
    def _nodes(self, flows: list[Flow], payload: dict[int, FlowPayload]) -> list[Finding]:
        """One finding per host and node protocol, with all its peer flows."""
        groups: dict[tuple[str, str], list[tuple[Flow, dict[str, str]]]] = defaultdict(list)
        for flow in flows:
            state = payload.get(flow.serial)
            node = (state.node if state and state.node else None) or {"protocol": pk.CLASS_NAMES[flow.cls]}
            groups[(flow.ref.src_ip, node.get("protocol", pk.CLASS_NAMES[flow.cls]))].append((flow, node))
        out = []
        for (host, protocol), members in groups.items():
            refs = tuple(sorted((f.ref for f, _ in members), key=lambda r: r.first_seen))
            details = [n for _, n in members]
            network = details[0].get("network", protocol)
            agents = sorted({d["user_agent"] for d in details if d.get("user_agent")})
            messages = sorted({d["message"] for d in details if d.get("message")})
            framed = protocol in ("bitcoin", "monero", "litecoin", "dogecoin", "bitcoincash", "dash")
            confidence = 0.9 if framed else 0.7  # magic-framed protocols; Ethereum/Nano rest on shapes
            out.append(Finding(
                kind=Kind.CRYPTO_NODE, subject_ip=host,
                peer=Peer(refs[0].dst_ip, refs[0].dst_port), flows=refs,
                confidence=confidence, severity=Severity.INFO,
                reasons=(Text(
                    zh=f"{host} 以 {network} 节点协议与 {len(refs)} 个对端通信（区块链节点，不是挖矿）",
                    en=f"{host} speaks the {network} node protocol with {len(refs)} peer flow(s) "
                       "(a blockchain node, not mining)"),),
                evidence=(Evidence("signature", f"{network} framing",
                                   {"messages": messages, "user_agents": agents}, "protocols.nodes"),),
                source=self.source, node_protocol=protocol,
            ))
        return out

    # --- pool_contact by DNS ------------------------------------------------------------------
    def _dns_contacts(self, flows: list[Flow], dns_hits: dict[int, list[str]]) -> list[Finding]:
        groups: dict[tuple[str, str], list[Flow]] = defaultdict(list)
        for flow in flows:
            for name in dns_hits[flow.serial]:
                groups[(flow.ref.src_ip, name)].append(flow)
        out = []
        for (client, name), members in groups.items():
            match = self.intel.match_mining_domain(name)
            if match is None:
                continue
            refs = tuple(f.ref for f in members)
            out.append(Finding(
                kind=Kind.POOL_CONTACT, subject_ip=client, peer=Peer(refs[0].dst_ip, refs[0].dst_port, name),
                flows=refs, confidence=CATEGORY_CONFIDENCE.get(match.category, 0.4),
                severity=Severity.MEDIUM,
                reasons=(Text(zh=f"{client} 查询了域名 {name}", en=f"{client} asked DNS for {name}"),
                         _list_reason(match)),
                evidence=(Evidence("dns", f"DNS question {name}", {"qname": name}, "protocols.dns"),
                          _list_evidence(match)),
                source=self.source,
            ))
        return out

    # --- pool_contact / encrypted_mining_suspect by endpoint ----------------------------------
    def _match_domain(self, name: str | None) -> ListMatch | None:
        if name not in self._domain_cache:
            self._domain_cache[name] = self.intel.match_mining_domain(name)
        return self._domain_cache[name]

    def _match_endpoint(self, ip: str, port: int) -> ListMatch | None:
        key = (ip, port)
        if key not in self._endpoint_cache:
            self._endpoint_cache[key] = self.intel.match_endpoint(ip, port)
        return self._endpoint_cache[key]

    def _contact(self, flow: Flow, state: FlowPayload | None, pdns: dict[str, list[DnsAnswer]]) -> Finding | None:
        ref = flow.ref
        sni = state.sni if state else None
        http_host = state.http.get("host") if state and state.http else None
        dns_name = _dns_name(ref.dst_ip, ref.first_seen, pdns)
        named = sni or http_host or dns_name
        matches: list[tuple[str, ListMatch]] = []
        for how, value in (("tls_sni", sni), ("http_host", http_host), ("dns", dns_name)):
            m = self._match_domain(value)
            if m is not None:
                matches.append((how, m))
        m_ip = self._match_endpoint(ref.dst_ip, ref.dst_port)
        if m_ip is not None and m_ip.category != "exchange":
            matches.append(("address", m_ip))
        evidence: list[Evidence] = []
        reasons: list[Text] = []
        for how, m in matches:
            evidence.append(_list_evidence(m, how))
            reasons.append(_list_reason(m))
        if flow.cls == pk.C_TLS:
            name_hints = _name_likeness(sni or dns_name)
            port_hints = _port_likeness(ref.dst_port)
            likeness = name_hints + port_hints
            behaviour = ref.duration >= LONG_SESSION_S and flow.rate_bps < LOW_RATE_BPS
            # pool-like alone needs a name hint and a second one: a stratum port or a miner-shaped session
            if not matches and not (name_hints and (port_hints or behaviour)):
                return None
            if sni:
                alpn = state.alpn if state else []
                evidence.append(Evidence("tls_sni", f"TLS server name {sni}", {"sni": sni, "alpn": alpn},
                                         "protocols.tls"))
            reasons.extend(likeness)
            if behaviour:
                reasons.append(Text(
                    zh=f"会话持续 {ref.duration:.0f} 秒而平均速率仅 {flow.rate_bps / 1000:.1f} kbit/s，"
                       "符合矿工长连接低速率特征",
                    en=f"the session lasts {ref.duration:.0f} s at only {flow.rate_bps / 1000:.1f} kbit/s on average, "
                       "the shape of a miner's long, low-rate pool connection"))
                evidence.append(Evidence("behaviour", "long, low-rate session",
                                         {"duration_s": round(ref.duration, 1), "rate_bps": round(flow.rate_bps)}))
            best = max((CATEGORY_CONFIDENCE.get(m.category, 0.4) for _, m in matches), default=0.3)
            confidence = min(0.75, best + 0.05 * len(likeness) + (0.05 if behaviour else 0.0))
            where = f"{named or ref.dst_ip}:{ref.dst_port}"
            reasons.insert(0, Text(zh=f"{ref.src_ip} 与疑似矿池 {where} 建立了加密（TLS）连接",
                                   en=f"{ref.src_ip} holds an encrypted (TLS) connection to a suspected pool {where}"))
            return Finding(
                kind=Kind.ENCRYPTED_MINING_SUSPECT, subject_ip=ref.src_ip,
                peer=Peer(ref.dst_ip, ref.dst_port, named, known_pool=bool(matches)), flows=(ref,),
                confidence=round(confidence, 2), severity=Severity.MEDIUM, reasons=tuple(reasons),
                evidence=tuple(evidence), source=self.source,
            )
        if not matches:
            return None
        if http_host:
            head = dict(state.http) if state and state.http else {}
            evidence.append(Evidence("http_host", f"HTTP Host {http_host}", head, "protocols.http"))
        reasons.insert(0, Text(zh=f"{ref.src_ip} 访问了已知矿池 {named or ref.dst_ip}:{ref.dst_port}",
                               en=f"{ref.src_ip} contacted the known pool {named or ref.dst_ip}:{ref.dst_port}"))
        return Finding(
            kind=Kind.POOL_CONTACT, subject_ip=ref.src_ip, peer=Peer(ref.dst_ip, ref.dst_port, named, known_pool=True),
            flows=(ref,), confidence=max(CATEGORY_CONFIDENCE.get(m.category, 0.4) for _, m in matches),
            severity=Severity.MEDIUM, reasons=tuple(reasons), evidence=tuple(evidence), source=self.source,
        )


@lru_cache(maxsize=65536)
def _name_likeness(host: str | None) -> list[Text]:
    return pool_likeness(host, 0)


@lru_cache(maxsize=65536)
def _port_likeness(port: int) -> list[Text]:
    return pool_likeness(None, port)


def _dns_name(ip: str, before: float, pdns: dict[str, list[DnsAnswer]]) -> str | None:
    """The name this address was last given in a DNS answer before the flow began (else any)."""
    answers = pdns.get(ip)
    if not answers:
        return None
    earlier = [a for a in answers if a.ts <= before + 1.0]
    return (earlier[-1] if earlier else answers[0]).name


def _name_for(ip: str, first_seen: float, pdns: dict[str, list[DnsAnswer]], state: FlowPayload,
              facts: MiningFacts) -> tuple[str | None, str]:
    """The pool's host name and where it came from: the login, TLS SNI, HTTP Host, or DNS."""
    if facts.pool_host:
        return facts.pool_host, "protocol"
    if state.sni:
        return state.sni, "tls_sni"
    if state.http and state.http.get("host"):
        return state.http["host"], "http_host"
    name = _dns_name(ip, first_seen, pdns)
    return (name, "dns") if name else (None, "")


def _protocol_summary(f: MiningFacts) -> str:
    parts = [f.protocol]
    if f.coin:
        parts.append(f.coin)
    if f.agent:
        parts.append(f.agent)
    parts.append(f"{f.shares_submitted} shares")
    return ", ".join(parts)


def _protocol_detail(f: MiningFacts) -> dict[str, object]:
    return {"protocol": f.protocol, "coin": f.coin, "algorithm": f.algorithm, "wallet": f.wallet, "worker": f.worker,
            "agent": f.agent, "methods": f.methods, "difficulty": f.difficulty,
            "shares_submitted": f.shares_submitted, "shares_accepted": f.shares_accepted,
            "shares_rejected": f.shares_rejected, "login_seen": f.login_seen}


def _list_evidence(m: ListMatch, how: str = "") -> Evidence:
    return Evidence("learned_pool" if m.category == "learned" else "list_match",
                    f"{m.matched_value} matches {m.entry} in {m.list_name}",
                    {"entry": m.entry, "list": m.list_name, "category": m.category, "matched": m.matched_value,
                     "licence": m.licence, "via": how, "reason": m.reason},
                    m.source)


def _list_reason(m: ListMatch) -> Text:
    if m.category == "learned":
        return Text(zh=f"{m.matched_value} 在本次扫描中被看到使用挖矿协议（{m.reason}）",
                    en=f"{m.matched_value} was seen speaking a mining protocol in this scan ({m.reason})")
    return Text(zh=f"{m.matched_value} 命中名单 {m.list_name} 的条目 {m.entry}（类别 {m.category}）",
                en=f"{m.matched_value} matches entry {m.entry} of list {m.list_name} (category {m.category})")

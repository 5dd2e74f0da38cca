"""The detectors that need a capture's payload: mining protocols and node framing.

What a capture shows without payload — connections to listed or learned pools, pool names in TLS
SNI, HTTP Host and DNS, hosts asking DNS for pool names, TLS to pool-like endpoints, pool-like
behaviour — is decided by the same SQL as for flow logs (``detectors.flowlog``, ``detectors.behaviour``),
over the capture's ``flows`` and ``dns`` tables (``readers.capture_flows``). Here, in Python, only:

mining_session
    Signal: the flow speaks a mining protocol (Stratum, CryptoNote/XMRig JSON-RPC, Ethereum
    getwork/EthereumStratum, getwork/getblocktemplate over HTTP), as read by
    ``protocols.mining``: mining methods with mining-shaped parameters, in either direction.
    False positives: a pool *simulator* or test harness speaking the protocol; a node's own
    getblocktemplate RPC to a local wallet (solo mining is still mining). Confidence 0.85–0.99.
    Content decides on every port: the port a flow uses never makes or unmakes a session.
    A lone miner request (``MiningStream.miner_request``: a subscribe with a miner agent, a login with
    a wallet and an agent, eth_submitLogin, a miner's template request) is a session too, answered or
    not. When no work came of a miner's request, evidence ``miner_request`` says whether the pool
    answered; a session resting on that request alone has confidence 0.70 unanswered, 0.80 answered.
    A host with ``FAILOVER_ATTEMPTS`` or more unanswered attempts is one miner cycling through a
    failover list, and each of its sessions says so. Mining over HTTP RPC (getwork, getblocktemplate: solo
    mining against a node) opens a connection per request: one finding per miner, node and protocol holds them.
crypto_node
    Signal: blockchain node framing (Bitcoin-family network magic + command, Monero levin
    signature, Ethereum discv4/RLPx handshake shapes, Nano header). Not mining.
    False positives: random UDP payloads matching the discv4 shape. Confidence 0.9 (magic-framed
    protocols) or 0.7 (Ethereum, Nano: shapes).

An endpoint seen speaking a mining protocol is learned as a pool: ``CaptureDetector.learned``
hands the pools learned (from this capture and before it) on as an Arrow table (``LEARNED_POOLS``)
for the SQL detectors; ``explained`` names the flows the payload explained (mining sessions, node
traffic), which the SQL detectors leave alone. The detector learns into its own copy of the pool
knowledge (``PoolIntel.overlay``): the caller decides what the scan keeps.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa

from minescope.dimensions.network.capture import packets as pk
from minescope.dimensions.network.capture.flows import DnsAnswer, FlowPayload, ip_str
from minescope.dimensions.network.detectors.lists import list_evidence, list_reason
from minescope.dimensions.network.kinds import CRYPTO_NODE, MINING_SESSION
from minescope.dimensions.network.protocols.tunnels import TunnelTarget
from minescope.knowledge.pools import PoolIntel
from minescope.model import Evidence, Finding, FlowRef, MiningFacts, Peer, Severity, Text

NODE_CLASSES = {pk.C_NODE_BTC, pk.C_NODE_XMR, pk.C_NODE_ETH, pk.C_NODE_NANO}
# Unanswered pool attempts from one host that make it a miner cycling through a failover list:
# one dead pool is bad luck, three are a list being tried.
FAILOVER_ATTEMPTS = 3
CONFIDENCE_UNANSWERED = 0.70  # a lone miner request the pool never answered
CONFIDENCE_ANSWERED_NO_WORK = 0.80  # a lone miner request answered without work (refused, error)
HTTP_POLLED = frozenset({"getwork", "getblocktemplate"})  # mining over HTTP RPC: a connection per request


@dataclass(frozen=True, slots=True)
class Flow:
    """One kept flow as detectors see it; ``src`` is the initiator."""

    serial: int
    ref: FlowRef
    cls: int


PROTO_NAMES = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmp6"}


def flows_from_table(t: dict[str, np.ndarray], payload: dict[int, FlowPayload] | None = None) -> list[Flow]:
    """The kept flows as ``Flow``s, in table order. Given the payload, only the flows ``CaptureDetector.run``
    looks at: those whose payload reads as mining and node flows (a 1M-packet capture keeps ~17,000 flows,
    a few hundred of them these)."""
    rows: Sequence[int] = range(len(t["serial"]))
    if payload is not None:
        serials = t["serial"].tolist()
        node = np.isin(t["cls"], list(NODE_CLASSES)).tolist()
        rows = [i for i in rows if node[i] or _is_mining(payload.get(serials[i]))]
    out = []
    for i in rows:
        a = ip_str(int(t["a_hi"][i]), int(t["a_lo"][i]))
        b = ip_str(int(t["b_hi"][i]), int(t["b_lo"][i]))
        ap, bp = int(t["a_port"][i]), int(t["b_port"][i])
        ab, ba = int(t["bytes_ab"][i]), int(t["bytes_ba"][i])
        proto = PROTO_NAMES.get(int(t["proto"][i]), str(int(t["proto"][i])))
        pkts = int(t["pkts_ab"][i] + t["pkts_ba"][i])
        first, last = float(t["first_ts"][i]), float(t["last_ts"][i])
        if t["initiator"][i] == 0:
            ref = FlowRef(a, ap, b, bp, proto, first, last, pkts, ab + ba, ab, ba)
        else:
            ref = FlowRef(b, bp, a, ap, proto, first, last, pkts, ab + ba, ba, ab)
        out.append(Flow(int(t["serial"][i]), ref, int(t["cls"][i])))
    return out


def _is_mining(state: FlowPayload | None) -> bool:
    return state is not None and state.mining is not None and state.mining.is_mining


class CaptureDetector:
    """Turns one capture's flows and payload facts into mining_session and crypto_node findings."""

    def __init__(self, intel: PoolIntel, source: str) -> None:
        # pools learned here are known to this capture's later sessions, and handed on by ``learned``
        self.intel = intel.overlay()
        self.source = source
        self.explained: set[int] = set()  # serials of the flows the payload explained

    def run(self, flows: list[Flow], payload: dict[int, FlowPayload],
            pdns: dict[str, list[DnsAnswer]]) -> list[Finding]:
        findings: list[Finding] = []
        unanswered: dict[str, int] = defaultdict(int)  # host → its unanswered lone miner requests
        for flow in flows:
            state = payload.get(flow.serial)
            if state is not None and _is_mining(state):
                finding = self._mining_session(flow, state, pdns)
                findings.append(finding)
                self.explained.add(flow.serial)
                if _unanswered(state):
                    unanswered[finding.subject_ip or ""] += 1
        findings = _grouped_polls([_with_failover(f, unanswered) for f in findings])
        nodes = [f for f in flows if f.cls in NODE_CLASSES]
        findings.extend(self._nodes(nodes, payload))
        self.explained.update(f.serial for f in nodes)
        return findings

    def learned(self) -> pa.Table:
        """The pools learned so far, this capture's included (``LEARNED_POOLS``)."""
        return self.intel.learned_pools.table()

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
        if host and host_from != "tunnel":
            evidence.append(Evidence(host_from, f"pool host name {host}", {"host": host}, host_from))
        if state.tunnel is not None:
            evidence.append(_tunnel_evidence(state.tunnel, ref))
            reasons.append(_tunnel_reason(state.tunnel, ref))
        confidence = 0.85
        if facts.shares_submitted or facts.login_seen:
            confidence = 0.95
        if facts.shares_accepted:
            confidence = 0.98
        if stream.miner_request is not None and stream.saw_no_work:
            answered = stream.pool_answered
            if stream.rests_on_miner_request:
                confidence = CONFIDENCE_ANSWERED_NO_WORK if answered else CONFIDENCE_UNANSWERED
            evidence.append(_miner_request_evidence(stream.miner_request or "", answered, facts))
            reasons.append(_miner_request_reason(stream.miner_request or "", answered, facts))
        listed = [m for m in (self.intel.match_mining_domain(host), self.intel.match_ip(ref.dst_ip)) if m is not None]
        for m in listed:
            evidence.append(list_evidence(m))
            reasons.append(list_reason(m))
            confidence = min(0.99, confidence + 0.01)
        if not facts.login_seen:
            reasons.append(Text(zh="抓包始于会话中途：未见登录，按矿池下发的任务和提交判断",
                                en="the capture starts mid-session: no login seen; judged from pool jobs and submits"))
        seen = f"{facts.protocol} session from {ref.src_ip}"
        if state.tunnel is None:
            self.intel.learn(ref.dst_ip, ref.dst_port, host, seen)
        elif not state.tunnel.is_name:  # the pool is the tunnel's target, not the proxy
            self.intel.learn(state.tunnel.host, state.tunnel.port, None, seen)
        return Finding(
            kind=MINING_SESSION, subject_ip=ref.src_ip,
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
                kind=CRYPTO_NODE, subject_ip=host,
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


def _tunnel_evidence(tunnel: TunnelTarget, ref: FlowRef) -> Evidence:
    target = f"{tunnel.host}:{tunnel.port}"
    return Evidence("tunnel", f"through the {tunnel.proxy} proxy {ref.dst_ip}:{ref.dst_port} to {target}",
                    {"proxy": tunnel.proxy, "proxy_address": f"{ref.dst_ip}:{ref.dst_port}", "target": target,
                     "host": tunnel.host, "port": tunnel.port}, "protocols.tunnels")


def _tunnel_reason(tunnel: TunnelTarget, ref: FlowRef) -> Text:
    proxy = {"socks5": "SOCKS5", "socks4": "SOCKS4", "http_connect": "HTTP CONNECT"}[tunnel.proxy]
    return Text(zh=f"会话经 {proxy} 代理 {ref.dst_ip}:{ref.dst_port} 转发至矿池 {tunnel.host}:{tunnel.port}",
                en=f"the session goes through the {proxy} proxy {ref.dst_ip}:{ref.dst_port} to the pool "
                   f"{tunnel.host}:{tunnel.port}")


def _unanswered(state: FlowPayload) -> bool:
    stream = state.mining
    return stream is not None and stream.miner_request is not None and stream.saw_no_work \
        and not stream.pool_answered


def _miner_request_evidence(method: str, answered: bool, facts: MiningFacts) -> Evidence:
    said = "the pool answered without work" if answered else "the pool did not answer"
    return Evidence("miner_request", f"lone miner request {method}; {said}",
                    {"request": method, "pool_answered": answered, "agent": facts.agent, "wallet": facts.wallet,
                     "account": facts.account, "worker": facts.worker, "login": facts.login},
                    "protocols.mining")


def _miner_request_reason(method: str, answered: bool, facts: MiningFacts) -> Text:
    who = ", ".join(x for x in (facts.agent, facts.wallet or facts.account) if x)
    who_zh = f"（{who}）" if who else ""
    who_en = f" ({who})" if who else ""
    if answered:
        return Text(zh=f"矿工发出挖矿请求 {method}{who_zh}，矿池应答但未下发任务",
                    en=f"the miner sent the mining request {method}{who_en}; the pool answered without work")
    return Text(zh=f"矿工发出挖矿请求 {method}{who_zh}，矿池未应答",
                en=f"the miner sent the mining request {method}{who_en}; the pool did not answer")


def _with_failover(finding: Finding, unanswered: dict[str, int]) -> Finding:
    """A mining session of a host with many unanswered pool attempts, saying so."""
    attempts = unanswered.get(finding.subject_ip or "", 0)
    if attempts < FAILOVER_ATTEMPTS:
        return finding
    reason = Text(zh=f"该主机有 {attempts} 次未获应答的矿池连接尝试：同一矿工在轮换备用矿池列表",
                  en=f"this host made {attempts} unanswered pool attempts: one miner cycling through a failover list")
    evidence = Evidence("failover", f"{attempts} unanswered pool attempts", {"unanswered_attempts": attempts},
                        "protocols.mining")
    return replace(finding, reasons=(*finding.reasons, reason), evidence=(*finding.evidence, evidence))


def _grouped_polls(found: list[Finding]) -> list[Finding]:
    """One finding per miner, daemon and protocol for mining over HTTP RPC (``HTTP_POLLED``), where every poll,
    template and block submission is a connection of its own (XMRig's daemon mode polls every 0.5 s)."""
    groups: dict[tuple[str, str, int, str], list[Finding]] = defaultdict(list)
    order: list[tuple[str, str, int, str] | Finding] = []
    for f in found:
        if f.kind == MINING_SESSION and f.mining is not None and f.mining.protocol in HTTP_POLLED:
            key = (f.subject_ip or "", f.endpoint.ip, f.endpoint.port, f.mining.protocol)
            if key not in groups:
                order.append(key)
            groups[key].append(f)
        else:
            order.append(f)
    return [item if isinstance(item, Finding) else _merged(groups[item]) for item in order]


def _merged(members: list[Finding]) -> Finding:
    """Sessions of one miner and daemon as one: all their connections, the counts summed, the first value each
    fact was given (the wallet comes with the template request, not with the polls)."""
    if len(members) == 1:
        return members[0]
    members = sorted(members, key=lambda f: f.first_seen)
    facts = [f.mining for f in members if f.mining is not None]

    def first(name: str) -> Any:
        return next((getattr(m, name) for m in facts if getattr(m, name)), None)

    methods: dict[str, int] = defaultdict(int)
    for m in facts:
        for method, n in m.methods.items():
            methods[method] += n
    most_shares = max(facts, key=lambda m: m.shares_submitted)
    merged = replace(
        facts[0], **{name: first(name) for name in ("coin", "algorithm", "pool_host", "wallet", "account", "login",
                                                     "worker", "password", "agent", "reported_hashrate")},
        methods=dict(methods), difficulty=next((m.difficulty for m in reversed(facts) if m.difficulty), None),
        shares_submitted=sum(m.shares_submitted for m in facts), shares_accepted=sum(m.shares_accepted for m in facts),
        shares_rejected=sum(m.shares_rejected for m in facts), login_seen=any(m.login_seen for m in facts),
        hashrate=most_shares.hashrate)
    flows = tuple(sorted((r for f in members for r in f.flows), key=lambda r: r.first_seen))
    polled = Text(zh=f"同一矿工对同一节点的 {len(flows)} 次 HTTP 请求（轮询、取模板、提交区块）合并为一个会话",
                  en=f"{len(flows)} HTTP requests of one miner to one node (polls, templates, block submissions) "
                     "make one session")
    evidence = [Evidence("protocol", _protocol_summary(merged), _protocol_detail(merged), "protocols.mining")]
    evidence += [e for f in members for e in f.evidence[1:]]  # each session's first is its protocol summary
    evidence.append(Evidence("behaviour", f"{len(flows)} HTTP connections", {"connections": len(flows)},
                             "detectors.payload"))
    host = next((f.endpoint.host for f in members if f.endpoint.host), None)
    return replace(members[0], peer=replace(members[0].endpoint, host=host), flows=flows, mining=merged,
                   confidence=max(f.confidence for f in members),
                   reasons=tuple(dict.fromkeys([t for f in members for t in f.reasons] + [polled])),
                   evidence=tuple(_unique_evidence(evidence)))


def _unique_evidence(items: list[Evidence]) -> list[Evidence]:
    seen: set[tuple[str, str]] = set()
    out = []
    for e in items:
        if (e.type, e.summary) not in seen:
            seen.add((e.type, e.summary))
            out.append(e)
    return out


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
    if state.tunnel is not None and state.tunnel.is_name:
        return state.tunnel.host, "tunnel"
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

"""encrypted_mining_suspect from what an encrypted session shows without decryption: a scored classifier.

Miners move to TLS (``xmrig --tls``, pools on 443 or 9000) so that wallets and shares no longer show;
Stratum V2 encrypts every session (Noise NX). What still shows is *how* the session talks, which TLS stack
opened it, and where it goes. Each connection of the ``tls`` table (captures: ``readers.capture_flows``)
with a sign of mining traffic — at least ``MIN_EXCHANGES`` share-like exchanges, or a Stratum V2
handshake — is scored: the sum of the parts of the features below (``FEATURES``: weight × 1 when the
feature holds). A connection scoring at least ``THRESHOLD`` is an ``encrypted_mining_suspect``; every
feature's part is in the finding's evidence and put into words in its reasons.

Mining traffic (the capture engine measures it on TCP segments that hold exactly one TLS application-data
record, i.e. one message; ``capture.packets``: XCHG_*, ACK_*, PUSH_*), weight in brackets:

  share_exchanges      (0.3) ≥ 2 exchanges: the client sends a 100–600-byte message and the very next payload is
                       the server's 40–160-byte answer, at most half its size — a share and "OK"
  constant_share_size  (0.3) ≥ 3 exchanges whose requests differ by at most 16 bytes and whose answers by at
                       most 16 (a share message always has the same fields: job id, nonce, 64-hex result)
  pool_pushes          (0.2) the server sent a 160–1600-byte message unasked (after its own last message): a job
  share_cadence        (0.25) ≥ 5 intervals between exchanges with a coefficient of variation of 0.5–2: shares
                       found at random (Poisson, CV ≈ 1)
  timer_cadence        (−0.5) ≥ 5 intervals with a CV under 0.15: a keep-alive timer, not shares
  sv2_handshake        (1.0) Stratum V2 on any port: the Noise NX handshake's sizes (64-byte ephemeral key, then
                       a 234-byte answer; 32 and 170 in drafts with 32-byte keys) or a clear-text
                       SetupConnection (``capture.flows.SV2_HANDSHAKE``)

The TLS stack (ClientHello fingerprints, ``protocols.tls``):

  miner_tls_stack      (0.45) the JA4 (SNI flag and extension count aside, ``stack_key``) or JA3 of a miner's own
                       TLS stack, recorded from the miner (``MINER_STACKS``)
  openssl_default      (0.2) else OpenSSL's default client without ALPN (JA4 cipher hash ``e8f1e7e78f70``, ALPN
                       ``00``): what XMRig built with OpenSSL 3 sends, but also ``openssl s_client`` and scripts
  no_sni               (0.1) no server name: the client dialled an address (XMRig 6.16 never sends one)
  no_alpn              (0.1) no ALPN: not a web client (browsers and HTTP libraries offer h2/http/1.1)

Where it goes:

  stratum_port         (0.3) a stratum port of ``knowledge/data/pools/pool-ports.txt``
  non_web_port         (0.15) else any port but the web's (``WEB_PORTS``)
  pool_like_name       (0.3) pool words in the server name (``knowledge.pools.pool_likeness``)
  long_low_rate        (0.2) at least ``flowlog.LONG_SESSION_S`` at under ``flowlog.LOW_RATE_BPS``
  pool_intel           (1.0) the endpoint is a listed, learned (spoke a mining protocol earlier in the scan) or
                       confirmed (``minescope probe``) pool: the list detectors' hit, joined in (``joined``)

Only connections with a sign of mining traffic are scored (≥ ``MIN_EXCHANGES`` exchanges or a Stratum V2
handshake), so being long, on a non-web port, without SNI or ALPN, from OpenSSL's stack never decides by
itself (benign VPNs, messaging, ``openssl s_client``): those weigh at most 0.9 together, under the threshold.
Flow logs that give ClientHello fingerprints (Zeek's JA3/JA4 packages in ssl.log, Suricata's ``tls.ja3``/
``tls.ja4``) but no message shapes are scored when the fingerprint is a miner's stack or OpenSSL's default
(``LOGGED_SQL``): a miner's stack on a stratum port for a long, slow session reaches the threshold (1.15 with
no SNI and no ALPN), the same stack to 443 for a minute does not (0.65).
XMRig's TLS session to an address on 443 scores 1.45 on three shares (exchanges, constant sizes, a push, its
stack, no SNI, no ALPN) and 1.7 with the cadence of a longer session. Evaluation: ``benchmarks/tls_eval.py``,
figures in docs/benchmarks.md; reference in docs/detection.md ("Encrypted mining").

Confidence: 0.45 at the threshold, +0.2 per point above it, at most 0.75 (the kind's band); joined with a
list detectors' finding for the same endpoint, the higher of the two.

Known false positives: request/acknowledge protocols with constant-size messages at random times and pushed
notices (some telemetry or game protocols) from a client dialling an address on a non-web port; a protocol
whose first messages happen to be 64 and 234 bytes. Flow logs and flow datasets carry no message shapes:
there the list detectors' rules judge TLS (``detectors.flowlog``), and fingerprints where the log gives them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from minescope.dimensions.network.detectors.flowlog import (
    LONG_SESSION_S,
    LOW_RATE_BPS,
    SAMPLE_FLOWS,
    _flow_ref,
    _name,
)
from minescope.dimensions.network.kinds import ENCRYPTED_MINING_SUSPECT
from minescope.dimensions.network.tables import TLS_MIN_EXCHANGES as MIN_EXCHANGES
from minescope.engines.sql import SqlEngine
from minescope.knowledge.lists import miner_stacks
from minescope.knowledge.pools import pool_likeness, stratum_ports
from minescope.model import Evidence, Finding, FlowRef, Peer, Severity, Text

THRESHOLD = 1.0
CONSTANT_EXCHANGES = 3  # exchanges needed to call their sizes constant
CONSTANT_SPREAD = 16  # bytes: the most the requests (and the answers) of constant-size exchanges differ
CADENCE_INTERVALS = 5  # intervals between exchanges needed to call their cadence random
CADENCE_CV = (0.5, 2.0)  # random (Poisson) arrivals have a CV near 1; a timer's near 0
TIMER_INTERVALS = 5  # intervals needed to call it a timer: 5 Poisson gaps vary this little once in ~1,000
TIMER_CV = 0.15
WEB_PORTS = frozenset({80, 443, 8080, 8443})  # HTTPS and its usual alternatives (and HTTP's)
CONFIDENCE_AT_THRESHOLD, CONFIDENCE_PER_POINT, CONFIDENCE_MAX = 0.45, 0.2, 0.75

# ClientHello fingerprints (JA4, JA3) of miners' own TLS stacks, each recorded from the miner itself:
# knowledge/data/tls/miner-stacks.csv
MINER_STACKS: dict[str, str] = miner_stacks()
# JA4 part b of OpenSSL's default client cipher list (1.1.1 and 3.x: 31 suites): XMRig's and most CPU miners'.
OPENSSL_DEFAULT_CIPHERS = "e8f1e7e78f70"


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    weight: float
    zh: str  # what it means, in words; {value} is what was measured
    en: str


FEATURES: dict[str, Feature] = {f.name: f for f in (
    Feature("sv2_handshake", 1.0, "连接以 Stratum V2 的握手开始（{value}）：二代挖矿协议，全程加密",
            "the connection opens with Stratum V2's handshake ({value}): the encrypted second-generation mining "
            "protocol"),
    Feature("share_exchanges", 0.3, "客户端 {value} 次发送 100–600 字节的消息并立即收到不到其一半大小的应答，"
            "如同提交份额与矿池确认", "{value} times the client sent a 100–600-byte message answered at once by "
            "one under half its size, as a share and the pool's acknowledgement"),
    Feature("constant_share_size", 0.3, "这些请求与应答大小几乎不变（{value}）：份额报文字段固定",
            "those requests and answers keep their sizes ({value}): a share message has fixed fields"),
    Feature("pool_pushes", 0.2, "服务器 {value} 次主动下发 160–1600 字节的消息，如同矿池推送新任务",
            "the server sent {value} message(s) of 160–1600 bytes unasked, as a pool pushes jobs"),
    Feature("share_cadence", 0.25, "请求间隔随机（变异系数 {value}），符合随机出现的份额而非定时心跳",
            "the requests come at random intervals (coefficient of variation {value}), as shares are found, "
            "not on a keep-alive timer"),
    Feature("timer_cadence", -0.5, "请求间隔几乎固定（变异系数 {value}）：定时心跳，而份额的出现是随机的",
            "the requests come at nearly fixed intervals (coefficient of variation {value}): a keep-alive "
            "timer, while shares come at random"),
    Feature("miner_tls_stack", 0.45, "TLS 客户端指纹与矿工程序一致：{value}",
            "the TLS client fingerprint is a miner's: {value}"),
    Feature("openssl_default", 0.2, "TLS 客户端为未带 ALPN 的 OpenSSL 默认配置（{value}），XMRig 等 CPU 矿工即用此配置",
            "the TLS client is OpenSSL's default without ALPN ({value}), as XMRig and other CPU miners use"),
    Feature("no_sni", 0.1, "客户端未发送服务器名（SNI），直接连接地址", "the client sent no server name (SNI): "
            "it dialled an address"),
    Feature("no_alpn", 0.1, "客户端未提供 ALPN，不是网页客户端", "the client offered no ALPN: not a web client"),
    Feature("stratum_port", 0.3, "端口 {value} 是常见的矿池（stratum）端口",
            "port {value} is a common mining-pool (stratum) port"),
    Feature("non_web_port", 0.15, "端口 {value} 不是网页端口", "port {value} is not a web port"),
    Feature("pool_like_name", 0.3, "服务器名 {value} 含矿池特征词", "the server name {value} has pool-like words"),
    Feature("long_low_rate", 0.2, "连接持续 {value} 秒且平均速率低于 {rate} kbit/s，符合矿工长连接",
            "the connection lasted {value} s at under {rate} kbit/s on average, a miner's long pool connection"),
    Feature("pool_intel", 1.0, "该端点在矿池名单中、在本次扫描中被确认为矿池或经主动探测确认（{value}）",
            "the endpoint is a listed pool, a pool learned in this scan, or one confirmed by probing ({value})"),
)}

# Candidate connections: the mining-traffic signs are the engine's, in the ``tls`` table (``tls_rows``).
CANDIDATES_SQL = f"""
SELECT f.row_id, f.src_ip AS subject, f.dst_ip AS peer_ip, f.dst_port AS peer_port, f.input, f.t_start, f.t_end,
       f.src_ip, f.src_port, f.dst_ip, f.dst_port, f.proto, f.packets, f.bytes_fwd, f.bytes_rev, f.server_name,
       t.ja3, t.ja4, t.exchanges, t.exchange_min, t.exchange_max, t.answer_min, t.answer_max, t.exchange_cv,
       t.pushes, t.handshake
FROM flows f JOIN tls_rows t ON f.sensor_uid = t.tls_uid AND f.input = t.tls_input
{{explained}}
WHERE f.counted AND (t.exchanges >= {MIN_EXCHANGES} OR t.handshake IS NOT NULL) {{not_explained}}
"""
# Connections whose log gave only ClientHello fingerprints (Zeek ssl.log ``ja3``/``ja4``, Suricata ``tls.ja3``/
# ``tls.ja4``: no message shapes): the counted row of the same connection id (conn.log, a flow event) with the
# server name of the log's own row. Scored only when a fingerprint is a miner's stack or OpenSSL's default
# (``FINGERPRINT_SIGNS``): there the fingerprint is the only sign of mining traffic.
LOGGED_SQL = """
SELECT f.row_id, f.src_ip AS subject, f.dst_ip AS peer_ip, f.dst_port AS peer_port, f.input, f.t_start, f.t_end,
       f.src_ip, f.src_port, f.dst_ip, f.dst_port, f.proto, f.packets, f.bytes_fwd, f.bytes_rev,
       COALESCE(f.server_name, n.server_name) AS server_name,
       t.ja3, t.ja4, t.exchanges, t.exchange_min, t.exchange_max, t.answer_min, t.answer_max, t.exchange_cv,
       t.pushes, t.handshake
FROM tls_rows t
JOIN flows f ON f.sensor_uid = t.tls_uid AND f.counted
LEFT JOIN flows n ON n.sensor_uid = t.tls_uid AND n.input = t.tls_input AND NOT n.counted
{explained}
WHERE t.exchanges IS NULL AND t.handshake IS NULL {not_explained}
"""
FINGERPRINT_SIGNS = frozenset({"miner_tls_stack", "openssl_default"})
EXPLAINED_JOIN = "LEFT JOIN explained_flows e ON f.sensor_uid = e.explained_uid AND f.input = e.explained_input"


@dataclass(frozen=True, slots=True)
class Part:
    """One feature that holds for a connection: its weight is its part of the score."""

    feature: str
    value: Any  # what was measured
    rate: float | None = None  # long_low_rate only: the rate bound in kbit/s

    @property
    def weight(self) -> float:
        return FEATURES[self.feature].weight

    def text(self) -> Text:
        f = FEATURES[self.feature]
        rate = f"{self.rate:.0f}" if self.rate is not None else ""
        part = f"+{f.weight:.2f}"
        return Text(zh=f.zh.format(value=self.value, rate=rate) + f"（{part}）",
                    en=f.en.format(value=self.value, rate=rate) + f" ({part})")


@dataclass
class Scored:
    """The connections of one endpoint (subject, peer, port, input) that scored, and the best one's parts."""

    parts: list[Part]
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def score(self) -> float:
        return round(sum(p.weight for p in self.parts), 2)

    @property
    def best(self) -> dict[str, Any]:
        return self.rows[0]


def score_connection(row: Mapping[str, Any]) -> list[Part]:
    """The features that hold for one candidate connection (a ``CANDIDATES_SQL`` row)."""
    parts: list[Part] = []
    handshake = row.get("handshake")
    if handshake:
        parts.append(Part("sv2_handshake", "Noise NX" if handshake == "sv2_noise" else "SetupConnection"))
    exchanges = int(row.get("exchanges") or 0)
    if exchanges >= MIN_EXCHANGES:
        parts.append(Part("share_exchanges", exchanges))
        spread = int(row["exchange_max"]) - int(row["exchange_min"])
        answers = int(row["answer_max"]) - int(row["answer_min"])
        if exchanges >= CONSTANT_EXCHANGES and spread <= CONSTANT_SPREAD and answers <= CONSTANT_SPREAD:
            parts.append(Part("constant_share_size", f"{row['exchange_min']}–{row['exchange_max']} / "
                                                     f"{row['answer_min']}–{row['answer_max']} B"))
        if int(row.get("pushes") or 0):
            parts.append(Part("pool_pushes", int(row["pushes"])))
        cv = row.get("exchange_cv")
        if exchanges > CADENCE_INTERVALS and cv is not None and CADENCE_CV[0] <= cv <= CADENCE_CV[1]:
            parts.append(Part("share_cadence", round(float(cv), 2)))
        elif exchanges > TIMER_INTERVALS and cv is not None and cv < TIMER_CV:
            parts.append(Part("timer_cadence", round(float(cv), 3)))
    parts += stack_parts(row.get("ja4"), row.get("ja3"))
    name = row.get("server_name")
    port = int(row.get("peer_port") or row.get("dst_port") or 0)
    if (row.get("ja4") or row.get("ja3")) and not name:  # the hello was read, and named no server
        parts.append(Part("no_sni", ""))
    if port in _stratum_ports():
        parts.append(Part("stratum_port", port))
    elif port and port not in WEB_PORTS:
        parts.append(Part("non_web_port", port))
    if name and pool_likeness(name, 0):
        parts.append(Part("pool_like_name", name))
    duration = float(row["t_end"] - row["t_start"]) if row.get("t_end") is not None else 0.0
    total = int(row.get("bytes_fwd") or 0) + int(row.get("bytes_rev") or 0)
    if duration >= LONG_SESSION_S and 8 * total < LOW_RATE_BPS * duration:
        parts.append(Part("long_low_rate", round(duration), LOW_RATE_BPS / 1000))
    return parts


def stack_parts(ja4: str | None, ja3: str | None) -> list[Part]:
    """What the ClientHello fingerprints say: a miner's own stack, else OpenSSL's default; and no ALPN."""
    parts: list[Part] = []
    known = _miner_stacks().get(stack_key(ja4)) if ja4 else MINER_STACKS.get(ja3 or "")
    if known:
        parts.append(Part("miner_tls_stack", f"{known}, JA4 {ja4 or '?'}"))
    elif ja4 and ja4.split("_")[1:2] == [OPENSSL_DEFAULT_CIPHERS] and ja4[8:10] == "00":
        parts.append(Part("openssl_default", f"JA4 {ja4}"))
    if ja4 and ja4[8:10] == "00":
        parts.append(Part("no_alpn", ""))
    return parts


def stack_key(ja4: str) -> str:
    """A JA4 without what the destination changes: whether SNI was sent (and so the extension count).
    XMRig sends the same ClientHello to an address and to a name, but for the SNI extension."""
    a, _, rest = ja4.partition("_")
    return f"{a[:3]}{a[4:6]}{a[8:]}_{rest}" if len(a) == 10 else ja4


@cache
def _miner_stacks() -> dict[str, str]:
    return {stack_key(k): v for k, v in MINER_STACKS.items() if "_" in k}


@cache
def _stratum_ports() -> frozenset[int]:
    return frozenset(stratum_ports())


def classify(engine: SqlEngine, explained: bool) -> dict[tuple[str, str, int, str], Scored]:
    """The endpoints (subject, peer, peer port, input) with a connection scoring at least ``THRESHOLD``;
    ``explained``: leave out the flows the payload explained (``explained_flows`` is registered)."""
    joins = {"explained": EXPLAINED_JOIN if explained else "",
             "not_explained": "AND e.explained_uid IS NULL" if explained else ""}
    out: dict[tuple[str, str, int, str], Scored] = {}
    scored: dict[tuple[str, str, int, str], list[tuple[float, dict[str, Any], list[Part]]]] = defaultdict(list)
    rows = [*engine.query(CANDIDATES_SQL.format(**joins)), *engine.query(LOGGED_SQL.format(**joins))]
    for row in rows:
        parts = score_connection(row)
        if row["exchanges"] is None and row["handshake"] is None and not FINGERPRINT_SIGNS & {p.feature for p in parts}:
            continue  # a logged connection whose fingerprint is no sign of mining traffic
        total = round(sum(p.weight for p in parts), 2)
        if total >= THRESHOLD:
            scored[(row["subject"], row["peer_ip"], int(row["peer_port"] or 0), row["input"])].append(
                (total, row, parts))
    for key, members in scored.items():
        # the best connection's parts speak for the endpoint; the others are listed as its flows
        members.sort(key=lambda m: (-m[0], m[1]["t_start"], m[1]["src_port"] or 0, m[1]["row_id"]))
        out[key] = Scored(members[0][2], [m[1] for m in members])
    return out


def confidence(score: float) -> float:
    return round(min(CONFIDENCE_MAX, CONFIDENCE_AT_THRESHOLD + CONFIDENCE_PER_POINT * (score - THRESHOLD)), 2)


def evidence(scored: Scored) -> Evidence:
    """Every feature's part, the score and the threshold: the classifier's verdict, explained."""
    best = scored.best
    return Evidence(
        "behaviour", f"encrypted-mining score {scored.score:.2f} (threshold {THRESHOLD:.2f})",
        {"score": scored.score, "threshold": THRESHOLD,
         "features": {p.feature: {"weight": p.weight, "value": p.value} for p in scored.parts},
         "connections": len(scored.rows), "ja3": best.get("ja3"), "ja4": best.get("ja4"),
         "exchanges": best.get("exchanges"), "pushes": best.get("pushes"),
         "exchange_bytes": [best.get("exchange_min"), best.get("exchange_max")],
         "answer_bytes": [best.get("answer_min"), best.get("answer_max")],
         "exchange_cv": best.get("exchange_cv"), "handshake": best.get("handshake")},
        "detectors.encrypted")


def reasons(scored: Scored) -> list[Text]:
    head = Text(zh=f"加密流量特征评分 {scored.score:.2f}，达到阈值 {THRESHOLD:.2f}（各特征分值如下）",
                en=f"the encrypted traffic scores {scored.score:.2f}, at least the threshold {THRESHOLD:.2f} "
                   "(each feature's part below)")
    return [head, *(p.text() for p in scored.parts)]


def findings(classified: Mapping[tuple[str, str, int, str], Scored],
             skip: Iterable[tuple[str, str, int, str]] = ()) -> list[Finding]:
    """One ``encrypted_mining_suspect`` per classified endpoint not in ``skip`` (those the list detectors
    reported, with this classifier's parts joined in: ``joined``)."""
    out = []
    skipped = set(skip)
    for key, scored in classified.items():
        if key in skipped:
            continue
        subject, peer_ip, peer_port, input_path = key
        rows = scored.rows
        refs: list[FlowRef] = [_flow_ref(r) for r in rows[:SAMPLE_FLOWS]]
        name = next((r["server_name"] for r in rows if r.get("server_name")), None)
        nbytes = sum(int(r["bytes_fwd"] or 0) + int(r["bytes_rev"] or 0) for r in rows)
        where = f"{name or peer_ip}:{peer_port}"
        head = Text(zh=f"{subject} 与 {where} 有 {len(rows)} 条加密连接（共 {nbytes} 字节），流量形态符合挖矿",
                    en=f"{subject} held {len(rows)} encrypted connection(s) ({nbytes} bytes) with {where} that "
                       "behave like mining")
        ev = [evidence(scored)]
        if name:
            ev.append(Evidence("tls_sni", f"TLS server name {name}", {"server_name": name, "flows": len(rows)},
                               "capture"))
        first = min(r["t_start"] for r in rows)
        last = max(r["t_end"] for r in rows)
        out.append(Finding(
            kind=ENCRYPTED_MINING_SUSPECT, subject_ip=subject, peer=Peer(peer_ip, peer_port, name),
            flows=tuple(refs), confidence=confidence(scored.score), severity=Severity.MEDIUM,
            reasons=(head, *reasons(scored)), evidence=tuple(ev), source=_name(input_path),
            first_seen=first, last_seen=last))
    return out


def joined(finding: Finding, scored: Scored) -> Finding:
    """A list detectors' finding for an endpoint the classifier also scored: its parts joined in, the
    intel's hit as a part of its own, the higher confidence."""
    listed = [e for e in finding.evidence if e.type in ("list_match", "learned_pool")]
    parts = list(scored.parts)
    if listed:
        parts.append(Part("pool_intel", ", ".join(sorted({str(e.detail.get("list") or e.source or e.type)
                                                          for e in listed}))))
    merged = Scored(parts, scored.rows)
    kind = ENCRYPTED_MINING_SUSPECT
    return replace(finding, kind=kind, confidence=max(finding.confidence, confidence(merged.score)),
                   reasons=tuple(dict.fromkeys((*finding.reasons, *reasons(merged)))),
                   evidence=(*finding.evidence, evidence(merged)))

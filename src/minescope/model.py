"""The findings model: what a scan states, with its evidence.

Findings are facts: immutable once made, each with the flows it rests on, the evidence that
made it, a confidence, and its reasons in words (zh-CN and en). Disposal (cases) lives
elsewhere and only references findings by id.

The JSON form of a finding (``Finding.to_dict``) is part of the versioned output schema
documented in ``docs/json-schema.md``; bump ``SCHEMA_VERSION`` on any incompatible change.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

import orjson

# 1.1: findings state their subject and first/last seen; 1.2: other_sources; 1.3: summary.exchanges (additions only)
SCHEMA_VERSION = "1.3"

# Fewer shares than this give a share-based hash rate too uncertain (over ±58 %) to size power from.
MIN_SHARES_TO_SIZE = 3


class Dimension(StrEnum):
    NETWORK = "network"
    POWER = "power"
    HOST = "host"
    FUNDS = "funds"
    CONTENT = "content"
    TIP = "tip"


DIMENSION_LABELS: dict[str, tuple[str, str]] = {
    Dimension.NETWORK: ("网络", "network"), Dimension.POWER: ("电力", "power"), Dimension.HOST: ("主机", "host"),
    Dimension.FUNDS: ("资金", "funds"), Dimension.CONTENT: ("内容", "content"),
    Dimension.TIP: ("举报", "public report"),
}
"""Each dimension's name in both languages (zh, en), for every output that names one."""


class SubjectType(StrEnum):
    """What a finding is about."""

    IP = "ip"  # an address: the miner, contacting host or node
    HOST = "host"  # a machine by name (endpoint logs)
    METER = "meter"  # an electricity meter or power account
    ACCOUNT = "account"  # a bank, payment or platform account
    LISTING = "listing"  # a product listing
    POST = "post"  # a post, an app, a page
    ORGANISATION = "organisation"  # an organisation, a site or a place, as named (a public report's subject)


@dataclass(frozen=True, slots=True)
class Subject:
    type: SubjectType
    value: str


class Severity(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Text:
    """A sentence in both languages."""

    zh: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


@dataclass(frozen=True, slots=True)
class FlowRef:
    """One bidirectional flow; ``src`` is the initiator (the miner for mining sessions)."""

    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    proto: str  # "tcp" | "udp"
    first_seen: float
    last_seen: float
    packets: int
    bytes: int
    bytes_to_dst: int = 0
    bytes_to_src: int = 0

    @property
    def duration(self) -> float:
        return max(0.0, self.last_seen - self.first_seen)


@dataclass(frozen=True, slots=True)
class Evidence:
    """One observation a finding rests on.

    ``type`` is one of: protocol (a mining or node protocol message), list_match (a pool
    list entry), learned_pool (an endpoint seen speaking a mining protocol earlier in the
    scan), dns, tls_sni, http_host, signature (a node protocol magic), behaviour.
    """

    type: str
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # list file / feed name, or the protocol parser


@dataclass(frozen=True, slots=True)
class HashRate:
    """A hash-rate estimate with a relative 1-sigma uncertainty (1/sqrt(shares) for share counts).

    ``hps`` is hashes per second, or solutions per second (Sol/s) for Equihash. ``low``/``high`` are
    the ±2σ (about 95 %) range that reports and energy estimates use."""

    algorithm: str
    hps: float
    rel_uncertainty: float
    method: str  # "shares" | "reported"
    shares: int = 0

    @property
    def low(self) -> float:
        return max(0.0, self.hps * (1.0 - 2 * self.rel_uncertainty))

    @property
    def high(self) -> float:
        return self.hps * (1.0 + 2 * self.rel_uncertainty)

    @property
    def sizable(self) -> bool:
        """Enough evidence to size power from: a miner's own report, or MIN_SHARES_TO_SIZE shares."""
        return self.method != "shares" or self.shares >= MIN_SHARES_TO_SIZE


@dataclass(frozen=True, slots=True)
class Energy:
    """Power and energy for one algorithm's hash rate: low / best / high."""

    algorithm: str
    kw: tuple[float, float, float]
    kwh_per_day: tuple[float, float, float]
    basis: str  # which hardware efficiency and PUE range


@dataclass(frozen=True, slots=True)
class MiningFacts:
    """What the mining protocol told about a session."""

    protocol: str  # stratum | cryptonote | ethproxy | ethereum_stratum | getwork | getblocktemplate
    coin: str | None = None
    algorithm: str | None = None
    pool_host: str | None = None
    wallet: str | None = None  # payout address, when the login starts with one
    account: str | None = None  # pool account name, when the login names an account instead of a wallet
    login: str | None = None  # the login as sent
    worker: str | None = None
    password: str | None = None
    agent: str | None = None
    methods: dict[str, int] = field(default_factory=dict)
    difficulty: float | None = None  # last share difficulty
    shares_submitted: int = 0
    shares_accepted: int = 0
    shares_rejected: int = 0
    login_seen: bool = False
    hashrate: HashRate | None = None
    reported_hashrate: HashRate | None = None

    @property
    def sizing_hashrate(self) -> HashRate | None:
        """The hash rate that sizes this session: the share-based estimate when it rests on enough
        shares (measured, not claimed), else the miner's own report, else none."""
        if self.hashrate is not None and self.hashrate.sizable:
            return self.hashrate
        return self.reported_hashrate


# Organisation types whose hosts were intruded upon, not their owners' own mining (Jiangsu 2021: ~21 %).
INSTITUTIONAL = ("government", "university", "research", "state_owned", "enterprise")


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who and where a host is."""

    ip: str
    country: str | None = None
    province: str | None = None
    city: str | None = None
    isp: str | None = None
    org_name: str | None = None
    # government | university | research | state_owned | enterprise | datacenter | residential | internal | unknown
    org_type: str | None = None
    region_code: str | None = None  # GB/T 2260
    contact: str | None = None
    source: str = ""  # registry | ip2region | cernet | cstnet | private

    @property
    def institutional(self) -> bool:
        return self.org_type in INSTITUTIONAL


@dataclass(frozen=True, slots=True)
class Peer:
    """The far end: a pool, or a node peer."""

    ip: str
    port: int
    host: str | None = None  # name from DNS, SNI, Host header or the login
    known_pool: bool = False


NO_PEER = Peer("", 0)


@dataclass(frozen=True, slots=True)
class Finding:
    """A fact about a subject. ``kind`` is a registered kind's name (``minescope.registry``).

    Network findings give ``subject_ip``, ``peer`` and ``flows`` (the subject is then the address);
    others give ``subject``. ``first_seen``/``last_seen`` cover the whole group the finding rests on;
    when not given they are taken from ``flows``. ``key`` tells two findings of one kind and subject
    apart (and keeps a rescan's finding the same); ``stable_id`` is an identity given by the source
    itself (a public report's tracking code). ``other_sources`` are further inputs that held the same
    evidence (one capture copied twice gives one finding with two sources, see ``merge_same``).
    """

    kind: str
    subject_ip: str | None  # the miner, contacting host or node (network findings)
    peer: Peer | None
    flows: tuple[FlowRef, ...]
    confidence: float
    severity: Severity
    reasons: tuple[Text, ...]
    evidence: tuple[Evidence, ...]
    source: str  # the input (file name) it came from
    mining: MiningFacts | None = None
    attribution: Attribution | None = None
    energy: Energy | None = None
    dimension: Dimension = Dimension.NETWORK
    node_protocol: str | None = None  # for crypto_node: bitcoin | ethereum | monero | …
    subject: Subject = None  # type: ignore[assignment]  # filled from subject_ip when not given
    first_seen: float = math.nan
    last_seen: float = math.nan
    key: str = ""
    stable_id: str | None = None
    other_sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.subject is None:
            if self.subject_ip is None:
                raise ValueError("a finding needs a subject or a subject_ip")
            object.__setattr__(self, "subject", Subject(SubjectType.IP, self.subject_ip))
        for name, pick in (("first_seen", min), ("last_seen", max)):
            if math.isnan(getattr(self, name)):
                if not self.flows:
                    raise ValueError(f"a finding without flows states its {name}")
                attr = "first_seen" if name == "first_seen" else "last_seen"
                object.__setattr__(self, name, pick(getattr(f, attr) for f in self.flows))

    @property
    def endpoint(self) -> Peer:
        """The far end of a network finding; an empty ``Peer`` for findings about anything else."""
        return self.peer if self.peer is not None else NO_PEER

    @property
    def id(self) -> str:
        """Stable identity: the same evidence scanned again gives the same ids."""
        if self.stable_id is not None:
            return self.stable_id
        if self.flows and self.peer is not None:
            f = self.flows[0]
            parts: tuple[object, ...] = (self.kind, self.subject_ip, self.peer.ip, self.peer.port, f.src_ip,
                                         f.src_port, f.dst_ip, f.dst_port, f.proto, f"{f.first_seen:.6f}")
            # One DNS flow asking for several pool names is one finding per name. Ids of findings without
            # a name are those of schema 1.0; migration 0005 gives stored named ones their new id.
            if self.peer.host:
                parts += (self.peer.host,)
        else:
            parts = (self.kind, self.subject.type, self.subject.value, self.key)
        return hashlib.sha256("|".join(str(x) for x in parts).encode()).hexdigest()[:24]

    @property
    def sources(self) -> tuple[str, ...]:
        """Every input that held this finding's evidence."""
        return (self.source, *self.other_sources)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data. orjson walks the nested dataclasses: ~30× faster than ``asdict``'s deep
        copy, which matters at 10⁴–10⁵ findings."""
        shallow = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("key", "stable_id")}
        shallow["id"] = self.id
        data: dict[str, Any] = orjson.loads(orjson.dumps(shallow))
        return data


@dataclass(slots=True)
class InputSummary:
    """One input read by a scan, and what went wrong with it, if anything."""

    path: str
    format: str  # pcap | pcapng | pcap.gz | pcapng.gz | interface
    packets: int = 0
    bytes: int = 0
    flows: int = 0
    first_seen: float | None = None
    last_seen: float | None = None
    sha256: str | None = None
    problem: Text | None = None  # one line: what, where, how to fix
    dimension: str = "network"  # which dimension's evidence it holds


@dataclass(slots=True)
class ScanResult:
    """Everything one scan produced: the inputs, the findings, and the wall time it took."""

    inputs: list[InputSummary]
    findings: list[Finding]
    started_at: float  # unix time the scan began
    wall_seconds: float
    packets: int = 0
    bytes: int = 0
    flows: int = 0
    # every address seen in the inputs, as text; lets a clean scan verify a rectified case
    hosts_seen: frozenset[str] = frozenset()

    @property
    def problems(self) -> list[Text]:
        return [i.problem for i in self.inputs if i.problem is not None]

    @property
    def capture_start(self) -> float | None:
        seen = [i.first_seen for i in self.inputs if i.first_seen is not None]
        return min(seen) if seen else None

    @property
    def capture_end(self) -> float | None:
        seen = [i.last_seen for i in self.inputs if i.last_seen is not None]
        return max(seen) if seen else None


def merge_same(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per id, in first-seen order: the same evidence read from several inputs (a capture and
    its copy) is one finding whose ``other_sources`` name the other inputs, not several findings with
    one id, which a store would keep only once."""
    merged: dict[str, Finding] = {}
    for f in findings:
        first = merged.get(f.id)
        if first is None:
            merged[f.id] = f
        else:
            extra = [s for s in f.sources if s not in first.sources]
            if extra:
                merged[f.id] = replace(first, other_sources=(*first.other_sources, *extra))
    return list(merged.values())

"""The answers a scan gives to the Jiangsu survey's questions, as plain data.

Which addresses mine, which pools they use and for which coins, how much traffic goes to pools,
how much hash power and energy that is (per algorithm), where the hosts are and whose they are.

Rules kept here:
  * hash rates of different algorithms never add up: there is a total per algorithm, no overall one;
    energy (kWh) does add up across algorithms and has a total;
  * a miner seen in several sessions of one algorithm counts once: its rate is the hashes of all its
    sessions over the union of their active time (sequential reconnects are not added, concurrent
    sessions are);
  * a flow shared by several findings is counted once in the traffic.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from minescope import registry
from minescope.dimensions.network.kinds import CRYPTO_NODE, EXCHANGE_ACCESS, MINING_SESSION
from minescope.enrich.estimate import canonical_algorithm
from minescope.model import Attribution, Finding, FlowRef, HashRate, ScanResult

from .fmt import hashrate_unit

# Findings that state mining (as opposed to blockchain-node traffic).

# A zero-length session (one message) still mined for about its round-trip: floor the time at 1 s
# so a rate-times-time never comes out as 0 and a union of instants never divides by zero.
MIN_ACTIVE_SECONDS = 1.0

Span = tuple[float, float]  # first_seen, last_seen
Samples = dict[str, list[tuple[Span, tuple[float, ...]]]]  # host → (span, values) of each finding


@dataclass(slots=True)
class KindCount:
    findings: int = 0
    hosts: int = 0


@dataclass(slots=True)
class PoolRow:
    ip: str
    port: int
    host: str | None
    known_pool: bool
    findings: int
    hosts: int
    bytes: int
    kinds: list[str]


@dataclass(slots=True)
class Pools:
    endpoints: int  # distinct (ip, port)
    names: int  # distinct host names (DNS, SNI, Host header, login)
    rows: list[PoolRow]


@dataclass(slots=True)
class CoinRow:
    coin: str
    sessions: int
    hosts: int
    algorithms: list[str]


@dataclass(slots=True)
class Traffic:
    """Traffic of the flows of mining-related findings."""

    flows: int
    bytes: int
    bytes_to_pool: int  # from the initiator (miner) to the far end
    bytes_from_pool: int
    active_seconds: float  # union of the flows' active time
    capture_seconds: float | None
    mbps_active: float | None  # bits over the time any mining flow was active
    mbps_capture: float | None  # bits over the whole capture span


@dataclass(slots=True)
class AlgorithmTotal:
    """Hash rate and energy of one algorithm. Never add two of these together."""

    algorithm: str
    unit: str  # H/s, or Sol/s for Equihash
    hosts: int  # hosts with a hash-rate estimate for this algorithm
    sessions: int  # findings with a hash-rate estimate
    hps: float
    hps_low: float
    hps_high: float
    shares: int
    methods: dict[str, int]  # "shares" | "reported" → findings estimated that way
    energy_sessions: int = 0
    kw: list[float] | None = None  # [low, best, high]
    kwh_per_day: list[float] | None = None  # [low, best, high]
    basis: list[str] = field(default_factory=list)


@dataclass(slots=True)
class EnergyTotal:
    """Energy adds across algorithms (hash rates do not)."""

    algorithms: list[str]
    kw: list[float]
    kwh_per_day: list[float]


@dataclass(slots=True)
class Institutional:
    mining_hosts: int  # institutional hosts among mining hosts
    mining_share: float | None
    related_hosts: int  # institutional hosts among mining-related hosts
    related_share: float | None


@dataclass(slots=True)
class OrgTypeRow:
    org_type: str
    institutional: bool
    hosts: int  # mining-related hosts
    mining_hosts: int


@dataclass(slots=True)
class RegionRow:
    province: str | None
    city: str | None
    region_code: str | None
    hosts: int
    mining_hosts: int


@dataclass(slots=True)
class OrgRow:
    org_name: str
    org_type: str
    province: str | None
    city: str | None
    hosts: int
    mining_hosts: int


@dataclass(slots=True)
class NodeRow:
    node_protocol: str
    findings: int
    hosts: int


@dataclass(slots=True)
class ExchangeRow:
    """Which organisation reaches which exchange (``exchange_access``): trading, never added to mining."""

    org_name: str | None  # None: hosts no organisation is known for
    org_type: str
    province: str | None
    city: str | None
    exchange: str  # the service id (knowledge.exchanges)
    name_zh: str
    name_en: str
    hosts: int
    app_hosts: int  # hosts that used the app API or websocket streams, not only the web site
    sessions: int
    bytes: int
    first_seen: float
    last_seen: float


@dataclass(slots=True)
class Problem:
    path: str
    zh: str
    en: str


@dataclass(slots=True)
class Summary:
    inputs: int
    packets: int
    bytes: int
    flows: int
    capture_start: float | None
    capture_end: float | None
    wall_seconds: float
    kinds: dict[str, KindCount]  # every kind of the dimensions read, zero or not
    mining_hosts: int  # distinct miners of mining_session findings
    related_hosts: int  # distinct hosts of any mining-related finding
    pools: Pools
    coins: list[CoinRow]
    traffic: Traffic
    algorithms: list[AlgorithmTotal]
    energy_total: EnergyTotal | None
    institutional: Institutional
    org_types: list[OrgTypeRow]
    regions: list[RegionRow]
    organisations: list[OrgRow]
    crypto_nodes: list[NodeRow]
    exchanges: list[ExchangeRow]
    problems: list[Problem]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(result: ScanResult) -> Summary:
    findings = result.findings
    mining_kinds = registry.mining_kinds()
    mining = [f for f in findings if f.kind in mining_kinds]
    miners = {f.subject.value for f in findings if f.kind == MINING_SESSION}
    related = {f.subject.value for f in mining}
    attr = _attributions(findings)

    start, end = result.capture_start, result.capture_end
    if start is None and findings:
        start = min(f.first_seen for f in findings)
    if end is None and findings:
        end = max(f.last_seen for f in findings)
    # inputs may be unrelated captures years apart: the span is the time they cover, not first to last
    covered = _union_seconds((i.first_seen, i.last_seen) for i in result.inputs
                             if i.first_seen is not None and i.last_seen is not None)
    span = covered or ((end - start) if start is not None and end is not None else None)

    institutional_miners = sum(1 for ip in miners if ip in attr and attr[ip].institutional)
    institutional_related = sum(1 for ip in related if ip in attr and attr[ip].institutional)
    algorithms = totals_by_algorithm(findings)

    return Summary(
        inputs=len(result.inputs),
        packets=result.packets,
        bytes=result.bytes,
        flows=result.flows,
        capture_start=start,
        capture_end=end,
        wall_seconds=result.wall_seconds,
        kinds=_kinds(findings, {i.dimension for i in result.inputs if i.format != "knowledge"}
                     | {str(f.dimension) for f in findings}),
        mining_hosts=len(miners),
        related_hosts=len(related),
        pools=_pools(mining),
        coins=_coins(findings),
        traffic=_traffic(mining, span),
        algorithms=algorithms,
        energy_total=_energy_total(algorithms),
        institutional=Institutional(
            mining_hosts=institutional_miners,
            mining_share=institutional_miners / len(miners) if miners else None,
            related_hosts=institutional_related,
            related_share=institutional_related / len(related) if related else None,
        ),
        org_types=_org_types(related, miners, attr),
        regions=_regions(related, miners, attr),
        organisations=_organisations(related, miners, attr),
        crypto_nodes=_nodes(findings),
        exchanges=_exchanges(findings, attr),
        problems=[Problem(path=i.path, zh=i.problem.zh, en=i.problem.en) for i in result.inputs if i.problem],
    )


# --- hash rate and energy, per algorithm ------------------------------------------------------------


def _hashrate_of(f: Finding) -> HashRate | None:
    if f.kind == CRYPTO_NODE or f.mining is None:
        return None
    return f.mining.sizing_hashrate


def _algorithm(name: str) -> tuple[str, str]:
    """(grouping key, display name): "sha256", "SHA256" and "SHA-256" are one algorithm, as are
    "rx/0" and "RandomX" (the hardware table's families, as enrich.estimate names them)."""
    family = canonical_algorithm(name)
    # estimate sizes CryptoNight with RandomX hardware, but a CryptoNight hash is different work.
    if family == "RandomX" and name.strip().lower().startswith(("cn", "cryptonight")):
        family = None
    display = family or name.strip()
    return "".join(ch for ch in display.lower() if ch.isalnum()), display


def _union_seconds(spans: Iterable[tuple[float, float]]) -> float:
    total, cur_start, cur_end = 0.0, None, None
    for a, b in sorted(spans):
        b = max(b, a + MIN_ACTIVE_SECONDS)
        if cur_end is None or a > cur_end:
            if cur_end is not None and cur_start is not None:
                total += cur_end - cur_start
            cur_start, cur_end = a, b
        else:
            cur_end = max(cur_end, b)
    if cur_end is not None and cur_start is not None:
        total += cur_end - cur_start
    return total


def _time_weighted(items: list[tuple[Span, tuple[float, ...]]]) -> list[float]:
    """Sum of rate × time over the union of the active time: one miner's average over its sessions.

    Concurrent sessions (the union equals each span) add up; sequential reconnects average.
    """
    union = _union_seconds(span for span, _ in items)
    width = len(items[0][1])
    acc = [0.0] * width
    for (a, b), values in items:
        dt = max(b - a, MIN_ACTIVE_SECONDS)
        for i, v in enumerate(values):
            acc[i] += v * dt
    return [x / union for x in acc]


@dataclass(slots=True)
class _ByAlgorithm:
    """Per algorithm key: its display name, and per host the (span, values) of each finding."""

    names: dict[str, str] = field(default_factory=dict)
    rates: dict[str, Samples] = field(default_factory=dict)
    energy: dict[str, Samples] = field(default_factory=dict)
    shares: Counter[str] = field(default_factory=Counter)
    methods: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    basis: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def add(
        self, table: dict[str, Samples], algorithm: str, ip: str, span: Span, values: tuple[float, ...]
    ) -> str:
        k, display = _algorithm(algorithm)
        self.names.setdefault(k, display)
        table.setdefault(k, {}).setdefault(ip, []).append((span, values))
        return k


def _collect(findings: Iterable[Finding]) -> _ByAlgorithm:
    acc = _ByAlgorithm()
    for f in findings:
        span = (f.first_seen, f.last_seen)
        hr = _hashrate_of(f)
        if hr is not None:
            k = acc.add(acc.rates, hr.algorithm, f.subject.value, span, (hr.low, hr.hps, hr.high))
            acc.shares[k] += hr.shares
            acc.methods[k][hr.method] += 1
        if f.energy is not None and f.kind != CRYPTO_NODE:
            # The energy follows the hash rate it was sized from (a CryptoNight rate sized with
            # RandomX hardware stays with CryptoNight).
            algorithm = hr.algorithm if hr is not None else f.energy.algorithm
            k = acc.add(acc.energy, algorithm, f.subject.value, span, (*f.energy.kw, *f.energy.kwh_per_day))
            if f.energy.basis:
                acc.basis[k].add(f.energy.basis)
    return acc


def host_hashrates(findings: Iterable[Finding]) -> dict[str, list[tuple[str, float, float, float]]]:
    """Per algorithm: (host, low, best, high) hash rate of each miner, highest first."""
    acc = _collect(findings)
    out: dict[str, list[tuple[str, float, float, float]]] = {}
    for k, hosts in acc.rates.items():
        rows = []
        for ip, items in hosts.items():
            low, best, high = _time_weighted(items)
            rows.append((ip, low, best, high))
        out[acc.names[k]] = sorted(rows, key=lambda r: (-r[2], r[0]))
    return out


def totals_by_algorithm(findings: Iterable[Finding]) -> list[AlgorithmTotal]:
    """Hash rate (low/best/high) and energy (kW, kWh/day: low/best/high) for each algorithm.

    Never across algorithms. Ordered by best energy, then hash rate, so the heaviest comes first.
    """
    acc = _collect(findings)
    totals: list[AlgorithmTotal] = []
    for k, name in acc.names.items():
        rates = acc.rates.get(k, {})
        energy = acc.energy.get(k, {})
        # Miners' estimates are independent: their uncertainties add in quadrature (as in
        # enrich.estimate). Energy bounds add linearly: the hardware assumption is common to all.
        best = down = up = 0.0
        for items in rates.values():
            lo, be, hi = _time_weighted(items)
            best += be
            down += (be - lo) ** 2
            up += (hi - be) ** 2
        e = [0.0] * 6
        for items in energy.values():
            e = [a + b for a, b in zip(e, _time_weighted(items), strict=True)]
        totals.append(
            AlgorithmTotal(
                algorithm=name,
                unit=hashrate_unit(name),
                hosts=len(rates),
                sessions=sum(len(v) for v in rates.values()),
                hps=best,
                hps_low=max(0.0, best - math.sqrt(down)),
                hps_high=best + math.sqrt(up),
                shares=acc.shares[k],
                methods=dict(acc.methods[k]),
                energy_sessions=sum(len(v) for v in energy.values()),
                kw=e[0:3] if energy else None,
                kwh_per_day=e[3:6] if energy else None,
                basis=sorted(acc.basis[k]),
            )
        )
    totals.sort(key=lambda t: (-(t.kwh_per_day[1] if t.kwh_per_day else 0.0), -t.hps, t.algorithm))
    return totals


def _energy_total(algorithms: list[AlgorithmTotal]) -> EnergyTotal | None:
    with_energy = [a for a in algorithms if a.kw and a.kwh_per_day]
    if not with_energy:
        return None
    kw = [sum(a.kw[i] for a in with_energy if a.kw) for i in range(3)]
    kwh = [sum(a.kwh_per_day[i] for a in with_energy if a.kwh_per_day) for i in range(3)]
    return EnergyTotal(algorithms=[a.algorithm for a in with_energy], kw=kw, kwh_per_day=kwh)


# --- counts --------------------------------------------------------------------------------------


def _kinds(findings: list[Finding], dimensions: set[str]) -> dict[str, KindCount]:
    """Findings and distinct subjects per kind: every kind of the dimensions the scan read, zero or not."""
    counts = {k: KindCount() for k, spec in registry.kinds().items() if spec.dimension in dimensions}
    hosts: dict[str, set[str]] = defaultdict(set)
    for f in findings:
        counts.setdefault(str(f.kind), KindCount()).findings += 1
        hosts[str(f.kind)].add(f.subject.value)
    for k, ips in hosts.items():
        counts[k].hosts = len(ips)
    return counts


def _flow_key(fl: FlowRef) -> tuple[str, int, str, int, str, float]:
    return (fl.src_ip, fl.src_port, fl.dst_ip, fl.dst_port, fl.proto, fl.first_seen)


def _pools(mining: list[Finding]) -> Pools:
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    names: set[str] = set()
    for f in mining:
        host = f.endpoint.host or (f.mining.pool_host if f.mining else None)
        if not f.endpoint.ip and not host:  # a meter, a file at rest: no pool to name
            continue
        if host:
            names.add(host.lower())
        # an endpoint by its address; a pool only named (a miner's command line) by its name
        r = rows.setdefault(
            (f.endpoint.ip or (host or "").lower(), f.endpoint.port),
            {"host": host, "known": False, "findings": 0, "hosts": set(), "flows": {}, "kinds": set()},
        )
        r["host"] = r["host"] or host
        r["known"] = r["known"] or f.endpoint.known_pool
        r["findings"] += 1
        r["hosts"].add(f.subject.value)
        r["kinds"].add(str(f.kind))
        for fl in f.flows:
            r["flows"][_flow_key(fl)] = fl.bytes
    out = [
        PoolRow(
            ip=ip,
            port=port,
            host=r["host"],
            known_pool=r["known"],
            findings=r["findings"],
            hosts=len(r["hosts"]),
            bytes=sum(r["flows"].values()),
            kinds=sorted(r["kinds"]),
        )
        for (ip, port), r in rows.items()
    ]
    out.sort(key=lambda p: (-p.hosts, -p.bytes, p.ip, p.port))
    return Pools(endpoints=len(rows), names=len(names), rows=out)


def _coins(findings: list[Finding]) -> list[CoinRow]:
    sessions: Counter[str] = Counter()
    hosts: dict[str, set[str]] = defaultdict(set)
    algos: dict[str, set[str]] = defaultdict(set)
    for f in findings:
        if f.kind == CRYPTO_NODE or not f.mining or not f.mining.coin:
            continue
        coin = f.mining.coin.upper()
        sessions[coin] += 1
        hosts[coin].add(f.subject.value)
        if f.mining.algorithm:
            algos[coin].add(f.mining.algorithm)
    rows = [CoinRow(c, n, len(hosts[c]), sorted(algos[c])) for c, n in sessions.items()]
    rows.sort(key=lambda r: (-r.hosts, -r.sessions, r.coin))
    return rows


def _traffic(mining: list[Finding], capture_seconds: float | None) -> Traffic:
    flows = {_flow_key(fl): fl for f in mining for fl in f.flows}
    total = sum(fl.bytes for fl in flows.values())
    active = _union_seconds((fl.first_seen, fl.last_seen) for fl in flows.values())
    bits = total * 8 / 1e6
    return Traffic(
        flows=len(flows),
        bytes=total,
        bytes_to_pool=sum(fl.bytes_to_dst for fl in flows.values()),
        bytes_from_pool=sum(fl.bytes_to_src for fl in flows.values()),
        active_seconds=active,
        capture_seconds=capture_seconds,
        mbps_active=bits / active if active > 0 else None,
        mbps_capture=bits / capture_seconds if capture_seconds else None,
    )


# --- who and where -------------------------------------------------------------------------------


def _attributions(findings: list[Finding]) -> dict[str, Attribution]:
    """One attribution per host: the first a finding carries (enrichment gives the same for one ip)."""
    out: dict[str, Attribution] = {}
    for f in findings:
        if f.attribution is not None:
            out.setdefault(f.subject.value, f.attribution)
    return out


def _org_types(related: set[str], miners: set[str], attr: dict[str, Attribution]) -> list[OrgTypeRow]:
    hosts: Counter[str] = Counter()
    mining: Counter[str] = Counter()
    for ip in related:
        t = (attr[ip].org_type if ip in attr else None) or "unknown"
        hosts[t] += 1
        mining[t] += ip in miners
    rows = [
        OrgTypeRow(t, Attribution(ip="", org_type=t).institutional, n, mining[t]) for t, n in hosts.items()
    ]
    rows.sort(key=lambda r: (-r.hosts, r.org_type))
    return rows


def _regions(related: set[str], miners: set[str], attr: dict[str, Attribution]) -> list[RegionRow]:
    hosts: Counter[tuple[str | None, str | None, str | None]] = Counter()
    mining: Counter[tuple[str | None, str | None, str | None]] = Counter()
    for ip in related:
        a = attr.get(ip)
        key = (a.province, a.city, a.region_code) if a else (None, None, None)
        hosts[key] += 1
        mining[key] += ip in miners
    rows = [RegionRow(p, c, code, n, mining[(p, c, code)]) for (p, c, code), n in hosts.items()]
    rows.sort(key=lambda r: (-r.hosts, r.province or "\uffff", r.city or "\uffff"))
    return rows


def _organisations(related: set[str], miners: set[str], attr: dict[str, Attribution]) -> list[OrgRow]:
    rows: dict[tuple[str, str], OrgRow] = {}
    for ip in related:
        a = attr.get(ip)
        if a is None or not a.org_name:
            continue
        key = (a.org_name, a.org_type or "unknown")
        row = rows.setdefault(key, OrgRow(a.org_name, key[1], a.province, a.city, 0, 0))
        row.hosts += 1
        row.mining_hosts += ip in miners
    return sorted(rows.values(), key=lambda r: (-r.hosts, r.org_name))


def _nodes(findings: list[Finding]) -> list[NodeRow]:
    counts: Counter[str] = Counter()
    hosts: dict[str, set[str]] = defaultdict(set)
    for f in findings:
        if f.kind == CRYPTO_NODE:
            p = f.node_protocol or "unknown"
            counts[p] += 1
            hosts[p].add(f.subject.value)
    return sorted(
        (NodeRow(p, n, len(hosts[p])) for p, n in counts.items()),
        key=lambda r: (-r.findings, r.node_protocol),
    )


def _exchanges(findings: list[Finding], attr: dict[str, Attribution]) -> list[ExchangeRow]:
    """One row per (organisation, exchange), most hosts first."""
    rows: dict[tuple[str | None, str], ExchangeRow] = {}
    hosts: dict[tuple[str | None, str], set[str]] = defaultdict(set)
    app: dict[tuple[str | None, str], set[str]] = defaultdict(set)
    for f in findings:
        if f.kind != EXCHANGE_ACCESS:
            continue
        d = next((e.detail for e in f.evidence if e.type == "exchange"), None)
        if d is None:
            continue
        a = attr.get(f.subject.value)
        org = a.org_name if a is not None and a.org_name else None
        key = (org, d["exchange"])
        row = rows.get(key)
        if row is None:
            row = rows[key] = ExchangeRow(org, (a.org_type if a else None) or "unknown", a.province if a else None,
                                          a.city if a else None, d["exchange"], d["name_zh"], d["name_en"], 0, 0,
                                          0, 0, f.first_seen, f.last_seen)
        hosts[key].add(f.subject.value)
        if d.get("app_api"):
            app[key].add(f.subject.value)
        row.sessions += int(d["sessions"])
        row.bytes += int(d["bytes"])
        row.first_seen, row.last_seen = min(row.first_seen, f.first_seen), max(row.last_seen, f.last_seen)
    for key, row in rows.items():
        row.hosts, row.app_hosts = len(hosts[key]), len(app[key])
    return sorted(rows.values(), key=lambda r: (-r.hosts, -r.sessions, r.org_name or "\uffff", r.exchange))

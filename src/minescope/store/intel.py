"""Stored intelligence: pools confirmed by ``minescope probe``, and what each probe did to the findings.

An endpoint is kept once it has answered as a pool (``first_confirmed``); later probes update its
``last_verdict`` (a confirmed pool that is dead today stays on record, with that verdict) and
``last_confirmed`` when it answers again. The evidence is the answering attempt's first bytes and TLS
certificate. Findings whose peer was probed get a ``probe`` note in their data and their confidence
moved: up for a pool, down for an endpoint that answered as something else; a dead endpoint leaves them
as they were (a failover miner's pool may be down today). The confidence a scan gave is kept in the
note, so probing again moves it from there, never twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, Column, Engine, Float, Integer, String, Table, select

from minescope.store.findings import begin, findings, hold_write_lock, metadata

if TYPE_CHECKING:
    from minescope.dimensions.network.probe import Endpoint, ProbeResult
    from minescope.knowledge.pools import LoadedList

confirmed_pools = Table(
    "confirmed_pools", metadata,
    Column("ip", String(64), primary_key=True),
    Column("port", Integer, primary_key=True),
    Column("tls", Boolean, nullable=False),
    Column("protocol", String(32), nullable=False),  # the dialect it answered: stratum | xmrig | ethereumstratum
    Column("host", String(255)),  # the name given as SNI, when the suspicion had one
    Column("first_confirmed", Float, nullable=False),
    Column("last_confirmed", Float, nullable=False),
    Column("last_probed", Float, nullable=False),
    Column("last_verdict", String(16), nullable=False),  # pool | not_pool | dead
    Column("evidence", JSON, nullable=False),
)

# The findings a probe may confirm: those about a remote endpoint suspected of being a pool.
SUSPECT_KINDS = ("encrypted_mining_suspect", "pool_contact", "mining_behaviour_suspect")
CONFIDENCE_CONFIRMED = 0.95  # a pool answered: at least this
CONFIDENCE_FACTOR_NOT_POOL = 0.5  # it answered as something else: halved


def suspected_endpoints(store: Engine, kinds: Iterable[str] = SUSPECT_KINDS) -> list[Endpoint]:
    """The peers of stored findings of ``kinds``, each with the findings that point at it: endpoints not yet
    confirmed before those already confirmed, then the most confident first (behaviour leads by their rank:
    their confidence is 0.6 × rank), then by first sighting, so ``--budget`` probes the top of the list."""
    from minescope.dimensions.network.probe import Endpoint, merge_endpoints

    query = (select(findings.c.id, findings.c.peer_ip, findings.c.peer_port, findings.c.peer_host)
             .where(findings.c.kind.in_(list(kinds)), findings.c.peer_ip.is_not(None), findings.c.peer_ip != "",
                    findings.c.peer_port > 0)
             .order_by(findings.c.confidence.desc(), findings.c.first_seen, findings.c.id))
    with store.connect() as conn:
        rows = conn.execute(query).all()
        confirmed = set(conn.execute(select(confirmed_pools.c.ip, confirmed_pools.c.port)).tuples())
    endpoints = merge_endpoints(Endpoint(r.peer_ip, int(r.peer_port), r.peer_host or None, (r.id,)) for r in rows)
    return sorted(endpoints, key=lambda e: (e.ip, e.port) in confirmed)  # stable: the order above holds


def record_probes(store: Engine, results: Iterable[ProbeResult]) -> tuple[int, int]:
    """Store the verdicts of one run in one transaction. Returns (pools confirmed, findings noted)."""
    from minescope.dimensions.network.probe import POOL, PROBED

    confirmed = noted = 0
    with begin(store) as conn:
        hold_write_lock(conn)
        for r in results:
            if r.verdict not in PROBED:
                continue
            ip, port = r.endpoint.ip, r.endpoint.port
            where = (confirmed_pools.c.ip == ip) & (confirmed_pools.c.port == port)
            known = conn.execute(select(confirmed_pools.c.ip).where(where)).first()
            if r.verdict == POOL:
                confirmed += 1
                row = {"tls": r.tls, "protocol": r.protocol or "", "host": r.endpoint.host,
                       "last_confirmed": r.probed_at, "last_probed": r.probed_at, "last_verdict": r.verdict,
                       "evidence": r.evidence()}
                if known:
                    conn.execute(confirmed_pools.update().where(where).values(row))
                else:
                    conn.execute(confirmed_pools.insert().values(ip=ip, port=port, first_confirmed=r.probed_at, **row))
            elif known:  # a confirmed pool that does not answer as one today: on record, with today's verdict
                conn.execute(confirmed_pools.update().where(where).values(last_probed=r.probed_at,
                                                                          last_verdict=r.verdict))
            noted += _note_findings(conn, r)
    return confirmed, noted


def _note_findings(conn: Any, r: ProbeResult) -> int:
    """Give the suspect findings at this endpoint the probe's note and move their confidence."""
    from minescope.dimensions.network.probe import NOT_POOL, POOL

    query = select(findings.c.id, findings.c.data).where(
        findings.c.peer_ip == r.endpoint.ip, findings.c.peer_port == r.endpoint.port,
        findings.c.kind.in_(SUSPECT_KINDS))
    count = 0
    for fid, data in conn.execute(query).all():
        before = data.get("probe", {}).get("confidence_before", data.get("confidence", 0.0))
        confidence = (max(before, CONFIDENCE_CONFIRMED) if r.verdict == POOL
                      else round(before * CONFIDENCE_FACTOR_NOT_POOL, 4) if r.verdict == NOT_POOL else before)
        note = {"verdict": r.verdict, "protocol": r.protocol, "tls": r.tls, "at": r.probed_at, "reason": r.reason,
                "confidence_before": before}
        conn.execute(findings.update().where(findings.c.id == fid).values(
            confidence=confidence, data={**data, "confidence": confidence, "probe": note}))
        count += 1
    return count


def confirmed(store: Engine) -> list[dict[str, Any]]:
    """Every confirmed pool, most recently confirmed first."""
    with store.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(confirmed_pools).order_by(confirmed_pools.c.last_confirmed.desc()))]


def confirmed_list(store: Engine) -> LoadedList:
    """The pools that answered as pools at their last probe, as a pool list that a scan over this store adds
    to its lists: captures and flow logs then know these addresses (category ``pool``, on any port)."""
    from minescope.knowledge.pools import ListInfo, LoadedList
    from minescope.knowledge.ranges import parse_network

    loaded = LoadedList(ListInfo(name="confirmed pools", category="pool", source="minescope probe",
                                 licence="the operator's own probes", path="findings store: confirmed_pools"))
    with store.connect() as conn:
        for ip in sorted(set(conn.execute(select(confirmed_pools.c.ip)
                                          .where(confirmed_pools.c.last_verdict == "pool")).scalars())):
            network = parse_network(ip)
            if network is not None:  # stored by the prober, which takes addresses only
                loaded.networks.append((network, "pool"))
    return loaded


def feed_text(pools: Iterable[dict[str, Any]]) -> str:
    """A pool feed (``knowledge.pools`` list format) of the pools that answered as pools at their last probe,
    for ``minescope scan --feed`` or the feeds directory: later scans then know their addresses."""
    lines = ["# name: confirmed pools (minescope probe)", "# category: pool", "# source: minescope probe"]
    lines += sorted({p["ip"] for p in pools if p["last_verdict"] == "pool"})
    return "\n".join(lines) + "\n"

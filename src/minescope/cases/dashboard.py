"""Dashboard figures for one jurisdiction: counts, trends, places, organisations, hash rate and energy.

Everything is computed from the store for the area a user may see (a GB/T 2260 code prefix), so a
county, a city and a province each get their own picture. Hash rates stay per algorithm.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import Engine, and_, func, select, true

from minescope.model import MIN_SHARES_TO_SIZE
from minescope.report.fmt import iso_utc
from minescope.store.cases import cases
from minescope.store.findings import findings

INSTITUTIONAL = {"government", "university", "research", "state_owned", "enterprise"}
MINING_KINDS = ("mining_session", "pool_contact", "encrypted_mining_suspect")


def dashboard(engine: Engine, scope: str, now: float | None = None, days: int = 30) -> dict[str, Any]:
    now = time.time() if now is None else now
    in_area_f = findings.c.region_code.like(f"{scope}%") if scope else true()
    in_area_c = cases.c.region_code.like(f"{scope}%") if scope else true()
    child_len = {0: 2, 2: 4, 4: 6}.get(len(scope), 6)
    with engine.connect() as conn:
        by_state: dict[str, int] = dict(conn.execute(select(cases.c.state, func.count()).where(in_area_c)
                                     .group_by(cases.c.state)).all())
        overdue = conn.execute(select(func.count()).select_from(cases).where(and_(
            in_area_c, cases.c.state != "closed", cases.c.due_at < now))).scalar_one()
        by_kind: dict[str, int] = dict(conn.execute(select(findings.c.kind, func.count()).where(in_area_f)
                                    .group_by(findings.c.kind)).all())
        place = func.substr(findings.c.region_code, 1, child_len).label("place")  # grouped by name: one parameter
        by_place: dict[str, int] = dict(conn.execute(
            select(place, func.count(func.distinct(findings.c.subject_ip)))
            .where(and_(in_area_f, findings.c.kind.in_(MINING_KINDS))).group_by(place)).all())
        mining = conn.execute(select(findings.c.data).where(and_(in_area_f, findings.c.kind.in_(MINING_KINDS)))).all()
    hosts: dict[str, str | None] = {}
    orgs: Counter[str] = Counter()
    trend: Counter[str] = Counter()
    rate: dict[str, float] = defaultdict(float)
    kwh: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    since = now - days * 86400
    for (data,) in mining:
        a = data.get("attribution") or {}
        hosts[data["subject_ip"]] = a.get("org_type")
        if a.get("org_name"):
            orgs[a["org_name"]] += 1
        day = iso_utc(data["first_seen"])  # None for a time no calendar holds
        if day and data["first_seen"] >= since:
            trend[day[:10]] += 1
        m = data.get("mining") or {}
        # as MiningFacts.sizing_hashrate: measured when enough shares, else the miner's own report
        measured = m.get("hashrate") or {}
        sizing = measured if measured.get("shares", 0) >= MIN_SHARES_TO_SIZE else m.get("reported_hashrate")
        if data["kind"] == "mining_session" and sizing:
            rate[sizing["algorithm"]] += sizing["hps"]
        energy = data.get("energy")
        if energy:
            for i in range(3):
                kwh[energy["algorithm"]][i] += energy["kwh_per_day"][i]
    institutional = sum(1 for t in hosts.values() if t in INSTITUTIONAL)
    return {
        "scope": scope, "cases_by_state": by_state, "overdue": overdue, "findings_by_kind": by_kind,
        "mining_hosts": len(hosts), "institutional_share": institutional / len(hosts) if hosts else None,
        "hosts_by_place": {k or "": v for k, v in sorted(by_place.items(), key=lambda kv: -kv[1])},
        "top_organisations": orgs.most_common(10), "trend": dict(sorted(trend.items())),
        "hashrate_by_algorithm": dict(rate), "kwh_per_day_by_algorithm": {k: v for k, v in kwh.items()},
    }

"""Dashboard figures for one jurisdiction: counts, trends, places, organisations, hash rate and energy.

Everything is computed from the store for the area a user may see (a GB/T 2260 code prefix), so a
county, a city and a province each get their own picture. Hash rates stay per algorithm.

The figures are counts and sums in SQL over columns of the findings and cases tables, kept per area
(in each process) until the data under them changes, which one small query tells:
- findings are facts, only ever added, each with a scan or a public report
  (``store.findings.save_scan``, ``store.tips.submit_tip``): the numbers of scans and reports;
- every change to a case writes a row of its history in the same transaction, and the history's
  hash chain lets only one writer append at a time: the last history row's id.
Overdue cases are counted at each call from the kept due dates of the open cases.
"""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import threading
import time
import weakref
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import ColumnElement, Engine, Integer, and_, case, cast, func, or_, select, true

from minescope import registry
from minescope.dimensions.network.kinds import EXCHANGE_ACCESS, MINING_SESSION
from minescope.model import INSTITUTIONAL
from minescope.store.cases import case_history, cases
from minescope.store.findings import findings, scans
from minescope.store.tips import tips

CALENDAR_END = 253402300800.0  # 10000-01-01: later times have no calendar day (a corrupt capture's)
DAY = 86400


def dashboard(store: Engine, scope: str, now: float | None = None, days: int = 30) -> dict[str, Any]:
    """The figures of one area (``scope``: a GB/T 2260 code prefix, "" for all). ``trend`` counts
    mining findings per UTC day over the last ``days`` days, today included."""
    now = time.time() if now is None else now
    with store.connect() as conn:
        n_scans, n_tips, last_change = conn.execute(select(
            select(func.count()).select_from(scans).scalar_subquery(),
            select(func.count()).select_from(tips).scalar_subquery(),
            select(func.max(case_history.c.id)).scalar_subquery())).one()
    cache = _cache_of(store)
    by_state, open_due = cache.get(("cases", scope), last_change, lambda: _case_figures(store, scope))
    first_day = int(now // DAY) - days + 1
    figures = cache.get(("findings", scope, first_day), (n_scans, n_tips),
                        lambda: _findings_figures(store, scope, first_day))
    return {"scope": scope, "cases_by_state": dict(by_state), "overdue": bisect.bisect_left(open_due, now),
            **copy.deepcopy(figures)}


def _case_figures(store: Engine, scope: str) -> tuple[dict[str, int], list[float]]:
    """Cases by state, and the due dates of the open ones, in order."""
    in_area = cases.c.region_code.like(f"{scope}%") if scope else true()
    with store.connect() as conn:
        by_state = {state: n for state, n in conn.execute(
            select(cases.c.state, func.count()).where(in_area).group_by(cases.c.state))}
        open_due = sorted(conn.execute(select(cases.c.due_at).where(
            in_area, cases.c.state != "closed", cases.c.due_at.is_not(None))).scalars())
    return by_state, open_due


def _findings_figures(store: Engine, scope: str, first_day: int) -> dict[str, Any]:
    f = findings.c
    in_area = f.region_code.like(f"{scope}%") if scope else true()
    mining = and_(in_area, f.kind.in_(registry.mining_kinds()))
    place = func.substr(f.region_code, 1, {0: 2, 2: 4, 4: 6}.get(len(scope), 6)).label("place")
    day = _day_number(store.dialect.name, f.first_seen).label("day")
    n = func.count().label("n")
    # a mining host is an address, or a machine named by its endpoint logs whose address is not known; a meter
    # is counted apart (a site's meter and its machines are not two hosts)
    machine = func.coalesce(f.subject_ip, f.subject_value).label("machine")
    on_machines = and_(mining, or_(f.subject_type.is_(None), f.subject_type.in_(("ip", "host"))))
    # distinct hosts through GROUP BY / DISTINCT subqueries: PostgreSQL hashes those, count(DISTINCT) sorts
    places = select(place, machine).where(on_machines).distinct().subquery()
    hosts = (select(machine, func.max(case((f.org_type.in_(INSTITUTIONAL), 1), else_=0)).label("inst"))
             .where(on_machines).group_by(machine).subquery())
    meters = select(f.subject_value).where(mining, f.subject_type == "meter").distinct().subquery()
    # hosts reaching exchanges: trading, counted apart from mining
    traders = select(f.subject_value).where(in_area, f.kind == EXCHANGE_ACCESS).distinct().subquery()
    with store.connect() as conn:
        # one pass over the area's findings: counts by kind, and the sums of each algorithm
        sums = conn.execute(
            select(f.kind, f.sizing_algorithm, f.energy_algorithm, func.count(), func.sum(f.sizing_hps),
                   func.sum(f.kwh_per_day_low), func.sum(f.kwh_per_day_best), func.sum(f.kwh_per_day_high))
            .where(in_area).group_by(f.kind, f.sizing_algorithm, f.energy_algorithm)).all()
        by_place = conn.execute(select(places.c.place, func.count()).group_by(places.c.place)).all()
        n_hosts, institutional = conn.execute(select(func.count(), func.sum(hosts.c.inst))).one()
        n_meters = conn.execute(select(func.count()).select_from(meters)).scalar_one()
        n_traders = conn.execute(select(func.count()).select_from(traders)).scalar_one()
        orgs = conn.execute(select(f.org_name, n).where(mining, f.org_name.is_not(None))
                            .group_by(f.org_name).order_by(n.desc(), f.org_name).limit(10)).all()
        trend = conn.execute(select(day, func.count()).where(
            mining, f.first_seen >= first_day * DAY, f.first_seen < CALENDAR_END).group_by(day).order_by(day)).all()
    by_kind: dict[str, int] = defaultdict(int)
    rate: dict[str, float] = defaultdict(float)
    kwh: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for kind, sizing_algorithm, energy_algorithm, count, hps, *energy in sums:
        by_kind[kind] += count
        # hash rates of different algorithms never add up: one sum per algorithm
        if kind == MINING_SESSION and sizing_algorithm:
            rate[sizing_algorithm] += hps
        if kind in registry.mining_kinds() and energy_algorithm:
            kwh[energy_algorithm] = [a + b for a, b in zip(kwh[energy_algorithm], energy, strict=True)]
    epoch = dt.date(1970, 1, 1)
    return {
        "findings_by_kind": dict(by_kind), "mining_hosts": n_hosts, "mining_meters": n_meters,
        "exchange_hosts": n_traders,
        "institutional_share": institutional / n_hosts if n_hosts else None,
        "hosts_by_place": {k or "": v for k, v in sorted(by_place, key=lambda kv: -kv[1])},
        "top_organisations": [(name, count) for name, count in orgs],
        "trend": {(epoch + dt.timedelta(days=int(d))).isoformat(): count for d, count in trend},
        "hashrate_by_algorithm": dict(rate), "kwh_per_day_by_algorithm": dict(kwh),
    }


def _day_number(dialect: str, ts: ColumnElement[float]) -> ColumnElement[Any]:
    """Whole days since 1970-01-01 UTC of a (non-negative) unix time: SQLite's CAST truncates,
    PostgreSQL's rounds, so PostgreSQL takes floor()."""
    return func.floor(ts / DAY) if dialect == "postgresql" else cast(ts / DAY, Integer)


class _Cache:
    """Figures by key, each kept with the version of the data it was computed from; one computation
    at a time per key (the others wait for it rather than repeat it)."""

    MAX_ENTRIES = 256  # areas; a user may ask for any part of theirs

    def __init__(self) -> None:
        self.entries: dict[Any, tuple[Any, Any]] = {}
        self.locks: dict[Any, threading.Lock] = {}

    def get(self, key: Any, version: Any, compute: Callable[[], Any]) -> Any:
        entry = self.entries.get(key)
        if entry is None or entry[0] != version:
            with self.locks.setdefault(key, threading.Lock()):
                entry = self.entries.get(key)
                if entry is None or entry[0] != version:
                    if len(self.entries) >= self.MAX_ENTRIES:
                        self.entries.clear()
                        self.locks.clear()
                    entry = (version, compute())  # computed after reading the version: never older
                    self.entries[key] = entry
        return entry[1]


_caches: weakref.WeakKeyDictionary[Engine, _Cache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def _cache_of(store: Engine) -> _Cache:
    with _caches_lock:
        return _caches.setdefault(store, _Cache())

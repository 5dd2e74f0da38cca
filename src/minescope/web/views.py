"""What the dashboard page shows, built from the figures of ``cases.dashboard`` for one area."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from minescope.cases.workflow import STATES
from minescope.enrich.estimate import METERED
from minescope.outputs import fmt
from minescope.store.accounts import region_prefix
from minescope.web.geo import map_for, place_name


def dashboard_view(figures: dict[str, Any], scope: str, user_scope: str, labels: dict[str, str],
                   now: float, days: int = 30) -> dict[str, Any]:
    """Template context: breadcrumbs, cards, the places list, tables, and ``chart`` (data for the
    page's script, embedded as JSON)."""
    places = _places(figures["hosts_by_place"], scope, labels)
    view = map_for(scope)
    regions = [{"name": shape, "value": figures["hosts_by_place"].get(key, 0), "code": view.targets[shape]}
               for shape, key in view.places.items()] if view else []
    today = datetime.fromtimestamp(now, UTC).date()
    trend_days = [(today - timedelta(days=i)).isoformat() for i in range(days - 1, -1, -1)]
    kinds = sorted(figures["findings_by_kind"].items(), key=lambda kv: -kv[1])
    # energy measured at meters is shown apart: a site's meter and its machines' estimate are the same power
    kwh = {alg: v for alg, v in figures["kwh_per_day_by_algorithm"].items() if alg != METERED}
    metered = figures["kwh_per_day_by_algorithm"].get(METERED)
    energy_total = [sum(v[i] for v in kwh.values()) for i in range(3)] if kwh else None
    chart = {
        "level": len(scope),
        "map": {"name": view.name, "url": view.url, "regions": regions} if view else None,
        "bars": [{"name": p["name"], "value": p["hosts"], "code": p["target"]} for p in places],
        "trend": {"days": [d[5:] for d in trend_days], "counts": [figures["trend"].get(d, 0) for d in trend_days]},
        "kinds": [{"name": labels.get(f"kind.{k}", k), "value": n} for k, n in kinds],
        "labels": {k: labels[k] for k in ("hosts", "no_data", "findings")},
    }
    return {
        "scope": scope, "area_name": place_name(scope) if scope else labels["country"],
        "crumbs": _crumbs(scope, user_scope, labels), "places": places, "chart": chart,
        "by_state": [(s, figures["cases_by_state"].get(s, 0)) for s in STATES],
        "cases_total": sum(figures["cases_by_state"].values()), "overdue": figures["overdue"],
        "mining_hosts": figures["mining_hosts"], "institutional": fmt.pct(figures["institutional_share"]),
        "mining_meters": figures["mining_meters"], "exchange_hosts": figures["exchange_hosts"],
        "metered": fmt.kw_range(metered, "kWh") if metered else "–",
        "energy_total": fmt.kw_range(energy_total, "kWh") if energy_total else "–",
        "top_orgs": figures["top_organisations"],
        "hashrates": [(alg, fmt.hashrate(hps, alg)) for alg, hps in sorted(figures["hashrate_by_algorithm"].items())],
        "energies": [(alg, fmt.kw_range(v, "kWh")) for alg, v in sorted(kwh.items())],
    }


def _places(hosts_by_place: dict[str, int], scope: str, labels: dict[str, str]) -> list[dict[str, Any]]:
    """One row per child place with mining hosts; ``target`` is where a click drills to (None: nowhere)."""
    rows = []
    for key, hosts in hosts_by_place.items():
        target: str | None = region_prefix(key)
        if not key:
            name, target = labels["not_located"], None
        elif target == scope:  # known only down to the area itself
            name, target = place_name(scope) + labels["itself"], None
        elif len(key) == 4 and key.endswith("90") and place_name(key) == key:
            name = labels["direct_counties"]
        else:
            name = place_name(key)
        rows.append({"key": key, "name": name, "hosts": hosts, "target": target})
    return rows


def _crumbs(scope: str, user_scope: str, labels: dict[str, str]) -> list[tuple[str, str | None]]:
    """全国 › 省 › 市 › 县, each with its link when inside the user's area (the last one has none)."""
    prefixes = [""] + [scope[:n] for n in (2, 4, 6) if len(scope) >= n]
    crumbs: list[tuple[str, str | None]] = []
    for p in prefixes:
        name = place_name(p) if p else labels["country"]
        inside = p.startswith(user_scope) and p != scope
        crumbs.append((name, (f"/dashboard?region={p}" if p else "/dashboard") if inside else None))
    return crumbs


"""The self-contained HTML report: one file, inline CSS and SVG, no script, no external request.

The view (rows of plain strings, charts as SVG) is built here once; the template only lays it out.
Jinja2 autoescape is on for everything; the only ``Markup`` inserted is the SVG from ``charts``, which
escapes its own text.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from minescope import __version__, registry
from minescope.model import Finding, ScanResult
from minescope.registry import SECTIONS

from . import fmt
from .charts import Bar, Segment, bar_chart, kind_colour, timeline
from .i18n import html_lang, norm_lang, t, t_opt
from .summary import Summary, host_hashrates
from .templating import ENV

CHART_ROWS = 20  # bars per chart
TIMELINE_ROWS = 40  # hosts in the timeline
TABLE_ROWS = 500  # rows per findings table; a report for thousands of hosts stays openable


def render_html(
    result: ScanResult, summary: Summary, lang: str = "zh", generated_at: float | None = None
) -> str:
    lang = norm_lang(lang)
    view = _view(result, summary, lang, time.time() if generated_at is None else generated_at)
    return ENV.get_template("report.html.j2").render(**view)


def write_html(path: str | Path, result: ScanResult, summary: Summary, lang: str = "zh") -> None:
    Path(path).write_text(render_html(result, summary, lang), encoding="utf-8")


def _view(result: ScanResult, summary: Summary, lang: str, now: float) -> dict[str, Any]:
    def tr(key: str) -> str:
        return t(key, lang)

    by_kind: dict[str, list[Finding]] = defaultdict(list)
    for f in result.findings:
        by_kind[f.kind].append(f)

    return {
        "lang": lang,
        "html_lang": html_lang(lang),
        "t": tr,
        "generated_at": fmt.clock(now),
        "version": __version__,
        "headline": _headline(summary, lang),
        "charts": _charts(result, summary, lang),
        "timeline": _timeline(result, summary, lang),
        "kinds": [(t_opt("kind", k, lang), c.findings, c.hosts) for k, c in summary.kinds.items()],
        "sessions": _rows(by_kind, "sessions", _session_row, lang),
        "contacts": _rows(by_kind, "contacts", _contact_row, lang),
        "nodes": _rows(by_kind, "nodes", _node_row, lang),
        "leads": _rows(by_kind, "leads", _contact_row, lang),
        "trading": _rows(by_kind, "trading", _other_row, lang),
        "exchanges": [
            (r.org_name or tr("no_org"), r.name_en if lang == "en" else r.name_zh, r.hosts, r.app_hosts, r.sessions,
             fmt.nbytes(r.bytes), fmt.clock(r.last_seen))
            for r in summary.exchanges[:TABLE_ROWS]
        ],
        "others": _rows(by_kind, "findings", _other_row, lang),
        "section_titles": {s: " / ".join(t_opt("kind", k, lang) for k in registry.kinds_in_section(s))
                           for s in ("contacts", "leads", "trading", "findings")},
        "truncated": {k: max(0, len(v) - TABLE_ROWS) for k, v in by_kind.items()},
        "pools": [
            (p.host or "", f"{p.ip}:{p.port}", p.known_pool, p.hosts, p.findings, fmt.nbytes(p.bytes))
            for p in summary.pools.rows[:TABLE_ROWS]
        ],
        "org_types": [
            (t_opt("org", r.org_type, lang), r.institutional, r.hosts, r.mining_hosts)
            for r in summary.org_types
        ],
        "regions": [
            (r.province or tr("unknown"), r.city or "", r.region_code or "", r.hosts, r.mining_hosts)
            for r in summary.regions
        ],
        "organisations": [
            (
                o.org_name,
                t_opt("org", o.org_type, lang),
                " ".join(x for x in (o.province, o.city) if x),
                o.hosts,
                o.mining_hosts,
            )
            for o in summary.organisations
        ],
        "inputs": [
            (
                i.path,
                i.format,
                fmt.number(i.packets),
                fmt.nbytes(i.bytes),
                fmt.number(i.flows),
                f"{fmt.clock(i.first_seen)} – {fmt.clock(i.last_seen)}" if i.first_seen is not None else "–",
                i.problem.get(lang) if i.problem else "",
            )
            for i in result.inputs
        ],
        "problems": [_problem(p.path, p.en if lang == "en" else p.zh) for p in summary.problems],
        "scan": (
            fmt.number(result.packets),
            fmt.nbytes(result.bytes),
            fmt.number(result.flows),
            fmt.duration(result.wall_seconds),
        ),
    }


def _problem(path: str, text: str) -> tuple[str, str]:
    """Most problems already name their file: then the path is not repeated."""
    return ("" if Path(path).name in text else path, text)


def _headline(s: Summary, lang: str) -> list[dict[str, Any]]:
    """Cards: label, the big value, and lines under it."""
    tr = s.traffic
    inst = s.institutional
    cards: list[dict[str, Any]] = [
        {
            "label": t("h.mining_hosts", lang),
            "value": fmt.number(s.mining_hosts),
            "alert": s.mining_hosts > 0,
            "lines": [
                t("h.mining_hosts_note", lang),
                f"{t('h.related_hosts', lang)}: {fmt.number(s.related_hosts)}"
                f" ({t('h.related_hosts_note', lang)})",
            ],
        },
        {
            "label": t("pools", lang),
            "value": fmt.number(s.pools.endpoints),
            "lines": [
                f"{t('pool_endpoints', lang)}: {s.pools.endpoints}",
                f"{t('pool_names', lang)}: {s.pools.names}",
            ],
        },
        {
            "label": t("coins", lang),
            "value": " ".join(c.coin for c in s.coins) or "–",
            "lines": [
                f"{c.coin}: {c.hosts} {t('hosts', lang)}, {c.sessions} {t('sessions', lang)}" for c in s.coins
            ],
        },
        {
            "label": t("traffic_to_pools", lang),
            "value": fmt.nbytes(tr.bytes),
            "lines": [
                f"{fmt.mbps(tr.mbps_capture)} {t('mbps_capture', lang)}",
                f"{fmt.mbps(tr.mbps_active)} {t('mbps_active', lang)}",
            ],
        },
    ]
    for a in s.algorithms:
        lines = []
        if a.sessions:
            lines.append(
                f"{t('range', lang)}: {fmt.si(a.hps_low, a.unit)} – {fmt.si(a.hps_high, a.unit)}; "
                f"{a.hosts} {t('hosts', lang)}"
            )
        if a.kw and a.kwh_per_day:
            lines.append(f"{t('power', lang)}: {fmt.kw_range(a.kw, 'kW')}")
            lines.append(f"{t('energy', lang)}: {fmt.kw_range(a.kwh_per_day, 'kWh')}")
        cards.append(
            {
                "label": f"{t('hashrate', lang)} · {a.algorithm}",
                "value": fmt.si(a.hps, a.unit) if a.sessions else t("no_estimate", lang),
                "lines": lines,
            }
        )
    if s.energy_total:
        e = s.energy_total
        cards.append(
            {
                "label": t("h.energy_total", lang),
                "value": f"{fmt.quantity(e.kwh_per_day[1])} kWh",
                "lines": [
                    f"{t('range', lang)}: {fmt.quantity(e.kwh_per_day[0])}"
                    f" – {fmt.quantity(e.kwh_per_day[2])}",
                    f"{t('power', lang)}: {fmt.kw_range(e.kw, 'kW')}",
                    t("h.energy_total_note", lang),
                ],
            }
        )
    cards.append(
        {
            "label": t("h.institutional", lang),
            "value": fmt.pct(inst.mining_share),
            "lines": [
                f"{t('of_mining_hosts', lang)}: {inst.mining_hosts}/{s.mining_hosts}",
                f"{t('of_related_hosts', lang)}: {fmt.pct(inst.related_share)} "
                f"({inst.related_hosts}/{s.related_hosts})",
                t("h.institutional_note", lang),
            ],
        }
    )
    return cards


def _charts(result: ScanResult, s: Summary, lang: str) -> list[tuple[str, Any]]:
    charts: list[tuple[str, Any]] = []
    # One chart per algorithm: bars are miners of that algorithm only, never mixed.
    for algorithm, rows in host_hashrates(result.findings).items():
        unit = fmt.hashrate_unit(algorithm)
        bars = [Bar(ip, best, fmt.si(best, unit), low, high) for ip, low, best, high in rows[:CHART_ROWS]]
        title = f"{t('chart_hashrate', lang)} · {algorithm}"
        charts.append((title, bar_chart(bars, aria=title)))
    energy = [
        Bar(
            a.algorithm,
            a.kwh_per_day[1],
            f"{fmt.kw_range(a.kwh_per_day, 'kWh')}",
            a.kwh_per_day[0],
            a.kwh_per_day[2],
            "#d35400",
        )
        for a in s.algorithms
        if a.kwh_per_day
    ]
    if energy:
        charts.append((t("chart_energy", lang), bar_chart(energy, aria=t("chart_energy", lang))))
    kinds = [
        Bar(t_opt("kind", k, lang), c.findings, str(c.findings), color=kind_colour(k))
        for k, c in s.kinds.items()
    ]
    charts.append((t("chart_kinds", lang), bar_chart(kinds, aria=t("chart_kinds", lang))))
    if s.org_types:
        orgs = [
            Bar(
                t_opt("org", r.org_type, lang),
                r.hosts,
                str(r.hosts),
                color="#c0392b" if r.institutional else "#7f8c8d",
            )
            for r in s.org_types[:CHART_ROWS]
        ]
        charts.append((t("chart_org_types", lang), bar_chart(orgs, aria=t("chart_org_types", lang))))
    if s.regions:
        regions = [
            Bar(
                " ".join(x for x in (r.province, r.city) if x) or t("unknown", lang),
                r.hosts,
                str(r.hosts),
                color="#2c3e50",
            )
            for r in s.regions[:CHART_ROWS]
        ]
        charts.append((t("chart_regions", lang), bar_chart(regions, aria=t("chart_regions", lang))))
    return charts


def _timeline(result: ScanResult, s: Summary, lang: str) -> Any:
    if not result.findings or s.capture_start is None or s.capture_end is None:
        return None
    # Mining first (then nodes, then behaviour-only leads); within each, hosts in order of first appearance.
    rank = {k: i for i, k in enumerate(k for s in SECTIONS for k in registry.kinds_in_section(s))}
    segments: dict[str, list[Segment]] = defaultdict(list)
    order: dict[str, tuple[int, float]] = {}
    for f in result.findings:
        if not f.flows:
            continue  # the timeline shows flows
        key = (rank[f.kind], f.first_seen)
        order[f.subject.value] = min(order.get(f.subject.value, key), key)
        far = f.endpoint
        label = f"{t_opt('kind', f.kind, lang)} {f.subject.value} → {far.host or far.ip}:{far.port}"
        for fl in f.flows:
            segments[f.subject.value].append(
                Segment(
                    fl.first_seen,
                    fl.last_seen,
                    str(f.kind),
                    f"{label} · {fmt.clock(fl.first_seen)} – {fmt.clock(fl.last_seen, False)}"
                    f" · {fmt.nbytes(fl.bytes)}",
                )
            )
    hosts = sorted(order, key=lambda ip: order[ip])[:TIMELINE_ROWS]
    t0 = min(s.capture_start, min(f.first_seen for f in result.findings))
    t1 = max(s.capture_end, max(f.last_seen for f in result.findings))
    legend = [(t_opt("kind", k, lang), spec.colour) for k, spec in registry.kinds().items()
              if k in s.kinds and s.kinds[k].findings]
    return timeline(
        [(ip, segments[ip]) for ip in hosts],
        t0,
        t1,
        legend=legend,
        width=1180,
        aria=t("chart_timeline", lang),
    )


def _reasons(f: Finding, lang: str) -> dict[str, Any]:
    return {
        "id": f.id,
        "reasons": [r.get(lang) for r in f.reasons],
        "evidence": [(e.type, e.summary, e.source) for e in f.evidence],
        "when": f"{fmt.clock(f.first_seen)} – {fmt.clock(f.last_seen, False)}",
        "flows": len(f.flows),
        "bytes": fmt.nbytes(sum(fl.bytes for fl in f.flows)),
        "source": f.source,
        "confidence": f"{f.confidence:.2f}",
        "severity": t_opt("severity", str(f.severity), lang),
        "org": _org(f, lang),
    }


def _org(f: Finding, lang: str) -> str:
    a = f.attribution
    if a is None:
        return ""
    parts = [a.org_name, t_opt("org", a.org_type, lang) if a.org_type else None, a.province, a.city, a.isp]
    return " · ".join(p for p in parts if p)


def _session_row(f: Finding, lang: str) -> dict[str, Any]:
    m = f.mining
    hr = (m.hashrate or m.reported_hashrate) if m else None
    row = _reasons(f, lang)
    row.update(
        host=f.subject.value,
        pool=f"{f.endpoint.host or (m.pool_host if m else None) or f.endpoint.ip}:{f.endpoint.port}",
        pool_ip=f"{f.endpoint.ip}:{f.endpoint.port}",
        coin=" / ".join(x for x in ((m.coin if m else None), (m.algorithm if m else None)) if x),
        protocol=m.protocol if m else "",
        # a pool account name stands where a login carries no wallet
        wallet=(m.wallet or m.account or "") if m else "",
        wallet_short=fmt.short((m.wallet or m.account) if m else None),
        worker=m.worker if m and m.worker else "",
        shares=(f"{m.shares_submitted} ({m.shares_accepted}✓ {m.shares_rejected}✗)" if m else ""),
        hashrate=fmt.hashrate(hr.hps, hr.algorithm) if hr else "",
        hashrate_method=hr.method if hr else "",
    )
    return row


def _rows(by_kind: dict[str, list[Finding]], section: str, row: Callable[[Finding, str], dict[str, Any]],
          lang: str) -> list[dict[str, Any]]:
    """The first rows of one report section (its kinds from the registry), strongest first for leads."""
    found = [f for k in registry.kinds_in_section(section) for f in by_kind.get(k, [])]
    if section == "leads":
        found.sort(key=lambda f: -f.confidence)
    return [row(f, lang) for f in found[:TABLE_ROWS]]


def _other_row(f: Finding, lang: str) -> dict[str, Any]:
    row = _reasons(f, lang)
    row.update(subject=f"{t_opt('subject', str(f.subject.type), lang)} {f.subject.value}",
               kind=t_opt("kind", str(f.kind), lang))
    return row


def _contact_row(f: Finding, lang: str) -> dict[str, Any]:
    row = _reasons(f, lang)
    row.update(
        host=f.subject.value,
        kind=t_opt("kind", str(f.kind), lang),
        peer=f"{f.endpoint.host + ' · ' if f.endpoint.host else ''}{f.endpoint.ip}:{f.endpoint.port}",
        known_pool=f.endpoint.known_pool,
    )
    return row


def _node_row(f: Finding, lang: str) -> dict[str, Any]:
    row = _reasons(f, lang)
    row.update(
        host=f.subject.value, protocol=f.node_protocol or t("unknown", lang), peer=f"{f.endpoint.ip}:{f.endpoint.port}"
    )
    return row

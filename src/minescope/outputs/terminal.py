"""The terminal report of ``minescope scan``: the answer first, then the tables behind it.

Everything from a capture (worker names, hosts, wallets) goes into cells as ``rich.text.Text``, never
as markup, so a worker called ``[red]x`` or ``<script>`` prints as itself.
"""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.console import Console, Group, JustifyMethod
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from minescope import registry
from minescope.model import Finding, ScanResult

from . import fmt
from .i18n import t, t_opt
from .summary import Summary

MAX_ROWS = 50  # per table; the rest is counted, not printed


def _txt(s: object, style: str = "") -> Text:
    return Text("" if s is None else str(s), style=style)


Col = tuple[str, JustifyMethod] | tuple[str, JustifyMethod, int]  # header, justify[, min width]


def _table(title: str, *columns: Col) -> Table:
    # collapse_padding keeps columns two cells apart: a mining-session row fits in 100 columns.
    table = Table(
        title=title,
        title_justify="left",
        title_style="bold",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
        header_style="bold cyan",
    )
    for header, justify, *min_width in columns:
        table.add_column(
            header, justify=justify, overflow="fold", min_width=min_width[0] if min_width else None
        )
    return table


def _more(n: int, lang: str) -> Text:
    return Text(t("more_rows", lang).format(n=n), style="dim")


def _with_note(value: str, note: str, style: str = "bold") -> Text:
    text = Text(value, style=style)
    text.append(f"  {note}", style="dim")
    return text


def headline(summary: Summary, lang: str) -> Panel:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")

    grid.add_row(
        t("h.mining_hosts", lang),
        _with_note(fmt.number(summary.mining_hosts), t("h.mining_hosts_note", lang), "bold red"),
    )
    grid.add_row(
        t("h.related_hosts", lang),
        _with_note(fmt.number(summary.related_hosts), t("h.related_hosts_note", lang)),
    )
    pools = summary.pools
    grid.add_row(
        t("pools", lang),
        _txt(f"{pools.endpoints} {t('pool_endpoints', lang)}, {pools.names} {t('pool_names', lang)}"),
    )
    coins = ", ".join(f"{c.coin} ({c.hosts} {t('hosts', lang)})" for c in summary.coins)
    grid.add_row(t("coins", lang), _txt(coins or "–"))
    tr = summary.traffic
    traffic = Text(fmt.nbytes(tr.bytes), style="bold")
    traffic.append(
        f"; {fmt.mbps(tr.mbps_capture)} {t('mbps_capture', lang)}; "
        f"{fmt.mbps(tr.mbps_active)} {t('mbps_active', lang)}"
    )
    grid.add_row(t("traffic_to_pools", lang), traffic)

    rates = Text()
    for a in summary.algorithms:
        if a.sessions:
            rates.append(f"{a.algorithm}: ", style="bold")
            rates.append(fmt.si(a.hps, a.unit), style="bold yellow")
            rates.append(
                f" ({fmt.si(a.hps_low, a.unit)} – {fmt.si(a.hps_high, a.unit)}), "
                f"{a.hosts} {t('hosts', lang)}\n"
            )
    rates.rstrip()
    grid.add_row(t("h.hashrate", lang), rates or _txt(t("no_estimate", lang)))

    energy = Text()
    for a in summary.algorithms:
        if a.kw and a.kwh_per_day:
            energy.append(f"{t_opt('alg', a.algorithm, lang)}: ", style="bold")
            energy.append(fmt.kw_range(a.kw, "kW"))
            energy.append("; ")
            energy.append(fmt.kw_range(a.kwh_per_day, "kWh/d"), style="bold yellow")
            energy.append("\n")
    energy.rstrip()
    grid.add_row(t("h.energy", lang), energy or _txt(t("no_estimate", lang)))
    if summary.energy_total:
        e = summary.energy_total
        total = Text(fmt.kw_range(e.kwh_per_day, "kWh/d"), style="bold")
        total.append(f"; {fmt.kw_range(e.kw, 'kW')}\n")
        total.append(t("h.energy_total_note", lang), style="dim")
        grid.add_row(t("h.energy_total", lang), total)

    inst = summary.institutional
    share = Text(fmt.pct(inst.mining_share), style="bold")
    share.append(
        f" {t('of_mining_hosts', lang)} ({inst.mining_hosts}/{summary.mining_hosts}); "
        f"{fmt.pct(inst.related_share)} {t('of_related_hosts', lang)} "
        f"({inst.related_hosts}/{summary.related_hosts})\n"
    )
    share.append(t("h.institutional_note", lang), style="dim")
    grid.add_row(t("h.institutional", lang), share)
    grid.add_row(
        t("capture_span", lang),
        _txt(
            f"{fmt.clock(summary.capture_start)} – {fmt.clock(summary.capture_end)} (UTC+8), "
            f"{fmt.duration(summary.traffic.capture_seconds)}"
        ),
    )
    return Panel(
        grid,
        title=Text(t("headline", lang), style="bold"),
        title_align="left",
        border_style="red" if summary.mining_hosts else "green",
    )


def _kinds_table(summary: Summary, lang: str) -> Table:
    table = _table(
        t("findings_by_kind", lang),
        (t("kind", lang), "left"),
        (t("findings", lang), "right"),
        (t("subjects_col", lang), "right"),
    )
    for kind, c in summary.kinds.items():
        table.add_row(_txt(t_opt("kind", kind, lang)), _txt(c.findings), _txt(c.hosts))
    return table


def _hashrate_cell(f: Finding) -> str:
    m = f.mining
    hr = (m.hashrate or m.reported_hashrate) if m else None
    return fmt.hashrate(hr.hps, hr.algorithm) if hr else ""


def _sessions_table(findings: list[Finding], lang: str) -> Table:
    table = _table(
        t("kind.mining_session", lang),
        (t("miner", lang), "left"),
        (t("pool", lang), "left"),
        (t("coin", lang), "left"),
        (t("wallet", lang), "left"),
        (t("worker", lang), "left"),
        (t("shares", lang), "right"),
        (t("hashrate", lang), "right", 9),
        (t("confidence_short", lang), "right"),
    )
    for f in findings[:MAX_ROWS]:
        m = f.mining
        pool = f"{f.endpoint.host or (m.pool_host if m else None) or f.endpoint.ip}:{f.endpoint.port}"
        table.add_row(
            _txt(f.subject.value),
            _txt(pool),
            _txt(m.coin if m else ""),
            _txt(fmt.short(m.wallet or m.account, 6, 4) if m else ""),  # a pool account when no wallet
            _txt(fmt.short(m.worker, 6, 3) if m else ""),
            _txt(m.shares_submitted if m else ""),
            _txt(_hashrate_cell(f)),
            _txt(f"{f.confidence:.2f}"),
        )
    if len(findings) > MAX_ROWS:
        table.caption = _more(len(findings) - MAX_ROWS, lang)
    return table


def _section_title(section: str, lang: str) -> str:
    return " / ".join(t_opt("kind", k, lang) for k in registry.kinds_in_section(section))


def _others_table(findings: list[Finding], lang: str, section: str = "findings") -> Table:
    """Findings of any dimension: what they are about, and why."""
    table = _table(_section_title(section, lang), (t("subject", lang), "left"), (t("kind", lang), "left"),
                   (t("reasons", lang), "left"), (t("confidence", lang), "right"))
    for f in findings[:MAX_ROWS]:
        table.add_row(_txt(f"{t_opt('subject', str(f.subject.type), lang)} {f.subject.value}"),
                      _txt(t_opt("kind", str(f.kind), lang)), _txt("；".join(r.get(lang) for r in f.reasons)),
                      _txt(f"{f.confidence:.2f}"))
    if len(findings) > MAX_ROWS:
        table.caption = _more(len(findings) - MAX_ROWS, lang)
    return table


def _contacts_table(findings: list[Finding], lang: str, title: str | None = None) -> Table:
    table = _table(
        title or _section_title("contacts", lang),
        (t("host", lang), "left"),
        (t("kind", lang), "left"),
        (t("peer", lang), "left"),
        (t("evidence", lang), "left"),
        (t("confidence", lang), "right"),
    )
    for f in findings[:MAX_ROWS]:
        peer = f"{f.endpoint.host + ' ' if f.endpoint.host else ''}{f.endpoint.ip}:{f.endpoint.port}"
        ev = ", ".join(sorted({e.type for e in f.evidence}))
        table.add_row(
            _txt(f.subject.value),
            _txt(t_opt("kind", str(f.kind), lang)),
            _txt(peer),
            _txt(ev),
            _txt(f"{f.confidence:.2f}"),
        )
    if len(findings) > MAX_ROWS:
        table.caption = _more(len(findings) - MAX_ROWS, lang)
    return table


def _nodes_table(summary: Summary, lang: str) -> Table:
    table = _table(
        t("crypto_nodes", lang),
        (t("node_protocol", lang), "left"),
        (t("findings", lang), "right"),
        (t("hosts_col", lang), "right"),
    )
    for r in summary.crypto_nodes:
        table.add_row(_txt(r.node_protocol), _txt(r.findings), _txt(r.hosts))
    return table


def _exchanges_table(summary: Summary, lang: str) -> Table:
    table = _table(
        t("exchanges_reached", lang),
        (t("organisation", lang), "left"),
        (t("exchange", lang), "left"),
        (t("hosts_col", lang), "right"),
        (t("app_hosts_col", lang), "right"),
        (t("sessions_col", lang), "right"),
        (t("traffic", lang), "right"),
        (t("last_seen", lang), "left"),
    )
    for r in summary.exchanges:
        table.add_row(_txt(r.org_name or t("no_org", lang)), _txt(r.name_en if lang == "en" else r.name_zh),
                      _txt(r.hosts), _txt(r.app_hosts), _txt(r.sessions), _txt(fmt.nbytes(r.bytes)),
                      _txt(fmt.clock(r.last_seen)))
    return table


def _who_where_tables(summary: Summary, lang: str) -> list[Table]:
    by_type = _table(
        t("by_org_type", lang),
        (t("org_type", lang), "left"),
        (t("hosts_col", lang), "right"),
        (t("mining_hosts_col", lang), "right"),
    )
    for r in summary.org_types:
        by_type.add_row(
            _txt(t_opt("org", r.org_type, lang), "bold" if r.institutional else ""),
            _txt(r.hosts),
            _txt(r.mining_hosts),
        )
    by_region = _table(
        t("by_region", lang),
        (t("province", lang), "left"),
        (t("city", lang), "left"),
        (t("hosts_col", lang), "right"),
        (t("mining_hosts_col", lang), "right"),
    )
    for g in summary.regions[:MAX_ROWS]:
        by_region.add_row(
            _txt(g.province or t("unknown", lang)), _txt(g.city or ""), _txt(g.hosts), _txt(g.mining_hosts)
        )
    tables = [by_type, by_region]
    if summary.organisations:
        orgs = _table(
            t("by_org", lang),
            (t("organisation", lang), "left"),
            (t("org_type", lang), "left"),
            (t("region", lang), "left"),
            (t("hosts_col", lang), "right"),
            (t("mining_hosts_col", lang), "right"),
        )
        for o in summary.organisations[:MAX_ROWS]:
            orgs.add_row(
                _txt(o.org_name),
                _txt(t_opt("org", o.org_type, lang)),
                _txt(" ".join(x for x in (o.province, o.city) if x)),
                _txt(o.hosts),
                _txt(o.mining_hosts),
            )
        tables.append(orgs)
    return tables


def _problems(summary: Summary, lang: str) -> Panel:
    body = Text()
    for p in summary.problems:
        text = p.en if lang == "en" else p.zh
        if Path(p.path).name not in text:  # most problems already name their file
            body.append(f"{p.path}: ", style="bold")
        body.append(text + "\n")
    body.rstrip()
    return Panel(
        body, title=Text(t("problems", lang), style="bold"), title_align="left", border_style="yellow"
    )


def render_terminal(
    result: ScanResult, summary: Summary, lang: str = "zh", console: Console | None = None
) -> None:
    """Print the report; ``lang`` "zh" (default) or "en"."""
    lang = "en" if lang.lower().startswith("en") else "zh"
    console = console or Console()
    def section(name: str) -> list[Finding]:
        kinds = registry.kinds_in_section(name)
        return [f for f in result.findings if f.kind in kinds]

    sessions, contacts, others, trading = (section("sessions"), section("contacts"), section("findings"),
                                           section("trading"))
    # leads: listed apart, after the list-backed findings (not counted as mining), strongest first
    # (a carrier's day can hold thousands)
    leads = sorted(section("leads"), key=lambda f: -f.confidence)

    console.rule(Text(t("title", lang), style="bold"))
    console.print(headline(summary, lang))
    parts: list[Table | Panel] = [_kinds_table(summary, lang)]
    if sessions:
        parts.append(_sessions_table(sessions, lang))
    if contacts:
        parts.append(_contacts_table(contacts, lang))
    if leads:
        parts.append(_contacts_table(leads, lang, _section_title("leads", lang)))
    if trading:
        parts.append(_others_table(trading, lang, "trading"))
    if others:
        parts.append(_others_table(others, lang))
    if summary.crypto_nodes:
        parts.append(_nodes_table(summary, lang))
    if summary.exchanges:
        parts.append(_exchanges_table(summary, lang))
    if summary.related_hosts:
        parts.extend(_who_where_tables(summary, lang))
    if summary.problems:
        parts.append(_problems(summary, lang))
    if not result.findings:
        console.print(Text(t("no_findings", lang), style="green"))
    console.print(Group(*parts))

"""The rectification notice (整改通知书) of a case, as a PDF in Chinese.

The notice lists every finding of the case (time in Beijing time, host, pool, coin, estimated hash
rate and power), cites the legal basis, states the demands and the deadline, and carries in its
footer the case id and the SHA-256 of the case's findings (``findings_digest``), which ties the
paper to the stored evidence. HTML from a Jinja2 template (autoescape on) is laid out by WeasyPrint.

The issuer is the authority configured for the case's area (``issuing_authority``): the county's, else
its city's, else its province's (``minescope authorities set``); with none, the area's full name and a
line on the notice saying that no authority is configured. Its ``doc_prefix`` is the code in the
document number. The closing paragraph, the issuer, the date and the seal are kept together and never
start a page alone (``.closing`` in the template).

Issuing a notice (``issue_notice``) is the only way a case reaches ``notice_issued``: the PDF is made
first, then the state and the PDF (an attachment) are stored in one transaction (``workflow.issue``).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Engine, Row, select

from minescope.cases import workflow
from minescope.errors import InputError
from minescope.knowledge.legal import LegalDocument, by_number
from minescope.knowledge.regions import full_name
from minescope.model import MIN_SHARES_TO_SIZE
from minescope.outputs import fmt
from minescope.outputs.i18n import t_opt
from minescope.outputs.templating import ENV
from minescope.store.accounts import authorities_of
from minescope.store.cases import case_findings, cases
from minescope.store.findings import findings

# The legal basis a notice cites, by document number, looked up in knowledge/data/legal-basis.md:
# the national notice on rectifying mining first, then the one declaring every virtual-currency
# business illegal. Only national documents with a number are citable; the table's other rows are
# unnumbered statements, drafts or regional measures, or (银发〔2013〕289号) about banks' dealings.
NOTICE_BASIS = ("发改运行〔2021〕1283号", "银发〔2021〕237号")
TRADING_BASIS = ("银发〔2021〕237号",)  # a case of exchange access alone: the notice on trading speculation
TRADING_KINDS = frozenset({"exchange_access"})  # kinds of trading, not mining (registry section "trading")
TERM_DAYS = 15  # rectification term when the case has no due date
MAX_ROWS = 500  # findings listed in the table; the digest always covers all of them
# Above this many findings the notice shows a summary table by host, and every finding in an appendix of
# plain lines: a table of hundreds of rows is what made a notice of 200 findings take 20 s and more to
# lay out (WeasyPrint lays a table out again on every page it breaks over), plain lines take a second.
SUMMARY_FROM = 30
SUMMARY_HOSTS = 20  # hosts in the summary table, the most recorded first; the rest are counted
HOSTS_IN_TEXT = 5  # hosts named in the opening paragraph, the rest counted
DEFAULT_PREFIX = "整改"  # the code in the document number when the authority has none


@dataclass(frozen=True)
class Issuer:
    """Who issues the notices of an area: ``name`` (printed above the date), ``prefix`` (the code in the
    document number), ``area`` (the region code asked about) and ``configured_for`` (the region code of the
    configured authority found: the area's own, its city's or its province's; "" when none is)."""

    name: str
    prefix: str = DEFAULT_PREFIX
    area: str = ""
    configured_for: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.configured_for)


def issuing_authority(store: Engine, region_code: str | None) -> Issuer:
    """The issuing authority of an area: the one configured for the county code itself, else for its city
    (first 4 digits + "00"), else for its province (first 2 + "0000"); with none, the area's full name."""
    code = (region_code or "").strip()
    chain = list(dict.fromkeys((code, code[:4] + "00", code[:2] + "0000"))) \
        if len(code) == 6 and code.isdigit() else []
    found = authorities_of(store, chain) if chain else {}
    for c in chain:
        if c in found:
            return Issuer(found[c]["name"], found[c]["doc_prefix"] or DEFAULT_PREFIX, code, c)
    return Issuer(full_name(code), DEFAULT_PREFIX, code)


def case_issuer(store: Engine, case_id: int, fallback_region: str = "") -> Issuer:
    """The issuing authority of a case: that of the case's area (``fallback_region``, e.g. the jurisdiction
    of whoever issues, when the case has none). Used by the console, the worklists and the CLI alike."""
    with store.connect() as conn:
        region = conn.execute(select(cases.c.region_code).where(cases.c.id == case_id)).scalar()
    return issuing_authority(store, region or fallback_region)


def notice_pdf(store: Engine, case_id: int, *, issuer: str | Issuer | None = None, now: float | None = None,
               prefix: str | None = None) -> bytes:
    """The notice of case ``case_id`` as PDF bytes.

    ``issuer``: the issuing authority, printed above the date: an ``Issuer`` (``case_issuer``), None for the
    case's own (the same), or a name given by hand ("": a line to sign and seal on). ``now``: the issue time
    (default: now). ``prefix``: the issuer's code in the document number ``{prefix}〔{year}〕{case_id}号``
    (default: the authority's, else 整改). An unknown case, or one without findings, is an InputError.
    """
    import weasyprint  # loads Pango; imported here so the rest of minescope runs without it

    html = notice_html(store, case_id, issuer=issuer, now=now, prefix=prefix)
    nothing = weasyprint.URLFetcher(allowed_protocols=())  # the notice loads nothing from outside
    pdf = weasyprint.HTML(string=html, url_fetcher=nothing).write_pdf()
    assert pdf is not None
    return bytes(pdf)


def issue_notice(store: Engine, case_id: int, actor: str, *, issuer: str | Issuer | None = None,
                 prefix: str | None = None, now: float | None = None) -> tuple[bytes, str]:
    """Issue the notice: the case moves to notice_issued and keeps the PDF as an attachment, so what
    was sent stays in the store beside the history (which records its SHA-256). Returns (pdf, sha256)."""
    pdf = notice_pdf(store, case_id, issuer=issuer, now=now, prefix=prefix)  # first: a failed PDF changes nothing
    return pdf, workflow.issue(store, case_id, actor, f"整改通知书-{case_id}.pdf", pdf)  # state and PDF together


def notice_html(store: Engine, case_id: int, *, issuer: str | Issuer | None = None, now: float | None = None,
                prefix: str | None = None) -> str:
    """The notice as HTML (what ``notice_pdf`` lays out)."""
    case, found = _load(store, case_id)
    by = issuing_authority(store, case.region_code) if issuer is None else issuer
    if isinstance(by, str):  # a name given by hand (``--issuer``): printed as given
        name, code, unconfigured = by.strip(), prefix, None
    else:  # no authority configured for the area: the notice says so, beside the area's name
        name, code = by.name, by.prefix if prefix is None else prefix
        unconfigured = None if by.configured else (full_name(by.area) or "本案件所属地区")
    view = _view(case, found, name, time.time() if now is None else now, (code or "").strip() or DEFAULT_PREFIX)
    view["unconfigured_area"] = unconfigured
    return ENV.get_template("notice.html").render(**view)


def findings_digest(found: list[dict[str, Any]]) -> str:
    """SHA-256 of the findings (their JSON as stored and as ``scan --format json`` writes them):
    sorted by id, as one compact JSON array with sorted keys, UTF-8."""
    body = orjson.dumps(sorted(found, key=lambda f: f["id"]), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()


def cited_documents(numbers: tuple[str, ...] = NOTICE_BASIS) -> list[LegalDocument]:
    """The documents of ``numbers`` (``NOTICE_BASIS``), from the bundled table."""
    docs = [by_number(n) for n in numbers]
    missing = [n for n, d in zip(numbers, docs, strict=True) if d is None]
    if missing:  # the bundled table was edited: a packaging bug, not bad input
        raise RuntimeError(f"legal-basis.md 缺少 {'、'.join(missing)} / legal-basis.md lacks {', '.join(missing)}")
    return [d for d in docs if d is not None]


# --- internals ----------------------------------------------------------------------------------


def _load(store: Engine, case_id: int) -> tuple[Row[Any], list[dict[str, Any]]]:
    with store.connect() as conn:
        case = conn.execute(select(cases).where(cases.c.id == case_id)).first()
        if case is None:
            raise InputError(f"没有案件 {case_id}", f"no case {case_id}")
        found = [r[0] for r in conn.execute(
            select(findings.c.data).join(case_findings, case_findings.c.finding_id == findings.c.id)
            .where(case_findings.c.case_id == case_id).order_by(findings.c.first_seen, findings.c.id))]
    if not found:
        raise InputError(f"案件 {case_id} 没有关联的发现，不能出具整改通知书",
                         f"case {case_id} has no findings; a notice needs evidence")
    return case, found


def _view(case: Row[Any], found: list[dict[str, Any]], issuer: str, now: float, prefix: str) -> dict[str, Any]:
    hosts = sorted({f["subject_ip"] for f in found if f.get("subject_ip")})
    named = "、".join(hosts[:HOSTS_IN_TEXT])
    issued = datetime.fromtimestamp(now, fmt.CST)
    due = case.due_at if case.due_at else now + TERM_DAYS * 86400
    mining = [f for f in found if f.get("kind") not in TRADING_KINDS]
    exchanges = sorted({d["name_zh"] for f in found if f.get("kind") in TRADING_KINDS
                        for d in (e["detail"] for e in f.get("evidence", ()) if e.get("type") == "exchange")})
    exchange_hosts = sorted({f["subject_ip"] for f in found if f.get("kind") in TRADING_KINDS and f.get("subject_ip")})
    return {
        "mining": bool(mining),
        "exchanges": "、".join(exchanges),
        "exchange_hosts_text": "、".join(exchange_hosts[:HOSTS_IN_TEXT])
        + (f" 等 {len(exchange_hosts)} 台主机" if len(exchange_hosts) > HOSTS_IN_TEXT else ""),
        "number": f"{prefix}〔{issued.year}〕{case.id}号",
        "addressee": case.org_name or f"IP 地址 {case.title} 的使用单位",
        "hosts_text": named + (f" 等 {len(hosts)} 台主机" if len(hosts) > HOSTS_IN_TEXT else ""),
        "host_count": len(hosts),
        "confirmed": any(f.get("kind") == "mining_session" for f in found),  # else only contacts: 涉嫌
        "period": (_date_time(min(f["first_seen"] for f in found)), _date_time(max(f["last_seen"] for f in found))),
        "rows": [_row(i, f) for i, f in enumerate(found[:MAX_ROWS], 1)],
        "summary": _by_host(found)[:SUMMARY_HOSTS] if len(found) > SUMMARY_FROM else None,
        "hosts_not_summarised": max(0, len(hosts) - SUMMARY_HOSTS) if len(found) > SUMMARY_FROM else 0,
        "not_listed": max(0, len(found) - MAX_ROWS),
        "total": len(found),
        "basis": cited_documents(NOTICE_BASIS if mining else TRADING_BASIS),
        "due": _date(due),
        "due_from_case": bool(case.due_at),
        "term_days": TERM_DAYS,
        "issuer": issuer,
        "issued": _date(now),
        "case_id": case.id,
        "digest": findings_digest(found),
    }


def _row(n: int, f: dict[str, Any]) -> dict[str, Any]:
    peer = f.get("peer") or {}
    mining = f.get("mining") or {}
    energy = f.get("energy") or {}
    rate = _sizing_rate(mining)
    kw = energy.get("kw")
    endpoint = f"{peer.get('ip', '')}:{peer.get('port', '')}"
    name = peer.get("host")
    machine = _machine(f) if not peer else None
    if machine is not None:  # a host finding: the process (or file, or autostart entry) behind the traffic
        pool, via = machine
    elif name and any(e.get("type") == "dns" for e in f.get("evidence", [])):
        pool, via = name, f"域名查询，经 {endpoint}"  # the peer is the resolver asked for the pool's name
    elif name:
        pool, via = f"{name}:{peer.get('port', '')}", endpoint
    else:
        pool, via = endpoint, ""
    return {
        "n": n,
        "time": fmt.clock(f.get("first_seen")),
        "host": f.get("subject_ip", ""),
        "pool": pool,
        "pool_via": via,
        "coin": " / ".join(x for x in (mining.get("coin"), mining.get("algorithm")) if x) or "—",
        "hashrate": fmt.hashrate(rate["hps"], rate.get("algorithm")) if rate else "—",
        "power": f"{fmt.quantity(kw[1])} kW" if kw else "—",
        "power_range": f"{fmt.quantity(kw[0])}–{fmt.quantity(kw[2])}" if kw else "",
        "kind": t_opt("kind", f.get("kind"), "zh"),
        "id": f["id"],
    }


# host findings' evidence that names what runs on the machine, as the notice words it
_MACHINE_EVIDENCE = {"process": "进程", "persistence": "自启动项", "file": "文件", "pool_connection": "进程"}


def _machine(f: dict[str, Any]) -> tuple[str, str] | None:
    """(pool, what on the machine) of a host finding: the pool its command line or connection names, and the
    process, autostart entry or file with the machine's name; None for other findings."""
    subject = f.get("subject") or {}
    if subject.get("type") != "host":
        return None
    mining = f.get("mining") or {}
    pools = [e.get("detail", {}).get("pool") for e in f.get("evidence", [])]
    pool = mining.get("pool_host") or next((p for p in pools if p), None) or "—"
    what = next((f"{_MACHINE_EVIDENCE[e['type']]} {e.get('summary', '')}" for e in f.get("evidence", [])
                 if e.get("type") in _MACHINE_EVIDENCE), "")
    text = f"主机 {subject.get('value', '')}：{what}" if what else f"主机 {subject.get('value', '')}"
    return pool, text if len(text) <= 200 else text[:197] + "…"


def _by_host(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary row per host: records, first and last seen, pools (up to 3 named), coins and algorithms."""
    hosts: dict[str, list[dict[str, Any]]] = {}
    for f in found:
        hosts.setdefault(f.get("subject_ip") or (f.get("subject") or {}).get("value", "") or "–", []).append(f)
    out = []
    for host, group in sorted(hosts.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        pools = sorted({_row(0, f)["pool"] for f in group})
        coins = sorted({" / ".join(x for x in ((f.get("mining") or {}).get("coin"),
                                               (f.get("mining") or {}).get("algorithm")) if x) for f in group} - {""})
        out.append({"host": host, "count": len(group), "first": _date_time(min(f["first_seen"] for f in group)),
                    "last": _date_time(max(f["last_seen"] for f in group)),
                    "pools": "、".join(pools[:3]) + (f" 等 {len(pools)} 个" if len(pools) > 3 else ""),
                    "coins": "、".join(coins) or "—"})
    return out


def _sizing_rate(mining: dict[str, Any]) -> dict[str, Any] | None:
    """As ``MiningFacts.sizing_hashrate``: the share estimate when enough shares, else the miner's report."""
    rate = mining.get("hashrate")
    if rate and (rate.get("method") != "shares" or rate.get("shares", 0) >= MIN_SHARES_TO_SIZE):
        return dict(rate)
    reported = mining.get("reported_hashrate")
    return dict(reported) if reported else None


def _date(ts: float) -> str:
    d = fmt.calendar_time(ts, fmt.CST)
    return "–" if d is None else f"{d.year}年{d.month}月{d.day}日"


def _date_time(ts: float) -> str:
    """A finding's time; "–" for one no calendar holds (stored from a corrupt input before schema 1.2)."""
    d = fmt.calendar_time(ts, fmt.CST)
    return "–" if d is None else f"{d.year}年{d.month}月{d.day}日 {d:%H:%M}"

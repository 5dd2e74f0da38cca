"""Blocklists and indicators: DNS RPZ, nftables sets, Suricata rules, resolver domain lists, CSV, STIX 2.1.

Of pools (``--of pools``, the default): "confirmed" means seen speaking a mining protocol (``mining_session``
findings): the pool end is a pool endpoint, the miner end a miner endpoint. Findings whose case was closed as
a false positive are left out. Lists, DNS names and addresses alone (pool_contact, encrypted suspects) do not
make an indicator: a blocklist that blocks on a guess breaks things people need.

Of exchanges (``--of exchanges``), for blocking their network presence: every domain the exchange lists
give a trading venue (``knowledge.exchanges``: bundled and user feeds; an exchange's domain blocks its
subdomains), and the addresses stored ``exchange_access`` findings saw serving an exchange's name. Those
addresses are often a CDN's, shared with other sites: the nftables and address rules say so; block by name
first.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
import time
from dataclasses import dataclass, field
from typing import Any

import stix2
from sqlalchemy import Engine, func, insert, select, update

from minescope import __version__, registry
from minescope.knowledge.exchanges import exchange_of
from minescope.knowledge.pools import ListMatch, PoolIntel
from minescope.outputs.cells import safe_cell
from minescope.outputs.fmt import iso_utc
from minescope.store.cases import case_findings, cases
from minescope.store.findings import findings, scans, store_meta

FORMATS = registry.outputs("export")
SID_BASE = 7_300_000  # local Suricata sid range for minescope rules (exchanges from SID_BASE + 500,000)
TITLES = {"pools": "confirmed mining pools", "exchanges": "virtual-currency exchanges (trading venues)"}


@dataclass
class Indicator:
    kind: str  # pool | miner | exchange
    ip: str  # "" for an exchange's domains without an address
    ports: set[int] = field(default_factory=set)
    hosts: set[str] = field(default_factory=set)
    first_seen: float = float("inf")
    last_seen: float = 0.0
    finding_ids: set[str] = field(default_factory=set)
    first_scan: int = 0  # the scan that first confirmed this endpoint
    label: str = ""  # an exchange's service id


def confirmed_indicators(store: Engine, after_scan: int = 0) -> list[Indicator]:
    """Pool and miner endpoints from stored mining sessions, false positives left out.

    With ``after_scan``, only endpoints first confirmed by a later scan: the additions since an
    earlier export (an incremental export; withdrawals need a full one).
    """
    query = (select(findings.c.data, findings.c.first_scan_id).where(findings.c.kind == "mining_session")
             .where(~findings.c.id.in_(_false_positives())))
    found: dict[tuple[str, str], Indicator] = {}
    with store.connect() as conn:
        for data, scan_id in conn.execute(query):
            peer = data["peer"]
            for kind, ip, port, host in (("pool", peer["ip"], peer["port"], peer.get("host")),
                                         ("miner", data["subject_ip"], None, None)):
                ind = found.setdefault((kind, ip), Indicator(kind, ip))
                if port:
                    ind.ports.add(int(port))
                if host:
                    ind.hosts.add(host.lower().rstrip("."))
                ind.first_seen = min(ind.first_seen, data["first_seen"])
                ind.last_seen = max(ind.last_seen, data["last_seen"])
                ind.finding_ids.add(data["id"])
                ind.first_scan = min(ind.first_scan, scan_id) if ind.first_scan else scan_id
    new = [i for i in found.values() if i.first_scan > after_scan] if after_scan else list(found.values())
    return sorted(new, key=lambda i: (i.kind, _ip_key(i.ip)))


def exchange_indicators(store: Engine, intel: PoolIntel) -> list[Indicator]:
    """Each trading venue's listed domains (one indicator per exchange, no address), then the addresses stored
    ``exchange_access`` findings reached by name (one per address; false positives left out)."""
    by_service: dict[str, Indicator] = {}
    for loaded in intel.lists:
        for domain, _, category in loaded.domains:
            if category != "exchange":
                continue
            ex = exchange_of(ListMatch(domain, loaded.info.name, category, loaded.info.source, loaded.info.licence,
                                       domain))
            if ex is not None:
                by_service.setdefault(ex.service, Indicator("exchange", "", label=ex.service)).hosts.add(domain)
    addresses: dict[str, Indicator] = {}
    query = (select(findings.c.data).where(findings.c.kind == "exchange_access")
             .where(~findings.c.id.in_(_false_positives())))
    with store.connect() as conn:
        for (data,) in conn.execute(query):
            ex = next((e["detail"] for e in data["evidence"] if e["type"] == "exchange"), None)
            if ex is None or not any(v in ("tls_sni", "http_host", "dns") for v in ex.get("via", ())):
                continue  # only addresses seen serving an exchange's name
            for flow in data["flows"]:
                if flow["dst_port"] in (0, 53):
                    continue
                ind = addresses.setdefault(flow["dst_ip"], Indicator("exchange", flow["dst_ip"], label=ex["exchange"]))
                ind.ports.add(int(flow["dst_port"]))
                ind.first_seen = min(ind.first_seen, data["first_seen"])
                ind.last_seen = max(ind.last_seen, data["last_seen"])
                ind.finding_ids.add(data["id"])
    return sorted(by_service.values(), key=lambda i: i.label) + sorted(addresses.values(), key=lambda i: _ip_key(i.ip))


def _false_positives() -> Any:
    return (select(case_findings.c.finding_id).join(cases, cases.c.id == case_findings.c.case_id)
            .where(cases.c.closing_reason == "false_positive"))


def last_scan(store: Engine) -> int:
    with store.connect() as conn:
        return int(conn.execute(select(func.max(scans.c.id))).scalar_one() or 0)


def bookmark(store: Engine, name: str, scan_id: int | None = None) -> int:
    """The last scan an incremental export called ``name`` covered; with ``scan_id``, move it there."""
    key = f"export:{name}"[:64]
    with store.begin() as conn:
        if scan_id is None:
            value = conn.execute(select(store_meta.c.value).where(store_meta.c.key == key)).scalar_one_or_none()
            return int(value or 0)
        if conn.execute(update(store_meta).where(store_meta.c.key == key).values(value=str(scan_id))).rowcount == 0:
            conn.execute(insert(store_meta).values(key=key, value=str(scan_id)))
        return scan_id


def render(indicators: list[Indicator], fmt: str, now: float | None = None) -> str:
    now = time.time() if now is None else now
    return {"rpz": rpz_zone, "nft": nftables_sets, "suricata": suricata_rules, "domains": domain_list,
            "csv": csv_list, "stix": stix_bundle}[fmt](indicators, now)


def _blocked(indicators: list[Indicator]) -> tuple[str, str]:
    """What a list blocks: (the kind of indicator, the title) — exchanges when the list holds them."""
    if any(i.kind == "exchange" for i in indicators):
        return "exchange", TITLES["exchanges"]
    return "pool", TITLES["pools"]


def rpz_zone(indicators: list[Indicator], now: float) -> str:
    """A DNS Response Policy Zone: pool (or exchange) names and their subdomains, and their addresses, answer
    NXDOMAIN."""
    kind, title = _blocked(indicators)
    lines = [f"; minescope {__version__}: {title}", "$TTL 300",
             f"@ IN SOA localhost. hostmaster.localhost. ({int(now)} 3600 600 86400 300)", "@ IN NS localhost.", ""]
    for ind in indicators:
        if ind.kind != kind:
            continue
        for host in sorted(ind.hosts):
            if _is_name(host):
                lines += [f"{host} CNAME .", f"*.{host} CNAME ."]
        if ind.ip:
            lines.append(f"{_rpz_ip(ind.ip)} CNAME .  ; {kind} address {ind.ip}")
    return "\n".join(lines) + "\n"


def domain_list(indicators: list[Indicator], now: float) -> str:
    """One domain per line (each blocks its subdomains), for a resolver's block list (unbound ``local-zone``,
    dnsmasq ``address=/…/``, Pi-hole, AdGuard)."""
    kind, title = _blocked(indicators)
    names = sorted({h for i in indicators if i.kind == kind for h in i.hosts if _is_name(h)})
    return "\n".join([f"# minescope {__version__}: {title}", *names]) + "\n"


def nftables_sets(indicators: list[Indicator], now: float) -> str:
    """nftables sets of pool and miner (or exchange) addresses, ready for ``nft -f`` and a rule of your own."""
    def elements(kind: str, version: int) -> str:
        ips = [i.ip for i in indicators if i.kind == kind and i.ip and ipaddress.ip_address(i.ip).version == version]
        return f"elements = {{ {', '.join(ips)} }}" if ips else ""

    sets: tuple[tuple[str, str], ...]
    if _blocked(indicators)[0] == "exchange":
        sets = (("exchange", "exchanges"),)
        out = [f"# minescope {__version__}: addresses seen serving exchanges' names",
               "# often a CDN's, shared with other sites: review them, and block exchanges by name first",
               "# use e.g.: nft add rule inet filter forward ip daddr @exchanges_v4 drop", "table inet minescope {"]
    else:
        sets = (("pool", "mining_pools"), ("miner", "mining_hosts"))
        out = [f"# minescope {__version__}: confirmed mining endpoints",
               "# use e.g.: nft add rule inet filter forward ip daddr @mining_pools_v4 drop", "table inet minescope {"]
    for kind, name in sets:
        for version, addr_type in ((4, "ipv4_addr"), (6, "ipv6_addr")):
            body = elements(kind, version)
            out += [f"\tset {name}_v{version} {{", f"\t\ttype {addr_type}", *([f"\t\t{body}"] if body else []), "\t}"]
    out.append("}")
    return "\n".join(out) + "\n"


def suricata_rules(indicators: list[Indicator], now: float) -> str:
    """Suricata rules: traffic to pool (or exchange) endpoints, DNS questions, TLS server names and HTTP hosts."""
    kind, title = _blocked(indicators)
    what_of = "mining pool" if kind == "pool" else "exchange"
    rules = [f"# minescope {__version__}: {title}"]
    sid = SID_BASE if kind == "pool" else SID_BASE + 500_000
    for ind in indicators:
        if ind.kind != kind:
            continue
        if ind.ip:
            ports = ",".join(str(p) for p in sorted(ind.ports)) or "any"
            sid += 1
            rules.append(f'alert tcp $HOME_NET any -> {ind.ip} [{ports}] (msg:"minescope {what_of} {ind.ip}"; '
                         f"flow:to_server,established; classtype:policy-violation; sid:{sid}; rev:1;)")
        buffers = [("dns", "dns.query", "DNS query for"), ("tls", "tls.sni", "TLS to")]
        if kind == "exchange":
            buffers.append(("http", "http.host", "HTTP to"))
        for host in sorted(ind.hosts):
            if not _is_name(host):
                continue
            for proto, buffer, what in buffers:
                sid += 1
                # the name itself or a subdomain: ".binance.com" at the end, or the whole buffer "binance.com"
                match = (f'content:"{host}"; nocase; endswith;' if kind == "pool" else
                         f'pcre:"/(^|\\.){re.escape(host)}$/i";')
                rules.append(f'alert {proto} $HOME_NET any -> any any (msg:"minescope {what} {what_of} {host}"; '
                             f"{buffer}; {match} classtype:policy-violation; sid:{sid}; rev:1;)")
    return "\n".join(rules) + "\n"


def csv_list(indicators: list[Indicator], now: float) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["kind", "ip", "ports", "hosts", "first_seen", "last_seen", "findings", "exchange"])
    for i in indicators:
        w.writerow([safe_cell(v) for v in (
            i.kind, i.ip, " ".join(map(str, sorted(i.ports))), " ".join(sorted(i.hosts)),
            iso_utc(i.first_seen) if i.finding_ids else "", iso_utc(i.last_seen) if i.finding_ids else "",
            " ".join(sorted(i.finding_ids)), i.label)])
    return buf.getvalue()


def stix_bundle(indicators: list[Indicator], now: float) -> str:
    """A STIX 2.1 bundle: one indicator per endpoint (and pool name), made with the OASIS stix2 library."""
    identity = stix2.Identity(name="minescope", identity_class="system")
    objects: list[Any] = [identity]
    for ind in indicators:
        role = {"pool": "mining pool", "miner": "mining host", "exchange": f"exchange {ind.label}"}[ind.kind]
        patterns = []
        if ind.ip:
            family = "ipv4-addr" if ipaddress.ip_address(ind.ip).version == 4 else "ipv6-addr"
            patterns.append((f"[{family}:value = '{ind.ip}']", f"{role} {ind.ip}"))
        patterns += [(f"[domain-name:value = '{h}']", f"{role} {h}") for h in sorted(ind.hosts) if _is_name(h)]
        if ind.kind == "exchange":
            types, labels = ["anomalous-activity"], ["cryptocurrency-exchange"]
            said = (f"reached in {len(ind.finding_ids)} exchange_access finding(s)" if ind.finding_ids else
                    "listed as an exchange's domain")
        else:
            types, labels = ["malicious-activity"], ["cryptomining", ind.kind]
            said = (f"seen speaking a mining protocol in {len(ind.finding_ids)} session(s); "
                    f"ports {', '.join(map(str, sorted(ind.ports))) or '-'}")
        for pattern, name in patterns:
            objects.append(stix2.Indicator(
                name=name, pattern=pattern, pattern_type="stix", created_by_ref=identity.id,
                indicator_types=types, labels=labels,
                valid_from=(iso_utc(ind.first_seen) if ind.finding_ids else "") or iso_utc(now), description=said,
            ))
    bundle: str = stix2.Bundle(objects=objects).serialize(pretty=True)
    return bundle + "\n"


def _is_name(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        return "." in host and all(c.isalnum() or c in "-._" for c in host)


def _rpz_ip(ip: str) -> str:
    addr = ipaddress.ip_address(ip)
    if addr.version == 4:
        return "32." + ".".join(reversed(str(addr).split("."))) + ".rpz-ip"
    groups = addr.exploded.split(":")
    return "128." + ".".join(reversed([g.lstrip("0") or "0" for g in groups])) + ".rpz-ip"


def _ip_key(ip: str) -> tuple[int, int]:
    addr = ipaddress.ip_address(ip)
    return addr.version, int(addr)

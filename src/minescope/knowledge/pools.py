"""Pool intelligence: domain and address lists, pools learned during a scan, pool-likeness hints.

Lists are one signal among several. Measured on the corpus (2017–2018 traffic), pool IP lists
covered only 39–50% of the pool servers actually seen, while host-name lists covered every pool
name seen; lists also age fast. So names weigh more than addresses, and any endpoint seen
speaking a mining protocol is ``learn``-ed and known for the rest of the scan.

List files are read line by line, the format guessed per line:

- hosts:      ``0.0.0.0 pool.example.com``  (also 127.0.0.1 and ::)
- domain:     ``pool.example.com``           (``*.pool.example.com`` too)
- adblock:    ``||pool.example.com^``        (``$options`` ignored; ``@@`` exceptions skipped)
- IP / CIDR:  ``203.0.113.7``, ``198.51.100.0/24``, ``2001:db8::/32``
- geosite:    ``domain<TAB>example.com`` (suffix match) or ``full<TAB>x.example.com`` (exact)
- CSV:        ``pool.example.com,pool``      (the second field overrides the list's category)

``#`` and ``!`` start comments. Lines that fit no format are counted as bad and skipped —
never fatal. A domain entry matches the name and all its sub-domains, except geosite ``full``.

User feeds: every file in the feeds directory (``$MINESCOPE_FEEDS``, else
``$XDG_CONFIG_HOME/minescope/feeds`` or ``~/.config/minescope/feeds``) is loaded like the
bundled lists. Leading comment lines may declare ``# category: pool``, ``# name: …``,
``# source: …`` and ``# licence: …``; a feed without a category is taken as ``pool``.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from minescope import settings
from minescope.errors import InputError
from minescope.knowledge import data_path
from minescope.knowledge.ranges import IPNetwork, RangeIndex, parse_ip, parse_network
from minescope.model import Text

# Strongest first matters when one name is on several lists: a pool list says more about
# mining than a mixed crypto list, which says more than an exchange list.
CATEGORY_RANK: dict[str, int] = {
    "learned": 5,
    "pool": 4,
    "browser_mining": 3,
    "crypto_mixed": 2,
    "exchange": 1,
}
CATEGORIES = frozenset(CATEGORY_RANK) - {"learned"}

_HOSTS_SINKS = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1", "0"})
_HOSTS_IGNORED = frozenset({"localhost", "localhost.localdomain", "local", "broadcasthost", "0.0.0.0"})
_LABEL = r"(?!-)[a-z0-9_-]{1,63}(?<!-)"
_DOMAIN_RE = re.compile(rf"^(?:{_LABEL}\.)+(?:[a-z]{{2,63}}|xn--[a-z0-9-]{{1,59}})$")
_HEADER_RE = re.compile(r"^[#!]\s*(category|name|source|licen[cs]e)\s*:\s*(.+?)\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ListMatch:
    """Why a name or address is known: which entry of which list, with its provenance."""

    entry: str  # the list entry that matched (domain, network or learned endpoint)
    list_name: str
    category: str  # pool | browser_mining | crypto_mixed | exchange | learned
    source: str
    licence: str
    matched_value: str  # what was looked up (normalised)
    reason: str = ""  # for learned pools: what was seen


@dataclass(frozen=True, slots=True)
class ListInfo:
    name: str
    category: str
    source: str
    licence: str
    path: str = ""


@dataclass(frozen=True, slots=True)
class _DomainEntry:
    info: ListInfo
    category: str
    exact_only: bool


@dataclass(slots=True)
class LoadedList:
    """One list file, parsed: its entries and what could not be read."""

    info: ListInfo
    domains: list[tuple[str, bool, str]] = field(default_factory=list)  # (domain, exact_only, category)
    networks: list[tuple[IPNetwork, str]] = field(default_factory=list)  # (network, category)
    bad_lines: list[tuple[int, str]] = field(default_factory=list)  # (line number, text)
    skipped: int = 0  # understood but not usable (keyword/regexp rules, exceptions, localhost)

    @property
    def entries(self) -> int:
        return len(self.domains) + len(self.networks)

    def problems(self, limit: int = 5) -> list[str]:
        """One line per bad line (the first ``limit``), as ``file:line: text``."""
        shown = [f"{self.info.path}:{n}: not a domain, address or network: {t!r}" for n, t in self.bad_lines]
        if len(shown) > limit:
            shown = [*shown[:limit], f"{self.info.path}: … and {len(shown) - limit} more bad lines"]
        return shown


# The lists shipped in knowledge/data, with the category each gets.
BUNDLED: tuple[tuple[str, ListInfo], ...] = (
    (
        "pools/nocoin-hosts.txt",
        ListInfo("nocoin", "browser_mining", "hoshsadiq/adblock-nocoin-list @ 9f3caa93 (2025-03)", "MIT"),
    ),
    (
        "pools/blocklistproject-crypto-domains.txt",
        ListInfo(
            "blocklistproject-crypto",
            "crypto_mixed",
            "blocklistproject/Lists @ ee3bdbad alt-version/crypto-nl.txt (2026-07-06)",
            "MIT / Unlicense",
        ),
    ),
    (
        "exchanges/geosite-category-cryptocurrency.tsv",
        ListInfo(
            "v2fly-geosite-cryptocurrency",
            "exchange",
            "v2fly/domain-list-community @ c975ccef data/category-cryptocurrency",
            "MIT",
        ),
    ),
)


# ---------------------------------------------------------------- parsing


def normalise_domain(name: str) -> str:
    """Lower case, no surrounding space, no trailing dot, no leading ``*.``."""
    name = name.strip().lower().rstrip(".")
    return name[2:] if name.startswith("*.") else name


def _is_domain(value: str) -> bool:
    return len(value) <= 253 and _DOMAIN_RE.match(value) is not None


Parsed = tuple[str, str | IPNetwork, bool, str | None]


def parse_line(line: str) -> Parsed | None:
    """One list line → (kind, value, exact_only, category) with kind 'domain' | 'network' | 'skip';
    the value of a network is an ``ipaddress`` network, otherwise a string.

    Returns None for blank and comment lines; raises ValueError for a line fitting no format.
    """
    text = line.strip()
    if not text or text[0] in "#!":
        return None
    text = text.split(" #", 1)[0].split("\t#", 1)[0].strip()
    if text.startswith("@@"):
        return ("skip", text, False, None)
    if "\t" in text:
        return _parse_geosite(text)
    if "," in text:
        return _parse_csv(text)
    if text.startswith("||"):
        return _parse_adblock(text)
    parts = text.split()
    if len(parts) >= 2 and parts[0] in _HOSTS_SINKS:
        name = normalise_domain(parts[1])
        if name in _HOSTS_IGNORED:
            return ("skip", name, False, None)
        return _domain_or_error(name, False, None)
    if len(parts) == 1:
        return _value(parts[0], False, None)
    raise ValueError(text)


def _value(token: str, exact_only: bool, category: str | None) -> Parsed:
    if ":" in token or token[:1].isdigit():
        net = parse_network(token)
        if net is not None:
            return ("network", net, False, category)
    return _domain_or_error(normalise_domain(token), exact_only, category)


def _domain_or_error(name: str, exact_only: bool, category: str | None) -> Parsed:
    if not _is_domain(name):
        raise ValueError(name)
    return ("domain", name, exact_only, category)


def _parse_geosite(text: str) -> Parsed:
    kind, _, rest = text.partition("\t")
    value = rest.split("\t", 1)[0]
    kind = kind.strip().lower()
    if kind == "type":  # header row
        return ("skip", text, False, None)
    if kind in {"keyword", "regexp"}:  # no safe meaning as a domain match
        return ("skip", value, False, None)
    if kind in {"domain", "full"}:
        return _domain_or_error(normalise_domain(value), kind == "full", None)
    raise ValueError(text)


def _parse_csv(text: str) -> Parsed:
    first, _, second = (p.strip() for p in text.partition(","))
    second = second.split(",", 1)[0].strip().lower()
    if first.lower() in {"domain", "host", "ip", "cidr", "value"}:  # header row
        return ("skip", text, False, None)
    category = second if second in CATEGORIES else None
    if second and category is None:
        raise ValueError(text)
    return _value(first, False, category)


def _parse_adblock(text: str) -> Parsed:
    body = text[2:].split("$", 1)[0]
    if not body.endswith("^") or "/" in body or "*" in body:
        raise ValueError(text)
    return _domain_or_error(normalise_domain(body[:-1]), False, None)


def read_header(lines: Sequence[str]) -> dict[str, str]:
    """``# key: value`` declarations among the leading comment lines of a feed."""
    out: dict[str, str] = {}
    for line in lines:
        stripped = line.strip()
        if stripped and stripped[0] not in "#!":
            break
        m = _HEADER_RE.match(stripped)
        if m:
            key = m.group(1).lower().replace("license", "licence")
            out.setdefault(key, m.group(2))
    return out


def load_list(
    path: Path,
    *,
    name: str | None = None,
    category: str | None = None,
    source: str | None = None,
    licence: str | None = None,
) -> LoadedList:
    """Parse one list file. Arguments win over the file's header; the header wins over defaults.

    A missing or unreadable file raises InputError; bad lines are only counted.
    """
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        raise InputError(
            f"{path}: 无法读取名单文件（{e.strerror or e}）；请检查路径，或将其移出名单目录",
            f"{path}: cannot read list file ({e.strerror or e}); check the path or remove it from the feeds",
        ) from e
    header = read_header(lines[:50])
    cat = (category or header.get("category", "pool")).strip().lower()
    if cat not in CATEGORIES:
        raise InputError(
            f"{path}:1: 未知类别 {cat!r}；可用类别：{', '.join(sorted(CATEGORIES))}",
            f"{path}:1: unknown category {cat!r}; use one of {', '.join(sorted(CATEGORIES))}",
        )
    info = ListInfo(
        name=name or header.get("name", path.stem),
        category=cat,
        source=source or header.get("source", str(path)),
        licence=licence or header.get("licence", "user-supplied"),
        path=str(path),
    )
    loaded = LoadedList(info)
    for number, line in enumerate(lines, start=1):
        _add_line(loaded, number, line)
    return loaded


def _add_line(loaded: LoadedList, number: int, line: str) -> None:
    try:
        parsed = parse_line(line)
    except ValueError:
        loaded.bad_lines.append((number, line.strip()[:120]))
        return
    if parsed is None:
        return
    kind, value, exact_only, category = parsed
    category = category or loaded.info.category
    if kind == "domain" and isinstance(value, str):
        loaded.domains.append((value, exact_only, category))
    elif kind == "network" and not isinstance(value, str):
        loaded.networks.append((value, category))
    else:
        loaded.skipped += 1


# ---------------------------------------------------------------- feeds


def default_feed_dir() -> Path:
    return Path(settings.FEEDS.default() or settings.config_home() / "minescope" / "feeds")


def feed_paths(explicit: Sequence[Path | str] | None = None) -> list[Path]:
    """Feed files to load: explicit paths if any (None or empty means none given), else
    ``$MINESCOPE_FEEDS`` (os.pathsep-separated), else the default directory. Directories are
    expanded to their files (hidden, README and LICENSE files skipped). An explicit or env path
    that does not exist raises InputError; a missing default directory just means no feeds.
    """
    if explicit:
        roots, must_exist = [Path(p).expanduser() for p in explicit], True
    elif (env := settings.FEEDS.raw()) is not None:
        roots, must_exist = [Path(p).expanduser() for p in env.split(os.pathsep) if p], True
    else:
        roots, must_exist = [default_feed_dir()], False
    out: list[Path] = []
    for root in roots:
        if root.is_dir():
            out.extend(p for p in sorted(root.iterdir()) if p.is_file() and _is_feed_file(p))
        elif root.is_file():
            out.append(root)
        elif must_exist:
            raise InputError(f"{root}: 找不到名单文件或目录；请修正路径或 MINESCOPE_FEEDS",
                             f"{root}: feed file or directory not found; fix the path or MINESCOPE_FEEDS")
    return out


def _is_feed_file(path: Path) -> bool:
    name = path.name.lower()
    return not (name.startswith(".") or name.endswith(".md") or name.startswith(("license", "readme")))


def bundled_lists() -> Iterator[LoadedList]:
    for rel, info in BUNDLED:
        path = data_path(*rel.split("/"))
        yield load_list(path, name=info.name, category=info.category, source=info.source,
                        licence=info.licence)
    from minescope.knowledge.exchanges import own_list  # it builds on this module's types

    yield own_list()


# ---------------------------------------------------------------- pools learned from payload

# Endpoints seen speaking a mining protocol, as the SQL detectors receive them (one row per sighting).
LEARNED_POOLS = pa.schema([("ip", pa.string()), ("port", pa.int32()), ("host", pa.string()),
                           ("reason", pa.string())])


class LearnedPools:
    """Pools learned in this scan: endpoints the payload showed speaking a mining protocol.

    Intelligence like a list, but made by the scan: the first sighting of an endpoint, address or host
    name gives its ``ListMatch`` (category ``learned``). ``table`` hands them on as an Arrow table
    (``LEARNED_POOLS``), ``from_table`` reads one back: the same table gives the same matches."""

    def __init__(self) -> None:
        self.endpoints: dict[tuple[str, int], ListMatch] = {}
        self.ips: dict[str, ListMatch] = {}
        self.hosts: dict[str, ListMatch] = {}
        self._rows: list[tuple[str, int, str | None, str]] = []

    @classmethod
    def from_table(cls, table: pa.Table | None) -> LearnedPools:
        learned = cls()
        if table is not None:
            learned.learn_table(table)
        return learned

    def __len__(self) -> int:
        return len(self.endpoints)

    def learn(self, ip: str, port: int, host: str | None, reason: str) -> ListMatch | None:
        """Remember an endpoint seen speaking a mining protocol as a pool for the rest of the scan."""
        addr = parse_ip(ip)
        if addr is None:
            return None
        key = f"{addr}:{port}" if addr.version == 4 else f"[{addr}]:{port}"
        match = ListMatch(key, "learned", "learned", "this scan", "", key, reason)
        if (str(addr), port, host, reason) not in self._rows:
            self._rows.append((str(addr), port, host, reason))
        self.endpoints.setdefault((str(addr), port), match)
        self.ips.setdefault(str(addr), match)
        if host:
            name = normalise_domain(host)
            if _is_domain(name):
                self.hosts.setdefault(name, ListMatch(name, "learned", "learned", "this scan", "", name, reason))
        return self.endpoints[(str(addr), port)]

    def learn_table(self, table: pa.Table) -> None:
        for row in table.to_pylist():
            self.learn(row["ip"], int(row["port"]), row["host"], row["reason"] or "")

    def table(self) -> pa.Table:
        """Every sighting, in the order learned (``LEARNED_POOLS``)."""
        return pa.Table.from_arrays([pa.array([row[i] for row in self._rows], f.type)
                                     for i, f in enumerate(LEARNED_POOLS)], schema=LEARNED_POOLS)

    def copy(self) -> LearnedPools:
        return LearnedPools.from_table(self.table())


# ---------------------------------------------------------------- the index


class PoolIntel:
    """Known pools and crypto endpoints: lists, user feeds, and pools learned in this scan."""

    def __init__(self, lists: Iterable[LoadedList] = ()) -> None:
        self.lists: list[LoadedList] = []
        self._domains: dict[str, list[_DomainEntry]] = {}
        self._networks: RangeIndex[_DomainEntry] = RangeIndex(prefer=lambda e: CATEGORY_RANK[e.category])
        self.learned_pools = LearnedPools()
        for loaded in lists:
            self.add_list(loaded)

    @classmethod
    def load(
        cls, feeds: Sequence[Path | str] | None = None, *, bundled: bool = True, user_feeds: bool = True
    ) -> PoolIntel:
        """Bundled lists plus user feeds (see ``feed_paths`` for where feeds are looked for).

        ``user_feeds=False`` ignores ``MINESCOPE_FEEDS`` and the default directory (explicit
        ``feeds`` are still read) — for reproducible runs and tests.
        """
        lists = list(bundled_lists()) if bundled else []
        if feeds or user_feeds:
            lists.extend(load_list(p) for p in feed_paths(feeds))
        return cls(lists)

    def add_list(self, loaded: LoadedList) -> None:
        self.lists.append(loaded)
        for domain, exact_only, category in loaded.domains:
            self._domains.setdefault(domain, []).append(_DomainEntry(loaded.info, category, exact_only))
        for net, category in loaded.networks:
            self._networks.add(net, _DomainEntry(loaded.info, category, False))

    def problems(self) -> list[str]:
        """Bad lines of every list, ``file:line: …``, a few per file."""
        return [p for loaded in self.lists for p in loaded.problems()]

    # ------------------------------------------------------------ look-ups

    def match_domain(self, name: str | None, learned: bool = True) -> ListMatch | None:
        """The most specific list entry for ``name`` or a parent domain; the strongest category
        among entries equally specific. Learned pool host names count as exact entries (unless
        ``learned=False``: the lists alone)."""
        # match_domain_all is ordered most specific first, then strongest category.
        matches = self.match_domain_all(name, learned)
        return matches[0] if matches else None

    def match_domain_all(self, name: str | None, learned: bool = True) -> list[ListMatch]:
        """Every list entry matching ``name`` or a parent domain, most specific then strongest first
        (for evidence: 'on the pool list and the exchange list')."""
        if not name:
            return []
        name = normalise_domain(name)
        hosts = self.learned_pools.hosts
        out = [hosts[name]] if learned and name in hosts else []
        labels = name.split(".")
        for i in range(len(labels) - 1):
            key = ".".join(labels[i:])
            hits = [e for e in self._domains.get(key, ()) if i == 0 or not e.exact_only]
            hits.sort(key=lambda e: -CATEGORY_RANK[e.category])
            out.extend(_match(key, e, name) for e in hits)
        return out

    def match_mining_domain(self, name: str | None, learned: bool = True) -> ListMatch | None:
        """The strongest entry that makes ``name`` a mining name, or None.

        A name on an exchange list is trading, not mining, unless a pool-grade list (a pool feed,
        a browser-miner list, or a pool learned in this scan) names it too: the mixed crypto list
        also carries exchanges (binance.com, okx.com), and those must not read as pools.
        """
        matches = self.match_domain_all(name, learned)
        if not matches:
            return None
        best = max(matches, key=lambda m: CATEGORY_RANK[m.category])
        if best.category == "exchange":
            return None
        if any(m.category == "exchange" for m in matches) and best.category == "crypto_mixed":
            return None
        return best

    def match_exchange(self, name: str | None, learned: bool = True) -> ListMatch | None:
        """The exchange-list entry that makes ``name`` an exchange's, or None. A pool is never an exchange: a
        name that a pool-grade list (or a pool learned in this scan) names, or that has pool words
        (``pool.binance.com``, Binance Pool's site), is not one."""
        matches = self.match_domain_all(name, learned)
        if any(CATEGORY_RANK[m.category] > CATEGORY_RANK["crypto_mixed"] for m in matches) or pool_likeness(name, 0):
            return None
        return next((m for m in matches if m.category == "exchange"), None)

    def match_ip(self, ip: str, learned: bool = True) -> ListMatch | None:
        """A learned pool address (unless ``learned=False``), else the most specific listed network
        containing ``ip``."""
        addr = parse_ip(ip)
        if addr is None:
            return None
        known = self.learned_pools.ips.get(str(addr)) if learned else None
        if known is not None:
            return known
        found = self._networks.lookup(addr)
        if found is None:
            return None
        net, entry = found
        return _match(str(net), entry, str(addr))

    def listed_addresses(self, learned: bool = True) -> tuple[list[str], bool]:
        """The single addresses lists and learning name (canonical text), and whether any list also
        names wider networks (whose members only ``ip_candidates`` over the seen addresses can tell)."""
        hosts, networks = self._networks.split_hosts()
        return sorted({str(a) for a in hosts} | (set(self.learned_pools.ips) if learned else set())), networks

    def ip_candidates(self, addresses: pa.Array, learned: bool = True) -> list[str]:
        """The addresses (distinct text, canonical as the flow readers write it) that ``match_ip``
        may match: listed networks and learned pools, tested for all IPv4 addresses at once. Only
        these need the exact (slower, per-address) ``match_ip``."""
        if len(addresses) == 0:
            return []
        v6 = pc.fill_null(pc.match_substring(addresses, ":"), False)
        v4 = pc.filter(addresses, pc.invert(v6))
        parts = pc.split_pattern(v4, ".")
        whole = pc.fill_null(pc.equal(pc.list_value_length(parts), 4), False)
        try:
            octets = pc.cast(pc.list_flatten(pc.filter(parts, whole)), pa.int64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:  # not numbers: leave every address to match_ip
            return sorted(set(addresses.to_pylist()) - {None})
        as_int = np.asarray(octets).reshape(-1, 4) @ np.array([1 << 24, 1 << 16, 1 << 8, 1], dtype=np.int64)
        found = pc.filter(v4, whole).filter(pa.array(self._networks.covers_v4(as_int))).to_pylist()
        found += pc.filter(v4, pc.invert(whole)).to_pylist()  # not a dotted quad: let match_ip judge
        # IPv6 only when IPv6 networks are listed; IPv4-mapped ones (::ffff:a.b.c.d) always
        mapped = pc.fill_null(pc.starts_with(addresses, "::ffff:"), False)
        found += pc.filter(addresses, v6 if self._networks.has_v6 else mapped).to_pylist()
        if learned:
            known = pa.array(list(self.learned_pools.ips), pa.string())
            found += pc.filter(addresses, pc.is_in(addresses, known)).to_pylist()
        return sorted(set(found) - {None})

    def match_endpoint(self, ip: str, port: int) -> ListMatch | None:
        """The learned endpoint itself, else anything ``match_ip`` knows about the address."""
        addr = parse_ip(ip)
        if addr is None:
            return None
        return self.learned_pools.endpoints.get((str(addr), port)) or self.match_ip(str(addr))

    def learn(self, ip: str, port: int, host: str | None, reason: str) -> ListMatch | None:
        """Remember an endpoint seen speaking a mining protocol as a pool for the rest of the scan."""
        return self.learned_pools.learn(ip, port, host, reason)

    def learn_table(self, table: pa.Table) -> None:
        """Pools learned elsewhere (a ``LEARNED_POOLS`` table), known from now on."""
        self.learned_pools.learn_table(table)

    def overlay(self) -> PoolIntel:
        """The same lists with a copy of the pools learned so far: what is learned into it leaves this one as
        it is (a detector learns within its input and hands its learned pools on as a table)."""
        clone = copy.copy(self)
        clone.learned_pools = self.learned_pools.copy()
        return clone

    @property
    def learned(self) -> list[ListMatch]:
        return list(self.learned_pools.endpoints.values())


def _match(entry: str, found: _DomainEntry, value: str) -> ListMatch:
    return ListMatch(entry, found.info.name, found.category, found.info.source, found.info.licence, value)


# ---------------------------------------------------------------- pool-likeness

# Tokens that, as a whole label part, make a host name look like a mining pool. Chosen from the
# names of pools in the bundled lists and the corpus; "dash" and "beam" are left out (dashboards,
# beam.* services), as are words that are only pool-ish inside other words.
POOL_WORDS: frozenset[str] = frozenset({
    "pool", "pools", "mining", "miner", "miners", "mine", "stratum", "xmrig", "hashrate",
    "xmr", "monero", "eth", "etc", "ethw", "ethash", "rvn", "ravencoin", "btc", "bitcoin",
    "bch", "ltc", "litecoin", "zec", "zcash", "erg", "ergo", "kas", "kaspa", "cfx", "grin",
    "randomx", "cryptonight", "scrypt", "equihash",
})
# Pool operators and brands: matched as whole tokens too ("nanopool" in xmr-eu1.nanopool.org).
POOL_BRANDS: frozenset[str] = frozenset({
    "nicehash", "f2pool", "antpool", "viabtc", "poolin", "nanopool", "ethermine", "sparkpool",
    "supportxmr", "moneroocean", "minexmr", "hashvault", "minergate", "c3pool", "herominers",
    "2miners", "flexpool", "hiveon", "slushpool", "braiins", "unmineable", "woolypooly",
    "zergpool", "prohashing", "miningpoolhub", "coinhive", "dwarfpool", "crazypool", "hashcity",
    "binancepool", "emcd", "kryptex", "p2pool",
})
_TOKEN_SPLIT = re.compile(r"[.\-_]+")


PORT_USES = ("stratum", "keep")


@lru_cache(maxsize=1)
def port_list() -> dict[int, tuple[str, str]]:
    """The one list of pool ports (data/pools/pool-ports.txt): port → (use, where it is documented).
    Every other list of ports is derived from it."""
    out: dict[int, tuple[str, str]] = {}
    for line in data_path("pools", "pool-ports.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            port, use, where = line.split("\t", 2)
            if use not in PORT_USES or int(port) in out:
                raise ValueError(f"pool-ports.txt: {line!r}: a use of {PORT_USES}, once per port")
            out[int(port)] = (use, where.strip())
    return out


def stratum_ports() -> dict[int, str]:
    """Ports pools document for stratum, with where: the "pool-like endpoint" hint and the behaviour
    model's port prior."""
    return {port: where for port, (use, where) in port_list().items() if use == "stratum"}


def capture_ports() -> frozenset[int]:
    """Every port of the list: the capture engine keeps flows on them for list and learned-pool matching."""
    return frozenset(port_list())


def pool_ports() -> dict[int, str]:
    """Well-known stratum ports with where each is documented (``stratum_ports``)."""
    return stratum_ports()


def host_tokens(host: str) -> list[str]:
    """Host name split on dots, dashes and underscores, lower case, without trailing digits
    ('xmr-eu1' → ['xmr', 'eu'], 'pool2' → 'pool')."""
    tokens = []
    for raw in _TOKEN_SPLIT.split(normalise_domain(host)):
        token = raw.rstrip("0123456789") or raw
        if token:
            tokens.append(token)
    return tokens


def _pool_token(token: str) -> bool:
    """A whole pool word or brand, or two pool words joined ('xmrpool', 'ethmining') — but never a
    pool word inside an unrelated word ('whirlpool', 'spool', 'fetch')."""
    if token in POOL_WORDS or token in POOL_BRANDS:
        return True
    return any(token[:i] in POOL_WORDS and token[i:] in POOL_WORDS for i in range(2, len(token) - 1))


def pool_likeness(host: str | None, port: int) -> list[Text]:
    """Reasons, in both languages, why an endpoint looks like a mining pool; empty if none.

    Two independent, explainable hints: pool-ish tokens in the host name, and a well-known
    stratum port. Each is weak alone (see data/pools/pool-ports.txt for the ports' false
    positives); the caller weighs them with the other evidence.
    """
    reasons: list[Text] = []
    if host:
        words = sorted({t for t in host_tokens(host) if _pool_token(t)})
        if words:
            joined = ", ".join(words)
            reasons.append(Text(
                zh=f"主机名 {host} 含矿池特征词：{joined}",
                en=f"host name {host} has pool-like words: {joined}",
            ))
    if port in pool_ports():
        reasons.append(Text(
            zh=f"端口 {port} 是常见的矿池（stratum）端口",
            en=f"port {port} is a common mining-pool (stratum) port",
        ))
    return reasons

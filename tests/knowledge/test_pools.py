"""Pool intelligence: bundled lists, formats, feeds, IP ranges, learned pools, pool-likeness."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path

import pytest

from helpers import ROOT
from minescope.errors import InputError
from minescope.knowledge.pools import (
    Parsed,
    PoolIntel,
    feed_paths,
    load_list,
    parse_line,
    pool_likeness,
    pool_ports,
)
from minescope.knowledge.ranges import RangeIndex


@pytest.fixture(scope="module")
def bundled() -> PoolIntel:
    return PoolIntel.load(user_feeds=False)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- bundled lists


def test_bundled_lists_load_without_bad_lines(bundled: PoolIntel) -> None:
    by_name = {loaded.info.name: loaded for loaded in bundled.lists}
    assert by_name["nocoin"].entries == 313
    assert by_name["blocklistproject-crypto"].entries == 1272
    assert by_name["v2fly-geosite-cryptocurrency"].entries == 232
    assert bundled.problems() == []


def test_bundled_categories(bundled: PoolIntel) -> None:
    categories = {loaded.info.name: loaded.info.category for loaded in bundled.lists}
    assert categories == {
        "nocoin": "browser_mining",
        "blocklistproject-crypto": "crypto_mixed",
        "v2fly-geosite-cryptocurrency": "exchange",
        "minescope-exchanges": "exchange",  # exchanges the v2fly list lacks (knowledge/data/exchanges/services.csv)
    }


def test_nocoin_host_exact_and_case_and_trailing_dot(bundled: PoolIntel) -> None:
    m = bundled.match_domain("AuthedMine.com.")
    assert m is not None
    assert (m.entry, m.list_name, m.category) == ("authedmine.com", "nocoin", "browser_mining")
    assert m.licence == "MIT"
    assert m.matched_value == "authedmine.com"


def test_subdomain_of_listed_pool(bundled: PoolIntel) -> None:
    m = bundled.match_domain("xmr-eu1.nanopool.org")
    assert m is not None
    assert m.entry == "nanopool.org"
    assert m.category == "crypto_mixed"
    assert m.matched_value == "xmr-eu1.nanopool.org"


def test_no_match_for_unrelated_or_lookalike_names(bundled: PoolIntel) -> None:
    assert bundled.match_domain("example.com") is None
    assert bundled.match_domain("notnanopool.org") is None  # suffix match is on label boundaries
    assert bundled.match_domain("org") is None
    assert bundled.match_domain("") is None
    assert bundled.match_domain(None) is None


def test_geosite_full_is_exact_and_domain_is_suffix(tmp_path: Path) -> None:
    tsv = write(tmp_path / "g.tsv", "type\tvalue\tsource_list\tattrs\n"
                "domain\tex.example\ta\t\nfull\tonly.example\ta\t\nkeyword\tbinance\ta\t\n")
    intel = PoolIntel([load_list(tsv, category="exchange")])
    assert intel.match_domain("api.ex.example") is not None
    assert intel.match_domain("only.example") is not None
    assert intel.match_domain("sub.only.example") is None
    assert intel.lists[0].skipped == 2  # header and keyword rule


def test_bundled_geosite_exchange(bundled: PoolIntel) -> None:
    # On both the mixed list and the exchange list: the stronger category is returned first,
    # and match_domain_all shows both.
    m = bundled.match_domain("www.binance.com")
    assert m is not None and m.category == "crypto_mixed"
    assert {x.category for x in bundled.match_domain_all("www.binance.com")} >= {"crypto_mixed", "exchange"}


def test_most_specific_entry_wins_over_stronger_parent(tmp_path: Path) -> None:
    pools = write(tmp_path / "p.txt", "pool.example\n")
    exch = write(tmp_path / "e.txt", "api.pool.example\n")
    intel = PoolIntel([load_list(pools, category="pool"), load_list(exch, category="exchange")])
    m = intel.match_domain("x.api.pool.example")
    assert m is not None and (m.entry, m.category) == ("api.pool.example", "exchange")


def test_strongest_category_among_equally_specific(tmp_path: Path) -> None:
    a = write(tmp_path / "a.txt", "pool.example\n")
    b = write(tmp_path / "b.txt", "pool.example\n")
    intel = PoolIntel([load_list(a, category="exchange"), load_list(b, category="pool")])
    m = intel.match_domain("pool.example")
    assert m is not None and m.category == "pool" and m.list_name == "b"


# ---------------------------------------------------------------- formats and bad lines


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("0.0.0.0 Pool.Example.com", ("domain", "pool.example.com", False, None)),
        ("127.0.0.1 pool.example.com # note", ("domain", "pool.example.com", False, None)),
        ("pool.example.com", ("domain", "pool.example.com", False, None)),
        ("*.pool.example.com", ("domain", "pool.example.com", False, None)),
        ("||pool.example.com^", ("domain", "pool.example.com", False, None)),
        ("||pool.example.com^$third-party", ("domain", "pool.example.com", False, None)),
        ("203.0.113.7", ("network", ipaddress.ip_network("203.0.113.7/32"), False, None)),
        ("198.51.100.9/24", ("network", ipaddress.ip_network("198.51.100.0/24"), False, None)),
        ("2001:db8::/32", ("network", ipaddress.ip_network("2001:db8::/32"), False, None)),
        ("pool.example.com,pool", ("domain", "pool.example.com", False, "pool")),
        ("203.0.113.0/24,exchange", ("network", ipaddress.ip_network("203.0.113.0/24"), False, "exchange")),
        ("full\tx.example.com", ("domain", "x.example.com", True, None)),
    ],
)
def test_parse_line_formats(line: str, expected: Parsed) -> None:
    assert parse_line(line) == expected


@pytest.mark.parametrize("line", ["", "   ", "# comment", "! adblock comment"])
def test_parse_line_comments(line: str) -> None:
    assert parse_line(line) is None


@pytest.mark.parametrize(
    "line",
    ["not a domain", "localhost-only", "||bad/path^", "pool.example.com,unknown-category", "300.1.2.3/8",
     "-bad-.example.com", "0.0.0.0 bad_tld.123"],
)
def test_parse_line_rejects(line: str) -> None:
    with pytest.raises(ValueError):
        parse_line(line)


def test_malformed_lines_are_counted_not_fatal(tmp_path: Path) -> None:
    feed = write(tmp_path / "mixed.txt", "# category: pool\npool.example\nthis is junk\n"
                 "||also^bad\n203.0.113.0/24\n0.0.0.0 localhost\n@@||allowed.example^\n")
    loaded = load_list(feed)
    assert loaded.entries == 2
    assert [n for n, _ in loaded.bad_lines] == [3, 4]
    assert loaded.skipped == 2
    problems = loaded.problems()
    assert problems[0].startswith(f"{feed}:3:")


# ---------------------------------------------------------------- user feeds


def test_feed_directory_with_category_header(tmp_path: Path) -> None:
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    write(feeds / "mypools.txt", "# category: pool\n# source: our SOC\n# licence: internal\n"
          "stratum.example.net\n192.0.2.0/24\n")
    write(feeds / "exchanges.csv", "# category: exchange\ndomain,category\nswap.example,\nbad..name,\n")
    write(feeds / "README.md", "not a feed\n")
    write(feeds / ".hidden", "ignored.example\n")
    intel = PoolIntel.load(feeds=[feeds], bundled=False, user_feeds=False)
    assert sorted(x.info.name for x in intel.lists) == ["exchanges", "mypools"]
    m = intel.match_domain("eu.stratum.example.net")
    assert m is not None
    assert (m.category, m.list_name, m.source, m.licence) == ("pool", "mypools", "our SOC", "internal")
    ip = intel.match_ip("192.0.2.77")
    assert ip is not None and ip.entry == "192.0.2.0/24" and ip.category == "pool"
    ex = intel.match_domain("swap.example")
    assert ex is not None and ex.category == "exchange"
    assert any(":4:" in p for p in intel.problems())


def test_feed_without_header_defaults_to_pool(tmp_path: Path) -> None:
    loaded = load_list(write(tmp_path / "plain.txt", "pool.example\n"))
    assert loaded.info.category == "pool"


def test_feed_with_unknown_category_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"bad\.txt:1: unknown category 'mines'"):
        load_list(write(tmp_path / "bad.txt", "# category: mines\npool.example\n"))


def test_feeds_from_env_and_missing_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    feeds = tmp_path / "envfeeds"
    feeds.mkdir()
    write(feeds / "a.txt", "a.example\n")
    monkeypatch.setenv("MINESCOPE_FEEDS", str(feeds))
    assert feed_paths() == [feeds / "a.txt"]
    assert feed_paths([]) == [feeds / "a.txt"]  # an empty list means "none given"
    intel = PoolIntel.load([], bundled=False)
    assert intel.match_domain("x.a.example") is not None
    assert PoolIntel.load([], bundled=False, user_feeds=False).match_domain("a.example") is None
    monkeypatch.setenv("MINESCOPE_FEEDS", str(tmp_path / "nope"))
    with pytest.raises(InputError, match="MINESCOPE_FEEDS"):
        feed_paths()
    monkeypatch.delenv("MINESCOPE_FEEDS")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    assert feed_paths() == []  # the default directory may be absent
    (tmp_path / "cfg" / "minescope" / "feeds").mkdir(parents=True)
    write(tmp_path / "cfg" / "minescope" / "feeds" / "b.txt", "b.example\n")
    assert [p.name for p in feed_paths()] == ["b.txt"]


# ---------------------------------------------------------------- IP ranges


def test_ip_and_cidr_matching_v4_v6(tmp_path: Path) -> None:
    feed = write(tmp_path / "ips.txt", "# category: pool\n203.0.113.7\n198.51.100.0/24\n2001:db8:1::/48\n")
    intel = PoolIntel([load_list(feed)])
    assert intel.match_ip("203.0.113.7") is not None
    assert intel.match_ip("203.0.113.8") is None
    m = intel.match_ip("198.51.100.255")
    assert m is not None and m.entry == "198.51.100.0/24" and m.matched_value == "198.51.100.255"
    assert intel.match_ip("198.51.101.0") is None
    v6 = intel.match_ip("2001:DB8:1:ffff::1")
    assert v6 is not None and v6.entry == "2001:db8:1::/48"
    assert intel.match_ip("2001:db8:2::1") is None
    assert intel.match_ip("::ffff:203.0.113.7") is not None  # v4-mapped
    assert intel.match_ip("not-an-ip") is None


def test_nested_networks_most_specific_wins(tmp_path: Path) -> None:
    wide = write(tmp_path / "wide.txt", "10.0.0.0/8\n")
    narrow = write(tmp_path / "narrow.txt", "10.1.2.0/24\n")
    intel = PoolIntel([load_list(wide, category="pool"), load_list(narrow, category="exchange")])
    assert intel.match_ip("10.1.2.3").category == "exchange"  # type: ignore[union-attr]
    assert intel.match_ip("10.1.3.3").category == "pool"  # type: ignore[union-attr]
    assert intel.match_ip("10.255.255.255").category == "pool"  # type: ignore[union-attr]


def test_range_index_agrees_with_brute_force() -> None:
    rng = random.Random(7)
    nets = []
    for _ in range(300):
        prefix = rng.choice([8, 12, 16, 20, 24, 28, 32])
        addr = ipaddress.IPv4Address(rng.getrandbits(32) & 0x3FFFFFFF)  # crowd into 0/2 to force nesting
        nets.append(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))
    index: RangeIndex[str] = RangeIndex()
    for n in nets:
        index.add(n, str(n))
    for _ in range(3000):
        ip = ipaddress.IPv4Address(rng.getrandbits(32) & 0x3FFFFFFF)
        containing = [n for n in nets if ip in n]
        got = index.lookup(ip)
        if not containing:
            assert got is None
        else:
            best = max(containing, key=lambda n: n.prefixlen)
            assert got is not None and got[0] == best


# ---------------------------------------------------------------- learned pools


def test_learned_pool_is_known_for_the_rest_of_the_scan() -> None:
    intel = PoolIntel()
    assert intel.match_ip("94.23.199.191") is None
    intel.learn("94.23.199.191", 3333, "pool.Example-Miner.net", "stratum mining.subscribe seen")
    ep = intel.match_endpoint("94.23.199.191", 3333)
    assert ep is not None
    assert (ep.category, ep.list_name, ep.entry) == ("learned", "learned", "94.23.199.191:3333")
    assert ep.reason == "stratum mining.subscribe seen"
    other_port = intel.match_endpoint("94.23.199.191", 443)
    assert other_port is not None and other_port.category == "learned"
    ip = intel.match_ip("94.23.199.191")
    assert ip is not None and ip.category == "learned"
    host = intel.match_domain("POOL.example-miner.net.")
    assert host is not None and host.category == "learned"
    assert intel.match_endpoint("94.23.199.192", 3333) is None
    assert [m.entry for m in intel.learned] == ["94.23.199.191:3333"]


def test_learned_ipv6_endpoint() -> None:
    intel = PoolIntel()
    intel.learn("2001:db8::7", 14444, None, "cryptonote login seen")
    m = intel.match_endpoint("2001:db8:0::7", 14444)
    assert m is not None and m.entry == "[2001:db8::7]:14444"


# ---------------------------------------------------------------- pool-likeness


def test_pool_likeness_host_tokens_and_port() -> None:
    reasons = pool_likeness("xmr-eu1.nanopool.org", 14433)
    assert len(reasons) == 2
    assert "nanopool" in reasons[0].en and "xmr" in reasons[0].en
    assert "矿池" in reasons[0].zh
    assert "14433" in reasons[1].en and "14433" in reasons[1].zh


@pytest.mark.parametrize("host", ["whirlpool.example.com", "spool.example.org", "fetch.example.net",
                                  "liverpoolfc.com", "dashboard.example.com", "minecraft.net",
                                  "www.example.com"])
def test_pool_likeness_no_match_inside_unrelated_words(host: str) -> None:
    assert pool_likeness(host, 443) == []


@pytest.mark.parametrize("host", ["pool.supportxmr.com", "eth-us-east1.nanopool.org", "xmrpool.eu",
                                  "stratum2.example.net", "rvn.2miners.com", "btc.f2pool.com"])
def test_pool_likeness_matches_pool_names(host: str) -> None:
    assert len(pool_likeness(host, 443)) == 1


def test_pool_ports_documented() -> None:
    ports = pool_ports()
    assert {3333, 4444, 5555, 7777, 8888, 9999, 14444, 14433, 45700} <= set(ports)
    assert 443 not in ports and 80 not in ports and 9050 not in ports
    assert all(ports.values())  # each has its source
    assert pool_likeness(None, 3333)[0].en.startswith("port 3333")
    assert pool_likeness(None, 443) == []


def test_one_pool_port_list_every_use_derived() -> None:
    """pool-ports.txt is the only list of pool ports: the hint, the behaviour prior and the capture engine's
    kept flows all come from it, and no module writes a port list of its own."""
    import re

    from minescope.dimensions.network.capture.flows import POOL_PORTS
    from minescope.dimensions.network.detectors.behaviour import STRATUM_PORTS
    from minescope.knowledge.pools import capture_ports, port_list, stratum_ports

    listed = port_list()
    assert all(use in ("stratum", "keep") and where for use, where in listed.values())
    assert set(STRATUM_PORTS) == set(stratum_ports()) == set(pool_ports())
    assert set(POOL_PORTS.tolist()) == capture_ports() == set(listed) >= set(stratum_ports())
    assert {80, 443, 25} & set(listed) == set() and 9050 in capture_ports() and 9050 not in stratum_ports()
    src = ROOT / "src" / "minescope"
    for path in src.rglob("*.py"):
        assert not re.search(r"\b(3333|4444|14444)\b", path.read_text(encoding="utf-8")), path


def test_ip_candidates_prefilter_agrees_with_match_ip(tmp_path: Path) -> None:
    """The vectorised prefilter keeps every address match_ip matches (and few others)."""
    import pyarrow as pa

    feed = tmp_path / "pools.txt"
    feed.write_text("# category: pool\n198.51.100.0/24\n203.0.113.7\n10.0.0.0/8\n2001:db8::/32\n")
    intel = PoolIntel.load([feed], bundled=False, user_feeds=False)
    intel.learn("192.0.2.55", 3333, None, "test")
    rng = random.Random(7)
    addresses = {f"{rng.choice([10, 198, 203, 192, 8])}.{rng.choice([0, 51, 113])}.{rng.choice([0, 2, 100, 113])}."
                 f"{rng.randrange(256)}" for _ in range(3000)}
    addresses |= {"203.0.113.7", "192.0.2.55", "2001:db8::1", "2001:db9::1", "::ffff:198.51.100.9", "1.2.3"}
    candidates = set(intel.ip_candidates(pa.array(sorted(addresses))))
    matched = {a for a in addresses if intel.match_ip(a) is not None}
    assert matched and matched <= candidates
    assert candidates - matched <= {"1.2.3", "2001:db9::1"}  # left to match_ip, which rejects them
    # without IPv6 networks, IPv6 addresses are not candidates (IPv4-mapped ones still are)
    (tmp_path / "v4.txt").write_text("# category: pool\n198.51.100.0/24\n")
    v4_only = PoolIntel.load([tmp_path / "v4.txt"], bundled=False, user_feeds=False)
    assert v4_only.ip_candidates(pa.array(["2001:db8::1", "::ffff:198.51.100.9"])) == ["::ffff:198.51.100.9"]


def test_learned_pools_are_a_table_the_sql_detectors_read() -> None:
    """Pools learned from payload travel as an Arrow table; the same table gives the same matches."""
    from minescope.knowledge.pools import LEARNED_POOLS, LearnedPools

    intel = PoolIntel()
    scope = intel.overlay()  # a detector learns into its own copy
    scope.learn("94.23.199.191", 3333, "pool.example-miner.net", "stratum session from 10.0.0.5")
    assert intel.match_ip("94.23.199.191") is None  # the shared knowledge is unchanged
    table = scope.learned_pools.table()
    assert table.schema == LEARNED_POOLS
    assert table.to_pylist() == [{"ip": "94.23.199.191", "port": 3333, "host": "pool.example-miner.net",
                                  "reason": "stratum session from 10.0.0.5"}]
    back = LearnedPools.from_table(table)
    assert back.ips["94.23.199.191"] == scope.learned_pools.ips["94.23.199.191"]
    assert back.hosts["pool.example-miner.net"].category == "learned"
    intel.learn_table(table)  # the scan keeps what the detector learned
    m = intel.match_endpoint("94.23.199.191", 3333)
    assert m is not None and m.category == "learned"
    assert intel.match_ip("94.23.199.191", learned=False) is None  # the lists alone do not name it

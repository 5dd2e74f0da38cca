"""Blocklists and indicators from a real store: only confirmed mining, false positives left out."""

from __future__ import annotations

import json

import pytest
import stix2
from sqlalchemy import Engine

from helpers import CORPUS, cli, exchange_capture
from minescope.cases.workflow import close, list_cases, sync_cases
from minescope.knowledge.pools import PoolIntel
from minescope.outputs.blocklists import confirmed_indicators, exchange_indicators, render
from minescope.pipeline import Scanner, ScanOptions
from minescope.store.findings import open_store, save_scan


@pytest.fixture
def store(store_target: str) -> Engine:
    engine = open_store(store_target)
    scanner = Scanner()
    save_scan(engine, scanner.scan([CORPUS / "mining" / "ndpi_mining.pcapng",
                                    CORPUS / "mining" / "zeekcm_coinhive.pcap"]))
    return engine


def test_only_mining_sessions_make_indicators(store: Engine) -> None:
    pools = {i.ip for i in confirmed_indicators(store) if i.kind == "pool"}
    assert pools == {"94.23.199.191", "185.71.66.39", "178.32.196.217", "116.211.167.195"}
    # the Coinhive capture has only list and TLS evidence: no indicator from it
    assert not any("authedmine" in h for i in confirmed_indicators(store) for h in i.hosts)


def test_formats(store: Engine) -> None:
    ind = confirmed_indicators(store)
    rpz = render(ind, "rpz", now=0)
    assert "eu1-zcash.flypool.org CNAME ." in rpz and "*.eu1-zcash.flypool.org CNAME ." in rpz
    assert "32.191.199.23.94.rpz-ip CNAME ." in rpz
    nft = render(ind, "nft", now=0)
    assert "set mining_pools_v4" in nft and "94.23.199.191" in nft and nft.count("{") == nft.count("}")
    rules = render(ind, "suricata", now=0).splitlines()[1:]
    sids = [r.split("sid:")[1].split(";")[0] for r in rules]
    assert len(sids) == len(set(sids)) and any("tls.sni" in r for r in rules)
    csv_text = render(ind, "csv", now=0)
    assert csv_text.splitlines()[0].startswith("kind,ip,ports")
    bundle = stix2.parse(render(ind, "stix", now=0), allow_custom=False)
    patterns = {o.pattern for o in bundle.objects if o.type == "indicator"}
    assert "[ipv4-addr:value = '94.23.199.191']" in patterns
    assert json.loads(render(ind, "stix", now=0))["type"] == "bundle"


def test_false_positive_cases_leave_the_lists(store: Engine) -> None:
    sync_cases(store)
    for case in list_cases(store):
        if case.title == "147.229.13.222":
            close(store, case.id, "false_positive", "analyst")
    pools = {i.ip for i in confirmed_indicators(store) if i.kind == "pool"}
    assert "185.71.66.39" not in pools and "94.23.199.191" in pools


def test_incremental_export_gives_only_what_later_scans_confirmed(store: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    db = store.url.render_as_string(hide_password=False)
    cmd = [sys.executable, "-m", "minescope", "export", "csv", "--db", db, "--incremental", "feed", "--lang", "en"]
    first = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "94.23.199.191" in first.stdout  # the first incremental export is the whole list
    again = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert len(again.stdout.splitlines()) == 1 and "0 endpoints newly confirmed" in again.stderr  # header only
    save_scan(store, Scanner().scan([CORPUS / "mining" / "ndpi_mining.pcapng",  # seen before: nothing new
                                     CORPUS / "mining" / "zeekcm_bitcoin-mining.pcap"]))
    later = subprocess.run(cmd, capture_output=True, text=True, check=True)
    rows = later.stdout.splitlines()[1:]
    assert rows and not any("94.23.199.191" in r for r in rows)
    assert {r.split(",")[1] for r in rows} <= {i.ip for i in confirmed_indicators(store, after_scan=1)}


def test_exchange_blocklists_list_every_venue_and_the_addresses_seen_serving_them(  # type: ignore[no-untyped-def]
        store_target: str, tmp_path) -> None:
    engine = open_store(store_target)
    save_scan(engine, Scanner(ScanOptions(feeds=[tmp_path])).scan([exchange_capture(tmp_path / "x.pcap")]))
    ind = exchange_indicators(engine, PoolIntel.load(user_feeds=False))
    domains = render(ind, "domains", now=0).splitlines()
    assert {"binance.com", "bsappapi.com", "okx.com", "huobi.pro", "coinex.com"} <= set(domains)
    # wallets, explorers and news on the crypto list are no trading venue; pools are never exchanges
    assert "bitcoin.org" not in domains and "metamask.io" not in domains and "supportxmr.com" not in domains
    # addresses only where a connection named the exchange (not the resolver asked, not bitcoin.org)
    seen = {i.ip: i for i in ind if i.ip}
    assert set(seen) == {"203.0.113.50", "203.0.113.51", "203.0.113.60"}
    assert seen["203.0.113.60"].label == "okx" and seen["203.0.113.60"].ports == {80}
    rpz = render(ind, "rpz", now=0)
    assert "binance.com CNAME ." in rpz and "*.binance.com CNAME ." in rpz and "exchanges" in rpz.splitlines()[0]
    assert "32.50.113.0.203.rpz-ip CNAME ." in rpz
    nft = render(ind, "nft", now=0)
    assert "set exchanges_v4" in nft and "203.0.113.51" in nft and "CDN" in nft and "mining_pools" not in nft
    rules = render(ind, "suricata", now=0).splitlines()[1:]
    sids = [r.split("sid:")[1].split(";")[0] for r in rules]
    assert len(sids) == len(set(sids))
    assert any('tls.sni; pcre:"/(^|\\.)binance\\.com$/i";' in r for r in rules)
    assert any("http.host" in r and "okx" in r for r in rules)
    assert render(ind, "csv", now=0).splitlines()[0].endswith(",exchange")
    bundle = stix2.parse(render(ind, "stix", now=0), allow_custom=False)
    assert "[domain-name:value = 'binance.com']" in {o.pattern for o in bundle.objects if o.type == "indicator"}
    # the command line: the same list, and pools by default
    run = cli("export", "domains", "--of", "exchanges", "--db", store_target)
    assert run.rc == 0 and "binance.com" in run.stdout.decode().splitlines()
    assert "binance.com" not in cli("export", "domains", "--db", store_target).stdout.decode()

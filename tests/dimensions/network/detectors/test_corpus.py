"""Detection on the real captures of others (samples/pcap), judged by the independent ground truth."""

from __future__ import annotations

import pytest

from helpers import CORPUS, ground_truth, scan_file
from minescope.dimensions.network.kinds import CRYPTO_NODE, MINING_SESSION

MINING = sorted(k for k in ground_truth() if k.startswith("mining/"))
NOT_MINING = sorted(k for k in ground_truth() if k.startswith(("benign/", "crypto-node/")))


def _endpoints(flow) -> frozenset:  # type: ignore[no-untyped-def]
    return frozenset({(flow.src_ip, flow.src_port), (flow.dst_ip, flow.dst_port)})


@pytest.mark.parametrize("rel", MINING)
def test_every_ground_truth_session_is_a_mining_session(rel: str) -> None:
    result = scan_file(rel)
    found = {_endpoints(fl) for f in result.findings if f.kind == MINING_SESSION for fl in f.flows}
    for s in ground_truth()[rel]["mining_sessions"]:
        pair = frozenset({(s["client_ip"], s["client_port"]), (s["server_ip"], s["server_port"])})
        assert pair in found, f"{rel}: session {s} not reported"


@pytest.mark.parametrize("rel", MINING)
def test_no_mining_session_beyond_the_ground_truth(rel: str) -> None:
    truth = {frozenset({(s["client_ip"], s["client_port"]), (s["server_ip"], s["server_port"])})
             for s in ground_truth()[rel]["mining_sessions"]}
    extra = [fl for f in scan_file(rel).findings if f.kind == MINING_SESSION for fl in f.flows
             if _endpoints(fl) not in truth]
    assert not extra, f"{rel}: mining_session on flows outside the ground truth: {extra}"


@pytest.mark.parametrize("rel", NOT_MINING)
def test_no_mining_session_in_benign_or_node_traffic(rel: str) -> None:
    result = scan_file(rel)
    assert result.problems == []
    assert [f for f in result.findings if f.kind == MINING_SESSION] == []


@pytest.mark.parametrize("rel, protocol", [
    ("crypto-node/ndpi_bitcoin_p2p.pcap", "bitcoin"),
    ("crypto-node/ndpi_ethereum_p2p.pcap", "ethereum"),
    ("crypto-node/ndpi_monero_p2p.pcap", "monero"),
    ("crypto-node/ndpi_nano_p2p.pcapng", "nano"),
])
def test_node_traffic_is_crypto_node(rel: str, protocol: str) -> None:
    nodes = [f for f in scan_file(rel).findings if f.kind == CRYPTO_NODE]
    assert any(f.node_protocol == protocol for f in nodes), nodes


def test_miner_is_the_host_receiving_jobs_when_captured_mid_session() -> None:
    # the capture starts after the pool connection: the first packet comes from the pool
    result = scan_file("mining/zeekcm_bitcoin-mining-in-progress.pcap")
    sessions = [f for f in result.findings if f.kind == MINING_SESSION]
    assert sessions and all(f.subject_ip == "10.0.2.15" and f.peer.port == 3333 for f in sessions)
    assert all(not f.mining.login_seen for f in sessions if f.mining)


def test_session_facts_from_a_cryptonote_login() -> None:
    sessions = [f for f in scan_file("mining/ndpi_2018_zcash.pcap").findings if f.kind == MINING_SESSION]
    (f,) = sessions
    assert f.mining is not None
    assert f.mining.protocol == "cryptonote"
    assert f.mining.wallet and f.mining.agent and "xmr-stak" in f.mining.agent.lower()
    # the ground truth counts 33 submit frames; three are TCP retransmissions of earlier ones
    assert f.mining.shares_submitted == 30
    assert f.mining.hashrate is not None and f.mining.hashrate.hps > 0


def test_ethereum_share_rate_agrees_with_the_miners_own_report() -> None:
    """eth_submitHashrate is the miner's own claim; it must fall in the share-based estimate's stated
    range (±2σ, σ = 1/sqrt(shares)): 9 shares give 34.9 MH/s ± 67 %, the miner says 57.6 MH/s."""
    result = scan_file("mining/ndpi_2018_ethereum_stratum.pcap")
    (session,) = [f for f in result.findings if f.kind == MINING_SESSION and f.peer.ip == "94.23.36.128"]
    m = session.mining
    assert m is not None and m.hashrate is not None and m.reported_hashrate is not None
    assert m.hashrate.algorithm == m.reported_hashrate.algorithm == "Ethash"
    assert m.hashrate.shares == 9
    assert m.hashrate.low <= m.reported_hashrate.hps <= m.hashrate.high, (m.hashrate, m.reported_hashrate)
    assert m.sizing_hashrate is m.hashrate  # measured, not claimed, sizes the session
    assert session.energy is not None and session.energy.algorithm


def test_every_mining_finding_has_flows_evidence_reasons_and_attribution() -> None:
    for rel in MINING:
        for f in scan_file(rel).findings:
            assert f.flows and f.evidence and f.reasons
            assert all(r.zh and r.en for r in f.reasons)
            assert f.attribution is not None
            assert 0 < f.confidence <= 1


def test_a_pool_seen_speaking_stratum_is_learned(scanner) -> None:  # type: ignore[no-untyped-def]
    scanner.scan([CORPUS / "mining" / "zeekcm_bitcoin-mining.pcap"])
    assert scanner.intel.match_endpoint("74.84.128.158", 3333) is not None


@pytest.mark.parametrize("rel", sorted(ground_truth()))
def test_no_exchange_is_a_pool_and_no_pool_an_exchange(rel: str) -> None:
    from minescope.dimensions.network.kinds import EXCHANGE_ACCESS
    from minescope.knowledge.pools import PoolIntel

    intel = PoolIntel.load(user_feeds=False)
    for f in scan_file(rel).findings:
        if f.kind == EXCHANGE_ACCESS:
            assert intel.match_mining_domain(f.peer.host) is None, f"{rel}: {f.peer.host} is a pool's"
        elif f.peer is not None and f.peer.host:
            assert intel.match_exchange(f.peer.host) is None, f"{rel}: {f.kind} to the exchange {f.peer.host}"

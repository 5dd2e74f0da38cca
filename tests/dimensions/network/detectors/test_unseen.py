"""Detection on captures the corpus does not have.

The transcripts come from protocol documentation written by others (Slush Pool's Stratum v1
description, the XMRig/CryptoNote pool protocol as XMRig sends it, NiceHash's EthereumStratum/1.0.0
specification, the Bitcoin wiki's getwork), put on the wire with fresh addresses, ports, segment
sizes, VLAN tags, IPv6 and pcapng, so passing shows detection follows the protocol, not the corpus.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import Conversation, client_hello, dns_answer, dns_query, write_pcap, write_pcapng
from minescope.dimensions.network.kinds import ENCRYPTED_MINING_SUSPECT, MINING_SESSION, POOL_CONTACT
from minescope.pipeline import Scanner, ScanOptions

STRATUM = [  # Slush Pool's Stratum v1 documentation example, one line each
    (0, 0.0, b'{"id": 1, "method": "mining.subscribe", "params": []}\n'),
    (1, 0.1, b'{"id": 1, "result": [[["mining.set_difficulty", "b4b6693b72a50c7116db18d6497cac52"], '
             b'["mining.notify", "ae6812eb4cd7735a302a8a9dd95cf71f"]], "08000002", 4], "error": null}\n'),
    (0, 0.2, b'{"id": 2, "method": "mining.authorize", "params": ["slush.miner1", "password"]}\n'),
    (1, 0.3, b'{"error": null, "id": 2, "result": true}\n'),
    (1, 0.4, b'{"params": [2], "id": null, "method": "mining.set_difficulty"}\n'),
    (1, 0.5, b'{"params": ["bf", "4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000", '
             b'"01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff20020862062f503253482f04b8864e5008", '
             b'"072f736c7573682f000000000100f2052a010000001976a914d23fcdf86f7e756a64a7a9688ef9903327048ed988ac00000000", '
             b'[], "00000002", "1c2ac4af", "504e86b9", false], "id": null, "method": "mining.notify"}\n'),
    *[(0, 10.0 + 20 * i, b'{"params": ["slush.miner1", "bf", "0000000%d", "504e86ed", "b2957c0%d"], "id": %d, '
                         b'"method": "mining.submit"}\n' % (i, i, 4 + i)) for i in range(6)],
    *[(1, 10.2 + 20 * i, b'{"error": null, "id": %d, "result": true}\n' % (4 + i)) for i in range(6)],
]

XMRIG = [  # XMRig's pool protocol (CryptoNote JSON-RPC 2.0 with login/job/submit/keepalived)
    (0, 0.0, b'{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGz'
             b'Kt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZijBGUicoD","pass":"rig01","agent":"XMRig/6.21.0 (Linux '
             b'x86_64) libuv/1.44.2 gcc/12.2.0","algo":["rx/0","cn/r"]}}\n'),
    (1, 0.2, b'{"id":1,"jsonrpc":"2.0","error":null,"result":{"id":"a1b2c3","job":{"blob":"0e0ea0e2d4a106' + b"ab" * 69
             + b'","job_id":"j1","target":"b88d0600","algo":"rx/0","height":3000000,"seed_hash":"' + b"cd" * 32
             + b'"},"extensions":["algo","nicehash","connect","tls","keepalive"],"status":"OK"}}\n'),
    *[(0, 30.0 * (i + 1), b'{"id":%d,"jsonrpc":"2.0","method":"submit","params":{"id":"a1b2c3","job_id":"j1",'
                          b'"nonce":"1c00000%d","result":"%s"}}\n' % (i + 2, i, b"ef" * 32)) for i in range(8)],
    *[(1, 30.0 * (i + 1) + 0.1, b'{"id":%d,"jsonrpc":"2.0","error":null,"result":{"status":"OK"}}\n' % (i + 2))
      for i in range(8)],
    (0, 250.0, b'{"id":20,"jsonrpc":"2.0","method":"keepalived","params":{"id":"a1b2c3"}}\n'),
]

ETH_STRATUM = [  # NiceHash EthereumStratum/1.0.0 specification example
    (0, 0.0, b'{"id": 1, "method": "mining.subscribe", "params": ["MinerName/1.0.0", "EthereumStratum/1.0.0"]}\n'),
    (1, 0.1, b'{"id": 1, "result": [["mining.notify", "ae6812eb4cd7735a302a8a9dd95cf71f", '
             b'"EthereumStratum/1.0.0"], "080c"], "error": null}\n'),
    (0, 0.2, b'{"id": 2, "method": "mining.authorize", "params": ["0xb85150eb365e7df0941f0cf08235f987ba91506a.rig7", "x"]}\n'),
    (1, 0.3, b'{"id": 2, "result": true, "error": null}\n'),
    (1, 0.4, b'{"id": null, "method": "mining.set_difficulty", "params": [0.5]}\n'),
    (1, 0.5, b'{"id": null, "method": "mining.notify", "params": ["bf0488aa", "abad8f99f3918bf903c6a909d9bbc0fdfa5a2f4b'
             b'9cb1196175ec825c6610126c", "645cf20198c2f3861e947d4f67e3ab63b7b2e24dcc9095bd9123e7b33371f6cc", true]}\n'),
    *[(0, 5.0 + 10 * i, b'{"id": %d, "method": "mining.submit", "params": ["0xb85150eb365e7df0941f0cf08235f987ba91506a'
                        b'.rig7", "bf0488aa", "6a909d9bbc%02x"]}\n' % (244 + i, i)) for i in range(5)],
]

GETWORK = [  # Bitcoin wiki: getwork over HTTP, as cgminer sent it
    (0, 0.0, b"POST / HTTP/1.1\r\nAuthorization: Basic dXNlcjpwYXNz\r\nHost: mine.example.net:8332\r\n"
             b"Accept: */*\r\nContent-Type: application/json\r\nContent-Length: 44\r\nUser-Agent: cgminer 4.10.0\r\n"
             b"X-Mining-Extensions: longpoll midstate rollntime submitold\r\n\r\n"
             b'{"method": "getwork", "params": [], "id": 0}'),
    (1, 0.2, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Long-Polling: /LP\r\nContent-Length: 400\r\n\r\n"
             b'{"result":{"midstate":"' + b"5f" * 32 + b'","data":"' + b"0" * 256 + b'","hash1":"' + b"0" * 128
             + b'","target":"' + b"f" * 56 + b'00000000"},"error":null,"id":0}'),
]

NOT_MINING = [
    # a JSON-RPC echo service
    [(0, 0.0, b'{"jsonrpc": "2.0", "method": "echo", "params": ["hello"], "id": 1}\n'),
     (1, 0.1, b'{"jsonrpc": "2.0", "result": ["hello"], "id": 1}\n')],
    # an Ethereum wallet talking to its node's JSON-RPC API
    [(0, 0.0, b'{"jsonrpc":"2.0","method":"eth_blockNumber","params":[],"id":1}\n'),
     (1, 0.1, b'{"jsonrpc":"2.0","id":1,"result":"0x10d4f"}\n'),
     (0, 0.2, b'{"jsonrpc":"2.0","method":"eth_getBalance","params":["0xc94770007dda54cF92009BFF0dE90c06F603a09f",'
              b'"latest"],"id":2}\n'),
     (1, 0.3, b'{"jsonrpc":"2.0","id":2,"result":"0x0234c8a3397aab58"}\n')],
    # a chat message that talks about mining methods
    [(0, 0.0, b'{"type": "message", "text": "try mining.subscribe then mining.authorize and submit", "id": 9}\n'),
     (1, 0.1, b'{"type": "ack", "id": 9, "result": true}\n')],
]


@pytest.fixture
def scan(tmp_path: Path):  # type: ignore[no-untyped-def]
    def run(convs: list[Conversation], ng: bool = False):  # type: ignore[no-untyped-def]
        path = tmp_path / ("c.pcapng" if ng else "c.pcap")
        (write_pcapng if ng else write_pcap)(path, convs)
        result = Scanner(ScanOptions()).scan([path])
        assert result.problems == []
        return result
    return run


def _sessions(result):  # type: ignore[no-untyped-def]
    return [f for f in result.findings if f.kind == MINING_SESSION]


@pytest.mark.parametrize("transcript, protocol", [
    (STRATUM, "stratum"), (XMRIG, "cryptonote"), (ETH_STRATUM, "ethereum_stratum"), (GETWORK, "getwork"),
])
@pytest.mark.parametrize("variant", ["plain", "tiny-segments", "vlan", "ipv6", "pcapng"])
def test_documented_protocols_are_mining_sessions(scan, transcript, protocol: str, variant: str) -> None:  # type: ignore[no-untyped-def]
    client, server = ("2001:db8:5::20", "2001:db8:7::3") if variant == "ipv6" else ("172.20.3.4", "203.0.113.77")
    conv = Conversation(client, 50123, server, 14444, transcript, mss=7 if variant == "tiny-segments" else 1400,
                        vlan=42 if variant == "vlan" else None)
    (f,) = _sessions(scan([conv], ng=variant == "pcapng"))
    assert f.subject_ip == client and f.peer.ip == server and f.peer.port == 14444
    assert f.mining is not None and f.mining.protocol == protocol


def test_mid_session_capture_finds_the_miner(scan) -> None:  # type: ignore[no-untyped-def]
    tail = [m for m in STRATUM if m[1] >= 0.4]  # from the pool's set_difficulty on: no subscribe or authorize
    conv = Conversation("10.9.8.7", 40000, "198.51.100.9", 3333, tail, handshake=False)
    # the pool's notify is the first packet: the engine's initiator guess is the pool
    (f,) = _sessions(scan([conv]))
    assert f.subject_ip == "10.9.8.7" and f.peer.ip == "198.51.100.9"
    assert f.mining is not None and not f.mining.login_seen and f.mining.shares_submitted == 6


def test_wallet_worker_and_agent(scan) -> None:  # type: ignore[no-untyped-def]
    (f,) = _sessions(scan([Conversation("192.0.2.10", 41000, "203.0.113.5", 3333, XMRIG)]))
    assert f.mining is not None
    assert f.mining.wallet and f.mining.wallet.startswith("48edfHu7")
    assert f.mining.agent and f.mining.agent.startswith("XMRig/6.21.0")
    assert f.mining.shares_submitted == 8 and f.mining.shares_accepted == 8
    assert f.mining.hashrate is not None and f.mining.hashrate.algorithm == "RandomX"
    (g,) = _sessions(scan([Conversation("192.0.2.11", 41001, "203.0.113.6", 3333, STRATUM)]))
    assert g.mining is not None and g.mining.wallet is None
    assert g.mining.account == "slush" and g.mining.worker == "miner1" and g.mining.login == "slush.miner1"


@pytest.mark.parametrize("transcript", NOT_MINING)
def test_json_rpc_that_is_not_mining(scan, transcript) -> None:  # type: ignore[no-untyped-def]
    result = scan([Conversation("192.0.2.50", 52000, "198.51.100.50", 8545, transcript)])
    assert _sessions(result) == []


def test_dns_for_a_listed_pool_then_tls_to_it(scan) -> None:  # type: ignore[no-untyped-def]
    dns = Conversation("10.1.2.3", 53000, "10.0.0.53", 53, [
        (0, 0.0, dns_query("xmr.2miners.com")), (1, 0.01, dns_answer("xmr.2miners.com", "198.51.100.200"))],
        udp=True)
    tls = Conversation("10.1.2.3", 53001, "198.51.100.200", 12222, [
        (0, 1.0, client_hello("xmr.2miners.com")), (1, 1.1, b"\x16\x03\x03\x00\x05" + b"\x02" * 5),
        *[(0, 60.0 * i, b"\x17\x03\x03\x00\x40" + b"\x00" * 64) for i in range(2, 8)]])
    result = scan([dns, tls])
    kinds = {f.kind for f in result.findings}
    assert POOL_CONTACT in kinds and ENCRYPTED_MINING_SUSPECT in kinds
    (enc,) = [f for f in result.findings if f.kind == ENCRYPTED_MINING_SUSPECT]
    assert enc.subject_ip == "10.1.2.3" and enc.peer.host == "xmr.2miners.com"
    assert any(e.type == "list_match" and "2miners.com" in e.detail.get("entry", "") for e in enc.evidence)
    assert _sessions(result) == []


def test_tls_to_an_ordinary_site_is_not_suspect(scan) -> None:  # type: ignore[no-untyped-def]
    tls = Conversation("10.1.2.3", 53002, "198.51.100.201", 443, [
        (0, 0.0, client_hello("www.example.com")), (1, 0.1, b"\x16\x03\x03\x00\x05" + b"\x02" * 5)])
    assert scan([tls]).findings == []


def test_an_exchange_on_the_mixed_crypto_list_is_not_a_pool(scan) -> None:  # type: ignore[no-untyped-def]
    """binance.com is on the mixed crypto list and on the exchange list: trading (exchange_access), not mining."""
    dns = Conversation("10.1.2.4", 53010, "10.0.0.53", 53, [
        (0, 0.0, dns_query("www.binance.com")), (1, 0.01, dns_answer("www.binance.com", "198.51.100.210"))],
        udp=True)
    tls = Conversation("10.1.2.4", 53011, "198.51.100.210", 443, [
        (0, 1.0, client_hello("www.binance.com")), (1, 1.1, b"\x16\x03\x03\x00\x05" + b"\x02" * 5)])
    assert [(f.kind, f.subject_ip) for f in scan([dns, tls]).findings] == [("exchange_access", "10.1.2.4")]

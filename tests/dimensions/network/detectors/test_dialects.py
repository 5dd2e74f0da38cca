"""Mining behaviour the corpus does not show (issue 12): lone miner requests nobody answers, content read on
every port and through tunnels, captures that see only the pool's pushes, and today's dialects.

Every transcript is written from its protocol's documentation or the miner's own source (named at each),
with fresh addresses and ports; the negatives are the neighbours a detector must leave alone (node and
wallet RPC, Electrum, websockets, chat logins).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from helpers import Conversation, write_pcap
from minescope.dimensions.network.detectors.payload import FAILOVER_ATTEMPTS
from minescope.dimensions.network.kinds import MINING_SESSION
from minescope.model import Finding
from minescope.pipeline import Scanner, ScanOptions

XMR_WALLET = ("48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGzKt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZijBGUicoD")
ETH_WALLET = "0xb85150eb365e7df0941f0cf08235f987ba91506a"
MINER = "10.40.1.7"
POOL = "203.0.113.90"


def _line(text: str, **values: object) -> bytes:
    """One JSON line; ``<name>`` in the text is replaced by ``values[name]``."""
    for name, value in values.items():
        text = text.replace(f"<{name}>", str(value))
    return text.encode() + b"\n"


def _http_post(path: str, body: str, agent: str, host: str = "pool.example.net:8332",
               extra: str = "") -> bytes:
    data = body.encode()
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {agent}\r\nContent-Type: application/json\r\n"
            f"{extra}Content-Length: {len(data)}\r\n\r\n").encode() + data


def _http_ok(body: str) -> bytes:
    data = body.encode()
    return f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data


# --- lone miner requests (the pool never answers) ------------------------------------------------------
LONE = {
    # cgminer util.c initiate_stratum: mining.subscribe with PACKAGE/VERSION
    "cgminer subscribe": (_line('{"id": 0, "method": "mining.subscribe", "params": ["cgminer/4.12.1"]}'),
                          "mining.subscribe", "cgminer/4.12.1"),
    # bmminer, Bitmain's cgminer fork in Antminer firmware
    "antminer subscribe": (_line('{"id": 1, "method": "mining.subscribe", "params": ["bmminer/2.0.0"]}'),
                           "mining.subscribe", "bmminer/2.0.0"),
    # XMRig Client::login: login, pass, agent, algo list, rigid
    "xmrig login": (_line('{"id":1,"jsonrpc":"2.0","method":"login","params":{"login":"<wallet>","pass":"x",'
                          '"agent":"XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0",'
                          '"algo":["cn/1","cn/2","cn/r","rx/0","rx/wow","argon2/chukwav2"],"rigid":"rig7"}}',
                          wallet=XMR_WALLET), "login", "XMRig/6.21.0 (Linux x86_64) libuv/1.44.2 gcc/12.2.0"),
    # a CryptoNote login by a wallet only (xmr-stak sends no algo list)
    "wallet login": (_line('{"method":"login","params":{"login":"<wallet>","pass":"w1","agent":"xmr-stak/2.10.8/"},'
                           '"id":1}', wallet=XMR_WALLET), "login", "xmr-stak/2.10.8/"),
    # Claymore's CryptoNote miner (2017): a wallet login without any agent
    "claymore cryptonote login": (_line('{"method": "login", "params": {"login": "<wallet>", "pass": "x"}, "id": 1}',
                                        wallet=XMR_WALLET), "login", None),
    # ethminer's stratum mode authorizes right after subscribing: a worker named by its payout address
    "authorize by wallet": (_line('{"id": 2, "method": "mining.authorize", "params": ["<wallet>.rig3", "x"]}',
                                  wallet=ETH_WALLET), "mining.authorize", None),
    # Claymore/PhoenixMiner ethproxy
    "eth_submitLogin": (_line('{"worker": "eth1.0", "jsonrpc": "2.0", "params": ["<wallet>.rig1", "x"], "id": 2, '
                              '"method": "eth_submitLogin"}', wallet=ETH_WALLET), "eth_submitLogin", None),
    # EthereumStratum/2.0.0 (Lanfranchi et al. draft): mining.hello opens the session
    "ethereumstratum2 hello": (_line('{"id":0,"jsonrpc":"2.0","method":"mining.hello","params":{"agent":'
                                     '"ethminer-0.19.0","host":"eu1.pool.example","port":"115c",'
                                     '"proto":"EthereumStratum/2.0.0"}}'), "mining.hello", "ethminer-0.19.0"),
    # BIP 22/23: a block-template request names the miner's capabilities and rules
    "getblocktemplate": (_http_post("/", '{"id": 0, "method": "getblocktemplate", "params": [{"capabilities": '
                                    '["coinbasetxn", "workid", "coinbase/append"], "rules": ["segwit"]}]}',
                                    "bfgminer/5.5.0"), "getblocktemplate", "bfgminer/5.5.0"),
    # getwork from a miner (User-Agent and X-Mining-Extensions, Bitcoin wiki "Getwork")
    "getwork": (_http_post("/", '{"method": "getwork", "params": [], "id": 0}', "cpuminer/2.5.1",
                           extra="X-Mining-Extensions: midstate rollntime\r\n"), "getwork", "cpuminer/2.5.1"),
    # monerod's RPC documentation: get_block_template with the wallet the block pays
    "monerod get_block_template": (_http_post("/json_rpc", '{"jsonrpc":"2.0","id":"0","method":'
                                              '"get_block_template","params":{"wallet_address":"'
                                              + XMR_WALLET + '","reserve_size":60}}', "XMRig/6.21.0",
                                              host="127.0.0.1:18081"), "get_block_template", "XMRig/6.21.0"),
}

NOT_LONE = {
    # Bitcoin Core RPC documentation example (bitcoin-cli / curl)
    "bitcoind rpc": _http_post("/", '{"jsonrpc": "1.0", "id": "curltest", "method": "getblockchaininfo", '
                               '"params": []}', "curl/8.5.0"),
    # monero-wallet-rpc documentation: get_balance
    "wallet rpc": _http_post("/json_rpc", '{"jsonrpc":"2.0","id":"0","method":"get_balance","params":'
                             '{"account_index":0,"address_indices":[0,1]}}', "python-requests/2.31.0"),
    # Electrum protocol: server.version then a scripthash subscription
    "electrum": _line('{"jsonrpc": "2.0", "method": "server.version", "params": ["electrum/4.5.4", "1.4"], '
                      '"id": 0}')
    + _line('{"jsonrpc": "2.0", "method": "blockchain.scripthash.subscribe", '
            '"params": ["8b01df4e368ea28f8dc0423bcf7a4923e3a12d307c875e47a0cfbf90b5c39161"], "id": 1}'),
    # an Ethereum node: eth_subscribe (geth's websocket API, here as raw JSON-RPC)
    "eth node": _line('{"id": 1, "jsonrpc": "2.0", "method": "eth_subscribe", "params": ["newHeads"]}'),
    # a chat login with a user name and a client agent
    "chat login": _line('{"id":1,"method":"login","params":{"login":"alice","pass":"secret","agent":"MyChat/2.1"}}'),
    # an authorize by a user name, with no miner sign (a generic service that borrowed the method name)
    "authorize by name": _line('{"id": 2, "method": "mining.authorize", "params": ["alice", "secret"]}'),
    # a subscribe without any miner agent (a pub/sub service)
    "plain subscribe": _line('{"id": 1, "method": "mining.subscribe", "params": []}'),
    # a block-template request without capabilities from a monitoring script
    "monitor template": _http_post("/", '{"jsonrpc": "1.0", "id": "m", "method": "getblocktemplate", '
                                   '"params": []}', "python-requests/2.31.0"),
}


@pytest.fixture
def scan(tmp_path: Path):  # type: ignore[no-untyped-def]
    def run(convs: list[Conversation]) -> list[Finding]:
        path = write_pcap(tmp_path / "c.pcap", convs)
        result = Scanner(ScanOptions()).scan([path])
        assert result.problems == []
        return [f for f in result.findings if f.kind == MINING_SESSION]
    return run


@pytest.mark.parametrize("name", sorted(LONE))
def test_a_lone_miner_request_is_a_session(scan, name: str) -> None:  # type: ignore[no-untyped-def]
    request, method, agent = LONE[name]
    (f,) = scan([Conversation(MINER, 41234, POOL, 4444, [(0, 0.0, request)])])
    assert f.subject_ip == MINER and f.peer is not None and f.peer.ip == POOL
    assert f.confidence <= 0.85  # less sure than a session with work
    (said,) = [e for e in f.evidence if e.type == "miner_request"]
    assert said.detail["request"] == method and said.detail["pool_answered"] is False
    assert f.mining is not None and f.mining.agent == agent
    assert any("did not answer" in r.en and "未应答" in r.zh for r in f.reasons)


def test_a_pool_that_answers_with_an_error_is_still_a_session(scan) -> None:  # type: ignore[no-untyped-def]
    request = LONE["xmrig login"][0]
    refused = _line('{"id":1,"jsonrpc":"2.0","error":{"code":-1,"message":"Invalid payment address provided"}}')
    (f,) = scan([Conversation(MINER, 41235, POOL, 3333, [(0, 0.0, request), (1, 0.1, refused)])])
    (said,) = [e for e in f.evidence if e.type == "miner_request"]
    assert said.detail["pool_answered"] is True
    assert f.mining is not None and f.mining.wallet == XMR_WALLET


@pytest.mark.parametrize("name", sorted(NOT_LONE))
def test_neighbours_of_mining_stay_out(scan, name: str) -> None:  # type: ignore[no-untyped-def]
    assert scan([Conversation(MINER, 41236, POOL, 8332, [(0, 0.0, NOT_LONE[name])])]) == []


def test_a_failover_list_is_one_miner(scan) -> None:  # type: ignore[no-untyped-def]
    request = LONE["xmrig login"][0]
    dead = [Conversation(MINER, 42000 + i, f"198.51.100.{10 + i}", 3333, [(0, 30.0 * i, request)])
            for i in range(FAILOVER_ATTEMPTS)]
    found = scan(dead)
    assert len(found) == FAILOVER_ATTEMPTS
    for f in found:
        (said,) = [e for e in f.evidence if e.type == "failover"]
        assert said.detail["unanswered_attempts"] == FAILOVER_ATTEMPTS
        assert any("failover" in r.en and "备用矿池" in r.zh for r in f.reasons)
    # two dead pools are bad luck, not a list
    assert all(not [e for e in f.evidence if e.type == "failover"] for f in scan(dead[:FAILOVER_ATTEMPTS - 1]))


# --- content decides, on every port and through tunnels ---------------------------------------------------
SLUSH = [  # Slush Pool's Stratum v1 documentation, with a cgminer agent; answered, with work and shares
    (0, 0.0, _line('{"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.12.1"]}')),
    (1, 0.1, _line('{"id": 1, "result": [[["mining.set_difficulty", "b4b6693b72a50c7116db18d6497cac52"], '
                   '["mining.notify", "ae6812eb4cd7735a302a8a9dd95cf71f"]], "08000002", 4], "error": null}')),
    (0, 0.2, _line('{"id": 2, "method": "mining.authorize", "params": ["slush.miner1", "password"]}')),
    (1, 0.3, _line('{"error": null, "id": 2, "result": true}')),
    (1, 0.4, _line('{"params": [2], "id": null, "method": "mining.set_difficulty"}')),
    (1, 0.5, _line('{"params": ["bf", "4d16b6f85af6e2198f44ae2a6de67f78487ae5611b77c6c0440b921e00000000", '
                   '"01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff20020862062f'
                   '503253482f04b8864e5008", "072f736c7573682f000000000100f2052a010000001976a914d23fcdf86f7e756a64a'
                   '7a9688ef9903327048ed988ac00000000", [], "00000002", "1c2ac4af", "504e86b9", false], "id": null, '
                   '"method": "mining.notify"}')),
    *[(0, 10.0 + 20 * i, _line('{"params": ["slush.miner1", "bf", "0000000<i>", "504e86ed", "b2957c0<i>"], '
                               '"id": <id>, "method": "mining.submit"}', i=i, id=4 + i)) for i in range(4)],
    *[(1, 10.2 + 20 * i, _line('{"error": null, "id": <id>, "result": true}', id=4 + i)) for i in range(4)],
]


def _socks5(host: str, port: int) -> list[tuple[int, float, bytes]]:
    """RFC 1928: greeting (no auth), method choice, CONNECT by domain name, success reply."""
    name = host.encode()
    return [(0, -0.4, b"\x05\x01\x00"), (1, -0.35, b"\x05\x00"),
            (0, -0.3, b"\x05\x01\x00\x03" + bytes([len(name)]) + name + struct.pack("!H", port)),
            (1, -0.25, b"\x05\x00\x00\x01" + bytes([10, 0, 0, 1]) + struct.pack("!H", 40000))]


def _http_connect(host: str, port: int) -> list[tuple[int, float, bytes]]:
    """RFC 9110 CONNECT through a web proxy."""
    return [(0, -0.4, f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                      "Proxy-Connection: keep-alive\r\n\r\n".encode()),
            (1, -0.3, b"HTTP/1.1 200 Connection established\r\n\r\n")]


def _shifted(messages: list[tuple[int, float, bytes]], by: float) -> list[tuple[int, float, bytes]]:
    return [(side, t + by, data) for side, t, data in messages]


@pytest.mark.parametrize("port", [443, 80, 25, 53, 8080, 1])
def test_stratum_on_any_port(scan, port: int) -> None:  # type: ignore[no-untyped-def]
    (f,) = scan([Conversation(MINER, 41300, POOL, port, SLUSH)])
    assert f.subject_ip == MINER and f.peer is not None and f.peer.port == port
    assert f.mining is not None and f.mining.shares_accepted == 4


@pytest.mark.parametrize("tunnel", [_socks5, _http_connect])
def test_stratum_through_a_tunnel(scan, tunnel) -> None:  # type: ignore[no-untyped-def]
    messages = tunnel("stratum.pool.example", 3333) + _shifted(SLUSH, 0.5)
    (f,) = scan([Conversation(MINER, 41301, "192.0.2.80", 1080, messages)])
    assert f.subject_ip == MINER and f.mining is not None and f.mining.shares_accepted == 4
    # the peer is the proxy; the pool is where the tunnel goes
    assert f.peer is not None and f.peer.ip == "192.0.2.80" and f.peer.host == "stratum.pool.example"
    (through,) = [e for e in f.evidence if e.type == "tunnel"]
    assert through.detail["target"] == "stratum.pool.example:3333"
    assert any("stratum.pool.example:3333" in r.en and "代理" in r.zh for r in f.reasons)


@pytest.mark.parametrize("name", ["getblocktemplate", "monerod get_block_template", "getwork"])
@pytest.mark.parametrize("port", [80, 443, 18081, 29999])
def test_http_mining_rpc_on_any_port(scan, name: str, port: int) -> None:  # type: ignore[no-untyped-def]
    (f,) = scan([Conversation(MINER, 41302, POOL, port, [(0, 0.0, LONE[name][0])])])
    assert f.subject_ip == MINER and f.peer is not None and f.peer.port == port


def test_stratum_over_udp(scan) -> None:  # type: ignore[no-untyped-def]
    (f,) = scan([Conversation(MINER, 41303, POOL, 3333, SLUSH, udp=True)])
    assert f.subject_ip == MINER and f.mining is not None and f.mining.shares_submitted == 4


# --- captures that begin mid-session and see only the pool's pushes ---------------------------------------
CN_JOB = ('{"jsonrpc":"2.0","method":"job","params":{"blob":"0e0ea0e2d4a106' + "ab" * 69 + '","job_id":"j<i>",'
          '"target":"b88d0600","algo":"rx/0","height":3000000,"seed_hash":"' + "cd" * 32 + '"}}')
PUSHES = {
    "stratum notify": [(1, 0.0, _line('{"params": [8], "id": null, "method": "mining.set_difficulty"}')),
                       *[(1, 30.0 * i, SLUSH[5][2].replace(b'"bf"', f'"b{i}"'.encode())) for i in range(1, 4)]],
    "xmrig job": [(1, 60.0 * i, _line(CN_JOB, i=i)) for i in range(3)],
    "ethereumstratum notify": [
        (1, 15.0 * i, _line('{"id": null, "method": "mining.notify", "params": ["bf0488a<i>", "abad8f99f3918bf903c6a9'
                            '09d9bbc0fdfa5a2f4b9cb1196175ec825c6610126c", "645cf20198c2f3861e947d4f67e3ab63b7b2e24dcc'
                            '9095bd9123e7b33371f6cc", true]}', i=i)) for i in range(3)],
}


@pytest.mark.parametrize("name", sorted(PUSHES))
def test_only_the_pools_pushes_are_seen(scan, name: str) -> None:  # type: ignore[no-untyped-def]
    (f,) = scan([Conversation(MINER, 41400, POOL, 5555, PUSHES[name], handshake=False)])
    assert f.subject_ip == MINER and f.peer is not None and f.peer.ip == POOL
    assert f.mining is not None and not f.mining.login_seen


# --- today's dialects, answered ---------------------------------------------------------------------------
def _subscribed(agent: str) -> list[tuple[int, float, bytes]]:
    """A Stratum v1 session as GPU and ASIC miners open it today (agent in the subscribe)."""
    return [(0, 0.0, _line('{"id": 1, "method": "mining.subscribe", "params": ["<agent>", null]}', agent=agent)),
            *SLUSH[1:]]


DIALECTS = {
    **{agent: _subscribed(agent) for agent in (
        "T-Rex/0.26.8", "lolMiner 1.88", "NBMiner/42.3", "GMiner/3.44", "TeamRedMiner/0.10.21",
        "SRBMiner-MULTI/2.6.6", "cpuminer-opt/23.15", "bfgminer/5.5.0", "cgminer/4.12.1", "bmminer/2.0.0")},
    # BIP 310: mining.configure with version rolling (ASICs with AsicBoost), then the usual session
    "stratum extensions": [
        (0, 0.0, _line('{"method": "mining.configure", "id": 1, "params": [["minimum-difficulty", "version-rolling"],'
                       ' {"minimum-difficulty.value": 2048, "version-rolling.mask": "1fffe000", '
                       '"version-rolling.min-bit-count": 2}]}')),
        (1, 0.05, _line('{"error": null, "id": 1, "result": {"version-rolling": true, "version-rolling.mask": '
                        '"18000000", "minimum-difficulty": true}}')),
        (0, 0.06, _line('{"id": 2, "method": "mining.suggest_difficulty", "params": [1024]}')),
        (0, 0.07, _line('{"id": 3, "method": "mining.extranonce.subscribe", "params": []}')),
        (1, 0.08, _line('{"id": null, "method": "mining.set_version_mask", "params": ["18000000"]}')),
        (1, 0.09, _line('{"id": null, "method": "client.show_message", "params": ["welcome"]}')),
        *_shifted(_subscribed("bosminer/1.0"), 0.1),
        (1, 90.0, _line('{"id": null, "method": "client.reconnect", "params": ["stratum.pool.example", 3333, 0]}')),
    ],
    # EthereumStratum/2.0.0 (Lanfranchi et al. draft): hello, subscribe, authorize, set, notify, submit
    "ethereumstratum/2.0.0": [
        (0, 0.0, LONE["ethereumstratum2 hello"][0]),
        (1, 0.1, _line('{"id":0,"jsonrpc":"2.0","result":{"proto":"EthereumStratum/2.0.0","encoding":"plain",'
                       '"resume":"1","timeout":"b4","maxerrors":"5","node":"Geth/v1.9.0"}}')),
        (0, 0.2, _line('{"id":1,"jsonrpc":"2.0","method":"mining.subscribe","params":{"agent":"ethminer-0.19.0",'
                       '"host":"eu1.pool.example","port":4444,"session":null}}')),
        (1, 0.3, _line('{"id":1,"jsonrpc":"2.0","result":"s-12345"}')),
        (0, 0.4, _line('{"id":2,"jsonrpc":"2.0","method":"mining.authorize","params":["<w>.rig7","x"]}', w=ETH_WALLET)),
        (1, 0.5, _line('{"id":2,"jsonrpc":"2.0","result":"w-123"}')),
        (1, 0.6, _line('{"jsonrpc":"2.0","method":"mining.set","params":{"epoch":"dc","target":"0112e0be826d694b2e62d0'
                       '1511f12a6061fbaec8bc02357593e70e52ba","algo":"ethash","extranonce":"af4c"}}')),
        (1, 0.7, _line('{"jsonrpc":"2.0","method":"mining.notify","params":["bf0488aa","0x645cf20198c2f3861e947d4f67e3'
                       'ab63b7b2e24dcc9095bd9123e7b33371f6cc",false],"block":"0x64b577"}')),
        *[(0, 10.0 * (i + 1), _line('{"id":<id>,"jsonrpc":"2.0","method":"mining.submit","params":["bf0488aa",'
                                    '"0xa60b68765fccd71<i>","w-123"]}', id=31 + i, i=i)) for i in range(3)],
        *[(1, 10.0 * (i + 1) + 0.1, _line('{"id": <id>, "jsonrpc": "2.0"}', id=31 + i)) for i in range(3)],
    ],
    # XMRig 6 with nicehash and keepalive: the login answer names the extensions, keepalived every minute
    "xmrig nicehash": [
        (0, 0.0, LONE["xmrig login"][0]),
        (1, 0.2, _line('{"id":1,"jsonrpc":"2.0","error":null,"result":{"id":"a1b2","job":'
                       + CN_JOB[CN_JOB.index('{"blob"'):-1]
                       + ',"extensions":["algo","nicehash","connect","tls","keepalive"],"status":"OK"}}', i=0)),
        *[(0, 60.0 * (i + 1), _line('{"id":<id>,"jsonrpc":"2.0","method":"keepalived","params":{"id":"a1b2"}}',
                                    id=i + 2)) for i in range(3)],
        *[(1, 60.0 * (i + 1) + 0.1, _line('{"id":<id>,"jsonrpc":"2.0","error":null,"result":{"status":"KEEPALIVED"}}',
                                          id=i + 2)) for i in range(3)],
    ],
    # monerod's RPC documentation: get_block_template, its answer, submit_block (solo mining, XMRig daemon mode)
    "monerod solo": [
        (0, 0.0, LONE["monerod get_block_template"][0]),
        (1, 0.1, _http_ok('{"id":"0","jsonrpc":"2.0","result":{"blockhashing_blob":"0e0ed286da8006ecdc1aab3033cf1716c5'
                          '2f13f9d8ae0051615a2453643de94643b550d543becd0000000002abc78b0ee3f42e52db3591b3e01f6d3dd0b8'
                          'f5d7d23e3c6be2a3ea7b1c7c1d62a9fd0bd9c4ac9c0b4eb8d0c8d3d5e5f6b9bd","blocktemplate_blob":'
                          '"0e0ed286da8006ecdc1aab3033cf1716c52f13f9d8ae0051615a2453643de94643b550d543becd000000000'
                          '2abc78b0ee3f42e52db3591b3e01f6d3dd0b8f5d7d23e3c6be2a3ea7b1c7c1d62a9fd0bd9c4ac9c0b4eb8d0c8'
                          'd3d5e5f6b9bd02b1ff0c01ff00000000","difficulty":226807339040,"expected_reward":'
                          '1246421360000,"height":1761489,"prev_hash":"d286da8006ecdc1aab3033cf1716c52f13f9d8ae0051'
                          '615a2453643de94643b5","reserved_offset":129,"status":"OK","untrusted":false}}')),
        (0, 40.0, _http_post("/json_rpc", '{"jsonrpc":"2.0","id":"0","method":"submit_block","params":["0e0ed286da8006'
                             'ecdc1aab3033cf1716c52f13f9d8ae0051615a2453643de94643b550d543becd0000000002abc78b0ee3f42e'
                             '52db3591b3e01f6d3dd0b8f5d7d23e3c6be2a3ea7b1c7c1d62a9fd0bd9c4ac9c0b4eb8d0c8d3d5e5f6b9bd02b'
                             '1ff0c01ff00000000"]}', "XMRig/6.21.0", host="127.0.0.1:18081")),
    ],
}


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_todays_dialects(scan, name: str) -> None:  # type: ignore[no-untyped-def]
    (f,) = scan([Conversation(MINER, 41500, POOL, 4444, DIALECTS[name])])
    assert f.subject_ip == MINER and f.mining is not None
    assert f.mining.login_seen or f.mining.shares_submitted
    assert f.mining.shares_accepted == f.mining.shares_submitted or name == "monerod solo"
    assert f.confidence >= 0.95
    assert not [e for e in f.evidence if e.type == "miner_request"]  # work came: not a lone request


def test_solo_mining_over_http_is_one_session_per_miner_and_node(scan) -> None:  # type: ignore[no-untyped-def]
    """XMRig's daemon mode opens a connection per request (template, polls, block submission): one finding holds
    them all, with the template's wallet and every connection; another miner of the same node keeps its own."""
    solo = DIALECTS["monerod solo"]
    template, answer, submit = solo[0], solo[1], solo[2]
    convs = [Conversation(MINER, 41600, POOL, 18081, [template, answer]),
             *[Conversation(MINER, 41601 + i, POOL, 18081, [(0, 5.0 + i, template[2]), (1, 5.1 + i, answer[2])])
               for i in range(3)],
             Conversation(MINER, 41610, POOL, 18081, [(0, 40.0, submit[2])]),
             Conversation("10.40.1.8", 41700, POOL, 18081, [template, answer])]
    found = {f.subject_ip: f for f in scan(convs)}
    assert set(found) == {MINER, "10.40.1.8"}
    f = found[MINER]
    assert len(f.flows) == 5 and [r.src_port for r in f.flows] == [41600, 41601, 41602, 41603, 41610]
    assert f.mining is not None and f.mining.wallet == XMR_WALLET and f.mining.coin == "Monero"
    assert f.mining.methods.get("get_block_template") == 4 and f.mining.shares_submitted >= 1
    assert any(e.type == "behaviour" and e.detail == {"connections": 5} for e in f.evidence)
    assert any("5 HTTP requests" in r.en and "合并为一个会话" in r.zh for r in f.reasons)
    assert len(found["10.40.1.8"].flows) == 1

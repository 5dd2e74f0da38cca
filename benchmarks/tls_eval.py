"""Encrypted-mining evaluation: real XMRig TLS sessions against benign long-lived TLS, through ``minescope scan``.

    python benchmarks/tls_eval.py [--out DIR] [--reuse] [--seconds 90]

Records, each inside a network namespace of its own (``unshare --net --mount``: only ``lo``, nothing leaves
the machine; a private /etc/hosts for the names), captures of:

mining  XMRig 6.16.0 (benchmarks/real_miner.py's binary) with ``tls: true``, one CPU thread, against a
        CryptoNote pool over TLS written here that behaves like a real one: a share difficulty of a share
        every few seconds, jobs pushed at random every 10–40 s; to an address on 443, to a name on 9000
        (SNI), to an address on 14433 (Nanopool's TLS port). Plus every TLS configuration of
        benchmarks/real_miner.py (``tls_443``, ``tls_9000``: short sessions, a few shares a second).
benign  Chromium (Playwright, Debian's chromium) holding a WebSocket open to a wss server on an address
        and on a name: JSON heartbeats every 4 s answered by an acknowledgement, server pings, pushed
        notifications, chat messages at random; Chromium polling a JSON API every 2 s; an MQTT-like client
        (Python) with PINGREQ and QoS-1 publishes over TLS 1.3 and over TLS 1.2 with a CBC suite; a Node.js
        JSON-RPC client with heartbeats and pushed notices; ``openssl s_client`` idle; curl streaming a
        rate-limited download.

Then scans every capture, and the benign TLS captures of the corpus (``../shared/corpus/pcap/benign``), with
``minescope.pipeline.Scanner`` and counts, per source: TLS mining sessions reported as
``encrypted_mining_suspect`` out of all (a session: a TLS flow from XMRig to its pool), and benign TLS flows
so reported out of all TLS flows. Writes benchmarks/results/tls_eval.json with machine facts and each
reported session's score; prints the table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import RESULTS, ROOT, BenchError, fail, machine_info
from real_miner import stop_process  # one way to stop what a recording started

sys.path.insert(0, str(ROOT / "src"))

POOL = "127.0.0.2"
POOL_NAME = "pool.example.net"
APP_NAME = "app.example.test"
CORPUS_BENIGN = ROOT.parent / "shared" / "corpus" / "pcap" / "benign"
WALLET = "48edfHu7V9Z84YzzMa6fUueoELZ9ZRXq9VetWzYGzKt52XU5xvqgzYnDK9URnRoJMk1j8nLwEVsaSWJ4fhdUyZijBGUicoD"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DIFFICULTY = 2000  # cn-pico on one thread (a few hundred H/s here): a share every few seconds, as vardiff aims

# scenario → (mining?, what it records)
SCENARIOS: dict[str, tuple[bool, str]] = {
    "xmrig_tls_ip_443": (True, "XMRig --tls to an address on 443 (no SNI)"),
    "xmrig_tls_name_9000": (True, f"XMRig --tls to {POOL_NAME}:9000 (a name: SNI)"),
    "xmrig_tls_ip_14433": (True, "XMRig --tls to an address on 14433 (a stratum TLS port)"),
    "chromium_wss_ip": (False, "Chromium WebSocket to an address: heartbeats + acks, pings, pushes, chat"),
    "chromium_wss_name": (False, f"Chromium WebSocket to {APP_NAME}: 200-byte heartbeats every 4 s with acks, "
                                 "pings, pushes"),
    "chromium_polling": (False, "Chromium polling a JSON API every 2 s (HTTP/1.1 keep-alive)"),
    "mqtt_tls13": (False, "MQTT-like client (Python): PINGREQ every 5 s, QoS-1 publishes, pushed messages"),
    "mqtt_tls12_cbc": (False, "the same over TLS 1.2 with AES128-SHA256 (larger acknowledgements)"),
    "node_jsonrpc": (False, "Node.js JSON-RPC client to an address: a 200-byte ping every 5 s answered, pushed "
                            "notices"),
    "openssl_idle": (False, "openssl s_client connected and idle"),
    "curl_stream": (False, "curl downloading at 40 kB/s"),
}
REAL_MINER_TLS = ("tls_443", "tls_9000")  # benchmarks/real_miner.py's TLS configurations


# --- inside the namespace --------------------------------------------------------------------------------

def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, 0x8913, request))[1]
        fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", flags | 1))
    names = sorted(name for _, name in socket.if_nameindex())
    if names != ["lo"]:
        raise BenchError(f"the network namespace has interfaces {names}, expected only lo")


def _private_hosts(folder: Path) -> None:
    """Names for this namespace only: /etc/hosts is bind-mounted over in its own mount namespace."""
    hosts = folder / "hosts"
    hosts.write_text(f"127.0.0.1 localhost\n{POOL} {POOL_NAME}\n{POOL} {APP_NAME}\n")
    subprocess.run(["mount", "--bind", str(hosts), "/etc/hosts"], check=True, capture_output=True, timeout=10)


def _certificate(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / "server.crt", folder / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName=DNS:{name},IP:{POOL}"], check=True, capture_output=True, timeout=30)
    return cert, key


def _context(cert: Path, key: Path, tls12_cbc: bool = False) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    if tls12_cbc:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers("ECDHE-ECDSA-AES128-SHA256")
    return context


def _line_server(handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]) -> Any:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
    return serve


# The pool: CryptoNote (XMRig) JSON-RPC, with random job pushes as a real pool's new blocks make them.
async def _pool(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    jobs = 0
    pusher: asyncio.Task[None] | None = None

    def job() -> dict[str, Any]:
        nonlocal jobs
        jobs += 1
        blob = "1010" + hashlib.sha256(f"prev{jobs}".encode()).hexdigest() + "00000000" \
            + hashlib.sha256(f"root{jobs}".encode()).hexdigest()[:74]
        return {"blob": blob, "job_id": f"{jobs:08x}", "algo": "cn-pico", "height": 3_100_000 + jobs,
                "target": (0xFFFFFFFF // DIFFICULTY).to_bytes(4, "little").hex()}

    async def send(message: dict[str, Any]) -> None:
        writer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        await writer.drain()

    async def push() -> None:
        while True:
            await asyncio.sleep(random.uniform(10, 40))
            await send({"jsonrpc": "2.0", "method": "job", "params": job() | {"id": "c0ffee00deadbeef"}})

    try:
        while line := await reader.readline():
            message = json.loads(line)
            method, rid = message.get("method"), message.get("id")
            if method == "login":
                await send({"id": rid, "jsonrpc": "2.0", "error": None, "result": {
                    "id": "c0ffee00deadbeef", "job": job(), "extensions": ["algo", "keepalive"], "status": "OK"}})
                pusher = pusher or asyncio.create_task(push())
            elif method == "submit":
                await send({"id": rid, "jsonrpc": "2.0", "error": None, "result": {"status": "OK"}})
            elif method == "keepalived":
                await send({"id": rid, "jsonrpc": "2.0", "error": None, "result": {"status": "KEEPALIVED"}})
    finally:
        if pusher is not None:
            pusher.cancel()


async def _xmrig(url: str, seconds: float, folder: Path) -> None:
    from real_miner import XMRIG

    config = {"autosave": False, "background": False, "colors": False, "donate-level": 1, "print-time": 0,
              "health-print-time": 0, "http": {"enabled": False}, "log-file": str(folder / "xmrig.log"),
              "cpu": {"enabled": True, "huge-pages": False, "huge-pages-jit": False, "yield": True},
              "randomx": {"mode": "light", "rdmsr": False, "wrmsr": False}, "opencl": False, "cuda": False,
              "pools": [{"url": url, "user": WALLET, "pass": "x", "tls": True, "keepalive": True}]}
    (folder / "xmrig.json").write_text(json.dumps(config))
    miner = await asyncio.create_subprocess_exec(
        str(XMRIG), "-c", str(folder / "xmrig.json"), "--threads=1", "--no-huge-pages", "--randomx-wrmsr=-1",
        "--randomx-no-rdmsr", "--no-color", stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.sleep(seconds)
    finally:
        await stop_process(miner)


# WebSocket and HTTP for Chromium, written out here (no library): RFC 6455 frames, HTTP/1.1 keep-alive.
PAGE = """<!doctype html><title>app</title><script>
const mode = new URLSearchParams(location.search).get("mode");
if (mode === "poll") {
  setInterval(() => fetch("/api/poll").then(r => r.json()), 2000);
} else {
  const ws = new WebSocket("wss://" + location.host + "/ws");
  let seq = 0;
  ws.onopen = () => {
    setInterval(() => ws.send(JSON.stringify({type: "heartbeat", ts: Date.now(), session: "5f2c1e9a7b3d4c60",
      seq: seq++, page: location.pathname, visible: document.visibilityState, agent: navigator.userAgent})), 4000);
    if (mode === "chat") {
      const chat = () => setTimeout(() => { ws.send(JSON.stringify({type: "message", room: "general",
        text: "x".repeat(10 + Math.floor(Math.random() * 300))})); chat(); }, 3000 + Math.random() * 12000);
      chat();
    }
  };
  ws.onmessage = () => {};
}
</script>"""


def _ws_frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    head = bytes([0x80 | opcode]) + (bytes([n]) if n < 126 else b"\x7e" + struct.pack("!H", n))
    return head + payload


async def _ws_read(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    b0, b1 = await reader.readexactly(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
    data = await reader.readexactly(n)
    return b0 & 0x0F, bytes(c ^ mask[i % 4] for i, c in enumerate(data))


async def _web(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        request, *lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines if x)}
        path = request.split(" ")[1]
        if path.startswith("/ws"):
            accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"]
                                                    + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            await writer.drain()
            await _websocket(reader, writer)
            return
        if path.startswith("/big"):
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 1000000000"
                         b"\r\n\r\n")
            while True:
                writer.write(os.urandom(65536))
                await writer.drain()
        body = PAGE.encode() if path == "/" or path.startswith("/?") else json.dumps(
            {"status": "ok", "unread": random.randint(0, 9), "server_time": time.time(),
             "items": [{"id": i, "title": "notice"} for i in range(random.randint(0, 3))]}).encode()
        kind = b"text/html" if body.startswith(b"<!") else b"application/json"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: " + kind + b"\r\nCache-Control: no-store\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        await writer.drain()


async def _websocket(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    async def pings() -> None:
        while True:
            await asyncio.sleep(10)
            writer.write(_ws_frame(0x9, b"ka"))
            await writer.drain()

    async def pushes() -> None:
        n = 0
        while True:
            await asyncio.sleep(random.uniform(3, 20))
            n += 1
            note = {"type": "notification", "id": n, "body": "y" * random.randint(150, 700)}
            writer.write(_ws_frame(0x1, json.dumps(note).encode()))
            await writer.drain()

    tasks = [asyncio.create_task(pings()), asyncio.create_task(pushes())]
    try:
        while True:
            opcode, data = await _ws_read(reader)
            if opcode == 0x8:
                return
            if opcode == 0x1:
                message = json.loads(data)
                ack = {"type": "ack", "seq": message.get("seq", 0), "ok": True}
                writer.write(_ws_frame(0x1, json.dumps(ack).encode()))
                await writer.drain()
    finally:
        for task in tasks:
            task.cancel()


async def _chromium(url: str, seconds: float, folder: Path) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            *CHROMIUM_ARGS, f"--host-resolver-rules=MAP {APP_NAME} {POOL}"])
        try:
            context = await browser.new_context(ignore_https_errors=True)
            page = await context.new_page()
            await page.goto(url)
            await asyncio.sleep(seconds)
        finally:
            await browser.close()


# An MQTT-like broker and client: CONNECT/CONNACK, PINGREQ (0xC0 0x00) / PINGRESP, PUBLISH QoS 1 / PUBACK.
async def _broker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    async def pushes() -> None:
        n = 0
        while True:
            await asyncio.sleep(random.uniform(5, 30))
            n += 1
            topic, body = b"alerts/site-7", json.dumps({"alert": n, "text": "z" * random.randint(50, 400)}).encode()
            packet = struct.pack("!H", len(topic)) + topic + body
            writer.write(bytes([0x30, len(packet)]) if len(packet) < 128 else bytes([0x30]) + _mqtt_len(len(packet)))
            writer.write(packet)
            await writer.drain()

    task = asyncio.create_task(pushes())
    try:
        while True:
            first = (await reader.readexactly(1))[0]
            length = await _mqtt_read_len(reader)
            body = await reader.readexactly(length)
            kind = first >> 4
            if kind == 1:
                writer.write(b"\x20\x02\x00\x00")
            elif kind == 12:
                writer.write(b"\xd0\x00")
            elif kind == 3 and first & 0x06:
                topic_len = struct.unpack("!H", body[:2])[0]
                writer.write(b"\x40\x02" + body[2 + topic_len: 4 + topic_len])
            await writer.drain()
    finally:
        task.cancel()


def _mqtt_len(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


async def _mqtt_read_len(reader: asyncio.StreamReader) -> int:
    n, shift = 0, 0
    while True:
        b = (await reader.readexactly(1))[0]
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n


async def _mqtt_client(port: int, seconds: float) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(POOL, port, ssl=context)
    connect = b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack("!H", 9) + b"sensor-07"
    writer.write(bytes([0x10, len(connect)]) + connect)

    async def drain_in() -> None:
        while await reader.read(4096):
            pass

    reading = asyncio.create_task(drain_in())
    end = time.monotonic() + seconds
    mid, last_ping = 0, time.monotonic()
    try:
        while time.monotonic() < end:
            await asyncio.sleep(7)
            mid += 1
            topic = b"telemetry/sensor-07"
            body = json.dumps({"t": round(time.time(), 3), "temp": 21.5, "rh": 40.1, "v": 3.31, "seq": mid}).encode()
            packet = struct.pack("!H", len(topic)) + topic + struct.pack("!H", mid) + body
            writer.write(bytes([0x32]) + _mqtt_len(len(packet)) + packet)
            if time.monotonic() - last_ping >= 5:
                writer.write(b"\xc0\x00")
                last_ping = time.monotonic()
            await writer.drain()
    finally:
        reading.cancel()
        writer.close()


NODE_CLIENT = """
const tls = require('tls');
const s = tls.connect({host: process.argv[1], port: +process.argv[2], rejectUnauthorized: false}, () => {
  let id = 0;
  setInterval(() => s.write(JSON.stringify({jsonrpc: '2.0', id: ++id, method: 'status.ping',
    params: {client: 'agent/2.3.1', host: 'build-runner-07', uptime: id * 5, load: [0.42, 0.38, 0.35],
             session: '6a1f0c33b2d94e7e8f51'}}) + '\\n'), 5000);
});
s.on('data', () => {});
setTimeout(() => process.exit(0), +process.argv[3] * 1000);
"""


async def _rpc(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    async def notices() -> None:
        while True:
            await asyncio.sleep(random.uniform(5, 25))
            writer.write(json.dumps({"jsonrpc": "2.0", "method": "event", "params": {
                "kind": "update", "data": "w" * random.randint(100, 600)}}).encode() + b"\n")
            await writer.drain()

    task = asyncio.create_task(notices())
    try:
        while line := await reader.readline():
            message = json.loads(line)
            writer.write(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": "pong"}).encode() + b"\n")
            await writer.drain()
    finally:
        task.cancel()


async def _command(args: list[str], seconds: float, stdin_open: bool = False) -> None:
    process = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.PIPE if stdin_open else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.wait_for(process.wait(), seconds)
    except TimeoutError:
        pass
    finally:
        await stop_process(process)


async def _scenario(name: str, seconds: float, folder: Path) -> None:
    cert, key = _certificate(folder, APP_NAME if name.startswith("chromium") else POOL_NAME)
    servers: list[asyncio.Server] = []

    async def serve(handler: Any, port: int, context: ssl.SSLContext | None = None) -> None:
        servers.append(await asyncio.start_server(_line_server(handler), POOL, port,
                                                  ssl=context or _context(cert, key)))
    try:
        if name.startswith("xmrig_tls"):
            port = int(name.rsplit("_", 1)[1])
            await serve(_pool, port)
            host = POOL_NAME if "_name_" in name else POOL
            await _xmrig(f"{host}:{port}", seconds, folder)
        elif name.startswith("chromium"):
            await serve(_web, 8443)
            host, mode = {"chromium_wss_ip": (POOL, "chat"), "chromium_wss_name": (APP_NAME, "heartbeat"),
                          "chromium_polling": (APP_NAME, "poll")}[name]
            await _chromium(f"https://{host}:8443/?mode={mode}", seconds, folder)
        elif name.startswith("mqtt"):
            await serve(_broker, 8883, _context(cert, key, tls12_cbc=name.endswith("cbc")))
            await _mqtt_client(8883, seconds)
        elif name == "node_jsonrpc":
            await serve(_rpc, 9443)
            await _command(["node", "-e", NODE_CLIENT, POOL, "9443", str(int(seconds))], seconds + 5)
        elif name == "openssl_idle":
            await serve(_rpc, 4433)
            await _command(["openssl", "s_client", "-connect", f"{POOL}:4433", "-quiet"], seconds, stdin_open=True)
        elif name == "curl_stream":
            await serve(_web, 8443)
            await _command(["curl", "-sk", "--limit-rate", "40k", "-o", "/dev/null", f"https://{POOL}:8443/big"],
                           seconds)
        await asyncio.sleep(0.5)
    finally:
        for server in servers:
            server.close()


async def _inside(name: str, pcap: Path, seconds: float) -> None:
    _loopback_up()
    with tempfile.TemporaryDirectory(prefix="tls-eval-") as tmp:
        folder = Path(tmp)
        os.chmod(folder, 0o755)
        _private_hosts(folder)
        capture_file = folder / "capture.pcap"
        capture = await asyncio.create_subprocess_exec(
            "dumpcap", "-q", "-i", "lo", "-P", "-w", str(capture_file),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while not (capture_file.exists() and capture_file.stat().st_size >= 24):
                if capture.returncode is not None or time.monotonic() > deadline:
                    raise BenchError("the capture did not start (dumpcap, from Debian's wireshark-common)")
                await asyncio.sleep(0.05)
            await _scenario(name, seconds, folder)
        finally:
            await stop_process(capture, signal.SIGINT)
        shutil.copyfile(capture_file, pcap)


def record(name: str, out_dir: Path, seconds: float) -> Path:
    """One scenario's capture, made in a network and mount namespace of its own."""
    for tool in ("unshare", "openssl", "dumpcap", "mount"):
        if shutil.which(tool) is None:
            raise BenchError(f"the {tool} command is missing (util-linux, openssl, wireshark-common)")
    pcap = (out_dir / f"{name}.pcap").resolve()
    command = ["unshare", "--net", "--mount", "--fork", "--kill-child", "--", sys.executable,
               str(Path(__file__).resolve()), "--inside", name, str(pcap), "--seconds", str(seconds)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        _, err = process.communicate(timeout=seconds + 90)
    except subprocess.TimeoutExpired as e:
        raise BenchError(f"{name}: the recording did not end within {seconds + 90:.0f} s") from e
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if process.returncode != 0 or not pcap.exists():
        lines = err.decode(errors="replace").strip().splitlines()
        raise BenchError(f"{name}: the recording failed: {lines[-1] if lines else process.returncode}")
    return pcap


# --- evaluation --------------------------------------------------------------------------------------------

def evaluate(pcap: Path, mining: bool) -> dict[str, Any]:
    """TLS flows of one capture and which of them minescope reports as encrypted_mining_suspect."""
    from minescope.dimensions.network.capture.flows import FlowTracker
    from minescope.dimensions.network.readers.capture_flows import flows_from_capture, tls_from_capture
    from minescope.dimensions.network.readers.pcap import CaptureFile
    from minescope.pipeline import Scanner, ScanOptions

    tracker = FlowTracker(3600.0, lambda name: False)
    for block in CaptureFile(pcap).blocks():
        tracker.feed(block)
    table = tracker.finish()
    flows = flows_from_capture(table, tracker.payload, pcap.name)
    tls = tls_from_capture(table, tracker.payload, pcap.name)
    rows = [r for r in flows.to_pylist() if r["app"] == "tls"]
    endpoints = {(r["src_ip"], r["dst_ip"], r["dst_port"]) for r in rows}
    # a mining session: XMRig's TLS connection to its pool (every TLS flow of a mining capture is one)
    result = Scanner(ScanOptions(behaviour=False)).scan([pcap])
    reported: dict[tuple[str, str, int], dict[str, Any]] = {}
    for f in result.findings:
        if f.kind != "encrypted_mining_suspect" or f.peer is None:
            continue
        score = next((e.detail.get("score") for e in f.evidence if e.source == "detectors.encrypted"), None)
        parts = next((e.detail.get("features") for e in f.evidence if e.source == "detectors.encrypted"), {})
        reported[(f.subject_ip or "", f.peer.ip, f.peer.port)] = {
            "confidence": f.confidence, "score": score, "features": sorted(parts or {})}
    flagged = sum(1 for r in rows if (r["src_ip"], r["dst_ip"], r["dst_port"]) in reported)
    return {"capture": pcap.name, "mining": mining, "tls_flows": len(rows), "endpoints": len(endpoints),
            "flagged_flows": flagged, "reported": [{"endpoint": list(k), **v} for k, v in sorted(reported.items())],
            "candidates": _candidate_scores(flows, tls)}


def _candidate_scores(flows: Any, tls: Any) -> list[dict[str, Any]]:
    """Every scored connection (a sign of mining traffic), reported or not: how near the threshold it came."""
    from minescope.dimensions.network.detectors.encrypted import MIN_EXCHANGES, score_connection

    if tls is None:
        return []
    by_uid = {r["sensor_uid"]: r for r in flows.to_pylist()}
    out = []
    for t in tls.to_pylist():
        if (t["exchanges"] or 0) < MIN_EXCHANGES and not t["handshake"]:
            continue
        r = by_uid[t["sensor_uid"]]
        start = r["ts"].timestamp()
        parts = score_connection(t | {"server_name": r["server_name"], "peer_port": r["dst_port"], "t_start": start,
                                      "t_end": start + (r["duration_s"] or 0.0), "bytes_fwd": r["src_bytes"],
                                      "bytes_rev": r["dst_bytes"]})
        out.append({"endpoint": [r["src_ip"], r["dst_ip"], r["dst_port"]],
                    "score": round(sum(p.weight for p in parts), 2), "features": [p.feature for p in parts]})
    return sorted(out, key=lambda c: -c["score"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "work" / "tls_eval")
    parser.add_argument("--reuse", action="store_true", help="scan the captures already in --out")
    parser.add_argument("--seconds", type=float, default=90.0, help="length of each recording of this script")
    parser.add_argument("--only", nargs="*", help="scenarios to record (default: all)")
    parser.add_argument("--inside", help=argparse.SUPPRESS)
    parser.add_argument("pcap", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        if args.inside:
            asyncio.run(_inside(args.inside, args.pcap, args.seconds))
            return
        args.out.mkdir(parents=True, exist_ok=True)
        if not args.reuse:
            from real_miner import record as record_real

            for config in REAL_MINER_TLS:
                record_real(config, args.out / "real_miner")
            for name in args.only or list(SCENARIOS):
                print(f"recording {name} ({args.seconds:.0f} s)", file=sys.stderr)
                record(name, args.out, args.seconds)
        rows = []
        for name, (mining, what) in SCENARIOS.items():
            if (args.out / f"{name}.pcap").exists():
                rows.append(evaluate(args.out / f"{name}.pcap", mining) | {"source": "recorded here", "what": what})
        for config in REAL_MINER_TLS:
            path = args.out / "real_miner" / f"{config}.pcap"
            if path.exists():
                rows.append(evaluate(path, True) | {"source": "benchmarks/real_miner.py", "what": config})
        for path in sorted(CORPUS_BENIGN.glob("*.pcap*")):
            row = evaluate(path, False)
            if row["tls_flows"]:
                rows.append(row | {"source": "corpus (benign)", "what": path.name})
    except BenchError as e:
        fail(str(e))
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"machine": machine_info(), "seconds": args.seconds, "captures": rows}
    (RESULTS / "tls_eval.json").write_text(json.dumps(out, indent=1, default=str))
    print("| capture | source | TLS flows | reported | scores (reported) | best score not reported |")
    print("|---|---|---:|---:|---|---|")
    for r in rows:
        scores = ", ".join(f"{x['score']}" for x in r["reported"])
        below = [c["score"] for c in r["candidates"] if c["score"] < 1.0]
        print(f"| {r['capture']} | {r['source']} | {r['tls_flows']} | {r['flagged_flows']} | {scores} | "
              f"{max(below) if below else ''} |")
    mined = [r for r in rows if r["mining"]]
    benign = [r for r in rows if not r["mining"]]
    print(f"mining TLS sessions reported: {sum(r['flagged_flows'] for r in mined)} / "
          f"{sum(r['tls_flows'] for r in mined)}; benign TLS flows reported: "
          f"{sum(r['flagged_flows'] for r in benign)} / {sum(r['tls_flows'] for r in benign)}")


if __name__ == "__main__":
    main()

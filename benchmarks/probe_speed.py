"""Probe speed: endpoints per second that ``minescope probe``'s prober gets through on loopback.

    python benchmarks/probe_speed.py [--endpoints 200] [--concurrency 64] [--timeout 1]

Starts, in this process and on 127.0.0.1 only, small servers of five kinds: a Stratum v1 pool, an
XMRig-style pool (it answers ``login`` and says nothing to other methods, as many Monero pools do), the
Stratum pool behind TLS (a self-signed certificate made with the openssl command), an HTTP server, and
ports nothing listens on. Then probes --endpoints endpoints of each kind, and a mix of all five, with
the rate limit lifted (the command's --rate caps what is measured here), and reports endpoints per second
and connections per endpoint. Writes benchmarks/results/probe_speed.json with machine facts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import RESULTS, BenchError, fail, machine_info

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from minescope.dimensions.network.probe import Endpoint, Limits, Prober

LOOPBACK = "127.0.0.1"
SERVERS_PER_KIND = 8


def stratum_pool_answers(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A Stratum v1 pool's answers to a miner's message (the probe tests use them too)."""
    if message.get("method") == "mining.subscribe":
        return [{"id": message["id"], "result": [[["mining.set_difficulty", "1"], ["mining.notify", "1"]],
                                                 "08000002", 4], "error": None}]
    if message.get("method") == "mining.authorize":
        return [{"id": message["id"], "result": True, "error": None},
                {"id": None, "method": "mining.set_difficulty", "params": [1024]},
                {"id": None, "method": "mining.notify", "params": ["1", "00" * 32, "01", "02", [], "20000000",
                                                                   "1d00ffff", "5f5e1000", True]}]
    return []


def xmrig_pool_answers(message: dict[str, Any]) -> list[dict[str, Any]]:
    """A Monero pool's answer to XMRig's login: a job. Like such a pool, nothing to other dialects' methods."""
    if message.get("method") == "login":
        job = {"blob": "0" * 152, "job_id": "1", "target": "b88d0600", "algo": "rx/0", "height": 1,
               "seed_hash": "0" * 64}
        return [{"id": message["id"], "jsonrpc": "2.0", "error": None,
                 "result": {"id": "1", "job": job, "status": "OK"}}]
    return []


def _json_server(answer: Any) -> Any:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
            writer.close()
    return serve


async def _http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1024)
    writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    await writer.drain()
    writer.close()


def _certificate(folder: Path) -> ssl.SSLContext:
    if shutil.which("openssl") is None:
        raise BenchError("the openssl command is missing (it makes the TLS pool's certificate); "
                         "apt-get install openssl")
    cert, key = folder / "pool.crt", folder / "pool.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=pool.test"],
                   check=True, capture_output=True, timeout=30)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def _free_ports(n: int) -> list[int]:
    ports = []
    for _ in range(n):
        with socket.socket() as s:
            s.bind((LOOPBACK, 0))
            ports.append(s.getsockname()[1])
    return ports


async def measure(endpoints: int, concurrency: int, timeout: float, tls: ssl.SSLContext) -> dict[str, Any]:
    servers: list[asyncio.base_events.Server] = []
    ports: dict[str, list[int]] = {"dead": _free_ports(SERVERS_PER_KIND)}
    for kind, handler, context in (("stratum", _json_server(stratum_pool_answers), None),
                                   ("xmrig", _json_server(xmrig_pool_answers), None),
                                   ("tls", _json_server(stratum_pool_answers), tls), ("http", _http, None)):
        for _ in range(SERVERS_PER_KIND):
            server = await asyncio.start_server(handler, LOOPBACK, 0, ssl=context, backlog=1024)
            servers.append(server)
            ports.setdefault(kind, []).append(server.sockets[0].getsockname()[1])
    out: dict[str, Any] = {}
    try:
        runs = {kind: [Endpoint(LOOPBACK, p[i % len(p)]) for i in range(endpoints)] for kind, p in ports.items()}
        runs["mix"] = [Endpoint(LOOPBACK, ports[k][i % SERVERS_PER_KIND]) for i in range(endpoints)
                       for k in [("stratum", "xmrig", "tls", "http", "dead")[i % 5]]]
        for kind, targets in runs.items():
            prober = Prober(Limits(rate=1e9, concurrency=concurrency, budget=len(targets), timeout=timeout,
                                   allow_private=True))
            started = time.perf_counter()
            results = await prober.probe_all(targets)
            seconds = time.perf_counter() - started
            verdicts: dict[str, int] = {}
            for r in results:
                verdicts[r.verdict] = verdicts.get(r.verdict, 0) + 1
            out[kind] = {"endpoints": len(targets), "seconds": round(seconds, 3),
                         "endpoints_per_second": round(len(targets) / seconds, 1),
                         "connections_per_endpoint": round(prober.connections / len(targets), 2),
                         "verdicts": verdicts}
            print(f"{kind:<8} {len(targets):>5} endpoints  {seconds:7.2f} s  {len(targets) / seconds:8.1f} /s  "
                  f"{prober.connections / len(targets):.1f} connections each  {verdicts}")
    finally:
        for server in servers:
            server.close()
            await server.wait_closed()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=int, default=200, help="endpoints of each kind")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--timeout", type=float, default=1.0, help="seconds for a connection and for an answer")
    args = parser.parse_args()
    try:
        with tempfile.TemporaryDirectory() as folder:
            tls = _certificate(Path(folder))
            results = asyncio.run(measure(args.endpoints, args.concurrency, args.timeout, tls))
    except BenchError as e:
        fail(str(e))
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {"benchmark": "probe_speed", "concurrency": args.concurrency, "timeout": args.timeout,
              "rate_limit": "lifted", "servers_per_kind": SERVERS_PER_KIND, "results": results,
              "machine": machine_info()}
    (RESULTS / "probe_speed.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS / 'probe_speed.json'}")


if __name__ == "__main__":
    main()

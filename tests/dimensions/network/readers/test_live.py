"""Live capture on the loopback interface: a miner and a pool talk Stratum while minescope listens.

Needs the right to capture (root or CAP_NET_RAW); skipped otherwise.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from minescope.dimensions.network.kinds import MINING_SESSION
from minescope.pipeline import Scanner, scan_interface, warm_up

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="live capture needs root or CAP_NET_RAW")

POOL_REPLIES = {
    b"mining.subscribe": b'{"id": 1, "result": [[["mining.notify", "ae6812eb"]], "08000002", 4], "error": null}\n'
                         b'{"id": null, "method": "mining.set_difficulty", "params": [16]}\n'
                         b'{"id": null, "method": "mining.notify", "params": ["bf", "4d16b6f85af6e2198f44ae2a6de67f78'
                         b'487ae5611b77c6c0440b921e00000000", "0100", "0200", [], "00000002", "1c2ac4af", "504e86b9", '
                         b'true]}\n',
    b"mining.authorize": b'{"id": 2, "result": true, "error": null}\n',
    b"mining.submit": b'{"id": 3, "result": true, "error": null}\n',
}
MINER_LINES = [
    b'{"id": 1, "method": "mining.subscribe", "params": ["cgminer/4.10.0"]}\n',
    b'{"id": 2, "method": "mining.authorize", "params": ["1BoatSLRHtKNngkdXEeobR76b53LETtpyT.rig9", "x"]}\n',
    b'{"id": 3, "method": "mining.submit", "params": ["1BoatSLRHtKNngkdXEeobR76b53LETtpyT.rig9", "bf", '
    b'"00000001", "504e86ed", "b2957c02"]}\n',
]


def _pool(server: socket.socket) -> None:
    conn, _ = server.accept()
    with conn:
        buf = b""
        while True:
            data = conn.recv(4096)
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                for method, reply in POOL_REPLIES.items():
                    if method in line:
                        conn.sendall(reply)


def _miner(port: int) -> None:
    time.sleep(1.5)  # let the capture start
    with socket.create_connection(("127.0.0.1", port)) as s:
        for line in MINER_LINES:
            s.sendall(line)
            time.sleep(0.3)
            s.recv(4096)


def test_live_stratum_on_loopback() -> None:
    pytest.importorskip("pcapy")
    scanner = Scanner()
    warm_up(scanner)  # a fresh checkout compiles the engine first (~15 s): not while the miner talks
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    threads = [threading.Thread(target=_pool, args=(server,), daemon=True),
               threading.Thread(target=_miner, args=(port,), daemon=True)]
    for t in threads:
        t.start()
    try:
        result = scan_interface(scanner, "lo", duration=6)
    finally:
        server.close()
    sessions = [f for f in result.findings if f.kind == MINING_SESSION]
    assert len(sessions) == 1, result.findings
    (f,) = sessions
    assert f.subject_ip == "127.0.0.1" and f.peer.port == port
    assert f.mining is not None and f.mining.worker == "rig9" and f.mining.shares_accepted == 1
    assert result.inputs[0].format == "interface" and result.inputs[0].packets > 0

"""Small reference lists that detectors read as data (each row with its source), so a list is extended by
editing a file, not code:

    behaviour/service-ports.csv   TCP services whose clients hold one quiet connection open for hours (the
                                  behaviour model ranks a session to them down): port, service, source
    tls/miner-stacks.csv          ClientHello fingerprints (JA4, JA3) of miners' own TLS stacks, each recorded
                                  from the miner: fingerprint, stack, how it was recorded
"""

from __future__ import annotations

import csv
from functools import cache

from minescope.knowledge import data_path


@cache
def service_ports() -> dict[int, tuple[str, str]]:
    """Port → (service, the registry entry or vendor document it rests on)."""
    with data_path("behaviour", "service-ports.csv").open(encoding="utf-8", newline="") as f:
        return {int(r["port"]): (r["service"], r["source"]) for r in csv.DictReader(f)}


@cache
def miner_stacks() -> dict[str, str]:
    """Fingerprint (JA4 or JA3) → the miner's TLS stack it was recorded from."""
    with data_path("tls", "miner-stacks.csv").open(encoding="utf-8", newline="") as f:
        return {r["fingerprint"]: r["stack"] for r in csv.DictReader(f)}

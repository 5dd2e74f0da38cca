from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from minescope.engine.scan import Scanner
from minescope.model import ScanResult

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "samples" / "pcap"


@cache
def ground_truth() -> dict[str, dict]:
    return json.loads((CORPUS / "ground-truth.json").read_text())


@cache
def _scanner() -> Scanner:
    return Scanner()


@cache
def scan_file(rel: str) -> ScanResult:
    """Scan one corpus capture (cached: several tests look at the same result)."""
    return _scanner().scan([CORPUS / rel])


@pytest.fixture
def scanner() -> Scanner:
    return Scanner()

"""The packet path compiled and interpreted (``capture.jit``) give the same flows and DNS, field for field."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import CORPUS, POOL_NAMES
from minescope.dimensions.network.capture import jit
from minescope.dimensions.network.capture.flows import FlowTracker
from minescope.dimensions.network.readers.capture_flows import dns_from_capture, flows_from_capture
from minescope.dimensions.network.readers.pcap import CaptureFile

CAPTURES = sorted(p for p in CORPUS.rglob("*") if p.suffix in (".pcap", ".pcapng", ".gz"))


def _read(path: Path, compiled: bool) -> tuple[list[dict], list[dict], int]:
    tracker = FlowTracker(3600.0, lambda name: name in POOL_NAMES)
    capture = CaptureFile(path, compiled=compiled)
    for block in capture.blocks():
        assert block.engine.compiled is compiled
        tracker.feed(block)
    flows = flows_from_capture(tracker.finish(), tracker.payload, path.name).to_pylist()
    dns = dns_from_capture(tracker.dns_seen, path.name).to_pylist()
    return sorted(flows, key=lambda f: str(sorted(f.items()))), dns, tracker.packets


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_interpreted_engine_reads_every_capture_as_numba_does(path: Path) -> None:
    interpreted = _read(path, compiled=False)
    assert interpreted == _read(path, compiled=True)
    assert interpreted[2] > 0


def test_small_files_run_compiled_once_numba_is_loaded() -> None:
    assert len(CAPTURES) > 40
    assert jit.compiled_for(None) and jit.compiled_for(jit.INTERPRET_MAX_BYTES + 1)
    # once numba's fixed cost is paid in a process, small captures run compiled too
    _read(CAPTURES[0], compiled=True)
    assert jit.compiled_for(1000)
    assert next(iter(CaptureFile(CAPTURES[0]).blocks())).engine.compiled

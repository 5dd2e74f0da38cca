"""A capture's flows as ``flows import`` reads them: the same packets, times included, as ``scan``."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import CORPUS, first_frame, write_pcapng_ticks
from minescope.dimensions.network.readers.capture_flows import read_capture
from minescope.pipeline import Scanner

T0 = 1_700_000_000
ETH_STRATUM_PCAP = CORPUS / "mining" / "ndpi_2018_ethereum_stratum.pcap"
LAST_TICK = (1 << 64) - 1  # the largest timestamp a pcapng block holds


@pytest.mark.parametrize("tsresol, unit", [
    (0x80 | 20, 2.0**-20),  # bit 7: a power of two; 2^64 units are 1.8e13 s, year 560000
    (3, 1e-3),  # milliseconds
    (0, 1.0),  # whole seconds: 2^64 s is beyond any timestamp type
    (0x80, 1.0),  # 2^0 seconds, said the other way
])
def test_both_routes_take_the_same_times_and_say_an_impossible_one(tmp_path: Path, tsresol: int,
                                                                   unit: float) -> None:
    good = [round(T0 / unit), round((T0 + 0.5) / unit)]
    path = write_pcapng_ticks(tmp_path / "odd.pcapng", first_frame(ETH_STRATUM_PCAP), tsresol, [*good, LAST_TICK])
    flows, _, problem = read_capture(path, lambda name: False)  # flows import
    [summary] = Scanner().scan([path]).inputs  # scan
    assert summary.packets == 2 and flows.num_rows == 1  # the good packets, on both routes
    assert flows.column("ts")[0].as_py().timestamp() == pytest.approx(good[0] * unit, abs=1e-6)
    assert summary.first_seen == pytest.approx(good[0] * unit, abs=1e-6)
    assert problem is not None and problem == summary.problem
    assert "1 packet(s)" in problem.en and "not within years 1–9999" in problem.en and "1 个数据包" in problem.zh

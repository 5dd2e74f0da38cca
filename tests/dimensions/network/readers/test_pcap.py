"""Capture files: what the packet engine cannot decode is said, not passed over."""

from __future__ import annotations

import struct
from pathlib import Path

from helpers import CORPUS
from minescope.dimensions.network.readers.pcap import DECODED_LINKTYPES
from minescope.pipeline import Scanner

IEEE802_11 = 105  # Wi-Fi frames: a link layer the engine does not decode


def _pcap(path: Path, linktype: int, frames: list[bytes]) -> Path:
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", 1_700_000_000 + i, 0, len(frame), len(frame)) + frame)
    return path


def test_an_undecoded_link_type_is_one_problem_and_the_rest_is_read(tmp_path: Path) -> None:
    assert IEEE802_11 not in DECODED_LINKTYPES
    wifi = _pcap(tmp_path / "wifi.pcap", IEEE802_11, [bytes(40), bytes(60)])
    result = Scanner().scan([wifi, CORPUS / "mining" / "ndpi_2018_ethereum_stratum.pcap"])
    [summary] = [i for i in result.inputs if i.path == str(wifi)]
    assert summary.packets == 2 and summary.problem is not None
    assert "link type 105" in summary.problem.en and "链路类型 105" in summary.problem.zh
    assert any(f.kind == "mining_session" for f in result.findings)  # the healthy capture beside it


def test_the_corpus_link_types_are_all_decoded() -> None:
    result = Scanner().scan(sorted(CORPUS.rglob("*.pcap*")))
    assert not [i.problem.en for i in result.inputs if i.problem and "link type" in i.problem.en]

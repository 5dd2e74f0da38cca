"""Proxy tunnels a miner may dial through: the target a SOCKS4/4a (de-facto spec), SOCKS5 (RFC 1928) or HTTP
CONNECT (RFC 9110 §9.3.6) request names. The session inside the tunnel is read as any other; this only says
where it really goes (XMRig, for one, has a per-pool ``socks5`` option and sends the pool's name)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

_HOST_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_")


@dataclass(frozen=True, slots=True)
class TunnelTarget:
    proxy: str  # socks4 | socks5 | http_connect
    host: str  # a host name or an address
    port: int

    @property
    def is_name(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return True
        return False


def _name(raw: bytes) -> str | None:
    return raw.decode("ascii").lower() if raw and all(c in _HOST_CHARS for c in raw) else None


def tunnel_target(data: bytes) -> TunnelTarget | None:
    """The target of one client request opening a tunnel, or None when the bytes are no such request."""
    if data[:8] == b"CONNECT ":
        line = data.split(b"\r\n", 1)[0].split(b"\n", 1)[0].split(b" ")
        if len(line) == 3 and line[2].startswith(b"HTTP/1."):
            host, sep, port = line[1].rpartition(b":")
            host = host.strip(b"[]")
            name = _name(host) or _address(host)
            if sep and name and port.isdigit() and 0 < int(port) < 65536:
                return TunnelTarget("http_connect", name, int(port))
        return None
    if len(data) >= 10 and data[:3] == b"\x05\x01\x00":  # SOCKS5 CONNECT: VER CMD RSV ATYP ADDR PORT
        atyp, rest = data[3], data[4:]
        if atyp == 1 and len(rest) == 6:
            return TunnelTarget("socks5", str(ipaddress.IPv4Address(rest[:4])), int.from_bytes(rest[4:6], "big"))
        if atyp == 4 and len(rest) == 18:
            return TunnelTarget("socks5", str(ipaddress.IPv6Address(rest[:16])), int.from_bytes(rest[16:18], "big"))
        if atyp == 3 and rest and len(rest) == 1 + rest[0] + 2:
            name = _name(rest[1 : 1 + rest[0]])
            return TunnelTarget("socks5", name, int.from_bytes(rest[-2:], "big")) if name else None
        return None
    if len(data) >= 9 and data[:2] == b"\x04\x01" and data.endswith(b"\x00"):  # SOCKS4(a) CONNECT
        socks_port = int.from_bytes(data[2:4], "big")
        fields = data[8:-1].split(b"\x00")
        if data[4:7] == b"\x00\x00\x00" and data[7] != 0 and len(fields) == 2:  # 4a: 0.0.0.x, then the name
            name = _name(fields[1])
            return TunnelTarget("socks4", name, socks_port) if name else None
        return TunnelTarget("socks4", str(ipaddress.IPv4Address(data[4:8])), socks_port)
    return None


def _address(raw: bytes) -> str | None:
    try:
        return str(ipaddress.ip_address(raw.decode("ascii")))
    except (UnicodeDecodeError, ValueError):
        return None

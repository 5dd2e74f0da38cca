"""TLS ClientHello: the server name (SNI) and ALPN a client asks for, read from the first records."""

from __future__ import annotations


def client_hello_sni(data: bytes) -> tuple[str | None, list[str]] | None:
    """(server name, ALPN protocols) from a ClientHello, or None when data holds no whole ClientHello."""
    try:
        if len(data) < 9 or data[0] != 0x16 or data[5] != 0x01:
            return None
        hs_len = int.from_bytes(data[6:9], "big")
        body = data[9 : 9 + hs_len]
        if len(body) < hs_len:
            return None  # ClientHello continues in a later segment
        p = 2 + 32  # client version, random
        p += 1 + body[p]  # session id
        p += 2 + int.from_bytes(body[p : p + 2], "big")  # cipher suites
        p += 1 + body[p]  # compression methods
        if p + 2 > len(body):
            return None, []
        ext_end = p + 2 + int.from_bytes(body[p : p + 2], "big")
        p += 2
        sni: str | None = None
        alpn: list[str] = []
        while p + 4 <= min(ext_end, len(body)):
            etype = int.from_bytes(body[p : p + 2], "big")
            elen = int.from_bytes(body[p + 2 : p + 4], "big")
            ext = body[p + 4 : p + 4 + elen]
            if etype == 0 and len(ext) > 5 and ext[2] == 0:
                n = int.from_bytes(ext[3:5], "big")
                sni = ext[5 : 5 + n].decode("ascii", "replace").lower().rstrip(".")
            elif etype == 16 and len(ext) > 2:
                q = 2
                while q < len(ext):
                    n = ext[q]
                    alpn.append(ext[q + 1 : q + 1 + n].decode("ascii", "replace"))
                    q += 1 + n
            p += 4 + elen
        return sni, alpn
    except IndexError:
        return None

"""HTTP/1.x request heads: the Host a client names and its User-Agent."""

from __future__ import annotations

METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"OPTIONS ", b"CONNECT ")


def request_head(data: bytes) -> dict[str, str] | None:
    """Method, target, Host and User-Agent of the first request in data, or None if not a request."""
    if not data.startswith(METHODS):
        return None
    head = data.split(b"\r\n\r\n", 1)[0][:8192]
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    out = {"method": parts[0].decode("ascii", "replace"),
           "target": parts[1].decode("latin-1") if len(parts) > 1 else ""}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        key = name.strip().lower()
        if key in (b"host", b"user-agent", b"x-mining-extensions", b"upgrade"):
            out[key.decode()] = value.strip().decode("latin-1")
    if "host" in out:
        host = out["host"].lower()
        # strip a port, but keep IPv6 literals intact
        if host.startswith("["):
            host = host.split("]", 1)[0] + "]"
        elif host.count(":") == 1:
            host = host.split(":", 1)[0]
        out["host"] = host
    return out

"""TLS ClientHello: the server name (SNI) and ALPN a client asks for, and its JA3 and JA4 fingerprints.

``client_hello(data)`` reads a whole ClientHello from the first bytes a client sent (one or more TCP
segments, in order) and gives a ``ClientHello``; ``client_hello_sni`` gives only (SNI, ALPN).

Fingerprints, implemented from their published definitions:

JA3 (Salesforce, 2017)
    ``md5("version,ciphers,extensions,curves,point_formats")``: the ClientHello's legacy version, then
    the cipher suites, extension types, supported groups and EC point formats in the order sent, as
    decimal numbers joined by ``-``; GREASE values (RFC 8701: ``0x?a?a`` with both bytes equal) removed.
JA4 (FoxIO, ``technical_details/JA4.md``)
    ``a_b_c``. *a*: ``t`` (TLS over TCP), the version (the highest of supported_versions, else the
    ClientHello's version: ``13``, ``12``, ``11``, ``10``, ``s3``, ``s2``, else ``00``), ``d`` with SNI or
    ``i`` without, two-digit counts of cipher suites and extensions (GREASE ignored, at most 99), and the
    first and last character of the first ALPN value (``00`` without ALPN; its hex digits when either
    character is not alphanumeric). *b*: the first 12 hex digits of sha256 of the cipher suites as 4-digit
    hex, sorted, comma-joined (``000000000000`` when none). *c*: likewise of the sorted extension types
    without SNI (``0000``) and ALPN (``0010``), then ``_`` and the signature algorithms in the order sent
    (no ``_`` when there are none).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

EXT_SNI, EXT_GROUPS, EXT_POINT_FORMATS, EXT_SIG_ALGS, EXT_ALPN, EXT_VERSIONS = 0, 10, 11, 13, 16, 43

_JA4_VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2",
                 0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3"}


def is_grease(value: int) -> bool:
    """RFC 8701 GREASE: 0x0a0a, 0x1a1a, … 0xfafa."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


@dataclass(frozen=True)
class ClientHello:
    """What a ClientHello offers, GREASE values removed, in the order sent. The lists are decoded from the
    raw bytes when first asked for (a capture reads thousands of hellos and fingerprints a few)."""

    version: int  # the ClientHello's (legacy) version, 0x0303 for TLS 1.2 and 1.3
    raw_ciphers: bytes
    extensions: tuple[int, ...]
    raw_groups: bytes
    point_formats: tuple[int, ...]
    raw_signature_algorithms: bytes
    raw_supported_versions: bytes
    sni: str | None
    alpn: tuple[str, ...]

    @cached_property
    def ciphers(self) -> tuple[int, ...]:
        return _u16s(self.raw_ciphers)

    @cached_property
    def groups(self) -> tuple[int, ...]:
        return _u16s(self.raw_groups)

    @cached_property
    def signature_algorithms(self) -> tuple[int, ...]:
        return _u16s(self.raw_signature_algorithms)

    @cached_property
    def supported_versions(self) -> tuple[int, ...]:
        return _u16s(self.raw_supported_versions)

    @property
    def ja3_string(self) -> str:
        def dec(values: tuple[int, ...]) -> str:
            return "-".join(str(v) for v in values)

        return ",".join((str(self.version), dec(self.ciphers), dec(self.extensions), dec(self.groups),
                         dec(self.point_formats)))

    @cached_property
    def ja3(self) -> str:
        return hashlib.md5(self.ja3_string.encode(), usedforsecurity=False).hexdigest()

    @cached_property
    def ja4(self) -> str:
        return f"{self.ja4_a}_{self.ja4_b}_{self.ja4_c}"

    @property
    def tls_version(self) -> int:
        """The highest version offered: supported_versions, else the ClientHello's version."""
        return max(self.supported_versions) if self.supported_versions else self.version

    @property
    def ja4_a(self) -> str:
        version = _JA4_VERSIONS.get(self.tls_version, "00")
        sni = "d" if EXT_SNI in self.extensions else "i"
        return (f"t{version}{sni}{min(len(self.ciphers), 99):02d}{min(len(self.extensions), 99):02d}"
                f"{_alpn_chars(self.alpn[0] if self.alpn else '')}")

    @property
    def ja4_b(self) -> str:
        return _hash12(",".join(f"{c:04x}" for c in sorted(self.ciphers))) if self.ciphers else "0" * 12

    @property
    def ja4_c(self) -> str:
        exts = sorted(e for e in self.extensions if e not in (EXT_SNI, EXT_ALPN))
        if not exts:
            return "0" * 12
        text = ",".join(f"{e:04x}" for e in exts)
        if self.signature_algorithms:
            text += "_" + ",".join(f"{s:04x}" for s in self.signature_algorithms)
        return _hash12(text)


def _hash12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _alpn_chars(first: str) -> str:
    if not first:
        return "00"
    raw = first.encode("latin-1", "replace")
    a, b = raw[0], raw[-1]
    if _alnum(a) and _alnum(b):
        return chr(a) + chr(b)
    hexed = raw.hex()
    return hexed[0] + hexed[-1]


def _alnum(c: int) -> bool:
    return 0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A


def _u16s(data: bytes) -> tuple[int, ...]:
    return tuple(v for i in range(0, len(data) - 1, 2) if not is_grease(v := int.from_bytes(data[i:i + 2], "big")))


def client_hello(data: bytes) -> ClientHello | None:
    """The ClientHello at the start of ``data`` (a TLS handshake record), or None when ``data`` holds no
    whole ClientHello (it continues in a later segment) or is not one."""
    try:
        if len(data) < 9 or data[0] != 0x16 or data[5] != 0x01:
            return None
        hs_len = int.from_bytes(data[6:9], "big")
        body = data[9 : 9 + hs_len]
        if len(body) < hs_len:
            return None  # the ClientHello continues in a later segment
        version = int.from_bytes(body[0:2], "big")
        p = 2 + 32  # client version, random
        p += 1 + body[p]  # session id
        n = int.from_bytes(body[p : p + 2], "big")
        ciphers = body[p + 2 : p + 2 + n]
        p += 2 + n
        p += 1 + body[p]  # compression methods
        exts: list[int] = []
        groups = sig_algs = versions = b""
        formats: tuple[int, ...] = ()
        sni: str | None = None
        alpn: list[str] = []
        if p + 2 <= len(body):
            ext_end = min(p + 2 + int.from_bytes(body[p : p + 2], "big"), len(body))
            p += 2
            while p + 4 <= ext_end:
                etype = int.from_bytes(body[p : p + 2], "big")
                elen = int.from_bytes(body[p + 2 : p + 4], "big")
                ext = body[p + 4 : p + 4 + elen]
                p += 4 + elen
                if (etype & 0x0F0F) == 0x0A0A and (etype >> 8) == (etype & 0xFF):  # GREASE
                    continue
                exts.append(etype)
                if etype == EXT_SNI and len(ext) > 5 and ext[2] == 0:
                    size = int.from_bytes(ext[3:5], "big")
                    sni = ext[5 : 5 + size].decode("ascii", "replace").lower().rstrip(".")
                elif etype == EXT_ALPN and len(ext) > 2:
                    q = 2
                    while q < len(ext):
                        size = ext[q]
                        alpn.append(ext[q + 1 : q + 1 + size].decode("latin-1"))
                        q += 1 + size
                elif etype == EXT_GROUPS and len(ext) >= 2:
                    groups = ext[2 : 2 + int.from_bytes(ext[0:2], "big")]
                elif etype == EXT_POINT_FORMATS and len(ext) >= 1:
                    formats = tuple(ext[1 : 1 + ext[0]])
                elif etype == EXT_SIG_ALGS and len(ext) >= 2:
                    sig_algs = ext[2 : 2 + int.from_bytes(ext[0:2], "big")]
                elif etype == EXT_VERSIONS and len(ext) >= 1:
                    versions = ext[1 : 1 + ext[0]]
        return ClientHello(version, ciphers, tuple(exts), groups, formats, sig_algs, versions, sni, tuple(alpn))
    except IndexError:
        return None


def client_hello_sni(data: bytes) -> tuple[str | None, list[str]] | None:
    """(server name, ALPN protocols) from a ClientHello, or None when data holds no whole ClientHello."""
    hello = client_hello(data)
    return None if hello is None else (hello.sni, list(hello.alpn))

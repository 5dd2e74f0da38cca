"""DNS messages: the names asked and the addresses answered, for passive DNS.

A lean reader of just the header (id, response flag, response code), the questions and the
A/AAAA/CNAME answers with their TTLs (RFC 1035 §4, name compression §4.1.4). A full DNS library
(dnspython) spent ~100 µs a message building objects we never use;
on a capture with many DNS packets that dominated the scan, so this reads only what matters.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

T_A, T_CNAME, T_AAAA = 1, 5, 28
_ntoa = socket.inet_ntoa
# names of record types and response codes as the flow logs write them (Zeek, Suricata)
QTYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV", 64: "SVCB",
          65: "HTTPS", 255: "ANY"}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


@dataclass(frozen=True, slots=True)
class DnsMessage:
    is_response: bool
    qnames: tuple[str, ...]
    answers: tuple[tuple[str, str], ...]  # (name the client asked for, address), CNAMEs followed
    qid: int = 0  # the transaction id that pairs a response with its query
    rcode: int = 0
    qtypes: tuple[int, ...] = ()  # the record type of each question
    ttls: tuple[int, ...] = ()  # the TTL of each answer, in seconds


def _name(msg: bytes, pos: int) -> tuple[str, int]:
    """Read a (possibly compressed) name at pos; returns (name, position after it)."""
    labels: list[bytes] = []
    end = -1
    hops = 0
    while True:
        n = msg[pos]
        if n == 0:
            pos += 1
            break
        if n >= 0xC0:  # pointer
            if end < 0:
                end = pos + 2
            pos = ((n & 0x3F) << 8) | msg[pos + 1]
            hops += 1
            if hops > 32:
                raise ValueError("pointer loop")
            continue
        if n > 63:
            raise ValueError("bad label")
        pos += 1
        labels.append(msg[pos : pos + n])
        pos += n
    name = b".".join(labels).decode("ascii", "replace").lower()
    return name, (end if end >= 0 else pos)


def parse_dns(payload: bytes, tcp: bool = False) -> DnsMessage | None:
    """Parse one DNS message (TCP messages carry a 2-byte length prefix); None if not DNS.

    Byte arithmetic rather than ``int.from_bytes`` of slices, and IPv4 text from ``socket.inet_ntoa``
    (the same dotted quad as ``ipaddress``): a capture can hold tens of thousands of DNS messages."""
    if tcp:
        payload = payload[2 : 2 + int.from_bytes(payload[:2], "big")]
    size = len(payload)
    if size < 12:
        return None
    try:
        qd = (payload[4] << 8) | payload[5]
        an = (payload[6] << 8) | payload[7]
        if qd > 4 or an > 256:
            return None
        pos = 12
        qnames = []
        qtypes = []
        for _ in range(qd):
            name, pos = _name(payload, pos)
            qnames.append(name)
            qtypes.append(int.from_bytes(payload[pos : pos + 2], "big"))
            pos += 4
        alias: dict[str, str] = {}
        answers = []
        ttls = []
        for _ in range(an):
            owner, pos = _name(payload, pos)
            if pos + 10 <= size:
                rtype = (payload[pos] << 8) | payload[pos + 1]
                ttl = int.from_bytes(payload[pos + 4 : pos + 8], "big")
                rdlen = (payload[pos + 8] << 8) | payload[pos + 9]
            else:  # a record cut short: what the slices of a short message give
                rtype = int.from_bytes(payload[pos : pos + 2], "big")
                ttl = int.from_bytes(payload[pos + 4 : pos + 8], "big")
                rdlen = int.from_bytes(payload[pos + 8 : pos + 10], "big")
            rdata = pos + 10
            pos = rdata + rdlen
            if pos > size:
                break
            asked = alias.get(owner, owner)
            if rtype == T_A and rdlen == 4:
                answers.append((asked, _ntoa(payload[rdata:pos])))
                ttls.append(ttl)
            elif rtype == T_AAAA and rdlen == 16:
                answers.append((asked, str(ipaddress.IPv6Address(payload[rdata:pos]))))
                ttls.append(ttl)
            elif rtype == T_CNAME:
                alias[_name(payload, rdata)[0]] = asked
        return DnsMessage(bool(payload[2] & 0x80), tuple(qnames), tuple(answers),
                          (payload[0] << 8) | payload[1], payload[3] & 0x0F, tuple(qtypes), tuple(ttls))
    except (IndexError, ValueError):
        return None

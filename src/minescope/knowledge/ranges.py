"""Address-range lookup: IP networks (v4 and v6) → a value, most specific network wins.

Networks are turned into sorted, non-overlapping integer intervals once, and each lookup
is one ``bisect`` per address family — no linear scan, whatever the number of networks.
CIDR blocks either nest or are disjoint, which is what makes the flattening below exact.
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

T = TypeVar("T")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(text: str) -> IPAddress | None:
    """An address from text, IPv4-mapped IPv6 turned into IPv4; None if it is not an address."""
    try:
        addr = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def parse_network(text: str) -> IPNetwork | None:
    """A network from ``a.b.c.d``, ``a.b.c.d/n`` or IPv6 forms; host bits are tolerated."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _Interval(Generic[T]):
    start: int
    end: int  # inclusive
    value: T


class RangeIndex(Generic[T]):
    """Maps networks to values; ``lookup`` returns the value of the most specific network.

    Several values for the very same network are resolved by ``prefer`` (a sort key:
    the largest rank wins), e.g. the strongest list category.
    """

    def __init__(self, prefer: Callable[[T], int] | None = None) -> None:
        self._prefer = prefer
        self._pending: dict[IPNetwork, list[T]] = {}
        self._starts: dict[int, list[int]] = {4: [], 6: []}
        self._intervals: dict[int, list[_Interval[tuple[IPNetwork, T]]]] = {4: [], 6: []}
        self._dirty = False

    def add(self, network: IPNetwork, value: T) -> None:
        self._pending.setdefault(network, []).append(value)
        self._dirty = True

    def __len__(self) -> int:
        return len(self._pending)

    def lookup(self, ip: str | IPAddress) -> tuple[IPNetwork, T] | None:
        addr = parse_ip(ip) if isinstance(ip, str) else ip
        if addr is None:
            return None
        if self._dirty:
            self._build()
        starts = self._starts[addr.version]
        i = bisect_right(starts, int(addr)) - 1
        if i < 0:
            return None
        iv = self._intervals[addr.version][i]
        if int(addr) > iv.end:
            return None
        return iv.value

    def covers_v4(self, addresses: np.ndarray) -> np.ndarray:
        """For IPv4 addresses as integers (uint32/int64 array): which lie in some network. One
        ``searchsorted`` for the whole array, for prefiltering millions of addresses at once."""
        if self._dirty:
            self._build()
        flat = self._intervals[4]
        if not flat:
            return np.zeros(len(addresses), dtype=bool)
        starts = np.fromiter((iv.start for iv in flat), dtype=np.int64, count=len(flat))
        ends = np.fromiter((iv.end for iv in flat), dtype=np.int64, count=len(flat))
        i = np.searchsorted(starts, addresses, side="right") - 1
        return (i >= 0) & (addresses <= ends[np.maximum(i, 0)])

    def split_hosts(self) -> tuple[list[IPAddress], bool]:
        """The single addresses (/32, /128) among the networks, and whether any wider network is listed."""
        hosts = [n.network_address for n in self._pending if n.prefixlen == n.max_prefixlen]
        return hosts, len(hosts) < len(self._pending)

    @property
    def has_v6(self) -> bool:
        if self._dirty:
            self._build()
        return bool(self._intervals[6])

    def _choose(self, values: list[T]) -> T:
        if self._prefer is None or len(values) == 1:
            return values[0]
        return max(values, key=self._prefer)

    def _build(self) -> None:
        for version in (4, 6):
            nets = sorted(
                (n for n in self._pending if n.version == version),
                key=lambda n: (_first(n), n.prefixlen),  # widest first
            )
            flat = _flatten(
                (_first(n), _last(n), (n, self._choose(self._pending[n]))) for n in nets
            )
            self._intervals[version] = flat
            self._starts[version] = [iv.start for iv in flat]
        self._dirty = False


def _first(net: IPNetwork) -> int:
    return int(net.network_address)


def _last(net: IPNetwork) -> int:
    # Cheaper than net.broadcast_address, which builds an address object per network.
    return int(net.network_address) | ((1 << (net.max_prefixlen - net.prefixlen)) - 1)


def _flatten(ranges: Iterable[tuple[int, int, T]]) -> list[_Interval[T]]:
    """Nested or disjoint ranges, sorted by (start, widest first) → non-overlapping intervals.

    Each output interval carries the value of the innermost range covering it.
    """
    out: list[_Interval[T]] = []
    stack: list[tuple[int, int, T]] = []
    cursor = 0

    def emit(start: int, end: int, value: T) -> None:
        if start <= end:
            out.append(_Interval(start, end, value))

    for start, end, value in ranges:
        while stack and stack[-1][1] < start:
            _, top_end, top_value = stack.pop()
            emit(cursor, top_end, top_value)
            cursor = max(cursor, top_end + 1)
        if stack:
            emit(cursor, start - 1, stack[-1][2])
        stack.append((start, end, value))
        cursor = start
    while stack:
        _, top_end, top_value = stack.pop()
        emit(cursor, top_end, top_value)
        cursor = max(cursor, top_end + 1)
    return out

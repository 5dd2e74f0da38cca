"""The finding kinds of the host dimension: none yet."""

from minescope.registry import KindSpec

KINDS: tuple[KindSpec, ...] = ()

"""The finding kinds of the funds dimension: none yet."""

from minescope.registry import KindSpec

KINDS: tuple[KindSpec, ...] = ()

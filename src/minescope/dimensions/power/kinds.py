"""The finding kinds of the power dimension: none yet."""

from minescope.registry import KindSpec

KINDS: tuple[KindSpec, ...] = ()

"""The finding kinds of the content dimension: none yet."""

from minescope.registry import KindSpec

KINDS: tuple[KindSpec, ...] = ()

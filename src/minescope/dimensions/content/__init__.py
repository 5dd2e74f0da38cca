"""The content dimension (内容): content: listings, posts and apps offering mining machines, software or trading.

Declared, not yet filled: its readers, tables, detectors and kinds come with later work, in the same
inner shape as ``dimensions.network`` (readers/, tables.py, detectors/, kinds.py).
"""

from minescope.dimensions.content.kinds import KINDS
from minescope.registry import Plugin

PLUGIN = Plugin(name="content", dimension="content", kinds=KINDS,
                doc=__doc__.splitlines()[0] if __doc__ else "")

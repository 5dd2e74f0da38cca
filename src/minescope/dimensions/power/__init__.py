"""The power dimension (电力): electricity: smart-meter series and power accounts (change points, mining-shaped load).

Declared, not yet filled: its readers, tables, detectors and kinds come with later work, in the same
inner shape as ``dimensions.network`` (readers/, tables.py, detectors/, kinds.py).
"""

from minescope.dimensions.power.kinds import KINDS
from minescope.registry import Plugin

PLUGIN = Plugin(name="power", dimension="power", kinds=KINDS,
                doc=__doc__.splitlines()[0] if __doc__ else "")

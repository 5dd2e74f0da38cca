"""The funds dimension (资金): money: bank and payment transactions (fan-in, cycles, OTC cash-out typologies).

Declared, not yet filled: its readers, tables, detectors and kinds come with later work, in the same
inner shape as ``dimensions.network`` (readers/, tables.py, detectors/, kinds.py).
"""

from minescope.dimensions.funds.kinds import KINDS
from minescope.registry import Plugin

PLUGIN = Plugin(name="funds", dimension="funds", kinds=KINDS,
                doc=__doc__.splitlines()[0] if __doc__ else "")

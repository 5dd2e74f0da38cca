"""The host dimension (主机): endpoints: process, network-by-process, file, persistence and resource evidence from
EVTX, Sysmon, auditd and live checks.

Declared, not yet filled: its readers, tables, detectors and kinds come with later work, in the same
inner shape as ``dimensions.network`` (readers/, tables.py, detectors/, kinds.py).
"""

from minescope.dimensions.host.kinds import KINDS
from minescope.registry import Plugin

PLUGIN = Plugin(name="host", dimension="host", kinds=KINDS,
                doc=__doc__.splitlines()[0] if __doc__ else "")

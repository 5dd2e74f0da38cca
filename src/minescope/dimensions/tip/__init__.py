"""Public reports (举报): anyone reports a suspected mining site through the console's public page.

    readers/     the public report form (``/report``) → a ``tips`` row
    tables.py    the tips table (``store.tips``)
    detectors/   public_report: each tip is a finding about its subject, triaged by hand
    kinds.py     public_report
"""

from minescope.dimensions.tip.kinds import KINDS
from minescope.registry import Detector, Plugin, Reader, TableSpec

PLUGIN = Plugin(
    name="tip", dimension="tip", kinds=KINDS, doc="public reports through the console (docs/console.md)",
    tables=(TableSpec("tips", "tip", "minescope.store.tips:tips",
                      "one row per report: tracking code, region, subject, description, status"),),
    readers=(Reader("report-form", "tip", ("tips",), "the console's public report form (/report)",
                    "minescope.web.app:create_app"),),
    detectors=(Detector("public_report", "tip", KINDS, ("tips",),
                        "every tip is a finding about its subject (organisation, address, building), to triage",
                        "minescope.dimensions.tip.detectors.public_report:tip_finding"),),
)

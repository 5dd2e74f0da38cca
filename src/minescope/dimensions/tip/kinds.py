"""The finding kind of public reports (举报)."""

from minescope.model import Severity, Text
from minescope.registry import KindSpec

PUBLIC_REPORT = KindSpec(
    "public_report", dimension="tip", label=Text("公众举报", "Public report"), colour="#16a085",
    mining=False, opens_case=False, severity=Severity.MEDIUM, section="findings",
    doc="a report from anyone through the console's public page: a subject (organisation, address, building) "
        "and what the reporter saw; triaged by hand")

KINDS = (PUBLIC_REPORT,)

"""public_report: every public report is a finding about the subject the reporter named.

Signal: someone reported a suspected mining site (an organisation, an address, a building) with a
description, through the console's public page. False positives: mistaken or malicious reports; a
report is a lead that a person triages, never proof. Confidence 0.3.
"""

from __future__ import annotations

from minescope.dimensions.tip.kinds import PUBLIC_REPORT
from minescope.model import Attribution, Dimension, Evidence, Finding, Subject, SubjectType, Text

CONFIDENCE = 0.3


def tip_finding(tracking_code: str, region_code: str, subject: str, description: str, reported_at: float) -> Finding:
    """The finding of one tip; its id is the tip's own (``tip-`` and the tracking code)."""
    return Finding(
        kind=PUBLIC_REPORT, subject_ip=None, peer=None, flows=(), confidence=CONFIDENCE,
        severity=PUBLIC_REPORT.severity,
        reasons=(Text(zh=f"公众举报：{subject}", en=f"public report: {subject}"),),
        evidence=(Evidence("tip", description[:200], {"subject": subject}, "tip"),),
        source="public report / 公众举报", dimension=Dimension.TIP,
        subject=Subject(SubjectType.ORGANISATION, subject), first_seen=reported_at, last_seen=reported_at,
        attribution=Attribution(ip="", region_code=region_code), stable_id="tip-" + tracking_code.lower(),
    )

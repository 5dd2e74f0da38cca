"""What a pool-list match says in a finding, shared by the capture and flow-log detectors: the
confidence of each list category, the evidence item and the reason in words."""

from __future__ import annotations

from minescope.knowledge.pools import ListMatch
from minescope.model import Evidence, Text

CATEGORY_CONFIDENCE = {"pool": 0.7, "learned": 0.7, "browser_mining": 0.6, "crypto_mixed": 0.45}


def list_evidence(m: ListMatch, how: str = "") -> Evidence:
    return Evidence("learned_pool" if m.category == "learned" else "list_match",
                    f"{m.matched_value} matches {m.entry} in {m.list_name}",
                    {"entry": m.entry, "list": m.list_name, "category": m.category, "matched": m.matched_value,
                     "licence": m.licence, "via": how, "reason": m.reason},
                    m.source)


def list_reason(m: ListMatch) -> Text:
    if m.category == "learned":
        return Text(zh=f"{m.matched_value} 在本次扫描中被看到使用挖矿协议（{m.reason}）",
                    en=f"{m.matched_value} was seen speaking a mining protocol in this scan ({m.reason})")
    return Text(zh=f"{m.matched_value} 命中名单 {m.list_name} 的条目 {m.entry}（类别 {m.category}）",
                en=f"{m.matched_value} matches entry {m.entry} of list {m.list_name} (category {m.category})")

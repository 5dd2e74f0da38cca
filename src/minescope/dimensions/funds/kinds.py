"""The finding kinds of the funds dimension, about an ``account`` subject (a bank or payment account). Labels,
colours, case policy and the reports' sections derive from these declarations.

Both are listed in the reports' ``trading`` section: they are the trading-speculation side of the story (OTC
cash-out, 跑分 collection for crypto purchases), not mining, and the reports keep them apart from the mining
totals as they keep exchange traffic apart."""

from minescope.model import Severity, Text
from minescope.registry import KindSpec

MONEY_MULE = KindSpec(
    "money_mule_account", dimension="funds", label=Text("疑似跑分账户", "Money-mule (跑分) account"),
    colour="#7d3c98", mining=False, opens_case=True, severity=Severity.HIGH, section="trading",
    doc="a bank or payment account whose money behaves like a 跑分 collection card: many unrelated small payers, "
        "the balance sent on within hours to few accounts, night bursts, a dormant card suddenly busy, cards "
        "sharing a device, remarks that tell payers what not to write; the typology score, each rule's band and "
        "the supporting transactions (sampled, with totals)")

OTC_MERCHANT = KindSpec(
    "otc_merchant", dimension="funds", label=Text("疑似币商（场外交易）账户", "OTC crypto merchant account"),
    colour="#1f618d", mining=False, opens_case=True, severity=Severity.HIGH, section="trading",
    doc="a bank or payment account that trades virtual currency for cash: amounts equal to whole USDT at the day's "
        "price, counterparties that are known exchange or OTC accounts, remarks naming coins or exchanges, money "
        "both ways with many strangers; the typology score, each rule's band and the supporting transactions")

KINDS = (MONEY_MULE, OTC_MERCHANT)

"""The finding kinds of the power dimension, about a ``meter`` subject (the meter's number, with its account).
Labels, colours, case policy and the reports' sections derive from these declarations."""

from minescope.model import Severity, Text
from minescope.registry import KindSpec

MINING_LOAD = KindSpec(
    "mining_load", dimension="power", label=Text("疑似挖矿用电", "Mining-shaped load"), colour="#b9770e",
    mining=True, opens_case=True, severity=Severity.HIGH,
    doc="a meter whose load stepped to a new flat plateau that runs day and night, weekdays and holidays alike: "
        "the added kW, since when, the machines it could be (SHA-256 ASIC, GPU rig, CPU) and their hash rate, "
        "and which signals agree (step, flatness, no rhythm, capacity, tariff, peers)")

KINDS = (MINING_LOAD,)

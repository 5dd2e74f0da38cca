"""The power dimension (电力): electricity: smart-meter readings, bills and the accounts' records.

    readers/     CSV and Parquet exports of metering and marketing systems through a column mapping (long or wide)
    tables.py    the readings, billing and accounts tables
    detectors/   a mining-shaped load: per-meter aggregates in SQL (any engine), change points on candidates
    kinds.py     mining_load
"""

from minescope.dimensions.power.kinds import KINDS, MINING_LOAD
from minescope.registry import Detector, Plugin, Reader, TableSpec

_TABLES = "minescope.dimensions.power.tables"

PLUGIN = Plugin(
    name="power", dimension="power", kinds=KINDS,
    doc="smart-meter readings, bills and account records (docs/power.md)",
    tables=(
        TableSpec("readings", "power", f"{_TABLES}:READINGS", "one row per meter and interval (15 min to a day)",
                  ("meter|account", "ts", "kwh")),
        TableSpec("billing", "power", f"{_TABLES}:BILLING", "one row per account and billing period, with the "
                  "time-of-use registers", ("account", "period_start", "kwh_total")),
        TableSpec("accounts", "power", f"{_TABLES}:ACCOUNTS", "one row per electricity account: tariff, capacity, "
                  "address, region, organisation", ("account",)),
    ),
    readers=(
        Reader("power-export", "power", ("readings", "billing", "accounts"), "meter readings (15 min to daily, long "
               "or wide), bills and account records as CSV, Parquet or JSON lines, through a column mapping "
               "(docs/mapping.md)", "minescope.dimensions.power.readers:PowerInput"),
    ),
    detectors=(
        Detector("load", "power", (MINING_LOAD,), ("readings", "accounts"), "a step to a flat plateau that runs day "
                 "and night: per-meter aggregates in SQL (any engine), change points (ruptures) on the candidates "
                 "(docs/power.md)", "minescope.dimensions.power.detectors:detect"),
    ),
)

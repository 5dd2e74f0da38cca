"""The evidence tables of the power dimension (Apache Arrow): what a grid company's metering and billing systems
say about an electricity account, one schema whatever the export (CSV or Parquet, long or wide), so the
per-meter aggregates are one SQL text on DuckDB and Spark. Field by field:

Columns of every table:
  source        string     the reader kind (see ``SOURCES``)
  input         string     the file the row came from

``readings`` — one row per meter and interval (15-, 30-, 60-minute or daily energy):
  meter         string     the meter's number (电能表号) or, when the export has none, the account number
  account       string     the electricity account (用电户号) the meter belongs to; null when not given
  ts            timestamp[us, UTC]  start of the interval (a daily reading: midnight of its day, local clock,
                           stored in UTC)
  interval_s    int32      the interval's length in seconds: 900, 1800, 3600 or 86400
  kwh           float64    active energy drawn in the interval, kWh (never negative: export generation is
                           another register)

``billing`` — one row per account and billing period (usually a month), with the time-of-use registers:
  account       string
  meter         string     null when the bill is per account
  period_start  timestamp[us, UTC]  first day of the period
  period_end    timestamp[us, UTC]  day after its last day; null when the export gives only the month
  days          int32      the period's length in days (计费天数); the reader takes it from the dates (or the
                           month) when the export does not give it
  kwh_total     float64    energy billed in the period
  kwh_peak      float64    峰 peak-hour energy; null when the tariff has no time-of-use registers
  kwh_valley    float64    谷 valley (night) energy
  kwh_flat      float64    平 flat (shoulder) energy
  kwh_sharp     float64    尖 sharp-peak energy, where the province bills it

``accounts`` — one row per electricity account (the marketing system's customer file, 营销档案):
  account       string
  meter         string     its meter, when one per account is given
  name          string     the account holder as registered (户名)
  tariff        string     one of ``TARIFFS``: the category it is billed as (用电类别)
  voltage_kv    float64    supply voltage, kV (0.22, 0.38, 10, 35, 110 …)
  contract_kva  float64    contracted capacity (合同容量), kVA
  running_kva   float64    running capacity (运行容量), kVA; the contract's when the export has one figure
  address       string     the supply address (用电地址)
  region        string     its GB/T 2260 county (or city, province) code
  organisation  string     the organisation behind the account, when known (unified social credit code or name)
  opened        timestamp[us, UTC]  when supply started (立户日期); null when not given
"""

from __future__ import annotations

import pyarrow as pa

from minescope.dimensions.network.tables import TS

TAIL = [("source", pa.string()), ("input", pa.string())]

READINGS = pa.schema([
    ("meter", pa.string()), ("account", pa.string()), ("ts", TS), ("interval_s", pa.int32()),
    ("kwh", pa.float64()), *TAIL,
])

BILLING = pa.schema([
    ("account", pa.string()), ("meter", pa.string()), ("period_start", TS), ("period_end", TS),
    ("days", pa.int32()), ("kwh_total", pa.float64()), ("kwh_peak", pa.float64()), ("kwh_valley", pa.float64()),
    ("kwh_flat", pa.float64()), ("kwh_sharp", pa.float64()), *TAIL,
])

ACCOUNTS = pa.schema([
    ("account", pa.string()), ("meter", pa.string()), ("name", pa.string()), ("tariff", pa.string()),
    ("voltage_kv", pa.float64()), ("contract_kva", pa.float64()), ("running_kva", pa.float64()),
    ("address", pa.string()), ("region", pa.string()), ("organisation", pa.string()), ("opened", TS), *TAIL,
])

TABLES: dict[str, pa.Schema] = {"readings": READINGS, "billing": BILLING, "accounts": ACCOUNTS}

TARIFFS = ("residential", "commercial", "industrial", "agricultural", "other")
"""Tariff categories (居民生活, 一般工商业, 大工业, 农业生产, 其他): what a grid bills an account as."""

INTERVALS_S = (900, 1800, 3600, 86400)
"""The reading intervals the readers accept: 15, 30 and 60 minutes, and a day."""

SOURCES = ("mapped",)

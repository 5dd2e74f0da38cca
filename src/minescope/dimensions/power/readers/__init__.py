"""Readers of the power dimension: metering and marketing-system exports → the power tables (``tables.TABLES``).

    export = PowerInput(path, mapping)     # CSV, Parquet or JSON lines through a column mapping (long or wide)
    for table, batch in export:            # table: "readings", "billing" or "accounts"
        ...
    export.report                          # rows per table, rows skipped, problems (zh/en)
    complete = ReadingCompleter()          # the meter (the account's number when there is none) and each
    complete(batch)                        # meter's interval (from its readings' spacing) where not given

Grid exports have no standard layout, so every export is read through a column mapping by the reader all
dimensions share (``minescope.readers.mapped``, docs/mapping.md): long (one row per meter and interval) or wide
(one row per day, a column per interval), with the marketing system's categories translated (``[values]``).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from minescope.dimensions.power.tables import INTERVALS_S, TABLES
from minescope.readers.mapped import MappedInput, Mapping, MappingSpec

TARIFF_NAMES = {
    "居民": "residential", "居民生活": "residential", "居民生活用电": "residential", "城乡居民生活用电": "residential",
    "一般工商业": "commercial", "一般工商业用电": "commercial", "工商业": "commercial", "商业": "commercial",
    "非居民照明": "commercial", "非工业": "commercial", "大工业": "industrial", "大工业用电": "industrial",
    "普通工业": "industrial", "工业": "industrial", "农业": "agricultural", "农业生产": "agricultural",
    "农业生产用电": "agricultural", "农业排灌": "agricultural",
}
"""The categories of China's catalogue tariffs (用电类别) as marketing systems write them, and the ones
``TARIFFS`` holds; a mapping's ``[values.tariff]`` adds or overrides."""


class PowerInput(MappedInput):
    """One export of a metering or marketing system: iterate for (table, batch) pairs; ``report`` tells how
    it went."""

    tables, what = TABLES, ("电力表", "power table")

    def prepared(self, mapping: Mapping | MappingSpec | str | Path | None) -> Mapping | None:
        return _with_tariffs(mapping)

    def finish(self, table: str, batch: pa.RecordBatch) -> pa.RecordBatch:
        if table == "accounts":
            return _known_tariffs(batch)
        if table == "billing":
            return _billed_days(batch)
        return batch


def _with_tariffs(mapping: Mapping | MappingSpec | str | Path | None) -> Mapping | None:
    if mapping is None:
        return None
    m = mapping if isinstance(mapping, Mapping) else Mapping.load(mapping)
    if m.table == "accounts" and "tariff" in m.columns:
        m.values = {**m.values, "tariff": {**TARIFF_NAMES, **m.values.get("tariff", {})}}
    return m


def _known_tariffs(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Tariffs lower-case, and ``other`` for a category the table does not know (kept, never guessed)."""
    i = batch.schema.get_field_index("tariff")
    tariff = pc.utf8_lower(batch.column(i))
    known = pa.array(["residential", "commercial", "industrial", "agricultural", "other"])
    fixed = pc.if_else(pc.or_(pc.is_null(tariff), pc.is_in(tariff, value_set=known)), tariff, "other")
    return batch.set_column(i, "tariff", fixed)


def _billed_days(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A bill's length in days where the export does not give it: from its dates, else its month's days."""
    i = batch.schema.get_field_index("days")
    given = batch.column(i)
    if given.null_count == 0:
        return batch
    import calendar
    from datetime import timedelta

    starts = batch.column("period_start").to_pylist()
    ends = batch.column("period_end").to_pylist()
    days = []
    for d, start, end in zip(given.to_pylist(), starts, ends, strict=True):
        if d is None and start is not None:
            # a period starts at local midnight, stored in UTC: half a day on is its local date in any zone
            local = start + timedelta(hours=12)
            d = round((end - start).total_seconds() / 86400) if end is not None and end > start else \
                calendar.monthrange(local.year, local.month)[1]
        days.append(d)
    return batch.set_column(i, "days", pa.array(days, pa.int32()))


class ReadingCompleter:
    """Readings as the detector needs them, a batch at a time: the account's number as the meter where an export
    has no meter number, and each meter's interval where the export does not give it — its readings' usual
    spacing (the median gap) in the batch, snapped to the nearest of ``INTERVALS_S``, or what an earlier batch
    showed for that meter. ``unknown`` counts readings whose meter's spacing no batch has shown yet (an export
    sorted by time puts one reading of each meter in a batch: give ``interval_s`` in the mapping's
    ``[constants]``)."""

    def __init__(self) -> None:
        self.intervals: dict[str, int] = {}
        self.unknown = 0

    def __call__(self, readings: pa.RecordBatch | pa.Table) -> pa.Table:
        table = readings if isinstance(readings, pa.Table) else pa.Table.from_batches([readings])
        if table.num_rows == 0:
            return table
        meter = table.column("meter")
        if meter.null_count:
            table = table.set_column(table.schema.get_field_index("meter"), "meter",
                                     pc.coalesce(meter, table.column("account")))
        if table.column("interval_s").null_count == 0:
            return table
        con = duckdb.connect()
        try:
            con.register("r", table.select(["meter", "ts"]))
            gaps = con.execute("""
                SELECT meter, median(gap) AS gap FROM (
                    SELECT meter, epoch(ts) - lag(epoch(ts)) OVER (PARTITION BY meter ORDER BY ts) AS gap FROM r)
                WHERE gap > 0 GROUP BY meter""").fetchall()
        finally:
            con.close()
        for m, g in gaps:
            if g is not None:
                self.intervals[m] = _nearest_interval(float(g))
        given = table.column("interval_s").to_pylist()
        meters = table.column("meter").to_pylist()
        filled = [g if g is not None else self.intervals.get(m) for g, m in zip(given, meters, strict=True)]
        self.unknown += sum(1 for f in filled if f is None)
        return table.set_column(table.schema.get_field_index("interval_s"), "interval_s",
                                pa.array(filled, pa.int32()))


def _nearest_interval(gap_s: float) -> int:
    return min(INTERVALS_S, key=lambda s: abs(s - gap_s))


def complete_readings(readings: pa.Table) -> pa.Table:
    """A whole readings table completed at once (``ReadingCompleter``)."""
    return ReadingCompleter()(readings)


__all__ = ["TARIFF_NAMES", "PowerInput", "ReadingCompleter", "complete_readings"]

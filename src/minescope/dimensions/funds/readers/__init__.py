"""Readers of the funds dimension: core-banking and payment exports → the funds tables (``tables.TABLES``).

    export = FundsInput(path, mapping)     # CSV, Parquet or JSON lines through a column mapping
    for table, batch in export:            # transactions, bank_accounts, known_counterparties or usdt_rates
        ...
    export.report                          # rows per table, rows skipped, problems (zh/en)

Bank exports have no standard layout, so every export is read through a column mapping by the reader all
dimensions share (``minescope.readers.mapped``, docs/mapping.md). What is particular to funds: the ways statements
write a line's direction (借/贷, 收入/支出, D/C …) and the currency (人民币 → CNY) become the table's values
(``DIRECTION_NAMES``, ``CURRENCY_NAMES``; a mapping's ``[values.direction]`` adds or overrides); a line whose
direction is none of these is skipped and told, never guessed.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from minescope.dimensions.funds.tables import COUNTERPARTY_TYPES, DIRECTIONS, TABLES
from minescope.readers.mapped import MappedInput, Mapping, MappingSpec
from minescope.readers.report import InputReport

DIRECTION_NAMES = {
    "in": "in", "out": "out", "IN": "in", "OUT": "out", "credit": "in", "debit": "out", "CR": "in", "DR": "out",
    "C": "in", "D": "out", "贷": "in", "借": "out", "收": "in", "付": "out", "收入": "in", "支出": "out", "转入": "in",
    "转出": "out", "入账": "in", "出账": "out", "进": "in", "出": "out", "1": "in", "0": "out",
}
"""How statements write which way a line's money went (贷 credit: received; 借 debit: paid)."""

CURRENCY_NAMES = {"人民币": "CNY", "RMB": "CNY", "rmb": "CNY", "CNY": "CNY", "156": "CNY", "美元": "USD", "USD": "USD",
                  "港币": "HKD", "港元": "HKD", "HKD": "HKD"}

COUNTERPARTY_NAMES = {"交易所": "exchange", "币商": "otc", "承兑商": "otc", "支付平台": "payment_platform",
                      "第三方支付": "payment_platform"}


class FundsInput(MappedInput):
    """One export of a bank's or payment firm's system: iterate for (table, batch) pairs; ``report`` tells how it
    went."""

    tables, what = TABLES, ("资金表", "funds table")

    def prepared(self, mapping: Mapping | MappingSpec | str | Path | None) -> Mapping | None:
        return _with_names(mapping)

    def finish(self, table: str, batch: pa.RecordBatch) -> pa.RecordBatch:
        if table == "transactions":
            return _known_directions(batch, self.report)
        if table == "known_counterparties":
            return _known_types(batch)
        return batch


def _with_names(mapping: Mapping | MappingSpec | str | Path | None) -> Mapping | None:
    if mapping is None:
        return None
    m = mapping if isinstance(mapping, Mapping) else Mapping.load(mapping)
    extra = {"transactions": (("direction", DIRECTION_NAMES), ("currency", CURRENCY_NAMES)),
             "known_counterparties": (("type", COUNTERPARTY_NAMES),)}.get(m.table, ())
    for target, names in extra:
        if target in m.columns:
            m.values = {**m.values, target: {**names, **m.values.get(target, {})}}
    return m


def _known_directions(batch: pa.RecordBatch, report: InputReport) -> pa.RecordBatch:
    """Lines whose direction is ``in`` or ``out`` (after the names above); the others skipped and told once."""
    i = batch.schema.get_field_index("direction")
    direction = pc.utf8_lower(batch.column(i))
    batch = batch.set_column(i, "direction", direction)
    ok = pc.fill_null(pc.is_in(direction, value_set=pa.array(DIRECTIONS)), False)
    bad = len(ok) - (pc.sum(ok).as_py() or 0)
    if bad:
        shown = sorted({str(v) for v in batch.column(i).filter(pc.invert(ok)).to_pylist()[:50]})[:3]
        report.records(bad, f"收付方向不是收入或支出（{', '.join(shown)}）；请在映射的 [values.direction] 中说明",
                       f"a direction that is neither in nor out ({', '.join(shown)}); say which in the mapping's "
                       "[values.direction]")
        batch = batch.filter(ok)
    return batch


def _known_types(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Counterparty types lower-case, ``other`` for a type the table does not know."""
    i = batch.schema.get_field_index("type")
    kind = pc.utf8_lower(batch.column(i))
    fixed = pc.if_else(pc.fill_null(pc.is_in(kind, value_set=pa.array(COUNTERPARTY_TYPES)), False), kind, "other")
    return batch.set_column(i, "type", fixed)


__all__ = ["CURRENCY_NAMES", "DIRECTION_NAMES", "FundsInput"]

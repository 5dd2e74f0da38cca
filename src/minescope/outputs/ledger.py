"""The ledger (台账) of a jurisdiction as an .xlsx workbook: one row per case, one sheet per county.

The 2021 practice: the city keeps one ledger, splits it by county, and each county works its part
until the list is cleared (名单清零). The first sheet is the whole area; the others are its
sub-divisions (the counties of a city, the cities of a province), so the file can be split by sheet.
"""

from __future__ import annotations

import io
import time
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import Engine, case, func, select

from minescope.cases.workflow import STATE_LABELS
from minescope.enrich.estimate import METERED
from minescope.knowledge.regions import division
from minescope.model import DIMENSION_LABELS
from minescope.outputs.cells import safe_cell
from minescope.store.accounts import region_prefix
from minescope.store.cases import case_findings, cases
from minescope.store.findings import findings

COLUMNS = (
    ("案件编号", "Case", 10), ("对象", "Subject", 32), ("单位类型", "Organisation type", 14),
    ("省", "Province", 10), ("市", "City", 10), ("区划代码", "Region code", 10),
    ("状态", "State", 12), ("结案原因", "Closing reason", 14), ("责任人", "Owner", 14),
    ("期限", "Due", 18), ("逾期", "Overdue", 8), ("发现数", "Findings", 8), ("重新打开次数", "Reopened", 10),
    ("证据维度", "Evidence", 16), ("电表新增日电量 kWh", "Metered kWh/day", 14),
)



def ledger_xlsx(store: Engine, region_code: str = "", lang: str = "zh", now: float | None = None) -> bytes:
    """The ledger of ``region_code`` (empty: everything) as .xlsx bytes."""
    out = io.BytesIO()
    write_ledger(store, out, region_code, lang, now)
    return out.getvalue()


def write_ledger(store: Engine, out: IO[bytes] | str, region_code: str = "", lang: str = "zh",
                 now: float | None = None) -> None:
    """Write the ledger to ``out`` (a file or a path). openpyxl's write-only mode streams the rows to the
    file instead of building a cell object per value, and the cases come in one query with their
    finding counts grouped (not one subquery per case): 10,000 cases take a second or two."""
    now = time.time() if now is None else now
    scope = region_prefix(region_code)
    rows = _rows(store, scope)
    evidence = _evidence(store, scope)
    book = Workbook(write_only=True)
    area = division(region_code) if region_code else None
    _fill(book.create_sheet(_sheet_name(area.name if area else ("全部" if lang == "zh" else "All"))), rows, evidence,
          lang, now)
    # one sheet per sub-division one level down (county of a city, city of a province)
    child_len = {0: 2, 2: 4, 4: 6}.get(len(scope))
    if child_len:
        parts: dict[str, list[Any]] = {}
        for r in rows:
            code = (r.region_code or "")[:child_len]
            parts.setdefault(code, []).append(r)
        for code, part in sorted(parts.items()):
            sub = division(code.ljust(6, "0")) if code else None
            _fill(book.create_sheet(_sheet_name(sub.name if sub else (code or "未知"))), part, evidence, lang, now)
    book.save(out)


def _rows(store: Engine, scope: str) -> list[Any]:
    counts = (select(case_findings.c.case_id, func.count().label("n")).group_by(case_findings.c.case_id)
              .subquery())
    query = (select(cases, func.coalesce(counts.c.n, 0).label("findings"))
             .outerjoin(counts, counts.c.case_id == cases.c.id)
             .order_by(func.coalesce(cases.c.region_code, ""), cases.c.id))
    if scope:
        query = query.where(cases.c.region_code.like(f"{scope}%"))
    with store.connect() as conn:
        return list(conn.execute(query))


def _evidence(store: Engine, scope: str) -> dict[int, tuple[list[str], float | None]]:
    """Each case's dimensions of evidence, and the energy its meters measured (kWh/day, best)."""
    f = findings.c
    metered = func.sum(case((f.energy_algorithm == METERED, f.kwh_per_day_best), else_=None))
    query = (select(case_findings.c.case_id, f.dimension, metered)
             .join(findings, findings.c.id == case_findings.c.finding_id)
             .group_by(case_findings.c.case_id, f.dimension))
    if scope:
        query = query.join(cases, cases.c.id == case_findings.c.case_id).where(cases.c.region_code.like(f"{scope}%"))
    out: dict[int, tuple[list[str], float | None]] = {}
    with store.connect() as conn:
        for case_id, dimension, kwh in conn.execute(query):
            dims, total = out.get(case_id, ([], None))
            dims.append(dimension)
            out[case_id] = (dims, (total or 0.0) + kwh if kwh is not None else total)
    return out


def _fill(sheet: Any, rows: list[Any], evidence: dict[int, tuple[list[str], float | None]], lang: str,
          now: float) -> None:
    en = lang == "en"
    for i, (_, _, width) in enumerate(COLUMNS, 1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    head = []
    for c in COLUMNS:
        cell = WriteOnlyCell(sheet, value=c[1] if en else c[0])
        cell.font = bold
        head.append(cell)
    sheet.append(head)
    yes = "yes" if en else "是"
    for r in rows:
        overdue = bool(r.due_at and r.due_at < now and r.state != "closed")
        due = _due(r.due_at)
        dims, kwh = evidence.get(r.id, ([], None))
        shown = ("、" if not en else ", ").join(DIMENSION_LABELS.get(d, (d, d))[en] for d in sorted(dims, key=_order))
        sheet.append([safe_cell(v) for v in (
            r.id, r.title, r.org_type or "", r.province or "", r.city or "", r.region_code or "",
            STATE_LABELS[r.state][en], STATE_LABELS[r.closing_reason][en] if r.closing_reason else "",
            r.owner or "", due, yes if overdue else "", r.findings, r.reopened, shown,
            round(kwh, 1) if kwh is not None else "")])


def _order(dimension: str) -> int:
    return list(DIMENSION_LABELS).index(dimension) if dimension in DIMENSION_LABELS else len(DIMENSION_LABELS)


def _due(due_at: float | None) -> str:
    """The due date as the console shows it; a stored value no calendar holds is shown as "–", not an error."""
    if not due_at:
        return ""
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(due_at))
    except (OverflowError, ValueError, OSError):
        return "–"


def _sheet_name(name: str) -> str:
    return "".join(c for c in name if c not in "[]:*?/\\")[:31] or "-"

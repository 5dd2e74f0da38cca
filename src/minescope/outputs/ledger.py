"""The ledger (台账) of a jurisdiction as an .xlsx workbook: one row per case, one sheet per county.

The 2021 practice: the city keeps one ledger, splits it by county, and each county works its part
until the list is cleared (名单清零). The first sheet is the whole area; the others are its
sub-divisions (the counties of a city, the cities of a province), so the file can be split by sheet.
"""

from __future__ import annotations

import io
import time
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import Engine

from minescope.cases.workflow import STATE_LABELS, list_cases
from minescope.knowledge.regions import division
from minescope.store.accounts import region_prefix

COLUMNS = (
    ("案件编号", "Case", 10), ("对象", "Subject", 32), ("单位类型", "Organisation type", 14),
    ("省", "Province", 10), ("市", "City", 10), ("区划代码", "Region code", 10),
    ("状态", "State", 12), ("结案原因", "Closing reason", 14), ("责任人", "Owner", 14),
    ("期限", "Due", 18), ("逾期", "Overdue", 8), ("发现数", "Findings", 8), ("重新打开次数", "Reopened", 10),
)


def ledger_xlsx(store: Engine, region_code: str = "", lang: str = "zh", now: float | None = None) -> bytes:
    """The ledger of ``region_code`` (empty: everything) as .xlsx bytes."""
    now = time.time() if now is None else now
    scope = region_prefix(region_code)
    rows = sorted(list_cases(store, scope=scope), key=lambda r: (r.region_code or "", r.id))
    book = Workbook()
    whole = book.active
    assert whole is not None
    area = division(region_code) if region_code else None
    whole.title = _sheet_name(area.name if area else ("全部" if lang == "zh" else "All"))
    _fill(whole, rows, lang, now)
    # one sheet per sub-division one level down (county of a city, city of a province)
    child_len = {0: 2, 2: 4, 4: 6}.get(len(scope))
    if child_len:
        parts: dict[str, list[Any]] = {}
        for r in rows:
            code = (r.region_code or "")[:child_len]
            parts.setdefault(code, []).append(r)
        for code, part in sorted(parts.items()):
            sub = division(code.ljust(6, "0")) if code else None
            _fill(book.create_sheet(_sheet_name(sub.name if sub else (code or "未知"))), part, lang, now)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _fill(sheet: Any, rows: list[Any], lang: str, now: float) -> None:
    en = lang == "en"
    sheet.append([c[1] if en else c[0] for c in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for r in rows:
        overdue = bool(r.due_at and r.due_at < now and r.state != "closed")
        sheet.append([
            r.id, r.title, r.org_type or "", r.province or "", r.city or "", r.region_code or "",
            STATE_LABELS[r.state][en], STATE_LABELS[r.closing_reason][en] if r.closing_reason else "",
            r.owner or "", time.strftime("%Y-%m-%d %H:%M", time.localtime(r.due_at)) if r.due_at else "",
            ("yes" if en else "是") if overdue else "", r.findings, r.reopened,
        ])
    for i, (_, _, width) in enumerate(COLUMNS, 1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A2"


def _sheet_name(name: str) -> str:
    return "".join(c for c in name if c not in "[]:*?/\\")[:31] or "-"

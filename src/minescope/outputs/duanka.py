"""The 断卡 list of a jurisdiction as an .xlsx workbook: the accounts its cases put on the list, one row each.

"断卡" cuts off the cards and accounts that moved fraud or crypto-speculation money: an account on the list loses
its non-counter services (for five years, in the 2020 campaign). A bank or payment firm hands the list on; the
police and the regulator check it against their own. Each row is an account a case recorded as ``duanka``
(``cases.workflow.act_on_account``), with what else was done about it in that case — frozen, reported to the
police — and each action's reference and time, the case, its area and the findings' kinds.
"""

from __future__ import annotations

import io
import time
from collections import defaultdict
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import Engine, select

from minescope import registry
from minescope.outputs.cells import safe_cell
from minescope.store.accounts import region_prefix
from minescope.store.cases import account_actions, case_findings, cases
from minescope.store.findings import findings

# (zh, en, width) of each column
COLUMNS = (
    ("账户", "Account", 24), ("持有人 / 单位", "Holder / organisation", 24), ("案件编号", "Case", 8),
    ("地区代码", "Region code", 10), ("发现类型", "Finding kinds", 28), ("首次发现", "First seen", 17),
    ("末次发现", "Last seen", 17), ("冻结时间", "Frozen at", 17), ("冻结文书号", "Freeze order", 20),
    ("报案时间", "Reported at", 17), ("报案回执号", "Police report", 20), ("列入时间", "Listed at", 17),
    ("列入依据", "Listing reference", 20), ("经办人", "Listed by", 12),
)


def duanka_rows(store: Engine, region_code: str = "") -> list[dict[str, Any]]:
    """Every account on the 断卡 list of cases in ``region_code`` (empty: everywhere), in case and account order."""
    scope = region_prefix(region_code)
    query = (select(account_actions, cases.c.org_name, cases.c.title, cases.c.region_code)
             .join(cases, cases.c.id == account_actions.c.case_id)
             .order_by(account_actions.c.case_id, account_actions.c.account, account_actions.c.id))
    if scope:
        query = query.where(cases.c.region_code.like(f"{scope}%"))
    acted: dict[tuple[int, str], dict[str, Any]] = {}
    with store.connect() as conn:
        for r in conn.execute(query):
            row = acted.setdefault((r.case_id, r.account), {
                "account": r.account, "holder": r.org_name or "", "case_id": r.case_id,
                "region_code": r.region_code or "", "actions": {}})
            row["actions"][r.action] = {"at": r.at, "reference": r.reference, "actor": r.actor}
        listed = {key: row for key, row in acted.items() if "duanka" in row["actions"]}
        seen: dict[tuple[int, str], dict[str, Any]] = defaultdict(lambda: {"kinds": set(), "first": None, "last": None})
        if listed:
            for case_id, account, kind, first, last in conn.execute(
                    select(case_findings.c.case_id, findings.c.subject_value, findings.c.kind, findings.c.first_seen,
                           findings.c.last_seen)
                    .join(findings, findings.c.id == case_findings.c.finding_id)
                    .where(case_findings.c.case_id.in_({c for c, _ in listed}), findings.c.subject_type == "account")):
                s = seen[(case_id, account)]
                s["kinds"].add(kind)
                s["first"] = first if s["first"] is None else min(s["first"], first)
                s["last"] = last if s["last"] is None else max(s["last"], last)
    for key, row in listed.items():
        row.update(kinds=sorted(seen[key]["kinds"]), first_seen=seen[key]["first"], last_seen=seen[key]["last"])
    return list(listed.values())


def duanka_xlsx(store: Engine, region_code: str = "", lang: str = "zh") -> bytes:
    out = io.BytesIO()
    write_duanka(store, out, region_code, lang)
    return out.getvalue()


def write_duanka(store: Engine, out: IO[bytes] | str, region_code: str = "", lang: str = "zh") -> None:
    """Write the list to ``out`` (a file or a path): one sheet, a row per listed account."""
    en = lang == "en"
    book = Workbook(write_only=True)
    sheet = book.create_sheet("断卡名单" if not en else "Cut-off list")
    for i, (_, _, width) in enumerate(COLUMNS, 1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    head = []
    for zh, name_en, _ in COLUMNS:
        cell = WriteOnlyCell(sheet, value=name_en if en else zh)
        cell.font = bold
        head.append(cell)
    sheet.append(head)
    kinds = registry.kinds()
    for r in duanka_rows(store, region_code):
        acts = r["actions"]

        def at(action: str, acts: dict[str, Any] = acts) -> str:
            return _clock(acts[action]["at"]) if action in acts else ""

        def ref(action: str, acts: dict[str, Any] = acts) -> str:
            return str(acts[action]["reference"]) if action in acts else ""

        shown = ("、" if not en else ", ").join(kinds[k].label.get(lang) if k in kinds else k for k in r["kinds"])
        sheet.append([safe_cell(v) for v in (
            r["account"], r["holder"], r["case_id"], r["region_code"], shown, _clock(r["first_seen"]),
            _clock(r["last_seen"]), at("freeze"), ref("freeze"), at("report_to_police"), ref("report_to_police"),
            at("duanka"), ref("duanka"), acts["duanka"]["actor"])])
    book.save(out)


def _clock(t: float | None) -> str:
    """A time as the console shows it; none or one no calendar holds is empty."""
    if t is None:
        return ""
    try:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))
    except (OverflowError, ValueError, OSError):
        return ""

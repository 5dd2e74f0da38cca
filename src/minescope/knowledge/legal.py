"""Policy documents a rectification notice may cite, read from ``data/legal-basis.md``.

The file is a markdown table (date, issued by, title, number) compiled from the public documents
themselves; see ``knowledge/README.md``. Documents without a number are statements, meetings or
drafts: they are context, never cited in a notice.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from minescope.knowledge import data_path

_NO_NUMBER = {"", "—", "-", "–"}


@dataclass(frozen=True, slots=True)
class LegalDocument:
    date: str  # as written, e.g. "2021-09-03 (published 09-24)"
    issued_by: str
    title: str  # as written, with ASCII quotes: 关于整治虚拟货币"挖矿"活动的通知
    number: str | None  # document number, e.g. 发改运行〔2021〕1283号; None when it has none

    @property
    def cited_title(self) -> str:
        """The title in book-title marks with Chinese quotes: 《关于整治虚拟货币“挖矿”活动的通知》."""
        return f"《{chinese_quotes(self.title)}》"


def chinese_quotes(text: str) -> str:
    """Pairs of ASCII double quotes become “ and ”."""
    parts = text.split('"')
    return "".join(p + ("“" if i % 2 == 0 else "”") for i, p in enumerate(parts[:-1])) + parts[-1]


@lru_cache(maxsize=1)
def legal_documents(path: Path | None = None) -> tuple[LegalDocument, ...]:
    """Every row of the table, in file order."""
    path = path or data_path("legal-basis.md")
    rows: list[LegalDocument] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != 4 or cells[0] == "date" or set(cells[0]) <= set("-: "):
            continue  # header, separator or a malformed row
        date, issued_by, title, number = cells
        rows.append(LegalDocument(date, issued_by, title, None if number in _NO_NUMBER else number))
    return tuple(rows)


def by_number(number: str) -> LegalDocument | None:
    return next((d for d in legal_documents() if d.number == number), None)

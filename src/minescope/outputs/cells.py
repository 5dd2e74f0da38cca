"""Spreadsheet cells that stay text: no formula from a name someone else chose.

A value that a spreadsheet program would read as a formula (it starts with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return) is prefixed with ``'``, as the OWASP guidance on CSV injection says; in an
.xlsx cell openpyxl stores the text as a string, and the prefix also keeps it inert when the sheet is
saved again as CSV. Organisation names, owners, hosts and pool names come from registries, forms and
captures: any of them may begin with ``=``.
"""

from __future__ import annotations

from typing import Any

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """``value``, with a leading ``'`` if it is text a spreadsheet would take for a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value

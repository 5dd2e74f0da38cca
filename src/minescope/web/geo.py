"""Which map the dashboard draws for an area, and which GB/T 2260 code each shape on it stands for.

The shapes are the vendored GeoJSON in ``static/vendor/china-map/`` (see its README): the country by
province, and each province by city (municipalities by district). They carry names only ('江苏',
'南京市'); the names are matched here to the bundled divisions, as the dashboard keys places by code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from minescope.knowledge.regions import division, divisions, find_city, find_province
from minescope.store.accounts import region_prefix

MAP_DIR = Path(__file__).parent / "static" / "vendor" / "china-map"
MAP_URL = "/static/vendor/china-map"


@cache
def _shape_names(rel: str) -> tuple[str, ...]:
    path = MAP_DIR / rel
    if not path.is_file():
        return ()
    return tuple(f["properties"]["name"] for f in json.loads(path.read_text(encoding="utf-8"))["features"])


@cache
def province_codes() -> dict[str, str]:
    """Shape name on the country map → six-digit province code ('江苏' → '320000')."""
    found = {name: find_province(name) for name in _shape_names("china.json")}
    return {name: d.code for name, d in found.items() if d}


@cache
def place_codes(province: str) -> dict[str, str]:
    """Shape name on a province's map → six-digit code of the city or county it is ('南京市' → '320100')."""
    prov = division(province[:2] + "0000")
    if prov is None:
        return {}
    found = {name: find_city(prov, name) for name in _shape_names(f"province/{province[:2]}.json")}
    return {name: d.code for name, d in found.items() if d}


@dataclass(frozen=True)
class MapView:
    name: str  # the map's name in ECharts: "china" lets ECharts add the South China Sea islands inset
    url: str
    places: dict[str, str]  # shape name → key of the area's child it lies in (as in hosts_by_place)
    targets: dict[str, str]  # shape name → code prefix to drill into


def child_length(scope: str) -> int:
    """Digits of the code prefixes that name an area's children, as the dashboard groups them."""
    return {0: 2, 2: 4, 4: 6}.get(len(scope), 6)


def map_for(scope: str) -> MapView | None:
    """The map of an area's children: the country by province, a province by city, a municipality's
    city (e.g. 1101) by district. None where no map is bundled (most cities, counties)."""
    if len(scope) >= 6:
        return None
    child = child_length(scope)
    if scope:
        codes, url, name = place_codes(scope), f"{MAP_URL}/province/{scope[:2]}.json", f"cn-{scope}"
    else:
        codes, url, name = province_codes(), f"{MAP_URL}/china.json", "china"
    places, targets = {}, {}
    for shape, code in codes.items():
        own = region_prefix(code)
        if not own.startswith(scope) or len(own) < child:
            continue
        d = divisions()[code]
        # a child of the area, or a county a province runs directly (仙桃市 429004 under 湖北)
        if len(own) == child or d.parent == scope.ljust(6, "0"):
            places[shape], targets[shape] = code[:child], own
    return MapView(name, url, places, targets) if places else None


def place_name(prefix: str) -> str:
    """'32' → '江苏省', '3201' → '南京市'; the prefix itself when no division has it."""
    d = division(prefix.ljust(6, "0")) if prefix else None
    return d.name if d else prefix

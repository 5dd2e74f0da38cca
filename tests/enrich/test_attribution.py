"""Attribution: registry → internal → CERNET/CSTNET → ip2region, with GB/T 2260 region codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import ROOT
from minescope.enrich.attribution import Attributor
from minescope.errors import InputError
from minescope.knowledge import regions

EXAMPLE = ROOT / "docs" / "examples" / "org-registry.csv"
HEADER = "cidr,organisation,type,region_code,contact\n"


@pytest.fixture(scope="module")
def public() -> Attributor:
    return Attributor()


def registry(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "org.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


# ---------------------------------------------------------------- public data


def test_cernet_address_is_a_university_in_beijing(public: Attributor) -> None:
    a = public.attribute("202.112.0.1")
    assert a.org_type == "university"
    assert a.source == "cernet"
    assert (a.country, a.province, a.city) == ("中国", "北京市", "北京市")
    assert a.region_code == "110100"
    assert a.isp == "教育网"
    assert a.institutional


def test_jiangsu_telecom_address(public: Attributor) -> None:
    a = public.attribute("221.226.0.1")
    assert (a.country, a.province, a.city, a.isp) == ("中国", "江苏省", "南京市", "电信")
    assert a.region_code == "320100"
    assert a.source == "ip2region"
    assert a.org_type == "unknown"
    assert not a.institutional


def test_cstnet_address_is_research(public: Attributor) -> None:
    a = public.attribute("159.226.0.1")
    assert (a.org_type, a.source, a.isp) == ("research", "cstnet", "科技网")


def test_cloud_carrier_is_a_datacenter(public: Attributor) -> None:
    a = public.attribute("223.5.5.5")
    assert (a.org_type, a.isp, a.region_code) == ("datacenter", "阿里云", "330100")


@pytest.mark.parametrize("ip", ["10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "127.0.0.1",
                                "169.254.1.1", "fd00::1", "fe80::1", "::1"])
def test_private_address_is_internal(public: Attributor, ip: str) -> None:
    a = public.attribute(ip)
    assert (a.org_type, a.source, a.country) == ("internal", "private", None)


def test_foreign_address(public: Attributor) -> None:
    a = public.attribute("8.8.8.8")
    assert a.country == "美国" and a.region_code is None and a.source == "ip2region"


def test_ipv6_cernet_and_unknown(public: Attributor) -> None:
    cernet = public.attribute("2001:250::1")
    assert (cernet.org_type, cernet.source) == ("university", "cernet")
    other = public.attribute("2400:cb00::1")
    assert other.org_type == "unknown" and other.region_code is None


def test_invalid_address_does_not_raise(public: Attributor) -> None:
    assert public.attribute("not-an-ip").org_type == "unknown"


def test_lookups_are_cached(public: Attributor) -> None:
    assert public.attribute("221.226.0.1") is public.attribute("221.226.0.1")


# ---------------------------------------------------------------- registry


def test_registry_overrides_public_data(tmp_path: Path) -> None:
    path = registry(tmp_path, "221.226.0.0/24,某市人民政府,government,320500,信息中心\n"
                              "202.112.0.0/16,某研究院,research,,\n")
    att = Attributor(path)
    a = att.attribute("221.226.0.1")
    assert (a.org_name, a.org_type, a.source) == ("某市人民政府", "government", "registry")
    assert a.contact == "信息中心"
    assert (a.region_code, a.province, a.city) == ("320500", "江苏省", "苏州市")
    assert a.isp == "电信"  # carrier still from public data
    b = att.attribute("202.112.0.1")  # CERNET range, but the registry names it
    assert (b.org_type, b.source, b.region_code) == ("research", "registry", "110100")
    assert att.attribute("221.226.1.1").source == "ip2region"


def test_registry_most_specific_cidr_wins_and_can_name_private_space(tmp_path: Path) -> None:
    path = registry(tmp_path, "10.0.0.0/8,集团,state_owned,,\n10.1.0.0/16,集团 研发中心,enterprise,310000,\n"
                              "2001:db8::/32,某数据中心,datacenter,,\n")
    att = Attributor(path)
    assert att.attribute("10.1.2.3").org_name == "集团 研发中心"
    assert att.attribute("10.2.0.1").org_name == "集团"
    assert att.attribute("10.2.0.1").org_type == "state_owned"
    assert att.attribute("172.16.0.1").org_type == "internal"
    v6 = att.attribute("2001:db8:5::1")
    assert (v6.org_type, v6.source) == ("datacenter", "registry")


def test_example_registry_loads_cleanly() -> None:
    att = Attributor(EXAMPLE)
    assert att.problems == []
    a = att.attribute("198.51.100.200")
    assert a.org_name == "示例大学 计算机学院实验室" and a.region_code == "320500"


def test_bad_rows_are_reported_with_file_line_and_skipped(tmp_path: Path) -> None:
    path = registry(tmp_path, "192.0.2.0/24,好的单位,government,320100,\n"
                              "192.0.2.999/24,坏地址,government,,\n"
                              "198.51.100.0/24,未知类型,ministry,,\n"
                              "203.0.113.0/24,坏代码,enterprise,32010,\n"
                              "192.0.2.0/24,重复,enterprise,,\n"
                              "198.18.0.0/15,未知代码,enterprise,999999,\n")
    att = Attributor(path)
    lines = [p.split(": ", 1)[0] for p in att.problems]
    assert lines == [f"{path}:3", f"{path}:4", f"{path}:5", f"{path}:6", f"{path}:7"]
    assert "ministry" in att.problems[1]
    assert att.attribute("192.0.2.1").org_name == "好的单位"
    assert att.attribute("198.18.0.1").region_code == "999999"  # kept as given, with a warning


def test_missing_header_is_an_input_error_naming_file_and_line(tmp_path: Path) -> None:
    path = registry(tmp_path, "192.0.2.0/24,某单位,government,,\n", header="")
    with pytest.raises(InputError) as err:
        Attributor(path)
    msg = str(err.value)
    assert f"{path}:1:" in msg and "cidr,organisation,type,region_code,contact" in msg
    assert "\n" not in msg


def test_no_usable_row_is_an_input_error(tmp_path: Path) -> None:
    path = registry(tmp_path, "nonsense,某单位,government,,\n")
    with pytest.raises(InputError, match=rf"{path}:2: cidr 'nonsense'"):
        Attributor(path)


def test_missing_registry_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        Attributor(tmp_path / "absent.csv")


# ---------------------------------------------------------------- GB/T 2260 table


def test_region_table_has_all_provincial_divisions() -> None:
    provinces = [d for d in regions.divisions().values() if d.level == "province"]
    assert len(provinces) == 34
    assert regions.division("320100").name == "南京市"  # type: ignore[union-attr]
    assert regions.division("320100").parent == "320000"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("province", "city", "code"),
    [("江苏省", "南京市", "320100"), ("江苏", "苏州", "320500"), ("北京", "北京市", "110100"),
     ("内蒙古", None, "150000"), ("新疆", "石河子市", "659001"), ("河南省", "济源市", "419001"),
     ("火星", None, None)],
)
def test_region_code_from_names(province: str, city: str | None, code: str | None) -> None:
    assert regions.region_code(province, city) == code

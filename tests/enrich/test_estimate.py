"""Energy sizing: hash rate → kW → kWh/day per algorithm, never across algorithms."""

from __future__ import annotations

import pytest

from minescope.enrich.estimate import (
    canonical_algorithm,
    estimate_energy,
    hardware_table,
    totals_by_algorithm,
)
from minescope.model import HashRate

PH = 1e15


def hr(algorithm: str, hps: float, rel: float = 0.0, method: str = "shares") -> HashRate:
    return HashRate(algorithm=algorithm, hps=hps, rel_uncertainty=rel, method=method)


def test_hardware_table_skips_rows_without_power_and_matches_stated_efficiency() -> None:
    table = hardware_table()
    assert len(table) == 23  # 24 rows, the Vega 56 RandomX estimate has no power
    assert not any("Vega" in d.device for d in table)
    s19 = next(d for d in table if d.device.startswith("Bitmain Antminer S19 (95 TH)"))
    assert s19.efficiency == pytest.approx(34.2, rel=0.01)
    assert s19.efficiency_unit == "J/TH"


def test_sha256_one_ph_within_documented_band() -> None:
    e = estimate_energy(hr("SHA-256", PH))
    assert e is not None and e.algorithm == "SHA-256"
    low, best, high = e.kwh_per_day
    # low: S21 Pro 15 J/TH × 1.01; best: median 36.1 J/TH × 1.10; high: S9 98 J/TH × 1.20
    assert low == pytest.approx(24 * 15.0 * 1.01, rel=1e-3)
    assert best == pytest.approx(24 * 36.1 * 1.10, rel=1e-2)
    assert high == pytest.approx(24 * 98.0 * 1.20, rel=1e-3)
    assert low < 24 * 34.2 < high  # the README's 821 kWh/day per PH/s at S19 efficiency lies inside
    assert e.kw[1] * 24 == pytest.approx(best)
    assert "PUE" in e.basis and "J/TH" in e.basis


def test_design_note_ten_ph_2021() -> None:
    # DESIGN.md: 10 PH/s of SHA-256 draws ~8,000-24,000 kWh/day; far below Jiangsu's 260,000.
    e = estimate_energy(hr("sha256", 10 * PH), as_of_year=2021)
    assert e is not None
    assert 8_000 <= e.kwh_per_day[1] <= 24_000
    assert e.kwh_per_day[2] < 260_000


def test_as_of_year_excludes_later_hardware() -> None:
    e = estimate_energy(hr("SHA-256", PH), as_of_year=2018)
    assert e is not None
    assert e.kwh_per_day[0] == pytest.approx(24 * 98.0 * 1.01, rel=1e-3)  # only the S9 existed
    assert "released by 2018" in e.basis


def test_hash_rate_uncertainty_widens_the_band() -> None:
    exact = estimate_energy(hr("SHA-256", PH))
    loose = estimate_energy(hr("SHA-256", PH, rel=0.25))  # the band spans ±2σ of the hash rate
    assert exact is not None and loose is not None
    assert loose.kw[0] == pytest.approx(exact.kw[0] * 0.5)
    assert loose.kw[1] == pytest.approx(exact.kw[1])
    assert loose.kw[2] == pytest.approx(exact.kw[2] * 1.5)


@pytest.mark.parametrize(
    ("name", "family", "unit"),
    [("Ethash", "Ethash/Etchash", "J/MH"), ("etchash", "Ethash/Etchash", "J/MH"),
     ("Scrypt", "Scrypt", "J/MH"),
     ("equihash", "Equihash (200;9)", "J/kSol"), ("Equihash (144;5)", "Equihash (144;5)", "J/Sol"),
     ("rx/0", "RandomX", "J/H"), ("cn/r", "RandomX", "J/H"), ("cryptonight", "RandomX", "J/H")],
)
def test_algorithm_families_and_units(name: str, family: str, unit: str) -> None:
    e = estimate_energy(hr(name, 1e6))
    assert e is not None and e.algorithm == family and unit in e.basis
    assert e.kw[0] <= e.kw[1] <= e.kw[2]


def test_units_ethash_one_gh() -> None:
    # 1 GH/s of Ethash at the A10 Pro's 1.9 J/MH is 1.9 kW before PUE.
    e = estimate_energy(hr("ethash", 1e9))
    assert e is not None and e.kw[0] == pytest.approx(1.9 * 1.01, rel=1e-3)


def test_cryptonight_basis_says_randomx_rows_were_used() -> None:
    e = estimate_energy(hr("cryptonight", 1e4))
    assert e is not None and "CryptoNight sized with RandomX" in e.basis


@pytest.mark.parametrize("name", ["blake3", "kHeavyHash", "", "sha512"])
def test_unknown_algorithm_gives_none(name: str) -> None:
    assert estimate_energy(hr(name, 1e12)) is None
    assert canonical_algorithm(name) is None


def test_zero_hash_rate_gives_none() -> None:
    assert estimate_energy(hr("SHA-256", 0.0)) is None


def test_totals_sum_per_algorithm_only() -> None:
    items = [hr("sha256", 0.4 * PH, 0.1), hr("SHA-256", 0.6 * PH, 0.1), hr("ethash", 5e8, 0.2),
             hr("Ethash", 5e8, 0.2, method="reported"), hr("blake3", 7.0)]
    totals = totals_by_algorithm(items)
    assert set(totals) == {"SHA-256", "Ethash/Etchash", "blake3"}
    sha = totals["SHA-256"]
    assert sha.count == 2 and sha.hashrate.hps == pytest.approx(PH)
    assert sha.hashrate.rel_uncertainty == pytest.approx((0.04**2 + 0.06**2) ** 0.5 / 1.0, rel=1e-6)
    single = estimate_energy(hr("SHA-256", PH))
    assert sha.energy is not None and single is not None
    assert sha.energy.kwh_per_day[1] == pytest.approx(single.kwh_per_day[1])
    eth = totals["Ethash/Etchash"]
    assert eth.hashrate.hps == pytest.approx(1e9) and eth.hashrate.method == "reported+shares"
    assert eth.energy is not None and eth.energy.algorithm == "Ethash/Etchash"
    assert totals["blake3"].energy is None


def test_mixed_algorithms_are_never_added() -> None:
    totals = totals_by_algorithm([hr("SHA-256", PH), hr("RandomX", 1e6)])
    assert totals["SHA-256"].hashrate.hps == PH
    assert totals["RandomX"].hashrate.hps == 1e6
    for key, total in totals.items():
        assert total.hashrate.algorithm == key
        assert total.energy is not None and total.energy.algorithm == key
    assert "total" not in totals and "all" not in totals

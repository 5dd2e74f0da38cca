"""Sizing: hash rate → power (kW) → energy (kWh/day), per algorithm, as low / best / high.

Method (the CBECI convention): kWh/day = 24 h × hash rate × efficiency (J/hash) × PUE, with
PUE 1.01 (low), 1.10 (best guess) and 1.20 (high). Efficiencies come from the bundled
``mining-hardware.csv`` (power ÷ hash rate of each device with a known power; rows without
power are skipped), chosen per algorithm so the band brackets the plausible fleet:

- low  = the most efficient device in the table × PUE 1.01, at the low end of the hash rate;
- best = the median device of the table × PUE 1.10, at the hash rate as measured;
- high = the least efficient device × PUE 1.20, at the high end of the hash rate.

The hash rate's own uncertainty (``HashRate.low``/``high``, from the share count) is carried
into the band. ``as_of_year`` limits the table to devices released by then (a 2018 capture is
not sized with 2024 ASICs). Sanity check: SHA-256 at the S19's 34.2 J/TH is 821 kWh/day per PH/s.

Hash rates of different algorithms measure different work and never add up; energy is only ever
estimated per algorithm (``totals_by_algorithm``), and there is deliberately no "total of all".
"""

from __future__ import annotations

import csv
import math
import re
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from minescope.knowledge import data_path
from minescope.model import Energy, HashRate

PUE = (1.01, 1.10, 1.20)
METERED = "metered"  # the energy "algorithm" of a meter's load: measured, not estimated from a hash rate
HOURS_PER_DAY = 24.0

# Hashes (or solutions) per unit of the table's rate and efficiency units.
_RATE_SCALE = {"H": 1.0, "KH": 1e3, "MH": 1e6, "GH": 1e9, "TH": 1e12, "PH": 1e15,
               "SOL": 1.0, "KSOL": 1e3, "MSOL": 1e6}

# Lower-case algorithm (or coin) names seen in protocols → the table's algorithm family.
_ALIASES: dict[str, str] = {
    **dict.fromkeys(("sha-256", "sha256", "sha256d", "sha-256d", "bitcoin", "btc", "bch"), "SHA-256"),
    **dict.fromkeys(("scrypt", "ltc", "litecoin", "doge", "dogecoin"), "Scrypt"),
    **dict.fromkeys(("ethash", "etchash", "ethash/etchash", "eth", "etc", "ethw", "daggerhashimoto",
                     "ethereum", "ethereum classic"), "Ethash/Etchash"),
    **dict.fromkeys(("equihash", "equihash (200;9)", "equihash200_9", "equihash 200,9", "zec", "zcash",
                     "zen"), "Equihash (200;9)"),
    **dict.fromkeys(("equihash (144;5)", "equihash144_5", "equihash 144,5", "zhash", "btg"),
                    "Equihash (144;5)"),
    **dict.fromkeys(("randomx", "rx/0", "rx", "monero", "xmr"), "RandomX"),
}
# CryptoNight (Monero's algorithm until 2019-11) has no rows: sized with RandomX CPU rows, which
# gives the same order of magnitude for CPU mining; the basis says so.
_CRYPTONIGHT = re.compile(r"^(cryptonight|cn)([/-].*)?$")


@dataclass(frozen=True, slots=True)
class Device:
    """One row of the hardware table with a usable power figure."""

    algorithm: str
    device: str
    hw_class: str  # ASIC | GPU | GPU rig | CPU
    release_year: int | None
    hps: float  # hashes (solutions) per second
    power_w: float
    efficiency_unit: str  # as the table gives it, e.g. J/TH
    source: str

    @property
    def joules_per_hash(self) -> float:
        return self.power_w / self.hps

    @property
    def efficiency(self) -> float:
        """Efficiency in the table's own unit (J/TH, J/MH, …), for explanations."""
        return self.joules_per_hash * _RATE_SCALE[self.efficiency_unit.split("/")[1].upper()]


@lru_cache(maxsize=1)
def hardware_table() -> tuple[Device, ...]:
    """The bundled mining-hardware.csv, rows without power skipped."""
    out: list[Device] = []
    with data_path("mining-hardware.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if not row["power_w"].strip() or not row["hashrate"].strip():
                continue
            unit = row["hashrate_unit"].strip().upper().removesuffix("/S")
            year = re.match(r"\d{4}", row["release"].strip())
            out.append(Device(
                algorithm=row["algorithm"].strip(),
                device=row["device"].strip(),
                hw_class=row["class"].strip(),
                release_year=int(year.group()) if year else None,
                hps=float(row["hashrate"]) * _RATE_SCALE[unit],
                power_w=float(row["power_w"]),
                efficiency_unit=row["efficiency_unit"].strip(),
                source=row["source"].strip(),
            ))
    return tuple(out)


def canonical_algorithm(name: str | None) -> str | None:
    """The hardware table's algorithm family for a protocol's algorithm or coin name, or None."""
    if not name:
        return None
    key = name.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    if _CRYPTONIGHT.match(key):
        return "RandomX"
    return None


def devices_for(algorithm: str, as_of_year: int | None = None) -> list[Device]:
    """Devices of one algorithm family; released by ``as_of_year`` if that leaves any."""
    rows = [d for d in hardware_table() if d.algorithm == algorithm]
    if as_of_year is not None:
        dated = [d for d in rows if d.release_year is not None and d.release_year <= as_of_year]
        rows = dated or rows
    return rows


def estimate_energy(hr: HashRate, as_of_year: int | None = None) -> Energy | None:
    """kW and kWh/day (low, best, high) for one algorithm's hash rate; None if the algorithm is
    unknown to the hardware table or the hash rate is not positive."""
    family = canonical_algorithm(hr.algorithm)
    if family is None or not hr.hps > 0:
        return None
    devices = devices_for(family, as_of_year)
    if not devices:
        return None
    by_eff = sorted(devices, key=lambda d: d.joules_per_hash)
    j_low, j_best, j_high = (
        by_eff[0].joules_per_hash,
        statistics.median(d.joules_per_hash for d in by_eff),
        by_eff[-1].joules_per_hash,
    )
    kw = (
        hr.low * j_low * PUE[0] / 1000.0,
        hr.hps * j_best * PUE[1] / 1000.0,
        hr.high * j_high * PUE[2] / 1000.0,
    )
    return Energy(
        algorithm=family,
        kw=kw,
        kwh_per_day=(kw[0] * HOURS_PER_DAY, kw[1] * HOURS_PER_DAY, kw[2] * HOURS_PER_DAY),
        basis=_basis(hr.algorithm, family, by_eff, j_best, as_of_year),
    )


def _basis(asked: str, family: str, by_eff: list[Device], j_best: float, as_of_year: int | None) -> str:
    unit = by_eff[0].efficiency_unit
    scale = _RATE_SCALE[unit.split("/")[1].upper()]
    devices = f"{len(by_eff)} device{'s' if len(by_eff) != 1 else ''}"
    if as_of_year:
        devices += f" released by {as_of_year}"
    text = (
        f"{family}, {devices}: "
        f"low {by_eff[0].device} {by_eff[0].efficiency:.3g} {unit} × PUE {PUE[0]}; "
        f"best median {j_best * scale:.3g} {unit} × PUE {PUE[1]}; "
        f"high {by_eff[-1].device} {by_eff[-1].efficiency:.3g} {unit} × PUE {PUE[2]} "
        "(CBECI convention; hash-rate uncertainty included)"
    )
    if _CRYPTONIGHT.match(asked.strip().lower()):
        text += "; CryptoNight sized with RandomX CPU rows (no CryptoNight hardware in the table)"
    return text


@dataclass(frozen=True, slots=True)
class AlgorithmTotal:
    """Summed hash rate of one algorithm and its energy; never mixed with another algorithm."""

    algorithm: str
    hashrate: HashRate
    count: int
    energy: Energy | None


def totals_by_algorithm(
    items: Iterable[HashRate], as_of_year: int | None = None
) -> dict[str, AlgorithmTotal]:
    """Sum hash rates per algorithm family (unknown algorithms under their own lower-case name)
    and size each sum. Uncertainties of independent estimates add in quadrature."""
    groups: dict[str, list[HashRate]] = {}
    for hr in items:
        key = canonical_algorithm(hr.algorithm) or hr.algorithm.strip().lower()
        groups.setdefault(key, []).append(hr)
    return {key: _total(key, rates, as_of_year) for key, rates in groups.items()}


def _total(algorithm: str, rates: list[HashRate], as_of_year: int | None) -> AlgorithmTotal:
    hps = math.fsum(r.hps for r in rates)
    sigma = math.sqrt(math.fsum((r.hps * r.rel_uncertainty) ** 2 for r in rates))
    methods = sorted({r.method for r in rates})
    combined = HashRate(
        algorithm=algorithm,
        hps=hps,
        rel_uncertainty=sigma / hps if hps > 0 else 0.0,
        method=methods[0] if len(methods) == 1 else "+".join(methods),
        shares=sum(r.shares for r in rates),
    )
    return AlgorithmTotal(algorithm, combined, len(rates), estimate_energy(combined, as_of_year))


# --- a measured load, run backwards: kW → machines and hash rate --------------------------------

RIG_CARDS = 6  # GPU cards in a rig where the table gives a card: the common 6-card frame of 2021 farms

# Machine classes a mining load is sized in: (name, zh, algorithm family, the hardware rows' class)
LOAD_CLASSES = (
    ("SHA-256 ASIC", "SHA-256 矿机", "SHA-256", "ASIC"),
    ("GPU rig", "显卡矿机", "Ethash/Etchash", "GPU"),
    ("CPU", "CPU 主机", "RandomX", "CPU"),
)


@dataclass(frozen=True, slots=True)
class LoadSizing:
    """What a measured load would be in one class of machine: how many, and their hash rate (low / best /
    high). The band comes from the class's least and most power-hungry devices, the PUE range and the load's
    own range."""

    hw_class: str
    label_zh: str
    algorithm: str
    machines: tuple[float, float, float]
    hps: tuple[float, float, float]
    kwh_per_day: tuple[float, float, float]
    basis: str


def size_load(kw: tuple[float, float, float], as_of_year: int | None = None) -> tuple[LoadSizing, ...]:
    """A mining load of ``kw`` (low, best, high, kW at the meter) as machines of each class of ``LOAD_CLASSES``.

    Machines = kW ÷ PUE ÷ device power: at most with the least power-hungry device and the lowest PUE, at
    least with the most power-hungry and the highest. Hash rate = kW ÷ PUE ÷ (J/hash): at most with the most
    efficient device. The meter measures power, not hashes, so the class is not known from it: each class is
    an alternative, not a part."""
    lo_kw, best_kw, hi_kw = kw
    out = []
    for name, zh, family, hw_class in LOAD_CLASSES:
        devices = [d for d in devices_for(family, as_of_year) if d.hw_class.startswith(hw_class)]
        if not devices:
            continue
        units = [(d.power_w * (RIG_CARDS if d.hw_class == "GPU" else 1.0), d) for d in devices]
        watts = sorted(w for w, _ in units)
        by_eff = sorted(devices, key=lambda d: d.joules_per_hash)
        machines = (lo_kw * 1000 / PUE[2] / watts[-1], best_kw * 1000 / PUE[1] / statistics.median(watts),
                    hi_kw * 1000 / PUE[0] / watts[0])
        hps = (lo_kw * 1000 / PUE[2] / by_eff[-1].joules_per_hash,
               best_kw * 1000 / PUE[1] / statistics.median(d.joules_per_hash for d in by_eff),
               hi_kw * 1000 / PUE[0] / by_eff[0].joules_per_hash)
        rig = f" (a rig = {RIG_CARDS} cards)" if hw_class == "GPU" else ""
        basis = (f"{len(devices)} {family} {hw_class} devices{rig}: {watts[0]:.0f}–{watts[-1]:.0f} W per machine, "
                 f"{by_eff[0].efficiency:.3g}–{by_eff[-1].efficiency:.3g} {by_eff[0].efficiency_unit}, PUE "
                 f"{PUE[0]}–{PUE[2]}")
        out.append(LoadSizing(hw_class=name, label_zh=zh, algorithm=family, machines=machines, hps=hps,
                              kwh_per_day=(lo_kw * HOURS_PER_DAY, best_kw * HOURS_PER_DAY, hi_kw * HOURS_PER_DAY),
                              basis=basis))
    return tuple(out)

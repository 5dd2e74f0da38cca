"""Meter exports through `minescope scan`: a real household's half-hourly readings with a mining load added,
written as a grid's marketing system would (Chinese headers, wide or long, account records with catalogue
tariffs), become one mining_load finding sized as machines and attributed to its organisation; it joins the
case of that organisation's network finding; untouched households give nothing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from helpers import CORPUS, METER_ACCOUNTS, METER_READINGS, METER_REGISTRY, ORG, cli, households, write_long
from minescope.pipeline import Scanner, ScanOptions
from minescope.readers.mapped import Mapping


@pytest.fixture(scope="module")
def series() -> dict[str, list[tuple[datetime, float]]]:
    return households()


def test_a_household_with_a_miner_added_is_one_finding_sized_and_attributed(
        series: dict[str, list[tuple[datetime, float]]], tmp_path: Path) -> None:
    chosen = dict(sorted(series.items())[:3])
    miner, *others = chosen
    first = chosen[miner][0][0]
    since = (first + timedelta(days=200)).replace(hour=0, minute=0, second=0)
    readings = write_long(tmp_path / "电表数据.csv", chosen, {miner: 1.0}, since)
    accounts = tmp_path / "用电户档案.csv"
    accounts.write_text("户号,户名,用电类别,运行容量,行政区划,单位\n"
                        f"{miner},实验楼,居民生活用电,8,320102,{ORG}\n"
                        + "".join(f"{a},住户,居民生活用电,8,320102,\n" for a in others), encoding="utf-8")
    mappings = [Mapping.load(METER_READINGS), Mapping.load(METER_ACCOUNTS)]
    result = Scanner(ScanOptions(mappings=mappings)).scan([readings, accounts])
    assert [(i.dimension, i.problem) for i in result.inputs] == [("power", None), ("power", None)]
    found = [f for f in result.findings if f.kind == "mining_load"]
    assert [f.subject.value for f in found] == [miner]
    f = found[0]
    load = next(e for e in f.evidence if e.type == "meter_load").detail
    assert 0.85 <= load["plateau_kw"] <= 1.15
    assert abs((datetime.fromisoformat(load["start"]) - since).days) <= 3
    assert len(load["daily_kw"]) > 300
    assert f.attribution is not None and f.attribution.org_name == ORG and f.attribution.region_code == "320102"
    assert f.attribution.province == "江苏省" and f.attribution.city == "南京市"
    assert f.energy is not None and f.energy.algorithm == "metered" and 20 < f.energy.kwh_per_day[1] < 28
    sizing = {c["class"]: c for c in next(e for e in f.evidence if e.type == "sizing").detail["classes"]}
    assert set(sizing) == {"SHA-256 ASIC", "GPU rig", "CPU"}
    assert sizing["SHA-256 ASIC"]["machines"][0] < 1 < sizing["CPU"]["machines"][0]
    assert next(e for e in f.evidence if e.type == "account").detail["tariff"] == "residential"
    assert any("kW" in r.en for r in f.reasons) and all(r.zh for r in f.reasons)


def test_untouched_households_give_no_finding(series: dict[str, list[tuple[datetime, float]]],
                                              tmp_path: Path) -> None:
    readings = write_long(tmp_path / "readings.csv", series, {}, datetime.max)
    result = Scanner(ScanOptions(mappings=[Mapping.load(METER_READINGS)])).scan([readings])
    assert [f.subject.value for f in result.findings] == []
    assert result.inputs[0].problem is None


def test_the_meter_joins_the_case_of_its_organisations_network_finding(
        series: dict[str, list[tuple[datetime, float]]], tmp_path: Path) -> None:
    """One store: a capture of the university's mining hosts and the meter of its lab; `cases sync` puts both in
    the university's case; the ledger names both dimensions and the metered energy."""
    from openpyxl import load_workbook

    miner, rows = sorted(series.items())[0]
    since = (rows[0][0] + timedelta(days=150)).replace(hour=0, minute=0, second=0)
    readings = write_long(tmp_path / "lab.csv", {miner: rows}, {miner: 3.25}, since)
    accounts = tmp_path / "accounts.csv"
    accounts.write_text(f"户号,户名,用电类别,运行容量,行政区划,单位\n{miner},计算机学院实验楼,一般工商业用电,50,320102,{ORG}\n",
                        encoding="utf-8")
    registry = tmp_path / "orgs.csv"
    registry.write_text(METER_REGISTRY, encoding="utf-8")
    maps = []
    for name, spec in (("long.json", METER_READINGS), ("accounts.json", METER_ACCOUNTS)):
        (tmp_path / name).write_text(json.dumps(spec), encoding="utf-8")
        maps += ["--mapping", tmp_path / name]
    db = tmp_path / "m.db"
    run = cli("scan", CORPUS / "mining" / "ndpi_mining.pcapng", readings, accounts, *maps, "--registry", registry,
              "--db", db, "--format", "json", "--lang", "en")
    assert run.rc == 0, run.explain()
    kinds = {f["kind"]: f for f in json.loads(run.stdout)["findings"]}
    assert "mining_load" in kinds and "mining_session" in kinds
    listed = [line.split("\t") for line in cli("cases", "list", "--db", db).stdout.decode().splitlines()]
    assert [c[3] for c in listed].count(ORG) == 1, listed
    ledger = tmp_path / "ledger.xlsx"
    assert cli("cases", "ledger", "--db", db, "-o", ledger, "--lang", "en").rc == 0
    sheet = load_workbook(ledger).worksheets[0]
    head = [c.value for c in sheet[1]]
    row = next(r for r in sheet.iter_rows(min_row=2, values_only=True) if r[head.index("Subject")] == ORG)
    assert row[head.index("Evidence")] == "network, power"
    assert 70 < row[head.index("Metered kWh/day")] < 90


def test_spark_gives_the_same_findings_as_duckdb(series: dict[str, list[tuple[datetime, float]]],
                                                  tmp_path: Path) -> None:
    chosen = dict(sorted(series.items())[:4])
    miner = next(iter(chosen))
    since = (chosen[miner][0][0] + timedelta(days=120)).replace(hour=0, minute=0, second=0)
    readings = write_long(tmp_path / "readings.csv", chosen, {miner: 0.3}, since)
    found = {}
    for engine in ("duckdb", "spark"):
        result = Scanner(ScanOptions(engine=engine, mappings=[Mapping.load(METER_READINGS)])).scan([readings])
        found[engine] = [f.to_dict() for f in sorted(result.findings, key=lambda f: f.id)]
    assert found["duckdb"] and [f["subject"]["value"] for f in found["duckdb"]] == [miner]
    assert found["spark"] == found["duckdb"]


def test_readings_whose_interval_cannot_be_seen_are_told_not_lost_silently(tmp_path: Path) -> None:
    """An export sorted by time holds one reading of each meter per batch: the spacing is not seen there, and
    the scan says so; the mapping's constants give it."""
    from minescope.dimensions.power.readers import PowerInput, ReadingCompleter

    export = tmp_path / "by-time.csv"
    export.write_text("meter,ts,kwh\n" + "".join(f"M{m},2024-01-01T00:{t:02d}:00Z,0.1\n"
                                                  for t in (0, 30) for m in range(50)))
    spec = {"table": "readings", "columns": {"meter": "meter", "ts": "ts", "kwh": "kwh"}}
    for given, unknown in (({}, 100), ({"constants": {"interval_s": 1800}}, 0)):
        complete = ReadingCompleter()
        for _, batch in PowerInput(export, Mapping.load({**spec, **given}), batch_rows=50):
            complete(batch)
        assert complete.unknown == unknown
    result = Scanner(ScanOptions(mappings=[Mapping.load(spec)])).scan([export])
    assert result.inputs[0].problem is None  # read whole, each meter's two readings are in one batch

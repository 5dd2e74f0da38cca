"""The dashboard's figures: summed in SQL as the model sizes findings, and never stale."""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

import pytest

from helpers import Conversation, scan_file, write_pcap
from minescope.cases.dashboard import dashboard
from minescope.cases.workflow import assign, list_cases, sync_cases
from minescope.pipeline import Scanner, ScanOptions
from minescope.store.findings import open_store, save_scan
from minescope.store.tips import submit_tip

SUBMIT = b'{"id": 4, "method": "mining.submit", "params": ["w.rig", "bf", "00000001", "504e86ed", "b2"]}\n'
STRATUM = [(0, 0.0, b'{"id": 1, "method": "mining.subscribe", "params": []}\n'), (0, 5.0, SUBMIT)]


def test_hash_rate_and_energy_per_algorithm_as_the_model_sizes_them(store_target: str) -> None:
    result = scan_file("mining/ndpi_mining.pcapng")  # measured, reported (too few shares) and unsized sessions
    engine = open_store(store_target)
    save_scan(engine, result)
    rate: dict[str, float] = defaultdict(float)
    kwh: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for f in result.findings:
        sizing = f.mining.sizing_hashrate if f.mining else None
        if f.kind == "mining_session" and sizing:
            rate[sizing.algorithm] += sizing.hps
        if f.energy:
            kwh[f.energy.algorithm] = [a + b for a, b in zip(kwh[f.energy.algorithm], f.energy.kwh_per_day,
                                                              strict=True)]
    figures = dashboard(engine, "")
    assert len(rate) > 1  # several algorithms, each summed apart
    assert figures["hashrate_by_algorithm"] == pytest.approx(dict(rate))
    assert figures["kwh_per_day_by_algorithm"] == {k: pytest.approx(v) for k, v in kwh.items()}
    assert figures["findings_by_kind"] == {"mining_session": len(result.findings)}
    assert figures["mining_hosts"] == len({f.subject_ip for f in result.findings})


def test_figures_follow_new_findings_case_changes_and_the_clock(tmp_path: Path, store_target: str) -> None:
    registry = tmp_path / "orgs.csv"
    registry.write_text("cidr,organisation,type,region_code,contact\n10.1.0.0/16,玄武区某局,government,320102,\n"
                        "10.2.0.0/16,秦淮区某大学,university,320104,\n", encoding="utf-8")
    scanner = Scanner(ScanOptions(registry=registry))
    engine = open_store(store_target)
    save_scan(engine, scanner.scan([write_pcap(tmp_path / "a.pcap", [Conversation("10.1.0.5", 40000, "203.0.113.9",
                                                                                  3333, STRATUM)])]))
    sync_cases(engine)
    before = dashboard(engine, "3201")
    assert before["mining_hosts"] == 1 and before["cases_by_state"] == {"new": 1} and before["overdue"] == 0
    assert dashboard(engine, "3201") == before  # the second time from the kept figures

    # a case assigned: its state at once, overdue once its due date has passed
    (case,) = list_cases(engine)
    due = time.time() + 3600
    assign(engine, case.id, "xuanwu", due, "tester")
    assert dashboard(engine, "3201")["cases_by_state"] == {"assigned": 1}
    assert dashboard(engine, "3201", now=due - 1)["overdue"] == 0
    assert dashboard(engine, "3201", now=due + 1)["overdue"] == 1

    # a new scan, and a public report: new findings counted at once
    save_scan(engine, scanner.scan([write_pcap(tmp_path / "b.pcap", [Conversation("10.2.0.5", 40001, "203.0.113.9",
                                                                                  3333, STRATUM)])]))
    after = dashboard(engine, "3201")
    assert after["mining_hosts"] == 2 and after["hosts_by_place"] == {"320102": 1, "320104": 1}
    submit_tip(engine, "320104", "某小区地下室", "整夜风扇轰鸣，耗电异常")
    assert dashboard(engine, "3201")["findings_by_kind"] == {"mining_session": 2, "public_report": 1}
    assert dashboard(engine, "320102")["mining_hosts"] == 1  # each area its own figures


def test_hosts_reaching_exchanges_are_counted_apart_from_mining(tmp_path: Path, store_target: str) -> None:
    from helpers import exchange_capture

    engine = open_store(store_target)
    save_scan(engine, Scanner(ScanOptions(feeds=[tmp_path])).scan([exchange_capture(tmp_path / "x.pcap")]))
    figures = dashboard(engine, "")
    assert figures["exchange_hosts"] == 3 and figures["findings_by_kind"] == {"exchange_access": 3}
    assert figures["mining_hosts"] == 0 and figures["trend"] == {} and figures["kwh_per_day_by_algorithm"] == {}

"""Storing a scan: every finding kept once, every source kept, "new" counted once under concurrent scans."""

from __future__ import annotations

import threading
from dataclasses import replace

from sqlalchemy import func, select

from helpers import scan_file
from minescope.cases.workflow import sync_cases
from minescope.store.cases import cases
from minescope.store.findings import finding_sources, findings, open_store, save_scan, scans, sources_of


def test_a_copy_scanned_later_adds_its_source_to_the_finding(store_target: str) -> None:
    store = open_store(store_target)
    result = scan_file("mining/ndpi_mining.pcapng")
    _, new = save_scan(store, result)
    assert new == len(result.findings)
    copy = replace(result, findings=[replace(f, source="copy.pcapng") for f in result.findings])
    _, new = save_scan(store, copy)
    assert new == 0
    assert all(sources_of(store, f.id) == ["ndpi_mining.pcapng", "copy.pcapng"] for f in result.findings)
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(findings)).scalar_one() == len(result.findings)


def test_concurrent_scans_count_each_finding_as_new_once_and_open_each_case_once(store_target: str) -> None:
    store = open_store(store_target)
    result = scan_file("mining/ndpi_mining.pcapng")
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def one_scan(part: int) -> None:
        # each scan its own capture of the same hosts (findings of its own about the same subjects):
        # the same cases are wanted by all, and no shared finding makes one wait for another
        mine = replace(result, findings=[replace(f, source=f"part-{part}", stable_id=f"{f.id[:20]}-{part}")
                                         for f in result.findings])
        try:
            start.wait()
            with store.begin() as conn:  # as `minescope scan` stores: findings and cases in one transaction
                save_scan(conn, mine)
                sync_cases(conn)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=one_scan, args=(part,)) for part in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    with store.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(findings)).scalar_one()
        assert stored == 4 * len(result.findings)
        assert conn.execute(select(func.sum(scans.c.findings_new))).scalar_one() == stored
        keys = list(conn.execute(select(cases.c.subject_key)).scalars())
        assert keys and len(keys) == len(set(keys))
        assert conn.execute(select(func.count()).select_from(finding_sources)).scalar_one() == stored

"""The store's schema comes from Alembic migrations, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, MetaData, create_engine, func, insert, inspect, select, text

from helpers import POOL_NAMES, one_dns_flow_asking, scan_file, write_pcap
from minescope.model import Finding, ScanResult
from minescope.pipeline import Scanner, ScanOptions
from minescope.store import accounts, cases, datasets, intel, tips  # noqa: F401  (their tables are on the metadata)
from minescope.store.findings import (
    finding_row,
    finding_sources,
    findings,
    metadata,
    migrate,
    migrations_config,
    open_store,
    save_scan,
)


def _head() -> str:
    head = ScriptDirectory.from_config(migrations_config()).get_current_head()
    assert head
    return head


def test_migrations_build_exactly_the_tables_the_code_uses(store_target: str) -> None:
    engine = open_store(store_target)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(ctx, metadata) == []  # a schema change without its migration fails here
        assert ctx.get_current_revision() == _head()


def test_a_store_made_before_migrations_keeps_its_findings(tmp_path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "old.db"
    old = create_engine(f"sqlite:///{db}")
    migrate(old, "0001")  # then only findings, scans and sightings, untracked, as the first releases made them
    with old.begin() as conn:
        for t in ("alembic_version", "tips", "case_findings", "case_history", "case_tasks", "case_comments",
                  "case_attachments", "cases", "api_tokens", "users", "store_meta"):
            conn.execute(text(f"DROP TABLE {t}"))
    _save_as_it_was(old, scan_file("mining/ndpi_mining.pcapng"))
    with old.connect() as conn:
        before = conn.execute(select(func.count()).select_from(findings)).scalar_one()
    assert before > 0
    engine = open_store(db)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(findings)).scalar_one() == before
        assert "cases" in inspect(conn).get_table_names()
        assert MigrationContext.configure(conn).get_current_revision() == _head()


def test_downgrade_and_upgrade_again(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = open_store(tmp_path / "m.db")
    with engine.begin() as conn:
        command.downgrade(migrations_config(conn), "base")
    with engine.connect() as conn:
        assert set(inspect(conn).get_table_names()) <= {"alembic_version"}
    migrate(engine)
    with engine.connect() as conn:
        assert "findings" in inspect(conn).get_table_names()


def test_upgrade_to_0002_fills_the_dashboard_columns_from_the_findings(store_target: str) -> None:
    result = scan_file("mining/ndpi_mining.pcapng")
    sized = {f.id: f.mining.sizing_hashrate for f in result.findings if f.mining}
    methods = {h.method if h else None for h in sized.values()}
    assert methods == {"shares", "reported", None}  # measured, reported (too few shares) and unsized are all there
    engine = create_engine(store_target if "://" in store_target else f"sqlite:///{store_target}")
    migrate(engine, "0001")
    _save_as_it_was(engine, result)
    migrate(engine)
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(findings))}
    assert set(rows) == {f.id for f in result.findings}
    for f in result.findings:
        row, sizing, energy = rows[f.id], sized.get(f.id), f.energy
        assert (row.sizing_algorithm, row.sizing_hps) == ((sizing.algorithm, pytest.approx(sizing.hps)) if sizing
                                                          else (None, None))
        assert row.energy_algorithm == (energy.algorithm if energy else None)
        kwh = (row.kwh_per_day_low, row.kwh_per_day_best, row.kwh_per_day_high)
        assert kwh == (pytest.approx(energy.kwh_per_day) if energy else (None, None, None))
        assert row.data["id"] == f.id  # the finding itself unchanged
    # and what the upgrade filled is what a new scan stores
    assert all(rows[f.id]._mapping[k] == pytest.approx(v) for f in result.findings
               for k, v in finding_row(f, 0).items() if k.startswith(("sizing", "energy", "kwh")) and v is not None)


def _save_as_it_was(engine: Engine, result: ScanResult, id_of: Callable[[Finding], str] = lambda f: f.id) -> None:
    """Store a scan's findings in the columns an older store has (those of its own tables), with the ids
    ``id_of`` gives them."""
    old = MetaData()
    old.reflect(engine, only=["scans", "findings", "sightings"])
    with engine.begin() as conn:
        scan_id = conn.execute(insert(old.tables["scans"]).values(
            started_at=result.started_at, wall_seconds=result.wall_seconds, packets=result.packets,
            bytes=result.bytes, flows=result.flows, inputs=[], findings_total=len(result.findings),
            findings_new=len(result.findings))).inserted_primary_key[0]  # type: ignore[index]
        columns = set(old.tables["findings"].c.keys())
        rows = [{**finding_row(f, scan_id), "id": id_of(f)} for f in result.findings]
        for row in rows:
            row["data"] = {**row["data"], "id": row["id"]}
        conn.execute(insert(old.tables["findings"]), [{k: v for k, v in row.items() if k in columns} for row in rows])
        conn.execute(insert(old.tables["sightings"]), [{"scan_id": scan_id, "finding_id": row["id"]} for row in rows])


def test_upgrade_to_0004_gives_every_stored_finding_its_subject(store_target: str) -> None:
    result = scan_file("mining/ndpi_mining.pcapng")
    engine = create_engine(store_target if "://" in store_target else f"sqlite:///{store_target}")
    migrate(engine, "0003")
    _save_as_it_was(engine, result)
    old = MetaData()
    old.reflect(engine, only=["findings", "tips"])
    with engine.begin() as conn:  # a public report as 0003 stored it: an empty address and port
        conn.execute(insert(old.tables["findings"]).values(
            id="tip-abcdefghjkmn", kind="public_report", dimension="tip", subject_ip="", peer_ip="", peer_port=0,
            first_seen=1.0, last_seen=1.0, confidence=0.3, severity="medium", source="public report",
            region_code="320102", data={"id": "tip-abcdefghjkmn", "kind": "public_report", "subject_ip": ""}))
        conn.execute(insert(old.tables["tips"]).values(
            tracking_code="ABCDEFGHJKMN", region_code="320102", subject="某数据中心",
            description="夜里机房风扇声很大，电费异常",
            status="received", finding_id="tip-abcdefghjkmn", created_at=1.0, updated_at=1.0))
    migrate(engine)
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(findings))}
    tip = rows.pop("tip-abcdefghjkmn")
    assert (tip.subject_type, tip.subject_value, tip.subject_ip, tip.peer_ip, tip.peer_port) == (
        "organisation", "某数据中心", None, None, None)
    assert {(r.subject_type, r.subject_value) for r in rows.values()} == {("ip", f.subject_ip) for f in result.findings}
    # and what the upgrade filled is what a new scan stores
    new = {f.id: finding_row(f, 0) for f in result.findings}
    assert all((r.subject_type, r.subject_value) == (new[i]["subject_type"], new[i]["subject_value"])
               for i, r in rows.items())


def test_upgrade_to_0005_gives_named_findings_their_own_ids_and_keeps_their_links(store_target: str) -> None:
    result = scan_file("mining/ndpi_mining.pcapng")
    named = [f for f in result.findings if f.peer is not None and f.peer.host]
    assert named  # the capture has pool names (DNS, login) for the test to follow
    engine = create_engine(store_target if "://" in store_target else f"sqlite:///{store_target}")
    migrate(engine, "0004")
    _save_as_it_was(engine, result, id_of=_id_before_0005)
    old = MetaData()
    old.reflect(engine, only=["cases", "case_findings"])
    with engine.begin() as conn:
        case_id = conn.execute(insert(old.tables["cases"]).values(
            subject_key="ip:x", title="x", state="new", reopened=0, created_at=1.0, updated_at=1.0,
        )).inserted_primary_key[0]  # type: ignore[index]
        conn.execute(insert(old.tables["case_findings"]), [{"case_id": case_id, "finding_id": _id_before_0005(f),
                                                            "added_at": 1.0} for f in result.findings])
    migrate(engine)
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(findings))}
        linked = set(conn.execute(select(old.tables["case_findings"].c.finding_id)).scalars())
        seen = set(conn.execute(text("SELECT finding_id FROM sightings")).scalars())
        sources = set(conn.execute(select(finding_sources.c.finding_id, finding_sources.c.source)))
    ids = {f.id for f in result.findings}
    assert set(rows) == ids == linked == seen  # the ids a scan gives today, and every link follows them
    assert all(rows[f.id].data["id"] == f.id for f in result.findings)
    assert sources == {(f.id, f.source) for f in result.findings}


def _id_before_0005(f: Finding) -> str:
    """A finding's id as schema 1.0 and 1.1 made it: a named peer's name was not part of it."""
    if not (f.flows and f.peer is not None):
        return f.id
    x = f.flows[0]
    parts = (f.kind, f.subject_ip, f.peer.ip, f.peer.port, x.src_ip, x.src_port, x.dst_ip, x.dst_port, x.proto,
             f"{x.first_seen:.6f}")
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:24]


def test_findings_lost_to_an_id_collision_come_back_with_a_rescan(tmp_path: Path) -> None:
    """Before 0005 one DNS flow asking three pool names gave three findings with one id; the store kept one."""
    capture = write_pcap(tmp_path / "dns.pcap", [one_dns_flow_asking(POOL_NAMES)])
    result = Scanner(ScanOptions()).scan([capture])
    assert len({_id_before_0005(f) for f in result.findings}) == 1 < len(result.findings) == 3
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine, "0004")
    _save_as_it_was(engine, replace(result, findings=result.findings[:1]), id_of=_id_before_0005)
    migrate(engine)
    save_scan(engine, result)
    with engine.connect() as conn:
        hosts = sorted(conn.execute(select(findings.c.peer_host)).scalars())
    assert hosts == sorted(POOL_NAMES)

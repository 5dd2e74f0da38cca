"""The findings store: an embedded SQLite file by default, any SQLAlchemy URL (PostgreSQL) for many users.

Findings are stored once, keyed by their stable id, so scanning the same capture again adds a
sighting, never a duplicate. Each scan is recorded with the findings it saw (``sightings``), which is
what the disposal workflow uses to reopen a case when a later scan finds its subject again.
Every write of one scan happens in one transaction: a failed scan leaves the store as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import (
    JSON,
    Column,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from minescope import settings
from minescope.errors import InputError
from minescope.model import Finding, ScanResult

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy import Connection

metadata = MetaData()

store_meta = Table("store_meta", metadata, Column("key", String(64), primary_key=True), Column("value", Text))

scans = Table(
    "scans", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", Float, nullable=False),
    Column("wall_seconds", Float, nullable=False),
    Column("packets", Integer, nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("flows", Integer, nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("findings_total", Integer, nullable=False),
    Column("findings_new", Integer, nullable=False),
)

findings = Table(
    "findings", metadata,
    Column("id", String(32), primary_key=True),
    Column("kind", String(40), nullable=False, index=True),
    Column("dimension", String(16), nullable=False),
    Column("subject_ip", String(64), index=True),  # network findings: the address (also subject_value)
    Column("peer_ip", String(64)),
    Column("peer_port", Integer),
    Column("peer_host", String(255)),
    # what the finding is about (model.Subject): ip, host, meter, account, listing, post, organisation
    Column("subject_type", String(16)),
    Column("subject_value", Text),
    Column("first_seen", Float, nullable=False, index=True),
    Column("last_seen", Float, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("severity", String(8), nullable=False),
    Column("source", Text, nullable=False),
    Column("province", String(64), index=True),
    Column("city", String(64)),
    Column("region_code", String(12)),
    Column("org_type", String(32)),
    Column("org_name", Text),
    Column("coin", String(64)),
    Column("algorithm", String(64)),
    Column("hashrate_hps", Float),
    Column("data", JSON, nullable=False),  # the whole finding, as in the JSON output
    Column("first_scan_id", Integer, ForeignKey("scans.id")),  # none for public reports (tips)
    # copied out of ``data`` for the dashboard's sums: the hash rate that sizes the finding
    # (MiningFacts.sizing_hashrate) and the energy estimate (low, best, high), each with its algorithm
    Column("sizing_algorithm", String(64)),
    Column("sizing_hps", Float),
    Column("energy_algorithm", String(64)),
    Column("kwh_per_day_low", Float),
    Column("kwh_per_day_best", Float),
    Column("kwh_per_day_high", Float),
    Column("wallet", String(255)),  # the payout address a miner logged in with (searched in the console)
    # An area's findings by kind, for LIKE '32%' (varchar_pattern_ops: in any collation). On PostgreSQL it
    # also carries the columns the dashboard adds up, which it then reads from this narrow index alone
    # (an index-only scan) instead of the wide rows with their JSON.
    Index("ix_findings_subject", "subject_type", "subject_value", postgresql_ops={"subject_value": "text_pattern_ops"}),
    Index("ix_findings_subject_value", "subject_value", postgresql_ops={"subject_value": "text_pattern_ops"}),
    Index("ix_findings_wallet", "wallet", postgresql_ops={"wallet": "varchar_pattern_ops"}),
    Index("ix_findings_peer_ip", "peer_ip"),
    Index("ix_findings_peer_host", "peer_host"),
    Index("ix_findings_org_name", "org_name", postgresql_ops={"org_name": "text_pattern_ops"}),
    Index("ix_findings_region_kind", "region_code", "kind", postgresql_ops={"region_code": "varchar_pattern_ops"},
          postgresql_include=["subject_ip", "org_type", "org_name", "first_seen", "sizing_algorithm", "sizing_hps",
                              "energy_algorithm", "kwh_per_day_low", "kwh_per_day_best", "kwh_per_day_high"]),
)

sightings = Table(
    "sightings", metadata,
    Column("scan_id", Integer, ForeignKey("scans.id"), primary_key=True),
    Column("finding_id", String(32), ForeignKey("findings.id"), primary_key=True),
)

# Every input a finding was read from: one capture and its copy, or a file scanned again under a new
# name, give one finding with several sources (``findings.source`` keeps the first).
finding_sources = Table(
    "finding_sources", metadata,
    Column("finding_id", String(32), ForeignKey("findings.id"), primary_key=True),
    Column("source", Text, primary_key=True),
    Column("scan_id", Integer, ForeignKey("scans.id")),
)


def default_db_path() -> Path:
    """``$MINESCOPE_DB``, else ``$XDG_DATA_HOME/minescope/minescope.db`` (see ``minescope.settings``)."""
    return Path(settings.DB.value() or "minescope.db")


def open_store(target: str | Path | None = None) -> Engine:
    """Open (and create or upgrade) the store: a file path, or an SQLAlchemy URL."""
    url = str(target) if target is not None else str(default_db_path())
    if "://" not in url:
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{url}"
    # A server's connections are kept for reuse: the console serves many requests at once, and a new
    # PostgreSQL connection (a new server process) costs more than most of its queries.
    pool: dict[str, Any] = {"pool_size": 20, "max_overflow": 20} if url.startswith("postgresql") else {}
    if url.startswith("sqlite"):
        # SQLite has one writer at a time; another scan storing a large result waits its turn rather than
        # failing after the driver's default 5 s
        pool["connect_args"] = {"timeout": 120}
    try:
        store = create_engine(url, json_serializer=lambda o: orjson.dumps(o).decode(), **pool)
    except ValueError as e:  # a URL SQLAlchemy cannot take apart (a port that is not a number): the user's to fix
        raise InputError(f"结果库 URL 无效（{e}）；请检查 --db 或 MINESCOPE_DB，"
                         "例如 postgresql+psycopg://用户@主机:5432/库名",
                         f"the findings store URL is not valid ({e}); check --db or MINESCOPE_DB, e.g. "
                         "postgresql+psycopg://user@host:5432/dbname") from e
    migrate(store)
    return store


def migrate(store: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with the Alembic migrations in ``store/migrations``.

    One transaction; concurrent starts (console, scans, a store none of them finds existing) wait for
    each other instead of racing to create the same tables: on PostgreSQL by an advisory lock, on SQLite
    by taking the database's write lock before reading its revision.
    """
    from alembic import command
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    if revision == "head" and store.dialect.name == "sqlite":
        with store.connect() as conn:  # the usual case, a store at head: no write lock (a read-only file works)
            scripts = ScriptDirectory.from_config(migrations_config(conn))
            if MigrationContext.configure(conn).get_current_revision() == scripts.get_current_head():
                return
    with store.begin() as conn:
        if store.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7311)"))
        elif store.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # the driver itself would begin only at the first DML
        config = migrations_config(conn)
        at = MigrationContext.configure(conn).get_current_revision()
        scripts = ScriptDirectory.from_config(config)
        if at is not None and at not in {s.revision for s in scripts.walk_revisions()}:
            head = scripts.get_current_head()
            raise InputError(f"结果库的结构版本 {at} 比本程序认识的（{head}）更新：它由更新的 minescope 写入；"
                             "请升级 minescope，或用 --db 指定另一个结果库",
                             f"the findings store is at schema revision {at}, newer than this minescope knows "
                             f"({head}): a newer minescope wrote it; upgrade minescope, or pass --db another store")
        command.upgrade(config, revision)


def migrations_config(conn: Connection | None = None) -> Config:
    """Alembic's configuration for the store (the ``alembic`` commands take it), bound to ``conn``."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = conn
    return cfg


def finding_row(f: Finding, scan_id: int | None) -> dict[str, Any]:
    """The store's row of a finding (``scan_id``: the scan that first found it; none for tips)."""
    a = f.attribution
    m = f.mining
    sizing = m.sizing_hashrate if m else None
    e = f.energy
    return {
        "id": f.id, "kind": str(f.kind), "dimension": str(f.dimension), "subject_ip": f.subject_ip,
        "subject_type": str(f.subject.type), "subject_value": f.subject.value,
        "peer_ip": f.peer.ip if f.peer else None, "peer_port": f.peer.port if f.peer else None,
        "peer_host": f.peer.host if f.peer else None,
        "first_seen": f.first_seen, "last_seen": f.last_seen, "confidence": f.confidence,
        "severity": str(f.severity), "source": f.source,
        "province": a.province if a else None, "city": a.city if a else None,
        "region_code": a.region_code if a else None, "org_type": a.org_type if a else None,
        "org_name": a.org_name if a else None,
        "coin": m.coin if m else None, "algorithm": m.algorithm if m else None,
        "hashrate_hps": m.hashrate.hps if m and m.hashrate else None,
        "data": f.to_dict(), "first_scan_id": scan_id,
        "sizing_algorithm": sizing.algorithm if sizing else None, "sizing_hps": sizing.hps if sizing else None,
        "energy_algorithm": e.algorithm if e else None, "kwh_per_day_low": e.kwh_per_day[0] if e else None,
        "kwh_per_day_best": e.kwh_per_day[1] if e else None, "kwh_per_day_high": e.kwh_per_day[2] if e else None,
        "wallet": m.wallet[:255] if m and m.wallet else None,
    }


def insert_ignore(store: Engine | Connection, table: Table) -> Any:
    """INSERT … ON CONFLICT DO NOTHING: a row already there (another scan's) is kept, not an error."""
    dialect = postgresql if store.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


@contextmanager
def begin(bind: Engine | Connection) -> Iterator[Connection]:
    """A transaction: a new one on a store (an Engine); on a connection, the caller's own, which it commits or
    rolls back with its other writes (one scan's findings, dataset files and cases together)."""
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            yield conn
    else:
        yield bind


def reading(store: Engine) -> Connection:
    """A connection for reads only, each statement its own transaction (autocommit): no BEGIN and ROLLBACK
    round trips around the few queries of a console request (a token look-up on PostgreSQL takes half the
    time)."""
    return store.connect().execution_options(isolation_level="AUTOCOMMIT")


def hold_write_lock(conn: Connection) -> None:
    """Writers of findings, cases and their history take turns until their transaction ends.

    SQLite does this itself (one writer at a time, from the first write on); on PostgreSQL an advisory
    lock does it, so that two scans cannot both create the case of one subject, both count a finding as
    new, or both chain a history row to the same last row. Take it before the first read that a write
    depends on; PostgreSQL lets one transaction take it again."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(7312)"))


def save_scan(store: Engine | Connection, result: ScanResult) -> tuple[int, int]:
    """Store a scan, its findings, their sightings and sources in one transaction (``store``'s own, or a
    connection's). Returns (scan id, new findings): those this scan inserted, so concurrent scans of one
    capture count each finding as new once."""
    ids = sorted({f.id for f in result.findings})  # one order for every writer: no deadlock between them
    by_id = {f.id: f for f in result.findings}
    with begin(store) as conn:
        hold_write_lock(conn)
        inputs = [{"path": i.path, "format": i.format, "packets": i.packets, "bytes": i.bytes, "sha256": i.sha256,
                   "problem": {"zh": i.problem.zh, "en": i.problem.en} if i.problem else None} for i in result.inputs]
        # the first write: on SQLite it waits for other writers, so what follows sees their findings
        inserted = conn.execute(insert(scans).values(
            started_at=result.started_at, wall_seconds=result.wall_seconds, packets=result.packets,
            bytes=result.bytes, flows=result.flows, inputs=inputs, findings_total=len(ids), findings_new=0,
        )).inserted_primary_key
        assert inserted is not None
        scan_id = int(inserted[0])
        new = 0
        for i in range(0, len(ids), 500):
            rows = [finding_row(by_id[fid], scan_id) for fid in ids[i : i + 500]]
            new += len(conn.execute(insert_ignore(conn, findings).returning(findings.c.id), rows).all())
        if new:
            conn.execute(scans.update().where(scans.c.id == scan_id).values(findings_new=new))
        if ids:
            conn.execute(insert_ignore(conn, sightings), [{"scan_id": scan_id, "finding_id": i} for i in ids])
            conn.execute(insert_ignore(conn, finding_sources),
                         [{"finding_id": fid, "source": source, "scan_id": scan_id}
                          for fid in ids for source in by_id[fid].sources])
    return scan_id, new


def sources_of(store: Engine | Connection, finding_id: str) -> list[str]:
    """Every input a finding was read from, in the order the scans met them."""
    with begin(store) as conn:
        return list(conn.execute(select(finding_sources.c.source).where(finding_sources.c.finding_id == finding_id)
                                 .order_by(finding_sources.c.scan_id, finding_sources.c.source)).scalars())


def count_findings(store: Engine) -> int:
    with store.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(findings)).scalar_one())


def stored_findings(store: Engine, kind: str | None = None) -> list[dict[str, Any]]:
    """Stored findings as JSON objects (the same form as ``minescope scan --format json``)."""
    query = select(findings.c.data).order_by(findings.c.first_seen)
    if kind:
        query = query.where(findings.c.kind == kind)
    with store.connect() as conn:
        return [row[0] for row in conn.execute(query)]


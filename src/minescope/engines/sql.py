"""Where SQL detectors run: DuckDB (embedded, the default) or Apache Spark (distributed).

An engine knows no evidence table of its own. A dimension hands it a ``Preparation``: the schemas
of its readers' tables and the views its detectors read over them (SQL text with the dialect's
placeholders, ``View``). The engine holds the mechanics — rows of reader batches (``append``) and
Parquet files of a dataset (``add_parquet``) in any mix, temporary tables (``register``,
``materialize``), results (``query``, ``column``) — and the few places where the two SQL dialects
differ (``Dialect``):

  {relation}  the table's rows: appended batches and Parquet files, each row with ``is_new``
              (false for files read only as context of an incremental run)
  {epoch_us}  microseconds since the epoch of the row's ``ts``
  {row_id}    a number unique per row within a run (not equal across engines: detectors use it
              only to count and de-duplicate rows, and order by the rows' own fields)
  unnest      a view with ``View.unnest`` reads one row per element of a list column, beside the
              element of a second list at the same position (NULL unless both lists are as long)

Everything else is one SQL text for both, so both engines give the same findings.

DuckDB reads Parquet in place and spills to disk beyond its memory limit (out of core). Spark
runs ``local[N]`` on one machine, or on a cluster when given a master URL; reader batches are
staged as Parquet files for it, so the driver never holds a whole log.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from minescope import registry, settings
from minescope.errors import InputError


@dataclass(frozen=True)
class Unnest:
    """One row per element of the list column ``items`` (as ``item``), with the element of the list
    column ``paired`` at the same position (as ``paired_item``; NULL unless both lists are as long).
    Rows whose ``items`` is NULL or empty give none."""

    items: str
    paired: str
    item: str
    paired_item: str


@dataclass(frozen=True)
class View:
    """A view detectors read, over the rows of one table: ``sql`` is shared SQL text with the
    placeholders ``{relation}``, ``{epoch_us}`` and ``{row_id}`` (module docstring); with
    ``unnest``, ``{relation}`` gives one row per list element (``Unnest``)."""

    name: str
    table: str
    sql: str
    unnest: Unnest | None = None


@dataclass(frozen=True)
class Preparation:
    """What a dimension's SQL detectors read: its readers' tables (name → Arrow schema) and the
    views over them, made in this order by ``SqlEngine.prepare``."""

    tables: Mapping[str, pa.Schema]
    views: tuple[View, ...]


@dataclass(frozen=True)
class Dialect:
    """The SQL that differs between engines (pySigma's backends hold such templates)."""

    epoch_us: str  # microseconds since the epoch of the column ts
    row_id: str  # a row's id within a run
    unnest: str  # {relation} unnested by {items}/{paired} as {item}/{paired_item} (``Unnest``)

    def render(self, view: View, relation: str) -> str:
        if view.unnest is not None:
            u = view.unnest
            relation = self.unnest.format(relation=relation, items=u.items, paired=u.paired, item=u.item,
                                          paired_item=u.paired_item)
        return view.sql.format(relation=relation, epoch_us=self.epoch_us, row_id=self.row_id)


# DuckDB: parallel UNNEST pads the shorter list with NULL, so the paired list is used only when it
# lines up. Spark: posexplode gives the position to index the paired list with.
DUCKDB = Dialect(
    epoch_us="epoch_us(ts)", row_id="_row_id",
    unnest=("(SELECT *, UNNEST({items}) AS {item}, "
            "UNNEST(CASE WHEN len({paired}) = len({items}) THEN {paired} END) AS {paired_item} "
            "FROM {relation}) unnested"))
SPARK = Dialect(
    epoch_us="unix_micros(ts)", row_id="monotonically_increasing_id()",
    unnest=("(SELECT r.*, u.{item}, CASE WHEN size(r.{paired}) = size(r.{items}) THEN r.{paired}[u.pos] END "
            "AS {paired_item} FROM {relation} r LATERAL VIEW posexplode(r.{items}) u AS pos, {item}) unnested"))


class SqlEngine(Protocol):
    """What the detectors need from an engine."""

    name: str

    def append(self, table: str, batch: pa.RecordBatch | pa.Table) -> None: ...
    def add_parquet(self, table: str, files: Sequence[Path], is_new: bool = True) -> None: ...
    def prepare(self, preparation: Preparation) -> None: ...
    def register(self, name: str, data: pa.Table) -> None: ...
    def materialize(self, name: str, sql: str) -> None: ...
    def query(self, sql: str) -> list[dict[str, Any]]: ...
    def column(self, sql: str) -> pa.Array: ...
    def close(self) -> None: ...


def open_engine(name: str = "duckdb", **options: Any) -> SqlEngine:
    if name == "duckdb":
        return DuckDBEngine(**options)
    if name == "spark":
        return SparkEngine(**options)
    raise InputError(f"未知的引擎 {name}；可选 {', '.join(registry.engines())}",
                     f"unknown engine {name}; choose one of {', '.join(registry.engines())}")


# --- DuckDB --------------------------------------------------------------------------------------

def default_memory_limit() -> str:
    """``$MINESCOPE_DUCKDB_MEMORY``, else half the machine's memory up to 4 GB: DuckDB's own default
    (80 %) would let one scan crowd out everything else on a shared machine."""
    configured = settings.DUCKDB_MEMORY.value()
    if configured:
        return configured
    try:
        total_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError, AttributeError):
        total_mb = 8192
    return f"{max(256, min(4096, total_mb // 2))}MB"


class DuckDBEngine:
    """Reader batches go into DuckDB tables; dataset files are read where they lie (``read_parquet``)."""

    name = "duckdb"
    # Parquet rows get ids above every appended row: (file index + 1) · 2^40 + row in file
    FILE_ID_SHIFT = 1 << 40

    def __init__(self, threads: int | None = None, memory_limit: str | None = None) -> None:
        # beyond the limit DuckDB spills to its own temporary folder (removed on close)
        self.spill = Path(tempfile.mkdtemp(prefix="minescope-duckdb-"))
        config: dict[str, Any] = {"memory_limit": memory_limit or default_memory_limit(),
                                  "temp_directory": str(self.spill)}
        if threads:
            config["threads"] = threads
        try:
            self.con = duckdb.connect(config=config)
        except duckdb.Error as e:
            shutil.rmtree(self.spill, ignore_errors=True)
            raise InputError(f"DuckDB 配置无效（{str(e).splitlines()[0]}）；请检查 MINESCOPE_DUCKDB_MEMORY（如 4GB）",
                             f"invalid DuckDB setting ({str(e).splitlines()[0]}); check MINESCOPE_DUCKDB_MEMORY "
                             "(e.g. 4GB)") from e
        self.appended: set[str] = set()
        self.files: dict[str, list[tuple[list[str], bool]]] = {}

    def append(self, table: str, batch: pa.RecordBatch | pa.Table) -> None:
        """Rows of a reader table (the first batch's schema is the table's; later ones by name)."""
        if not batch.num_rows:
            return
        self.con.register("incoming", batch)
        if table not in self.appended:
            self.con.execute(f"CREATE TABLE raw_{table}_rows AS SELECT * FROM incoming")
            self.appended.add(table)
        else:
            self.con.execute(f"INSERT INTO raw_{table}_rows BY NAME SELECT * FROM incoming")
        self.con.unregister("incoming")

    def add_parquet(self, table: str, files: Sequence[Path], is_new: bool = True) -> None:
        if files:
            self.files.setdefault(table, []).append(([str(f) for f in files], is_new))

    def _relation(self, table: str, schema: pa.Schema, with_row_id: bool) -> str:
        names = ", ".join(schema.names)
        parts = []
        if table in self.appended:
            parts.append(f"SELECT {names}, rowid AS _row_id, TRUE AS is_new FROM raw_{table}_rows")
        offset = 0
        for paths, is_new in self.files.get(table, []):
            listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
            row_id = (f"(file_index + {offset + 1}) * {self.FILE_ID_SHIFT} + file_row_number" if with_row_id
                      else "0")
            parts.append(f"SELECT {names}, {row_id} AS _row_id, {'TRUE' if is_new else 'FALSE'} AS is_new "
                         f"FROM read_parquet([{listed}], hive_partitioning = false)")
            offset += len(paths)
        if not parts:
            self.con.register(f"empty_{table}", schema.empty_table())
            parts.append(f"SELECT {names}, CAST(0 AS BIGINT) AS _row_id, TRUE AS is_new FROM empty_{table}")
        return "(" + " UNION ALL ".join(parts) + ") raw"

    def prepare(self, preparation: Preparation) -> None:
        for view in preparation.views:
            # Parquet row ids cost a little: only views that use them compute them
            relation = self._relation(view.table, preparation.tables[view.table], "{row_id}" in view.sql)
            self.con.execute(f"CREATE OR REPLACE VIEW {view.name} AS " + DUCKDB.render(view, relation))

    def register(self, name: str, data: pa.Table) -> None:
        self.con.register(name, data)

    def materialize(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")

    def query(self, sql: str) -> list[dict[str, Any]]:
        cur = self.con.execute(sql)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row, strict=True)) for row in cur.fetchall()]

    def column(self, sql: str) -> pa.Array:
        """The first column of the result, as Arrow (millions of values without Python objects)."""
        result: pa.Table = self.con.sql(sql).to_arrow_table()
        return result.column(0).combine_chunks()

    def close(self) -> None:
        self.con.close()
        shutil.rmtree(self.spill, ignore_errors=True)


# --- Spark -----------------------------------------------------------------------------------------

def spark_session(master: str | None = None) -> Any:
    """A Spark session for the detectors: UTC, NULL (not an error) on division by zero as in DuckDB.

    ``master`` (else ``$MINESCOPE_SPARK_MASTER``, else ``local[2]``) may name a cluster."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise InputError("未安装 PySpark；请运行 pip install 'minescope[spark]' 或改用 --engine duckdb",
                         "PySpark is not installed; pip install 'minescope[spark]', or use --engine duckdb") from e
    if shutil.which("java") is None and not settings.java_home():
        raise InputError("Spark 需要 Java 17 或更新版本（未找到 java）；请安装 JDK 或改用 --engine duckdb",
                         "Spark needs Java 17 or later (no java found); install a JDK or use --engine duckdb")
    builder = (SparkSession.builder.appName("minescope")
               .master(master or settings.SPARK_MASTER.value() or "local[2]")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.ansi.enabled", "false")
               .config("spark.sql.shuffle.partitions", "8"))
    try:
        session = builder.getOrCreate()
    except Exception as e:  # the JVM failed to start: PySpark raises several kinds, none of them specific
        reason = (str(e).strip().splitlines() or [type(e).__name__])[-1][:200]
        raise InputError(f"Spark 无法启动（{reason}）；请检查 Java 17 与 MINESCOPE_SPARK_MASTER，"
                         "或改用 --engine duckdb",
                         f"Spark did not start ({reason}); check Java 17 and MINESCOPE_SPARK_MASTER, "
                         "or use --engine duckdb") from e
    session.sparkContext.setLogLevel("ERROR")
    return session


SPARK_TYPES = {pa.string(): "STRING", pa.float64(): "DOUBLE", pa.int64(): "BIGINT", pa.int32(): "INT",
               pa.uint8(): "SMALLINT", pa.list_(pa.string()): "ARRAY<STRING>",
               pa.list_(pa.float64()): "ARRAY<DOUBLE>"}


def _spark_schema(schema: pa.Schema) -> str:
    return ", ".join(f"{f.name} {'TIMESTAMP' if pa.types.is_timestamp(f.type) else SPARK_TYPES[f.type]}"
                     for f in schema)


class SparkEngine:
    """Spark SQL over Parquet: dataset files as they lie, reader batches staged as Parquet files."""

    name = "spark"

    def __init__(self, session: Any = None, master: str | None = None, stage_dir: Path | None = None) -> None:
        self.spark = session or spark_session(master)
        self.stage = Path(tempfile.mkdtemp(prefix="minescope-spark-", dir=stage_dir))
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.files: dict[str, list[tuple[list[str], bool]]] = {}
        self.cached: list[str] = []
        self.registered: list[str] = []
        self.views: list[str] = []

    def append(self, table: str, batch: pa.RecordBatch | pa.Table) -> None:
        """Rows of a reader table, staged as Parquet (in the first batch's schema)."""
        if not batch.num_rows:
            return
        data = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        if table not in self.writers:
            self.writers[table] = pq.ParquetWriter(self.stage / f"{table}.parquet", data.schema)
        self.writers[table].write_table(data.cast(self.writers[table].schema))

    def add_parquet(self, table: str, files: Sequence[Path], is_new: bool = True) -> None:
        if files:
            self.files.setdefault(table, []).append(([str(f) for f in files], is_new))

    def _frame(self, table: str, schema: pa.Schema) -> Any:
        from pyspark.sql import functions as F

        sources = [([str(self.stage / f"{table}.parquet")], True)] if table in self.writers else []
        frames = [self.spark.read.parquet(*paths).select(*schema.names).withColumn("is_new", F.lit(is_new))
                  for paths, is_new in sources + self.files.get(table, [])]
        if not frames:
            return self.spark.createDataFrame([], _spark_schema(schema)).withColumn("is_new", F.lit(True))
        frame = frames[0]
        for other in frames[1:]:
            frame = frame.unionByName(other)
        return frame

    def prepare(self, preparation: Preparation) -> None:
        for writer in self.writers.values():
            writer.close()
        for table, schema in preparation.tables.items():
            self._frame(table, schema).createOrReplaceTempView(f"raw_{table}")
            self.views.append(f"raw_{table}")
        for view in preparation.views:
            self.spark.sql(SPARK.render(view, f"raw_{view.table}")).createOrReplaceTempView(view.name)
            self.views.append(view.name)

    def register(self, name: str, data: pa.Table) -> None:
        fields = ", ".join(f"{f.name} {SPARK_TYPES[f.type]}" for f in data.schema)
        self.spark.createDataFrame(data.to_pylist(), fields).createOrReplaceTempView(name)
        self.registered.append(name)

    def materialize(self, name: str, sql: str) -> None:
        # row ids are computed when a plan runs: keep the rows once, so every later use sees the same ids
        self.spark.catalog.dropTempView(name)
        self.spark.sql(f"CACHE TABLE {name} AS {sql}")
        self.cached.append(name)

    def query(self, sql: str) -> list[dict[str, Any]]:
        return [row.asDict() for row in self.spark.sql(sql).collect()]

    def column(self, sql: str) -> pa.Array:
        return self.spark.sql(sql).toArrow().column(0).combine_chunks()

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()
        for name in self.cached:
            self.spark.sql(f"UNCACHE TABLE IF EXISTS {name}")
        for view in (*self.cached, *self.registered, *self.views):
            self.spark.catalog.dropTempView(view)
        shutil.rmtree(self.stage, ignore_errors=True)

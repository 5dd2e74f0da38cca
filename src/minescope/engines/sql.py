"""Where the flow-log detectors' SQL runs: DuckDB (embedded, the default) or Apache Spark (distributed).

Both engines hold the same relations and run the detectors' SQL text (``detect.flowlog``,
``detect.behaviour``) unchanged:

  raw flows / raw dns   the readers' tables (``flows.schema``), from reader batches (``append``)
                        or Parquet files of a flow dataset (``add_parquet``), in any mix
  flows                 ``PREPARE_FLOWS_SQL``: epoch seconds, counters of both directions, a row id
  dns_questions         ``PREPARE_QUESTIONS_SQL``: one row per DNS transaction with a question
  dns_answers           one row per address in an answer section, with its TTL

Only what differs between the two SQL dialects lives in the engine classes: the epoch of a
timestamp, the row id, and flattening the answer list next to its TTL list. Row ids are unique
within a run but not equal across engines; the detectors use them only to count and de-duplicate
flows, and order samples by the flows' own fields, so both engines give the same findings.

DuckDB reads Parquet in place and spills to disk beyond its memory limit (out of core). Spark
runs ``local[N]`` on one machine, or on a cluster when given a master URL; reader batches are
staged as Parquet files for it, so the driver never holds a whole log.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from minescope.dimensions.network.tables import TABLES
from minescope.errors import InputError

ENGINES = ("duckdb", "spark")

# The detectors' tables, over the readers' tables. {row_id}, {epoch_us} and {relation} are the
# engine's; everything else is shared.
PREPARE_FLOWS_SQL = """
SELECT {row_id} AS row_id,
       CAST({epoch_us} AS DOUBLE) / 1000000 AS t_start,
       CAST({epoch_us} AS DOUBLE) / 1000000 + COALESCE(duration_s, 0) AS t_end,
       src_ip, dst_ip, src_port, dst_port, CAST(proto AS INTEGER) AS proto,
       COALESCE(src_packets, 0) + COALESCE(dst_packets, 0) AS packets,
       src_packets AS packets_fwd, dst_packets AS packets_rev, src_bytes AS bytes_fwd, dst_bytes AS bytes_rev,
       CAST(tcp_flags AS INTEGER) AS tcp_flags, src_packets IS NOT NULL AS counted,
       server_name, app, sensor_uid, source, input
FROM {relation}
"""

# is_new: false for DNS files read only as context for an incremental run (older answers can
# explain new flows, but their questions were reported when those files were new)
PREPARE_QUESTIONS_SQL = """
SELECT CAST({epoch_us} AS DOUBLE) / 1000000 AS t, client_ip, resolver_ip, query, source, input, is_new
FROM {relation} WHERE query IS NOT NULL
"""


class SqlEngine(Protocol):
    """What the detectors need from an engine."""

    name: str

    def append(self, table: str, batch: pa.RecordBatch | pa.Table) -> None: ...
    def add_parquet(self, table: str, files: Sequence[Path], is_new: bool = True) -> None: ...
    def prepare(self) -> None: ...
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
    raise InputError(f"未知的引擎 {name}；可选 {', '.join(ENGINES)}",
                     f"unknown engine {name}; choose one of {', '.join(ENGINES)}")


# --- DuckDB --------------------------------------------------------------------------------------

def default_memory_limit() -> str:
    """``$MINESCOPE_DUCKDB_MEMORY``, else half the machine's memory up to 4 GB: DuckDB's own default
    (80 %) would let one scan crowd out everything else on a shared machine."""
    configured = os.environ.get("MINESCOPE_DUCKDB_MEMORY")
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
        self.files: dict[str, list[tuple[list[str], bool]]] = {"flows": [], "dns": []}

    def append(self, table: str, batch: pa.RecordBatch | pa.Table) -> None:
        if table not in self.files or not batch.num_rows:
            return
        if table not in self.appended:
            self.con.register("incoming", TABLES[table].empty_table())
            self.con.execute(f"CREATE TABLE raw_{table}_rows AS SELECT * FROM incoming")
            self.appended.add(table)
        self.con.register("incoming", batch)
        self.con.execute(f"INSERT INTO raw_{table}_rows SELECT * FROM incoming")
        self.con.unregister("incoming")

    def add_parquet(self, table: str, files: Sequence[Path], is_new: bool = True) -> None:
        if files:
            self.files[table].append(([str(f) for f in files], is_new))

    def _relation(self, table: str, with_row_id: bool) -> str:
        names = ", ".join(TABLES[table].names)
        parts = []
        if table in self.appended:
            parts.append(f"SELECT {names}, rowid AS _row_id, TRUE AS is_new FROM raw_{table}_rows")
        offset = 0
        for paths, is_new in self.files[table]:
            listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
            row_id = (f"(file_index + {offset + 1}) * {self.FILE_ID_SHIFT} + file_row_number" if with_row_id
                      else "0")
            parts.append(f"SELECT {names}, {row_id} AS _row_id, {'TRUE' if is_new else 'FALSE'} AS is_new "
                         f"FROM read_parquet([{listed}], hive_partitioning = false)")
            offset += len(paths)
        if not parts:
            self.con.register(f"empty_{table}", TABLES[table].empty_table())
            parts.append(f"SELECT {names}, CAST(0 AS BIGINT) AS _row_id, TRUE AS is_new FROM empty_{table}")
        return "(" + " UNION ALL ".join(parts) + ") raw"

    def prepare(self) -> None:
        epoch = "epoch_us(ts)"
        self.con.execute("CREATE OR REPLACE VIEW flows AS " + PREPARE_FLOWS_SQL.format(
            row_id="_row_id", epoch_us=epoch, relation=self._relation("flows", True)))
        dns = self._relation("dns", False)
        self.con.execute("CREATE OR REPLACE VIEW dns_questions AS " + PREPARE_QUESTIONS_SQL.format(
            epoch_us=epoch, relation=dns))
        # parallel UNNEST pads the shorter list with NULL: TTLs are used only when they line up
        self.con.execute(f"""CREATE OR REPLACE VIEW dns_answers AS
            SELECT t, client_ip, resolver_ip, query, answer, ttl, source, input FROM (
              SELECT CAST({epoch} AS DOUBLE) / 1000000 AS t, client_ip, resolver_ip, query, source, input,
                     UNNEST(answers) AS answer,
                     UNNEST(CASE WHEN len(ttls) = len(answers) THEN ttls END) AS ttl
              FROM {dns} WHERE query IS NOT NULL) flat
            WHERE answer IS NOT NULL""")

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
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise InputError("Spark 需要 Java 17 或更新版本（未找到 java）；请安装 JDK 或改用 --engine duckdb",
                         "Spark needs Java 17 or later (no java found); install a JDK or use --engine duckdb")
    builder = (SparkSession.builder.appName("minescope")
               .master(master or os.environ.get("MINESCOPE_SPARK_MASTER") or "local[2]")
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


def _spark_schema(table: str) -> str:
    return ", ".join(f"{f.name} {'TIMESTAMP' if pa.types.is_timestamp(f.type) else SPARK_TYPES[f.type]}"
                     for f in TABLES[table])


class SparkEngine:
    """Spark SQL over Parquet: dataset files as they lie, reader batches staged as Parquet files."""

    name = "spark"

    def __init__(self, session: Any = None, master: str | None = None, stage_dir: Path | None = None) -> None:
        self.spark = session or spark_session(master)
        self.stage = Path(tempfile.mkdtemp(prefix="minescope-spark-", dir=stage_dir))
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.files: dict[str, list[tuple[list[str], bool]]] = {"flows": [], "dns": []}
        self.cached: list[str] = []
        self.registered: list[str] = []

    def append(self, table: str, batch: pa.RecordBatch | pa.Table) -> None:
        if table not in self.files or not batch.num_rows:
            return
        if table not in self.writers:
            self.writers[table] = pq.ParquetWriter(self.stage / f"{table}.parquet", TABLES[table])
        data = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        self.writers[table].write_table(data.cast(TABLES[table]))

    def add_parquet(self, table: str, files: Sequence[Path], is_new: bool = True) -> None:
        if files:
            self.files[table].append(([str(f) for f in files], is_new))

    def _frame(self, table: str) -> Any:
        from pyspark.sql import functions as F

        sources = [([str(self.stage / f"{table}.parquet")], True)] if table in self.writers else []
        frames = [self.spark.read.parquet(*paths).select(*TABLES[table].names).withColumn("is_new", F.lit(is_new))
                  for paths, is_new in sources + self.files[table]]
        if not frames:
            return self.spark.createDataFrame([], _spark_schema(table)).withColumn("is_new", F.lit(True))
        frame = frames[0]
        for other in frames[1:]:
            frame = frame.unionByName(other)
        return frame

    def prepare(self) -> None:
        for writer in self.writers.values():
            writer.close()
        epoch = "unix_micros(ts)"
        self._frame("flows").createOrReplaceTempView("raw_flows")
        self._frame("dns").createOrReplaceTempView("raw_dns")
        self.spark.sql(PREPARE_FLOWS_SQL.format(row_id="monotonically_increasing_id()", epoch_us=epoch,
                                                relation="raw_flows")).createOrReplaceTempView("flows")
        self.spark.sql(PREPARE_QUESTIONS_SQL.format(epoch_us=epoch, relation="raw_dns")) \
            .createOrReplaceTempView("dns_questions")
        self.spark.sql(f"""
            SELECT CAST({epoch} AS DOUBLE) / 1000000 AS t, r.client_ip, r.resolver_ip, r.query, a.answer,
                   CASE WHEN size(r.ttls) = size(r.answers) THEN r.ttls[a.pos] END AS ttl, r.source, r.input
            FROM raw_dns r LATERAL VIEW posexplode(r.answers) a AS pos, answer
            WHERE r.query IS NOT NULL AND a.answer IS NOT NULL""").createOrReplaceTempView("dns_answers")

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
        for view in (*self.cached, *self.registered, "flows", "dns_questions", "dns_answers", "raw_flows",
                     "raw_dns"):
            self.spark.catalog.dropTempView(view)
        shutil.rmtree(self.stage, ignore_errors=True)

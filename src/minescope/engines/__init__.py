"""Where SQL detectors run: DuckDB (embedded, the default) or Apache Spark (distributed).

The detectors' SQL text is shared; an engine holds only its dialect differences."""

from minescope.registry import EngineSpec, Plugin

PLUGIN = Plugin(name="engines", engines=(
    EngineSpec("duckdb", "embedded DuckDB: one machine, out of core (the default)",
               "minescope.engines.sql:DuckDBEngine"),
    EngineSpec("spark", "Apache Spark: local[N] or a cluster ($MINESCOPE_SPARK_MASTER); pip install "
               "'minescope[spark]' and Java 17", "minescope.engines.sql:SparkEngine"),
))

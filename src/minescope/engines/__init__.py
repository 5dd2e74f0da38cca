"""Where SQL detectors run: DuckDB (embedded, the default) or Apache Spark (distributed).

The detectors' SQL text is shared; an engine holds only its dialect differences."""

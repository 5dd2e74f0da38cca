"""The evidence tables of the host dimension: none yet."""

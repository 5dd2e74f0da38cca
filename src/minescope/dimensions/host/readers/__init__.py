"""Readers of the host dimension: none yet."""

"""Readers of the content dimension: none yet."""

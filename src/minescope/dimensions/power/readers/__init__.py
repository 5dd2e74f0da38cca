"""Readers of the power dimension: none yet."""

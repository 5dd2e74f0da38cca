"""Readers of the funds dimension: none yet."""

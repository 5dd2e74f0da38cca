"""Detectors of the power dimension: none yet."""

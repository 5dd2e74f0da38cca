"""Detectors of the host dimension: none yet."""

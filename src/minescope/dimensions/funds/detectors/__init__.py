"""Detectors of the funds dimension: none yet."""

"""Detectors of the content dimension: none yet."""

"""Detectors of public reports."""

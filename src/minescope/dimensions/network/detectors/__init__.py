"""Network detectors: tables (and payload facts, where a signal needs them) → findings."""

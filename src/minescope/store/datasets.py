"""Which files of each flow dataset the store has scanned, so a dataset is read incrementally.

One row per (dataset id, file below the dataset root): the scan that read it and its size. A file
whose size changed since (rewritten by another tool) is read again. Only whole files of complete imports
reach this table: a scan lists nothing of an import still running (``FlowDataset.visible_files``), so a
file is never marked as read before its import has finished.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from sqlalchemy import BigInteger, Column, Connection, Engine, Float, ForeignKey, Integer, String, Table, select

from minescope.dimensions.network.readers.dataset import DatasetFile
from minescope.store.findings import begin, insert_ignore, metadata

dataset_files = Table(
    "dataset_files", metadata,
    Column("dataset", String(255), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("bytes", BigInteger, nullable=False),
    Column("scan_id", Integer, ForeignKey("scans.id"), nullable=False),
    Column("scanned_at", Float, nullable=False),
)


def scanned_files(store: Engine, dataset: str) -> set[str]:
    """``DatasetFile.key`` of the dataset's files already scanned (path below the root, and size)."""
    with store.connect() as conn:
        return {f"{row.path}\0{row.bytes}" for row in conn.execute(
            select(dataset_files.c.path, dataset_files.c.bytes).where(dataset_files.c.dataset == dataset))}


def mark_scanned(store: Engine | Connection, dataset: str, files: Iterable[DatasetFile], scan_id: int) -> None:
    """Record the dataset's files as read by ``scan_id`` (in ``store``'s own transaction, or a connection's)."""
    rows = [{"dataset": dataset, "path": f.rel, "bytes": f.bytes, "scan_id": scan_id, "scanned_at": time.time()}
            for f in files]
    if not rows:
        return
    with begin(store) as conn:
        conn.execute(dataset_files.delete().where(
            dataset_files.c.dataset == dataset, dataset_files.c.path.in_([r["path"] for r in rows])))
        conn.execute(insert_ignore(store, dataset_files), rows)

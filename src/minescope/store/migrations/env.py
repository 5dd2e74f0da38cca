"""Alembic environment: migrations run on the connection ``store.findings.open_store`` hands over."""

from alembic import context

from minescope.store import accounts, cases, datasets, tips  # noqa: F401  (register their tables on the metadata)
from minescope.store.findings import metadata

connection = context.config.attributes["connection"]
# batch mode lets SQLite alter tables (it copies them); PostgreSQL alters in place
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True)
with context.begin_transaction():
    context.run_migrations()

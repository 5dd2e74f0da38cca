"""dataset files: which files of each flow dataset have been scanned (incremental scans)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 09:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dataset_files',
    sa.Column('dataset', sa.String(length=255), nullable=False),
    sa.Column('path', sa.String(length=1024), nullable=False),
    sa.Column('bytes', sa.BigInteger(), nullable=False),
    sa.Column('scan_id', sa.Integer(), nullable=False),
    sa.Column('scanned_at', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['scan_id'], ['scans.id'], ),
    sa.PrimaryKeyConstraint('dataset', 'path')
    )


def downgrade() -> None:
    op.drop_table('dataset_files')

"""issuing authorities: the authority that issues an area's rectification notices (整改通知书), with the
code it uses in the document number; changes are recorded in account_events

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 04:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('issuing_authorities',
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('doc_prefix', sa.String(length=32), server_default='', nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.Column('updated_by', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('region_code')
    )


def downgrade() -> None:
    op.drop_table('issuing_authorities')

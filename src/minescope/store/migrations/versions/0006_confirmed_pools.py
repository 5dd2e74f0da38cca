"""confirmed pools: endpoints that answered ``minescope probe`` as a pool (stored intelligence)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 23:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('confirmed_pools',
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('tls', sa.Boolean(), nullable=False),
    sa.Column('protocol', sa.String(length=32), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=True),
    sa.Column('first_confirmed', sa.Float(), nullable=False),
    sa.Column('last_confirmed', sa.Float(), nullable=False),
    sa.Column('last_probed', sa.Float(), nullable=False),
    sa.Column('last_verdict', sa.String(length=16), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('ip', 'port')
    )


def downgrade() -> None:
    op.drop_table('confirmed_pools')

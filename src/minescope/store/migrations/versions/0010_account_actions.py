"""account actions: what was done about an account a case holds — frozen, reported to the police, put on the
断卡 list — with the order's or report's reference

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 10:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('account_actions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('account', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('reference', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('case_id', 'account', 'action', name='uq_account_actions_case_account_action')
    )
    op.create_index(op.f('ix_account_actions_account'), 'account_actions', ['account'], unique=False)
    op.create_index(op.f('ix_account_actions_case_id'), 'account_actions', ['case_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_account_actions_case_id'), table_name='account_actions')
    op.drop_index(op.f('ix_account_actions_account'), table_name='account_actions')
    op.drop_table('account_actions')

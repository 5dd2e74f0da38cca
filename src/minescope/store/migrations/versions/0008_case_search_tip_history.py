"""case search and tips (issue 13): the payout wallet of a finding as a column (searchable,
indexed), indexes for the case filters (and a finding's cases), each tip's case and the
history of its status (who, when, before, after)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 02:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('findings') as batch:
        batch.add_column(sa.Column('wallet', sa.String(length=255), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute("UPDATE findings SET wallet = left(data::jsonb #>> '{mining,wallet}', 255) "
                   "WHERE data::jsonb #>> '{mining,wallet}' IS NOT NULL")
    else:
        op.execute("UPDATE findings SET wallet = substr(json_extract(data, '$.mining.wallet'), 1, 255) "
                   "WHERE json_extract(data, '$.mining.wallet') IS NOT NULL")
    op.create_index('ix_findings_wallet', 'findings', ['wallet'], unique=False,
                    postgresql_ops={'wallet': 'varchar_pattern_ops'})
    op.create_index('ix_findings_subject_value', 'findings', ['subject_value'], unique=False,
                    postgresql_ops={'subject_value': 'text_pattern_ops'})
    op.create_index('ix_findings_peer_ip', 'findings', ['peer_ip'], unique=False)
    op.create_index('ix_findings_peer_host', 'findings', ['peer_host'], unique=False)
    op.create_index('ix_findings_org_name', 'findings', ['org_name'], unique=False,
                    postgresql_ops={'org_name': 'text_pattern_ops'})
    # a due date no calendar holds (stored as inf before due days were bounded) becomes no due date: it
    # broke the case list and the ledger of every area above the case's
    op.execute("UPDATE cases SET due_at = NULL WHERE due_at > 1e12 OR due_at < -1e12")
    op.create_index('ix_case_findings_finding_id', 'case_findings', ['finding_id'], unique=False)
    op.create_index('ix_cases_org_type', 'cases', ['org_type'], unique=False)
    op.create_index('ix_cases_owner', 'cases', ['owner'], unique=False)
    op.create_index('ix_cases_updated_at', 'cases', ['updated_at'], unique=False)
    with op.batch_alter_table('tips') as batch:
        batch.add_column(sa.Column('case_id', sa.Integer(), nullable=True))
        batch.create_foreign_key('fk_tips_case_id', 'cases', ['case_id'], ['id'])
    op.create_index('ix_tips_status', 'tips', ['status'], unique=False)
    op.create_table('tip_history',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('tip_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('before', sa.JSON(), nullable=False),
    sa.Column('after', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['tip_id'], ['tips.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_tip_history_tip_id', 'tip_history', ['tip_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_tip_history_tip_id', table_name='tip_history')
    op.drop_table('tip_history')
    op.drop_index('ix_tips_status', table_name='tips')
    with op.batch_alter_table('tips') as batch:
        batch.drop_constraint('fk_tips_case_id', type_='foreignkey')
        batch.drop_column('case_id')
    op.drop_index('ix_cases_updated_at', table_name='cases')
    op.drop_index('ix_cases_owner', table_name='cases')
    op.drop_index('ix_cases_org_type', table_name='cases')
    op.drop_index('ix_case_findings_finding_id', table_name='case_findings')
    op.drop_index('ix_findings_org_name', table_name='findings')
    op.drop_index('ix_findings_peer_host', table_name='findings')
    op.drop_index('ix_findings_peer_ip', table_name='findings')
    op.drop_index('ix_findings_subject_value', table_name='findings')
    op.drop_index('ix_findings_wallet', table_name='findings')
    with op.batch_alter_table('findings') as batch:
        batch.drop_column('wallet')

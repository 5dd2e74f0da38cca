"""baseline: findings, scans, cases, accounts, tips

Revision ID: 0001
Revises:
Create Date: 2026-11-24 05:55:08.885775
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Stores made before migrations existed (by create_all) already hold some of these tables:
    # create only what is missing, so they join the migration history here.
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if 'cases' not in existing:
        op.create_table('cases',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('subject_key', sa.String(length=255), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('org_name', sa.Text(), nullable=True),
        sa.Column('org_type', sa.String(length=32), nullable=True),
        sa.Column('region_code', sa.String(length=12), nullable=True),
        sa.Column('province', sa.String(length=64), nullable=True),
        sa.Column('city', sa.String(length=64), nullable=True),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('owner', sa.String(length=128), nullable=True),
        sa.Column('due_at', sa.Float(), nullable=True),
        sa.Column('closing_reason', sa.String(length=32), nullable=True),
        sa.Column('reopened', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('subject_key')
        )
        with op.batch_alter_table('cases', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_cases_due_at'), ['due_at'], unique=False)
            batch_op.create_index(batch_op.f('ix_cases_region_code'), ['region_code'], unique=False)
            batch_op.create_index(batch_op.f('ix_cases_state'), ['state'], unique=False)

    if 'scans' not in existing:
        op.create_table('scans',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('started_at', sa.Float(), nullable=False),
        sa.Column('wall_seconds', sa.Float(), nullable=False),
        sa.Column('packets', sa.Integer(), nullable=False),
        sa.Column('bytes', sa.Integer(), nullable=False),
        sa.Column('flows', sa.Integer(), nullable=False),
        sa.Column('inputs', sa.JSON(), nullable=False),
        sa.Column('findings_total', sa.Integer(), nullable=False),
        sa.Column('findings_new', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )

    if 'store_meta' not in existing:
        op.create_table('store_meta',
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('value', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('key')
        )

    if 'users' not in existing:
        op.create_table('users',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('password_hash', sa.String(length=255), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('region_code', sa.String(length=12), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('username')
        )

    if 'api_tokens' not in existing:
        op.create_table('api_tokens',
        sa.Column('digest', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
        sa.PrimaryKeyConstraint('digest')
        )

    if 'case_attachments' not in existing:
        op.create_table('case_attachments',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('author', sa.String(length=128), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('case_attachments', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_case_attachments_case_id'), ['case_id'], unique=False)

    if 'case_comments' not in existing:
        op.create_table('case_comments',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('author', sa.String(length=128), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('case_comments', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_case_comments_case_id'), ['case_id'], unique=False)

    if 'case_history' not in existing:
        op.create_table('case_history',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('at', sa.Float(), nullable=False),
        sa.Column('actor', sa.String(length=128), nullable=False),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('before', sa.JSON(), nullable=False),
        sa.Column('after', sa.JSON(), nullable=False),
        sa.Column('prev_hash', sa.String(length=64), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('prev_hash', name='uq_case_history_chain')
        )
        with op.batch_alter_table('case_history', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_case_history_case_id'), ['case_id'], unique=False)

    if 'case_tasks' not in existing:
        op.create_table('case_tasks',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('done', sa.Boolean(), nullable=False),
        sa.Column('due_at', sa.Float(), nullable=True),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('case_tasks', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_case_tasks_case_id'), ['case_id'], unique=False)

    if 'findings' not in existing:
        op.create_table('findings',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('dimension', sa.String(length=16), nullable=False),
        sa.Column('subject_ip', sa.String(length=64), nullable=False),
        sa.Column('peer_ip', sa.String(length=64), nullable=False),
        sa.Column('peer_port', sa.Integer(), nullable=False),
        sa.Column('peer_host', sa.String(length=255), nullable=True),
        sa.Column('first_seen', sa.Float(), nullable=False),
        sa.Column('last_seen', sa.Float(), nullable=False),
        sa.Column('confidence', sa.Float(), nullable=False),
        sa.Column('severity', sa.String(length=8), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('province', sa.String(length=64), nullable=True),
        sa.Column('city', sa.String(length=64), nullable=True),
        sa.Column('region_code', sa.String(length=12), nullable=True),
        sa.Column('org_type', sa.String(length=32), nullable=True),
        sa.Column('org_name', sa.Text(), nullable=True),
        sa.Column('coin', sa.String(length=64), nullable=True),
        sa.Column('algorithm', sa.String(length=64), nullable=True),
        sa.Column('hashrate_hps', sa.Float(), nullable=True),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('first_scan_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['first_scan_id'], ['scans.id'], ),
        sa.PrimaryKeyConstraint('id')
        )
        with op.batch_alter_table('findings', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_findings_first_seen'), ['first_seen'], unique=False)
            batch_op.create_index(batch_op.f('ix_findings_kind'), ['kind'], unique=False)
            batch_op.create_index(batch_op.f('ix_findings_province'), ['province'], unique=False)
            batch_op.create_index(batch_op.f('ix_findings_region_code'), ['region_code'], unique=False)
            batch_op.create_index(batch_op.f('ix_findings_subject_ip'), ['subject_ip'], unique=False)

    if 'case_findings' not in existing:
        op.create_table('case_findings',
        sa.Column('case_id', sa.Integer(), nullable=False),
        sa.Column('finding_id', sa.String(length=32), nullable=False),
        sa.Column('added_at', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ),
        sa.ForeignKeyConstraint(['finding_id'], ['findings.id'], ),
        sa.PrimaryKeyConstraint('case_id', 'finding_id')
        )

    if 'sightings' not in existing:
        op.create_table('sightings',
        sa.Column('scan_id', sa.Integer(), nullable=False),
        sa.Column('finding_id', sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(['finding_id'], ['findings.id'], ),
        sa.ForeignKeyConstraint(['scan_id'], ['scans.id'], ),
        sa.PrimaryKeyConstraint('scan_id', 'finding_id')
        )

    if 'tips' not in existing:
        op.create_table('tips',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('tracking_code', sa.String(length=16), nullable=False),
        sa.Column('region_code', sa.String(length=12), nullable=False),
        sa.Column('subject', sa.Text(), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('contact', sa.Text(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('finding_id', sa.String(length=32), nullable=False),
        sa.Column('created_at', sa.Float(), nullable=False),
        sa.Column('updated_at', sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(['finding_id'], ['findings.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('tracking_code')
        )
        with op.batch_alter_table('tips', schema=None) as batch_op:
            batch_op.create_index(batch_op.f('ix_tips_region_code'), ['region_code'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('tips', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tips_region_code'))

    op.drop_table('tips')
    op.drop_table('sightings')
    op.drop_table('case_findings')
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_findings_subject_ip'))
        batch_op.drop_index(batch_op.f('ix_findings_region_code'))
        batch_op.drop_index(batch_op.f('ix_findings_province'))
        batch_op.drop_index(batch_op.f('ix_findings_kind'))
        batch_op.drop_index(batch_op.f('ix_findings_first_seen'))

    op.drop_table('findings')
    with op.batch_alter_table('case_tasks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_tasks_case_id'))

    op.drop_table('case_tasks')
    with op.batch_alter_table('case_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_history_case_id'))

    op.drop_table('case_history')
    with op.batch_alter_table('case_comments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_comments_case_id'))

    op.drop_table('case_comments')
    with op.batch_alter_table('case_attachments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_attachments_case_id'))

    op.drop_table('case_attachments')
    op.drop_table('api_tokens')
    op.drop_table('users')
    op.drop_table('store_meta')
    op.drop_table('scans')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_state'))
        batch_op.drop_index(batch_op.f('ix_cases_region_code'))
        batch_op.drop_index(batch_op.f('ix_cases_due_at'))

    op.drop_table('cases')

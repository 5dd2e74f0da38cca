"""findings about any subject

A finding states what it is about (``subject_type``, ``subject_value``: an address, a host, a meter, an
account, a listing, a post, an organisation), so the address and peer columns are no longer required:
findings of other dimensions than the network have none. Existing rows are filled: network findings
are about their address; public reports (tips) about the subject the reporter named, and lose the
empty address and port they were given before.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 20:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject_type', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('subject_value', sa.Text(), nullable=True))
        batch_op.alter_column('subject_ip', existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column('peer_ip', existing_type=sa.String(length=64), nullable=True)
        batch_op.alter_column('peer_port', existing_type=sa.Integer(), nullable=True)
    findings = sa.table('findings', sa.column('id', sa.String), sa.column('dimension', sa.String),
                        sa.column('subject_ip', sa.String), sa.column('peer_ip', sa.String),
                        sa.column('peer_port', sa.Integer), sa.column('subject_type', sa.String),
                        sa.column('subject_value', sa.Text))
    tips = sa.table('tips', sa.column('finding_id', sa.String), sa.column('subject', sa.Text))
    op.execute(findings.update().where(findings.c.dimension != 'tip')
               .values(subject_type='ip', subject_value=findings.c.subject_ip))
    named = sa.select(tips.c.subject).where(tips.c.finding_id == findings.c.id).scalar_subquery()
    op.execute(findings.update().where(findings.c.dimension == 'tip')
               .values(subject_type='organisation', subject_value=named, subject_ip=None, peer_ip=None,
                       peer_port=None))
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.create_index('ix_findings_subject', ['subject_type', 'subject_value'], unique=False,
                              postgresql_ops={'subject_value': 'text_pattern_ops'})


def downgrade() -> None:
    findings = sa.table('findings', sa.column('subject_ip', sa.String), sa.column('peer_ip', sa.String),
                        sa.column('peer_port', sa.Integer))
    op.execute(findings.update().where(findings.c.subject_ip.is_(None)).values(subject_ip=''))
    op.execute(findings.update().where(findings.c.peer_ip.is_(None)).values(peer_ip='', peer_port=0))
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.drop_index('ix_findings_subject')
        batch_op.alter_column('peer_port', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('peer_ip', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('subject_ip', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column('subject_value')
        batch_op.drop_column('subject_type')

"""accounts: disabled accounts, password change time, named and scoped API tokens with expiry and
revocation, server-side sessions, the login throttle and the account audit trail (issue 13)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 01:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users') as batch:
        batch.add_column(sa.Column('disabled', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('password_changed_at', sa.Float(), nullable=True))
    with op.batch_alter_table('api_tokens') as batch:
        batch.add_column(sa.Column('name', sa.String(length=64), nullable=False, server_default=''))
        batch.add_column(sa.Column('scope', sa.String(length=8), nullable=False, server_default='write'))
        batch.add_column(sa.Column('expires_at', sa.Float(), nullable=True))
        batch.add_column(sa.Column('revoked_at', sa.Float(), nullable=True))
    op.create_table('sessions',
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.Float(), nullable=False),
    sa.Column('expires_at', sa.Float(), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('digest')
    )
    op.create_index('ix_sessions_user_id', 'sessions', ['user_id'], unique=False)
    op.create_table('login_throttle',
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_start', sa.Float(), nullable=False),
    sa.Column('locked_until', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('account_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('at', sa.Float(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_account_events_username', 'account_events', ['username'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_account_events_username', table_name='account_events')
    op.drop_table('account_events')
    op.drop_table('login_throttle')
    op.drop_index('ix_sessions_user_id', table_name='sessions')
    op.drop_table('sessions')
    with op.batch_alter_table('api_tokens') as batch:
        for name in ('revoked_at', 'expires_at', 'scope', 'name'):
            batch.drop_column(name)
    with op.batch_alter_table('users') as batch:
        batch.drop_column('password_changed_at')
        batch.drop_column('disabled')

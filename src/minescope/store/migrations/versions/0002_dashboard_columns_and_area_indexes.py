"""dashboard columns and area indexes

Findings gain the figures the dashboard sums (the sizing hash rate and the energy estimate, each with
its algorithm), copied out of ``data`` so that SQL can add them up; existing rows are filled from
their ``data``. The area look-ups (``region_code LIKE '32%'``) get indexes PostgreSQL can use for a
prefix in any collation (varchar_pattern_ops); the findings' one also carries the columns the
dashboard reads (INCLUDE), for index-only scans. On SQLite they are plain indexes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 06:08:37.159053
"""

import sqlalchemy as sa
from alembic import op

from minescope.model import MIN_SHARES_TO_SIZE

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

PATTERN_OPS = {'region_code': 'varchar_pattern_ops'}
# carried in the area index on PostgreSQL, so the dashboard's sums read the index alone
DASHBOARD_COLUMNS = ['subject_ip', 'org_type', 'org_name', 'first_seen', 'sizing_algorithm', 'sizing_hps',
                     'energy_algorithm', 'kwh_per_day_low', 'kwh_per_day_best', 'kwh_per_day_high']


def upgrade() -> None:
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sizing_algorithm', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('sizing_hps', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('energy_algorithm', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('kwh_per_day_low', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('kwh_per_day_best', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('kwh_per_day_high', sa.Float(), nullable=True))
    op.execute(_backfill())  # before the index that carries these columns: one write per row
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_findings_region_code'))
        batch_op.create_index('ix_findings_region_kind', ['region_code', 'kind'], unique=False,
                              postgresql_ops=PATTERN_OPS, postgresql_include=DASHBOARD_COLUMNS)
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cases_region_code'))
        batch_op.create_index('ix_cases_region_code', ['region_code'], unique=False, postgresql_ops=PATTERN_OPS)


def _backfill() -> sa.Update:
    """The new columns from each row's ``data``, with SQLAlchemy's JSON paths (SQLite and PostgreSQL alike).

    The sizing hash rate is MiningFacts.sizing_hashrate: the measured rate when it rests on enough
    shares (or was not counted from shares), else the miner's reported rate.
    """
    findings = sa.table('findings', sa.column('data', sa.JSON), sa.column('sizing_algorithm', sa.String),
                        sa.column('sizing_hps', sa.Float), sa.column('energy_algorithm', sa.String),
                        sa.column('kwh_per_day_low', sa.Float), sa.column('kwh_per_day_best', sa.Float),
                        sa.column('kwh_per_day_high', sa.Float))
    data = findings.c.data
    measured, reported = ('mining', 'hashrate'), ('mining', 'reported_hashrate')
    use_measured = sa.and_(
        data[(*measured, 'hps')].as_float().is_not(None),
        sa.or_(data[(*measured, 'method')].as_string() != 'shares',
               data[(*measured, 'shares')].as_integer() >= MIN_SHARES_TO_SIZE))

    return findings.update().values(
        sizing_algorithm=sa.case((use_measured, data[(*measured, 'algorithm')].as_string()),
                                 else_=data[(*reported, 'algorithm')].as_string()),
        sizing_hps=sa.case((use_measured, data[(*measured, 'hps')].as_float()),
                           else_=data[(*reported, 'hps')].as_float()),
        energy_algorithm=data[('energy', 'algorithm')].as_string(),
        kwh_per_day_low=data[('energy', 'kwh_per_day', 0)].as_float(),
        kwh_per_day_best=data[('energy', 'kwh_per_day', 1)].as_float(),
        kwh_per_day_high=data[('energy', 'kwh_per_day', 2)].as_float())


def downgrade() -> None:
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_region_code')
        batch_op.create_index(batch_op.f('ix_cases_region_code'), ['region_code'], unique=False)
    with op.batch_alter_table('findings', schema=None) as batch_op:
        batch_op.drop_index('ix_findings_region_kind')
        batch_op.create_index(batch_op.f('ix_findings_region_code'), ['region_code'], unique=False)
        batch_op.drop_column('kwh_per_day_high')
        batch_op.drop_column('kwh_per_day_best')
        batch_op.drop_column('kwh_per_day_low')
        batch_op.drop_column('energy_algorithm')
        batch_op.drop_column('sizing_hps')
        batch_op.drop_column('sizing_algorithm')

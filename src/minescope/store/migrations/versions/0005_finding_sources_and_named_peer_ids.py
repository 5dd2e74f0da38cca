"""finding sources, and ids that tell named peers apart

Every input a finding was read from is kept (``finding_sources``), filled with each stored finding's
source. Network findings whose peer has a name (DNS, SNI, Host header, login) get the id schema 1.2
gives them: the id of schema 1.0 with the name added, so one DNS flow asking for several pool names
is several findings. Their sightings, sources and case links follow them. Findings that collided
before (only the first name was kept) come back with a rescan of their capture.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 22:20:00
"""

import hashlib
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

REFERENCES = ('sightings', 'case_findings')  # tables that name a finding (sources are filled after)


def named_peer_id(data: dict[str, Any]) -> str:
    """The id of schema 1.2 (``model.Finding.id``), frozen here as it was when this migration was written."""
    peer, flow = data['peer'], data['flows'][0]
    parts = (data['kind'], data['subject_ip'], peer['ip'], peer['port'], flow['src_ip'], flow['src_port'],
             flow['dst_ip'], flow['dst_port'], flow['proto'], f"{flow['first_seen']:.6f}", peer['host'])
    return hashlib.sha256('|'.join(str(x) for x in parts).encode()).hexdigest()[:24]


def upgrade() -> None:
    op.create_table('finding_sources',
                    sa.Column('finding_id', sa.String(length=32), nullable=False),
                    sa.Column('source', sa.Text(), nullable=False),
                    sa.Column('scan_id', sa.Integer(), nullable=True),
                    sa.ForeignKeyConstraint(['finding_id'], ['findings.id'], ),
                    sa.ForeignKeyConstraint(['scan_id'], ['scans.id'], ),
                    sa.PrimaryKeyConstraint('finding_id', 'source'))
    conn = op.get_bind()
    findings = sa.Table('findings', sa.MetaData(), autoload_with=conn)
    findings.c.data.type = sa.JSON()  # PostgreSQL reflects json; SQLite reflects JSON as text otherwise
    named = conn.execute(sa.select(findings).where(findings.c.peer_host.is_not(None), findings.c.peer_host != '',
                                                   findings.c.dimension != 'tip')).mappings().all()
    for row in named:
        data = row['data']
        if not data.get('flows') or not data.get('peer'):
            continue
        new_id = named_peer_id(data)
        if new_id == row['id']:
            continue
        conn.execute(sa.insert(findings).values({**row, 'id': new_id, 'data': {**data, 'id': new_id}}))
        for name in REFERENCES:
            table = sa.table(name, sa.column('finding_id', sa.String))
            conn.execute(table.update().where(table.c.finding_id == row['id']).values(finding_id=new_id))
        conn.execute(findings.delete().where(findings.c.id == row['id']))
    conn.execute(sa.text('INSERT INTO finding_sources (finding_id, source, scan_id) '
                         'SELECT id, source, first_scan_id FROM findings'))


def downgrade() -> None:
    op.drop_table('finding_sources')  # the new ids stay: schema 1.1 code reads them as any other id

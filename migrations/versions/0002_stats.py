"""Coordinators' figures: covering indexes for the counting queries, scheduled runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Status and the date that places a report in a period first, then what the counting queries
# group by and filter on, so a week's count reads narrow ranges of index entries and never the
# table rows (storage/stats.py, bench/README.md).
FACETS = ['incident_type', 'region', 'source', 'duplicate_of_id']


def upgrade() -> None:
    op.create_table('scheduled_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('period_key', sa.String(length=32), nullable=False),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_runs')),
    sa.UniqueConstraint('kind', 'period_key', name=op.f('uq_scheduled_runs_kind'))
    )
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.create_index(
            'ix_reports_stats_incident', ['status', 'incident_date', *FACETS], unique=False
        )
        batch_op.create_index(
            'ix_reports_stats_submitted', ['created_at', 'status', *FACETS], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index('ix_reports_stats_submitted')
        batch_op.drop_index('ix_reports_stats_incident')

    op.drop_table('scheduled_runs')

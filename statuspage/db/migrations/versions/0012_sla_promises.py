"""sla promises: the resolution plan recorded on an incident

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 21:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import statuspage.db.types

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_TIME = statuspage.db.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resolution_plan', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('resolution_plan_at', _TIME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_column('resolution_plan_at')
        batch_op.drop_column('resolution_plan')

"""accounts kpis: customer accounts and KPI figures imported into the database

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 21:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import statuspage.db.types

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_TIME = statuspage.db.types.UTCDateTime(timezone=True)


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        'account',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', _text(200), nullable=False),
        sa.Column('tier', _text(64), nullable=False),
        sa.Column('seats', sa.Integer(), nullable=False),
        sa.Column('monthly_fee', sa.Numeric(12, 2), nullable=False),
        sa.Column('components', sa.JSON(), nullable=False),
        sa.Column('imported_at', _TIME, nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.create_index('ix_account_name', ['name'], unique=True)

    op.create_table(
        'kpi_month',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('month', _text(7), nullable=False),
        sa.Column('metric', _text(32), nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.Column('owner', _text(80), nullable=True),
        sa.Column('imported_at', _TIME, nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('kpi_month', schema=None) as batch_op:
        batch_op.create_index('ix_kpi_month_month_metric', ['month', 'metric'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('kpi_month', schema=None) as batch_op:
        batch_op.drop_index('ix_kpi_month_month_metric')
    op.drop_table('kpi_month')
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_index('ix_account_name')
    op.drop_table('account')

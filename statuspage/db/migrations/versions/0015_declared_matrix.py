"""declared matrix: the escalation matrix frozen on every incident when it is declared

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 22:45:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('escalation_matrix', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_column('escalation_matrix')

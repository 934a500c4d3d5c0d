"""page delivery: whether each page reached its person, and its one-click acknowledgement (and
the key that signs those links)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import statuspage.db.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('page', schema=None) as batch_op:
        # Pages written before delivery was tracked: nobody knows whether they arrived.
        batch_op.add_column(sa.Column('delivery_state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default='unknown'))
        batch_op.add_column(sa.Column('delivery_ref', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column('delivery_error', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('delivery_at', statuspage.db.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('ack_link_used_at', statuspage.db.types.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table('site_state', schema=None) as batch_op:
        # The key of the one-click acknowledgement links, generated on first need.
        batch_op.add_column(sa.Column('secret_key', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('site_state', schema=None) as batch_op:
        batch_op.drop_column('secret_key')
    with op.batch_alter_table('page', schema=None) as batch_op:
        batch_op.drop_column('ack_link_used_at')
        batch_op.drop_column('delivery_at')
        batch_op.drop_column('delivery_error')
        batch_op.drop_column('delivery_ref')
        batch_op.drop_column('delivery_state')

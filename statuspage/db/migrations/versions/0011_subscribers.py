"""subscribers: customers subscribed by email or webhook, the notices fanned out to them, and
the throttle of the subscribe form; an index per outbox lane

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-20 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import statuspage.db.types

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_TIME = statuspage.db.types.UTCDateTime(timezone=True)


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        'subscriber',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', _text(16), nullable=False),
        sa.Column('state', _text(16), nullable=False),
        sa.Column('email', _text(320), nullable=True),
        sa.Column('address_key', _text(400), nullable=True),
        sa.Column('webhook_url', _text(2000), nullable=True),
        sa.Column('all_components', sa.Boolean(), nullable=False),
        sa.Column('source', _text(16), nullable=False),
        sa.Column('created_at', _TIME, nullable=False),
        sa.Column('confirmed_at', _TIME, nullable=True),
        sa.Column('confirm_nonce', _text(64), nullable=True),
        sa.Column('confirm_sent_at', _TIME, nullable=True),
        sa.Column('manage_nonce', _text(64), nullable=True),
        sa.Column('bounces', sa.Integer(), nullable=False),
        sa.Column('last_failure', _text(500), nullable=True),
        sa.Column('last_failure_at', _TIME, nullable=True),
        sa.Column('suspended_at', _TIME, nullable=True),
        sa.Column('removed_at', _TIME, nullable=True),
        sa.Column('delivered_count', sa.Integer(), nullable=False),
        sa.Column('failed_count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('subscriber', schema=None) as batch_op:
        batch_op.create_index('ix_subscriber_address', ['kind', 'address_key'], unique=True)
        batch_op.create_index('ix_subscriber_state', ['state', 'id'], unique=False)

    op.create_table(
        'subscriber_component',
        sa.Column('subscriber_id', sa.Integer(), nullable=False),
        sa.Column('component_id', _text(64), nullable=False),
        sa.ForeignKeyConstraint(['component_id'], ['component.id'], ),
        sa.ForeignKeyConstraint(['subscriber_id'], ['subscriber.id'], ),
        sa.PrimaryKeyConstraint('subscriber_id', 'component_id'),
    )
    with op.batch_alter_table('subscriber_component', schema=None) as batch_op:
        batch_op.create_index('ix_subscriber_component_component', ['component_id', 'subscriber_id'], unique=False)

    op.create_table(
        'subscriber_notice',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event', _text(64), nullable=False),
        sa.Column('subject_type', _text(32), nullable=False),
        sa.Column('subject_id', _text(64), nullable=False),
        sa.Column('components', sa.JSON(), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('created_at', _TIME, nullable=False),
        sa.Column('expanded_to', sa.Integer(), nullable=False),
        sa.Column('queued', sa.Integer(), nullable=False),
        sa.Column('done_at', _TIME, nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('subscriber_notice', schema=None) as batch_op:
        batch_op.create_index('ix_subscriber_notice_pending', ['done_at', 'id'], unique=False)

    op.create_table(
        'subscribe_attempt',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', _text(16), nullable=False),
        sa.Column('key', _text(64), nullable=False),
        sa.Column('at', _TIME, nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('subscribe_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_subscribe_attempt_key', ['kind', 'key', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_subscribe_attempt_at'), ['at'], unique=False)

    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_message_lane', ['channel', 'state', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_message_lane')
    op.drop_table('subscribe_attempt')
    op.drop_table('subscriber_notice')
    op.drop_table('subscriber_component')
    op.drop_table('subscriber')

"""alerts from monitoring: each request and alert, and internal incidents

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import statuspage.db.types

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('incident', schema=None) as batch_op:
        # Every incident so far was declared in public.
        batch_op.add_column(sa.Column('internal', sa.Boolean(), nullable=False, server_default=sa.false()))

    op.create_table(
        'alert_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('received_at', statuspage.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('token_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column('dedupe_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('body', sa.JSON(), nullable=False),
        sa.Column('duplicate_of', sa.Integer(), nullable=True),
        sa.Column('result', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['duplicate_of'], ['alert_request.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('alert_request', schema=None) as batch_op:
        batch_op.create_index('ix_alert_request_dedupe', ['dedupe_key', 'received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_request_received_at'), ['received_at'], unique=False)

    op.create_table(
        'alert',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('group_key', sqlmodel.sql.sqltypes.AutoString(length=600), nullable=True),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('labels', sa.JSON(), nullable=False),
        sa.Column('annotations', sa.JSON(), nullable=False),
        sa.Column('starts_at', statuspage.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('ends_at', statuspage.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('generator_url', sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column('incident_id', sa.Integer(), nullable=True),
        sa.Column('rule', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column('opened_incident', sa.Boolean(), nullable=False),
        sa.Column('held_component', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column('component_status', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('component_restore', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column('first_received_at', statuspage.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_received_at', statuspage.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('resolved_at', statuspage.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.create_index('ix_alert_rule_opened', ['rule', 'opened_incident', 'first_received_at'], unique=False)
        batch_op.create_index('ix_alert_source_fingerprint', ['source', 'fingerprint'], unique=False)
        batch_op.create_index('ix_alert_source_group', ['source', 'group_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alert', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_status'))
        batch_op.drop_index(batch_op.f('ix_alert_incident_id'))
        batch_op.drop_index('ix_alert_source_group')
        batch_op.drop_index('ix_alert_source_fingerprint')
        batch_op.drop_index('ix_alert_rule_opened')
    op.drop_table('alert')
    with op.batch_alter_table('alert_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_request_received_at'))
        batch_op.drop_index('ix_alert_request_dedupe')
    op.drop_table('alert_request')
    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_column('internal')

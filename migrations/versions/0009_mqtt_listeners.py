"""Listener infrastructure (connection leases, live connection status, configuration
generation) and MQTT ingestion state.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 15:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

from openspc.models.types import UTCDateTime

# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('mqtt_data_source') as batch:
        batch.add_column(sa.Column('value_path', sa.String(255), nullable=True))
        batch.add_column(sa.Column('timestamp_path', sa.String(255), nullable=True))
        batch.add_column(sa.Column('timer_ms', sa.Integer, nullable=True))
    op.create_table(
        'connection_lease',
        sa.Column('kind', sa.String(20), primary_key=True),
        sa.Column('target_id', sa.Integer, primary_key=True, autoincrement=False),
        sa.Column('holder', sa.String(100), nullable=False),
        sa.Column('acquired_at', UTCDateTime(), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
    )
    op.create_table(
        'connection_status',
        sa.Column('kind', sa.String(20), primary_key=True),
        sa.Column('target_id', sa.Integer, primary_key=True, autoincrement=False),
        sa.Column('holder', sa.String(100), nullable=False),
        sa.Column('is_connected', sa.Boolean, nullable=False),
        sa.Column('last_connected', UTCDateTime(), nullable=True),
        sa.Column('last_message_at', UTCDateTime(), nullable=True),
        sa.Column('error_message', sa.String(500), nullable=True),
        sa.Column('subscribed', sa.JSON, nullable=False),
        sa.Column('counters', sa.JSON, nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
    )
    op.create_table(
        'mqtt_delivery',
        sa.Column('broker_id', sa.Integer, sa.ForeignKey(
            'mqtt_broker.id', ondelete='CASCADE', name='fk_mqtt_delivery_broker_id'),
            primary_key=True, autoincrement=False),
        sa.Column('packet_id', sa.Integer, primary_key=True, autoincrement=False),
        sa.Column('digest', sa.String(64), nullable=False),
        sa.Column('committed_at', UTCDateTime(), nullable=False),
    )
    op.create_table(
        'mqtt_partial_subgroup',
        sa.Column('data_source_id', sa.Integer, sa.ForeignKey(
            'data_source.id', ondelete='CASCADE', name='fk_mqtt_partial_subgroup_source_id'),
            primary_key=True, autoincrement=False),
        sa.Column('readings', sa.JSON, nullable=False),
        sa.Column('opened_at', UTCDateTime(), nullable=False),
    )
    op.create_table(
        'sparkplug_node_state',
        sa.Column('broker_id', sa.Integer, sa.ForeignKey(
            'mqtt_broker.id', ondelete='CASCADE', name='fk_sparkplug_node_state_broker_id'),
            primary_key=True, autoincrement=False),
        sa.Column('group_id', sa.String(255), primary_key=True),
        sa.Column('edge_node', sa.String(255), primary_key=True),
        sa.Column('state', sa.JSON, nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
    )
    config = op.create_table(
        'listener_config',
        sa.Column('kind', sa.String(20), primary_key=True),
        sa.Column('generation', sa.Integer, nullable=False),
    )
    # Plain INSERTs: offline on MSSQL alembic wraps a bulk insert in SET IDENTITY_INSERT.
    for kind in ('mqtt', 'opcua'):
        op.execute(config.insert().values(kind=kind, generation=0))


def downgrade():
    op.drop_table('listener_config')
    op.drop_table('sparkplug_node_state')
    op.drop_table('mqtt_partial_subgroup')
    op.drop_table('mqtt_delivery')
    op.drop_table('connection_status')
    op.drop_table('connection_lease')
    with op.batch_alter_table('mqtt_data_source') as batch:
        batch.drop_column('timer_ms')
        batch.drop_column('timestamp_path')
        batch.drop_column('value_path')

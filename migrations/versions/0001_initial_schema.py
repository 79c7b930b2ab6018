"""Initial schema: every table of the data model, and the DEFAULT plant.

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 21:01:21.747669

"""
from alembic import op
import sqlalchemy as sa

from openspc.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_keys',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('key_hash', sa.String(length=255), nullable=False),
    sa.Column('key_prefix', sa.String(length=16), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=True),
    sa.Column('permissions', sa.JSON(), nullable=False),
    sa.Column('rate_limit_per_minute', sa.Integer(), server_default='60', nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('last_used_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_key_prefix'), ['key_prefix'], unique=False)

    op.create_table('event_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('characteristic_id', sa.Integer(), nullable=True),
    sa.Column('frame', sa.JSON(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('published_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('event_outbox', schema=None) as batch_op:
        batch_op.create_index('ix_event_outbox_published_at', ['published_at'], unique=False)

    op.create_table('plant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('code', sa.String(length=10), nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=True),
    sa.Column('created_at', UTCDateTime(), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), server_default=sa.func.now(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code'),
    sa.UniqueConstraint('name')
    )
    op.create_table('user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=50), nullable=False),
    sa.Column('email', sa.String(length=255), nullable=True),
    sa.Column('hashed_password', sa.String(length=255), nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('must_change_password', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at', UTCDateTime(), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), server_default=sa.func.now(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('email'),
    sa.UniqueConstraint('username')
    )
    op.create_table('hierarchy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('plant_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['hierarchy.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['plant_id'], ['plant.id'], name='fk_hierarchy_plant', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('hierarchy', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hierarchy_parent_id'), ['parent_id'], unique=False)

    op.create_table('mqtt_broker',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plant_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('port', sa.Integer(), server_default='1883', nullable=False),
    sa.Column('username', sa.String(length=100), nullable=True),
    sa.Column('password', sa.String(length=500), nullable=True),
    sa.Column('client_id', sa.String(length=100), server_default='openspc-client', nullable=False),
    sa.Column('keepalive', sa.Integer(), server_default='60', nullable=False),
    sa.Column('max_reconnect_delay', sa.Integer(), server_default='300', nullable=False),
    sa.Column('use_tls', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('payload_format', sa.String(length=20), server_default='json', nullable=False),
    sa.Column('outbound_enabled', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('outbound_topic_prefix', sa.String(length=200), server_default='openspc', nullable=False),
    sa.Column('outbound_format', sa.String(length=20), server_default='json', nullable=False),
    sa.Column('outbound_rate_limit', sa.Float(), server_default='1.0', nullable=False),
    sa.Column('created_at', UTCDateTime(), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['plant_id'], ['plant.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('plant_id', 'name', name='uq_broker_plant_name')
    )
    op.create_table('opcua_server',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plant_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('endpoint_url', sa.String(length=500), nullable=False),
    sa.Column('auth_mode', sa.String(length=50), server_default='anonymous', nullable=False),
    sa.Column('username', sa.String(length=255), nullable=True),
    sa.Column('password', sa.String(length=500), nullable=True),
    sa.Column('security_policy', sa.String(length=50), server_default='None', nullable=False),
    sa.Column('security_mode', sa.String(length=50), server_default='None', nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('session_timeout', sa.Integer(), server_default='30000', nullable=False),
    sa.Column('publishing_interval', sa.Integer(), server_default='1000', nullable=False),
    sa.Column('sampling_interval', sa.Integer(), server_default='250', nullable=False),
    sa.Column('created_at', UTCDateTime(), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['plant_id'], ['plant.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('plant_id', 'name', name='uq_opcua_server_plant_name')
    )
    op.create_table('purge_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plant_id', sa.Integer(), nullable=False),
    sa.Column('started_at', UTCDateTime(), server_default=sa.func.now(), nullable=False),
    sa.Column('completed_at', UTCDateTime(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('samples_deleted', sa.Integer(), server_default='0', nullable=False),
    sa.Column('violations_deleted', sa.Integer(), server_default='0', nullable=False),
    sa.Column('characteristics_processed', sa.Integer(), server_default='0', nullable=False),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['plant_id'], ['plant.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('purge_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_purge_history_plant_id'), ['plant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_purge_history_started_at'), ['started_at'], unique=False)

    op.create_table('refresh_token',
    sa.Column('jti', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('issued_at', UTCDateTime(), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('revoked_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('jti')
    )
    with op.batch_alter_table('refresh_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refresh_token_user_id'), ['user_id'], unique=False)

    op.create_table('user_plant_role',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('plant_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), server_default='operator', nullable=False),
    sa.Column('created_at', UTCDateTime(), server_default=sa.func.now(), nullable=True),
    sa.ForeignKeyConstraint(['plant_id'], ['plant.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('user_id', 'plant_id', name='uq_user_plant')
    )
    with op.batch_alter_table('user_plant_role', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_plant_role_plant_id'), ['plant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_user_plant_role_user_id'), ['user_id'], unique=False)

    op.create_table('characteristic',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hierarchy_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=True),
    sa.Column('subgroup_size', sa.Integer(), nullable=False),
    sa.Column('chart_type', sa.String(length=10), server_default='i_mr', nullable=False),
    sa.Column('target_value', sa.Float(), nullable=True),
    sa.Column('usl', sa.Float(), nullable=True),
    sa.Column('lsl', sa.Float(), nullable=True),
    sa.Column('ucl', sa.Float(), nullable=True),
    sa.Column('lcl', sa.Float(), nullable=True),
    sa.Column('subgroup_mode', sa.String(length=50), server_default='NOMINAL_TOLERANCE', nullable=False),
    sa.Column('min_measurements', sa.Integer(), server_default='1', nullable=False),
    sa.Column('warn_below_count', sa.Integer(), nullable=True),
    sa.Column('stored_sigma', sa.Float(), nullable=True),
    sa.Column('stored_center_line', sa.Float(), nullable=True),
    sa.Column('decimal_precision', sa.Integer(), server_default='3', nullable=False),
    sa.Column('limits_version', sa.Integer(), nullable=True),
    sa.Column('eval_sequence', sa.Integer(), server_default='0', nullable=False),
    sa.Column('eval_state', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['hierarchy_id'], ['hierarchy.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('characteristic', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_characteristic_hierarchy_id'), ['hierarchy_id'], unique=False)

    op.create_table('characteristic_config',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('characteristic_id', sa.Integer(), nullable=False),
    sa.Column('config_json', sa.Text(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['characteristic_id'], ['characteristic.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('characteristic_config', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_characteristic_config_characteristic_id'), ['characteristic_id'], unique=True)

    op.create_table('characteristic_rules',
    sa.Column('char_id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('is_enabled', sa.Boolean(), nullable=False),
    sa.Column('require_acknowledgement', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=True),
    sa.Column('severity', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['char_id'], ['characteristic.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('char_id', 'rule_id')
    )
    op.create_table('control_limits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('characteristic_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=30), nullable=False),
    sa.Column('center_line', sa.Float(), nullable=False),
    sa.Column('ucl', sa.Float(), nullable=False),
    sa.Column('lcl', sa.Float(), nullable=False),
    sa.Column('sigma', sa.Float(), nullable=True),
    sa.Column('sample_count', sa.Integer(), nullable=True),
    sa.Column('secondary_chart', sa.String(length=5), nullable=True),
    sa.Column('secondary_center_line', sa.Float(), nullable=True),
    sa.Column('secondary_ucl', sa.Float(), nullable=True),
    sa.Column('secondary_lcl', sa.Float(), nullable=True),
    sa.Column('created_by', sa.String(length=100), nullable=True),
    sa.Column('created_at', UTCDateTime(), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['characteristic_id'], ['characteristic.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('characteristic_id', 'version', name='uq_control_limits_version')
    )
    with op.batch_alter_table('control_limits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_control_limits_characteristic_id'), ['characteristic_id'], unique=False)

    op.create_table('data_source',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=50), nullable=False),
    sa.Column('characteristic_id', sa.Integer(), nullable=False),
    sa.Column('trigger_strategy', sa.String(length=50), server_default='on_change', nullable=False),
    sa.Column('is_active', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('created_at', UTCDateTime(), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['characteristic_id'], ['characteristic.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('characteristic_id')
    )
    op.create_table('retention_policy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('plant_id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=20), nullable=False),
    sa.Column('hierarchy_id', sa.Integer(), nullable=True),
    sa.Column('characteristic_id', sa.Integer(), nullable=True),
    sa.Column('retention_type', sa.String(length=20), nullable=False),
    sa.Column('retention_value', sa.Integer(), nullable=True),
    sa.Column('retention_unit', sa.String(length=10), nullable=True),
    sa.Column('created_at', UTCDateTime(), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), server_default=sa.func.now(), nullable=False),
    sa.CheckConstraint("(retention_type = 'forever' AND retention_value IS NULL AND retention_unit IS NULL) OR (retention_type = 'sample_count' AND retention_value IS NOT NULL AND retention_unit IS NULL) OR (retention_type = 'time_delta' AND retention_value IS NOT NULL AND retention_unit IS NOT NULL)", name='ck_retention_policy_type_value'),
    sa.CheckConstraint("(scope = 'global' AND hierarchy_id IS NULL AND characteristic_id IS NULL) OR (scope = 'hierarchy' AND hierarchy_id IS NOT NULL AND characteristic_id IS NULL) OR (scope = 'characteristic' AND characteristic_id IS NOT NULL AND hierarchy_id IS NULL)", name='ck_retention_policy_scope'),
    sa.ForeignKeyConstraint(['characteristic_id'], ['characteristic.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['hierarchy_id'], ['hierarchy.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['plant_id'], ['plant.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('plant_id', 'scope', 'hierarchy_id', 'characteristic_id', name='uq_retention_policy_scope_target')
    )
    with op.batch_alter_table('retention_policy', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_retention_policy_characteristic_id'), ['characteristic_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_retention_policy_hierarchy_id'), ['hierarchy_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_retention_policy_plant_id'), ['plant_id'], unique=False)

    op.create_table('sample',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('char_id', sa.Integer(), nullable=False),
    sa.Column('timestamp', UTCDateTime(), nullable=False),
    sa.Column('batch_number', sa.String(length=100), nullable=True),
    sa.Column('operator_id', sa.String(length=100), nullable=True),
    sa.Column('is_excluded', sa.Boolean(), nullable=False),
    sa.Column('actual_n', sa.Integer(), server_default='1', nullable=False),
    sa.Column('is_undersized', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('effective_ucl', sa.Float(), nullable=True),
    sa.Column('effective_lcl', sa.Float(), nullable=True),
    sa.Column('z_score', sa.Float(), nullable=True),
    sa.Column('is_modified', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('mean', sa.Float(), nullable=True),
    sa.Column('range_value', sa.Float(), nullable=True),
    sa.Column('std_dev', sa.Float(), nullable=True),
    sa.Column('defect_count', sa.Integer(), nullable=True),
    sa.Column('sample_size', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), server_default='pending', nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=True),
    sa.Column('limits_version', sa.Integer(), nullable=True),
    sa.Column('received_at', UTCDateTime(), server_default=sa.func.now(), nullable=False),
    sa.ForeignKeyConstraint(['char_id'], ['characteristic.id'], name='fk_sample_char_id_cascade', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('char_id', 'sequence', name='uq_sample_char_sequence')
    )
    with op.batch_alter_table('sample', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sample_char_id'), ['char_id'], unique=False)
        batch_op.create_index('ix_sample_char_id_status', ['char_id', 'status'], unique=False)
        batch_op.create_index('ix_sample_char_id_timestamp', ['char_id', 'timestamp'], unique=False)
        batch_op.create_index(batch_op.f('ix_sample_timestamp'), ['timestamp'], unique=False)

    op.create_table('annotation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('characteristic_id', sa.Integer(), nullable=False),
    sa.Column('annotation_type', sa.String(length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('color', sa.String(length=20), nullable=True),
    sa.Column('sample_id', sa.Integer(), nullable=True),
    sa.Column('start_sample_id', sa.Integer(), nullable=True),
    sa.Column('end_sample_id', sa.Integer(), nullable=True),
    sa.Column('start_time', UTCDateTime(), nullable=True),
    sa.Column('end_time', UTCDateTime(), nullable=True),
    sa.Column('created_by', sa.String(length=255), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.CheckConstraint("annotation_type IN ('point', 'period')", name='ck_annotation_type'),
    sa.ForeignKeyConstraint(['characteristic_id'], ['characteristic.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['end_sample_id'], ['sample.id'], name='fk_ann_end_sample', ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['sample_id'], ['sample.id'], name='fk_ann_sample', ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['start_sample_id'], ['sample.id'], name='fk_ann_start_sample', ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('annotation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_annotation_characteristic_id'), ['characteristic_id'], unique=False)

    op.create_table('measurement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['sample_id'], ['sample.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('measurement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_measurement_sample_id'), ['sample_id'], unique=False)

    op.create_table('mqtt_data_source',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('broker_id', sa.Integer(), nullable=True),
    sa.Column('topic', sa.String(length=500), nullable=False),
    sa.Column('metric_name', sa.String(length=255), nullable=True),
    sa.Column('trigger_tag', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['broker_id'], ['mqtt_broker.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['id'], ['data_source.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('mqtt_data_source', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mqtt_data_source_broker_id'), ['broker_id'], unique=False)

    op.create_table('opcua_data_source',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('server_id', sa.Integer(), nullable=False),
    sa.Column('node_id', sa.String(length=500), nullable=False),
    sa.Column('sampling_interval', sa.Integer(), nullable=True),
    sa.Column('publishing_interval', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['id'], ['data_source.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['server_id'], ['opcua_server.id'], name='fk_opcua_data_source_server_id', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('opcua_data_source', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opcua_data_source_server_id'), ['server_id'], unique=False)

    op.create_table('sample_edit_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=False),
    sa.Column('edited_at', UTCDateTime(), nullable=False),
    sa.Column('edited_by', sa.String(length=255), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('previous_values', sa.JSON(), nullable=False),
    sa.Column('new_values', sa.JSON(), nullable=False),
    sa.Column('previous_mean', sa.Float(), nullable=False),
    sa.Column('new_mean', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['sample_id'], ['sample.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sample_edit_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sample_edit_history_sample_id'), ['sample_id'], unique=False)

    op.create_table('violation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=False),
    sa.Column('char_id', sa.Integer(), nullable=True),
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('rule_name', sa.String(length=100), nullable=True),
    sa.Column('severity', sa.String(length=20), nullable=False),
    sa.Column('acknowledged', sa.Boolean(), nullable=False),
    sa.Column('requires_acknowledgement', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('ack_user', sa.String(length=100), nullable=True),
    sa.Column('ack_reason', sa.String(length=500), nullable=True),
    sa.Column('ack_timestamp', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), server_default=sa.func.now(), nullable=True),
    sa.Column('first_sample_id', sa.Integer(), nullable=True),
    sa.Column('last_sample_id', sa.Integer(), nullable=True),
    sa.Column('limits_version', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['char_id'], ['characteristic.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['first_sample_id'], ['sample.id'], name='fk_violation_first_sample', ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['last_sample_id'], ['sample.id'], name='fk_violation_last_sample', ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['sample_id'], ['sample.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('sample_id', 'rule_id', name='uq_violation_sample_rule')
    )
    with op.batch_alter_table('violation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_violation_acknowledged'), ['acknowledged'], unique=False)
        batch_op.create_index(batch_op.f('ix_violation_char_id'), ['char_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_violation_sample_id'), ['sample_id'], unique=False)

    op.create_table('annotation_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('annotation_id', sa.Integer(), nullable=False),
    sa.Column('previous_text', sa.Text(), nullable=False),
    sa.Column('changed_by', sa.String(length=255), nullable=True),
    sa.Column('changed_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['annotation_id'], ['annotation.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('annotation_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_annotation_history_annotation_id'), ['annotation_id'], unique=False)

    # settings is written as the JSON text '{}': a JSON-typed literal cannot be rendered in
    # offline mode (--sql), and every dialect's JSON column takes the text.
    plant = sa.table(
        "plant", sa.column("name", sa.String), sa.column("code", sa.String),
        sa.column("is_active", sa.Boolean), sa.column("settings", sa.String),
    )
    # A plain INSERT, not bulk_insert: offline, alembic wraps a bulk insert on MSSQL in
    # SET IDENTITY_INSERT ON, which SQL Server refuses for a row that gives no id.
    op.execute(plant.insert().values(name="Default Plant", code="DEFAULT", is_active=True,
                                     settings="{}"))


def downgrade():
    # Dropping a table drops its indexes; MySQL refuses to drop an index an FK still needs.
    op.drop_table('annotation_history')
    op.drop_table('violation')
    op.drop_table('sample_edit_history')
    op.drop_table('opcua_data_source')
    op.drop_table('mqtt_data_source')
    op.drop_table('measurement')
    op.drop_table('annotation')
    op.drop_table('sample')
    op.drop_table('retention_policy')
    op.drop_table('data_source')
    op.drop_table('control_limits')
    op.drop_table('characteristic_rules')
    op.drop_table('characteristic_config')
    op.drop_table('characteristic')
    op.drop_table('user_plant_role')
    op.drop_table('refresh_token')
    op.drop_table('purge_history')
    op.drop_table('opcua_server')
    op.drop_table('mqtt_broker')
    op.drop_table('hierarchy')
    op.drop_table('user')
    op.drop_table('plant')
    op.drop_table('event_outbox')
    op.drop_table('api_keys')

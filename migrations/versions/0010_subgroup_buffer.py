"""Partial subgroups of the listeners, kept across restarts (``subgroup_buffer``).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 16:00:00.000000

"""
import sqlalchemy as sa
from alembic import op

from openspc.models.types import UTCDateTime

# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'subgroup_buffer',
        sa.Column('characteristic_id', sa.Integer, nullable=False, autoincrement=False),
        sa.Column('source', sa.String(20), nullable=False),
        sa.Column('values', sa.JSON, nullable=False),
        sa.Column('first_received_at', UTCDateTime(), nullable=False),
        sa.Column('updated_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('characteristic_id'),
        sa.ForeignKeyConstraint(['characteristic_id'], ['characteristic.id'],
                                name='fk_subgroup_buffer_characteristic', ondelete='CASCADE'),
    )


def downgrade():
    op.drop_table('subgroup_buffer')

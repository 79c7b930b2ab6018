"""The ``maintenance_lease`` table: one retention purge at a time across every process.

A lease row names its holder and an expiry that the holder renews after each batch; a
worker killed mid-purge stops renewing, so the next run takes over once it expires.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 15:30:00.000000

"""
from alembic import op
import sqlalchemy as sa

from openspc.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'maintenance_lease',
        sa.Column('name', sa.String(length=50), nullable=False),
        sa.Column('holder', sa.String(length=100), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade():
    op.drop_table('maintenance_lease')

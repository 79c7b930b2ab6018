"""``sample.sample_size`` in double precision: the inspection units of a u chart are a
positive real (an area, a length, a time), e.g. 9.5 units of 50 m² of cloth. Whole sizes (p,
np) read back as before.

SQLite cannot change a column's type in place: the table is rebuilt (alembic's batch mode)
with foreign keys off, so that dropping the old table does not cascade to the measurements,
violations and annotations that refer to its rows.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 16:00:00.000000

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

DOUBLE = sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), 'mysql', 'mariadb')


def _alter(old: sa.types.TypeEngine, new: sa.types.TypeEngine) -> None:
    if op.get_context().dialect.name == 'sqlite':
        op.execute('PRAGMA foreign_keys=OFF')  # on again in env.py, after the commit
    with op.batch_alter_table('sample') as batch:
        batch.alter_column('sample_size', existing_type=old, type_=new, existing_nullable=True)


def upgrade():
    _alter(sa.Integer(), DOUBLE)


def downgrade():
    _alter(DOUBLE, sa.Integer())

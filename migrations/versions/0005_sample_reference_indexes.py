"""Indexes on the columns that refer to a sample with ``ON DELETE SET NULL``.

Deleting a sample (a characteristic, its plant, the retention purge) makes the database set
these columns to NULL wherever they name it: one query per deleted sample and column, which
without an index reads the whole table. On PostgreSQL, deleting a characteristic of 3,809
samples beside 787 violations took 328 ms, every sample reading the violation table twice,
and 77 ms with these indexes; without them the time grows with samples × violations, to
hours for a purge of a million samples.

MySQL and MariaDB had such indexes already (InnoDB creates one for each foreign key); there
the new index takes its place, and going down gives the key its own index back.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 10:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

REFERENCES = [
    ('violation', 'first_sample_id', 'fk_violation_first_sample'),
    ('violation', 'last_sample_id', 'fk_violation_last_sample'),
    ('annotation', 'sample_id', 'fk_ann_sample'),
    ('annotation', 'start_sample_id', 'fk_ann_start_sample'),
    ('annotation', 'end_sample_id', 'fk_ann_end_sample'),
]


def upgrade():
    for table, column, _key in REFERENCES:
        op.create_index(f'ix_{table}_{column}', table, [column])


def downgrade():
    mysql = op.get_bind().dialect.name in ('mysql', 'mariadb')
    for table, column, key in REFERENCES:
        if mysql:
            # InnoDB refuses to drop the index its foreign key uses.
            op.drop_constraint(key, table, type_='foreignkey')
        op.drop_index(f'ix_{table}_{column}', table_name=table)
        if mysql:
            op.create_foreign_key(key, table, 'sample', [column], ['id'], ondelete='SET NULL')

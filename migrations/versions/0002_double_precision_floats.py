"""Floating-point columns in double precision on MySQL/MariaDB.

FLOAT there is 4 bytes (~7 significant digits): measurements, sample statistics and control
limits were rounded when stored. Every other dialect's FLOAT is already 8 bytes (PostgreSQL
double precision, SQLite REAL, SQL Server float(53)), so this revision changes nothing there.

Values already stored keep the digits the server has been sending to clients: each column
goes FLOAT -> VARCHAR -> DOUBLE, so 0.1 still reads 0.1. A direct FLOAT -> DOUBLE would
expose the binary single-precision value instead (0.1 would read 0.10000000149011612). One
ALTER per table and step, since each ALTER rebuilds the table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 10:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


# table -> [(column, nullable, server default)], as created by 0001.
FLOAT_COLUMNS = {
    'mqtt_broker': [('outbound_rate_limit', False, '1.0')],
    'characteristic': [
        ('target_value', True, None), ('usl', True, None), ('lsl', True, None),
        ('ucl', True, None), ('lcl', True, None),
        ('stored_sigma', True, None), ('stored_center_line', True, None),
    ],
    'control_limits': [
        ('center_line', False, None), ('ucl', False, None), ('lcl', False, None),
        ('sigma', True, None), ('secondary_center_line', True, None),
        ('secondary_ucl', True, None), ('secondary_lcl', True, None),
    ],
    'sample': [
        ('effective_ucl', True, None), ('effective_lcl', True, None), ('z_score', True, None),
        ('mean', True, None), ('range_value', True, None), ('std_dev', True, None),
    ],
    'measurement': [('value', False, None)],
    'sample_edit_history': [('previous_mean', False, None), ('new_mean', False, None)],
}


def _on_mysql() -> bool:
    return op.get_context().dialect.name in ('mysql', 'mariadb')


def _modify_all(sql_type: str) -> None:
    for table, columns in FLOAT_COLUMNS.items():
        modifies = []
        for column, nullable, default in columns:
            definition = f"MODIFY `{column}` {sql_type} {'NULL' if nullable else 'NOT NULL'}"
            if default is not None:
                definition += f" DEFAULT '{default}'"
            modifies.append(definition)
        op.execute(f"ALTER TABLE `{table}` " + ', '.join(modifies))


def upgrade():
    if _on_mysql():
        _modify_all('VARCHAR(32)')
        _modify_all('DOUBLE')


def downgrade():
    if _on_mysql():
        _modify_all('FLOAT')

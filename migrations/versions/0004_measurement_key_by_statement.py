"""PostgreSQL: the measurement → sample key checked once per statement, not once per row.

A batch of 1,000 samples writes 5,000 measurement rows in one COPY. The foreign key ran its
check (an index lookup and a row lock on the sample, through SPI) for each of them: 100,000
rows took 435 ms with the key and 171 ms without it, and dropping the key alone raised batch
ingestion from ~17,000 to ~22,000 evaluated samples/s on the pipeline benchmark.

In its place, three triggers keep what the key guaranteed:
- after each INSERT or UPDATE on measurement, one statement locks the referenced samples
  (``FOR KEY SHARE``, as the key's check does, so that a concurrent delete waits) and fails
  with ``foreign_key_violation`` when any is missing (223 ms for the same 100,000 rows);
- after each DELETE on sample, one statement deletes the measurements of the deleted
  samples (the key's ``ON DELETE CASCADE``, cascades from characteristic and plant included);
- a sample's id cannot change while measurements refer to it (the key's ``NO ACTION``).

The first two are planned, like the key's own queries, as index lookups whatever the
statistics say (the ``SET`` of their functions). A session keeps a trigger's plan until the
table's statistics change: planned while ``sample`` was small, the check kept a sequential
scan of it, and each single submission read every sample page (1,200 pages after 40,000
samples, single POSTs 848 -> 439/s) on a server whose autovacuum is off.

Other dialects keep the foreign key (the model marks it ``except_on("postgresql")``).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 10:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

KEY = 'measurement_sample_id_fkey'

TRIGGERS = """
CREATE FUNCTION measurement_sample_key() RETURNS trigger LANGUAGE plpgsql
    SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
DECLARE
    missing integer;
BEGIN
    IF (SELECT count(*) FROM (SELECT 1 FROM sample
                              WHERE id IN (SELECT sample_id FROM new_measurements)
                              FOR KEY SHARE) AS held)
       <> (SELECT count(DISTINCT sample_id) FROM new_measurements) THEN
        SELECT n.sample_id INTO missing FROM new_measurements AS n
        WHERE NOT EXISTS (SELECT 1 FROM sample WHERE sample.id = n.sample_id) LIMIT 1;
        RAISE EXCEPTION 'insert or update on table "measurement" violates its key to "sample"'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (sample_id)=(%s) is not present in table "sample".',
                                  missing);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER measurement_sample_key_insert AFTER INSERT ON measurement
    REFERENCING NEW TABLE AS new_measurements
    FOR EACH STATEMENT EXECUTE FUNCTION measurement_sample_key();

CREATE TRIGGER measurement_sample_key_update AFTER UPDATE ON measurement
    REFERENCING NEW TABLE AS new_measurements
    FOR EACH STATEMENT EXECUTE FUNCTION measurement_sample_key();

CREATE FUNCTION sample_delete_measurements() RETURNS trigger LANGUAGE plpgsql
    SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    DELETE FROM measurement WHERE sample_id IN (SELECT id FROM deleted_samples);
    RETURN NULL;
END
$$;

CREATE TRIGGER sample_delete_measurements AFTER DELETE ON sample
    REFERENCING OLD TABLE AS deleted_samples
    FOR EACH STATEMENT EXECUTE FUNCTION sample_delete_measurements();

CREATE FUNCTION sample_id_referenced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM measurement WHERE sample_id = OLD.id) THEN
        RAISE EXCEPTION 'update on table "sample" violates the key of table "measurement"'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (id)=(%s) is still referenced from table "measurement".',
                                  OLD.id);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER sample_id_referenced BEFORE UPDATE OF id ON sample
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)
    EXECUTE FUNCTION sample_id_referenced();
"""

DROP_TRIGGERS = """
DROP TRIGGER sample_id_referenced ON sample;
DROP FUNCTION sample_id_referenced();
DROP TRIGGER sample_delete_measurements ON sample;
DROP FUNCTION sample_delete_measurements();
DROP TRIGGER measurement_sample_key_update ON measurement;
DROP TRIGGER measurement_sample_key_insert ON measurement;
DROP FUNCTION measurement_sample_key();
"""


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.drop_constraint(KEY, 'measurement', type_='foreignkey')
    op.execute(TRIGGERS)


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(DROP_TRIGGERS)
    op.create_foreign_key(KEY, 'measurement', 'sample', ['sample_id'], ['id'],
                          ondelete='CASCADE')

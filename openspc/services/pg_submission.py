"""A single sample submission on PostgreSQL in two round trips, for the common case.

``POST /samples`` answers its verdict synchronously (ingest.py). Through the ORM that costs
about ten statements and ~6 ms of web CPU per sample, most of it SQLAlchemy's machinery
rather than the database. When the case is the common one (a variables chart with limits,
no backlog, its evaluator state current, a sample not older than the newest judged one, a
caller with a role at the plant, a valid sample),
this module does the same work on the pooled driver connection directly:

1. ``BEGIN``, the characteristic's lock (``FOR NO KEY UPDATE``, bounded by
   ``LOCK_WAIT_SECONDS``) and, in the same statement, the owning plant, whether samples are
   pending, whether the caller may submit there, and the new sample's and event's ids;
2. the judgement in Python, by the very function the workers use (:func:`evaluation.judge`);
3. one round trip with every write (sample, measurements, violations, evaluator state,
   outbox row) and ``COMMIT``; then the frames are sent and their row marked, as the outbox
   publisher does.

The rows written are the ones the ORM path writes. Anything else (an attribute chart, no
limits, a stale state, a backlog, a refused role, invalid values, a busy lock) rolls back and
answers None: the caller then runs the general path, which gives the right answer or error.
A rule hit costs one more round trip (its violation ids).
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import psycopg2
import sqlalchemy as sa
import structlog
from psycopg2.extensions import TRANSACTION_STATUS_IDLE
from psycopg2.extras import Json

from openspc import jsoncodec
from openspc.errors import ApiError
from openspc.extensions import db
from openspc.models.sample import EVALUATED
from openspc.models.tenancy import ROLE_LEVELS
from openspc.models.types import utcnow
from openspc.services import evaluation, outbox
from openspc.services.ingest import (
    LOCK_WAIT_SECONDS,
    SampleInput,
    checked_timestamp,
    point_row,
    sample_columns,
    subgroup_values,
)
from openspc.spc import ChartType

log = structlog.get_logger(__name__)

_SUBMITTING_ROLES = ", ".join(
    f"'{role}'" for role, level in ROLE_LEVELS.items() if level >= ROLE_LEVELS["operator"]
)

_SAMPLE_COLUMNS = (
    "id", "char_id", "timestamp", "batch_number", "operator_id", "is_excluded", "actual_n",
    "is_undersized", "is_modified", "mean", "range_value", "std_dev", "defect_count",
    "sample_size", "status", "sequence", "limits_version", "z_score", "effective_ucl",
    "effective_lcl", "received_at",
)

_STATEMENTS = {
    # $1 characteristic, $2 user, $3 dev mode (a forced password change does not block),
    # $4 the access token's version (a revoked token does not pass)
    "openspc_lock": f"""
        WITH locked AS MATERIALIZED (
            SELECT c.id, c.chart_type, c.subgroup_size, c.subgroup_mode, c.min_measurements,
                   c.warn_below_count, c.ucl, c.lcl, c.stored_center_line, c.stored_sigma,
                   c.limits_version, c.eval_sequence, c.eval_state, h.plant_id
            FROM characteristic c JOIN hierarchy h ON h.id = c.hierarchy_id
            WHERE c.id = $1
            FOR NO KEY UPDATE OF c
        )
        SELECT locked.*,
               EXISTS (SELECT 1 FROM sample s
                       WHERE s.char_id = locked.id AND s.status = 'pending') AS backlog,
               EXISTS (SELECT 1 FROM "user" u JOIN user_plant_role r ON r.user_id = u.id
                       WHERE u.id = $2 AND u.is_active AND u.token_version = $4
                         AND ($3 OR NOT u.must_change_password)
                         AND (r.role = 'admin' OR (r.plant_id = locked.plant_id
                                                   AND r.role IN ({_SUBMITTING_ROLES})))
               ) AS allowed,
               nextval(pg_get_serial_sequence('sample', 'id')) AS sample_id,
               nextval(pg_get_serial_sequence('event_outbox', 'id')) AS event_id
        FROM locked""",
    "openspc_sample": f"INSERT INTO sample ({', '.join(_SAMPLE_COLUMNS)}) VALUES "
                      f"({', '.join(f'${n}' for n in range(1, len(_SAMPLE_COLUMNS) + 1))})",
    "openspc_measurements": "INSERT INTO measurement (sample_id, value) "
                            "SELECT $1, unnest($2::double precision[])",
    "openspc_state": "UPDATE characteristic SET eval_sequence = $2, eval_state = $3 "
                     "WHERE id = $1",
    "openspc_event": "INSERT INTO event_outbox (id, characteristic_id, frame, created_at, "
                     "published_at) VALUES ($1, $2, $3, $4, $5)",
    "openspc_published": "UPDATE event_outbox SET published_at = $2 WHERE id = $1",
}
"""Prepared once per connection: planning the lock statement alone cost PostgreSQL 0.25 ms
per submission, more than running it."""

_LOCK = (f"BEGIN; SET LOCAL lock_timeout = '{int(LOCK_WAIT_SECONDS * 1000)}ms'; "
         "EXECUTE openspc_lock (%s, %s, %s, %s)")

_Locked = namedtuple("_Locked", [
    "id", "chart_type", "subgroup_size", "subgroup_mode", "min_measurements",
    "warn_below_count", "ucl", "lcl", "stored_center_line", "stored_sigma", "limits_version",
    "eval_sequence", "eval_state", "plant_id", "backlog", "allowed", "sample_id", "event_id",
])
"""The locked characteristic as the ingest and evaluation helpers read it (same names)."""


def available() -> bool:
    """Whether this path applies: PostgreSQL through psycopg2 (the only driver for it)."""
    return db.engine.dialect.name == "postgresql"


def submit(user_id: int, token_version: int, item: SampleInput,
           dev_mode: bool) -> evaluation.Verdict | None:
    """Store and judge one sample for ``user_id`` (operator at its plant needed, with an
    access token of the user's current ``token_version``); its verdict, or None when the
    general path must handle it (nothing was written then)."""
    pooled = db.engine.raw_connection()
    try:
        connection = pooled.driver_connection
        connection.autocommit = True
        cursor = connection.cursor()
        try:
            if not pooled.info.get("openspc_prepared"):
                # DEALLOCATE first: a PREPARE that failed half-way must not block the next.
                cursor.execute("DEALLOCATE ALL;" + ";".join(
                    f"PREPARE {name} AS {statement}" for name, statement in _STATEMENTS.items()))
                pooled.info["openspc_prepared"] = True
            cursor.execute(_LOCK, (item.characteristic_id, user_id, dev_mode, token_version))
            row = cursor.fetchone()
            judged = _judge(cursor, _Locked(*row), item) if row is not None else None
        except psycopg2.Error:
            # A busy lock or a lost connection: the general path waits, falls back or
            # answers 503, as for any request.
            return None
        if judged is None:
            return None
        verdict, statements, characteristic_id, event = judged
        try:
            cursor.execute(b";\n".join(statements))
        except psycopg2.Error as error:
            raise sa.exc.DBAPIError.instance(
                "single sample submission", None, error, psycopg2.Error,
                connection_invalidated=connection.closed != 0,
            ) from error
        _publish(cursor, characteristic_id, event)
        return verdict
    finally:
        _release(pooled)


def _release(pooled: Any) -> None:
    """Hand the connection back to the pool as the pool expects it: no transaction open
    (whatever failed half-way is rolled back) and not in autocommit; a connection that is
    gone, or cannot be rolled back, is dropped from the pool."""
    connection = pooled.driver_connection
    try:
        if connection.closed:
            raise psycopg2.InterfaceError("connection closed")
        if connection.get_transaction_status() != TRANSACTION_STATUS_IDLE:
            connection.cursor().execute("ROLLBACK")
        connection.autocommit = False
    except psycopg2.Error:
        pooled.invalidate()
    pooled.close()


def _judge(cursor: Any, locked: _Locked, item: SampleInput
           ) -> tuple[evaluation.Verdict, list[bytes], int, dict[str, Any]] | None:
    """The verdict and the statements that write it, or None for the general path."""
    if (not locked.allowed or locked.backlog or ChartType(locked.chart_type).is_attribute
            or item.measurements is None):
        return None
    now = utcnow()
    try:
        values = subgroup_values(locked, item.measurements)
        timestamp = checked_timestamp(item.timestamp, now)
    except ApiError:
        return None
    newest = evaluation.newest_in_state(locked.eval_state)
    if newest is None or timestamp < newest:
        return None
    rules = (locked.eval_state or {}).get("rules")
    context = evaluation.evaluation_context(locked, rules) if rules is not None else None
    evaluator = evaluation.stored_evaluator(locked, context) if context is not None else None
    if evaluator is None:
        return None

    def store_violations(rows: list[dict[str, Any]]) -> None:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('violation', 'id')) "
                       "FROM generate_series(1, %s)", (len(rows),))
        for violation, (violation_id,) in zip(rows, cursor.fetchall(), strict=True):
            violation["id"] = violation_id

    judgement = evaluation.judge(context, evaluator,
                                 [point_row(locked.sample_id, timestamp, values)],
                                 locked.eval_sequence, store_violations)
    if not judgement.verdicts:  # quarantined: the general path records it
        return None
    [update] = judgement.updates
    [verdict] = judgement.verdicts
    sample = sample_columns(item, values, timestamp, now, EVALUATED)
    sample.update(update)
    [event] = outbox.rows_of(judgement.events)
    event["id"] = locked.event_id
    statements = [
        _execute(cursor, "openspc_sample", [sample[column] for column in _SAMPLE_COLUMNS]),
        _execute(cursor, "openspc_measurements", [locked.sample_id, values.measurements]),
    ]
    if verdict.violations:
        statements.append(_insert(cursor, "violation", verdict.violations))
    statements += [
        _execute(cursor, "openspc_state", [locked.id, judgement.sequence,
                                           _json(evaluation.state_of(context, evaluator,
                                                                   judgement.newest))]),
        _execute(cursor, "openspc_event", [locked.event_id, locked.id, _json(event["frame"]),
                                           event["created_at"], outbox.CLAIMED]),
        b"COMMIT",
    ]
    return verdict, statements, locked.id, event


def _execute(cursor: Any, name: str, parameters: list[Any]) -> bytes:
    return cursor.mogrify(f"EXECUTE {name} ({', '.join(['%s'] * len(parameters))})",
                          parameters)


def _insert(cursor: Any, table: str, rows: list[dict[str, Any]]) -> bytes:
    columns = list(rows[0])
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    values = b", ".join(cursor.mogrify(placeholders, [row[c] for c in columns]) for row in rows)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ".encode() + values


def _publish(cursor: Any, characteristic_id: int, event: dict[str, Any]) -> None:
    """Send the committed frames, then mark their row sent. The row was written claimed
    (``outbox.CLAIMED``), so no publisher sends it meanwhile. If sending fails (Redis down)
    the claim is dropped and the row waits, unsent, for the publishers and the sweeper; if
    even that fails, the sweeper takes the claim once it is old."""
    published = outbox.send([(frame, characteristic_id) for frame in event["frame"]])
    try:
        cursor.execute(b"BEGIN; SET LOCAL synchronous_commit TO OFF; "
                       + _execute(cursor, "openspc_published", [event["id"], published])
                       + b"; COMMIT")
    except psycopg2.Error:
        log.exception("outbox_mark_failed")


def _json(value: Any) -> Json:
    """A JSON parameter, encoded as the engine encodes its JSON columns."""
    return Json(value, dumps=jsoncodec.dumps)

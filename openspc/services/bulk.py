"""Many rows in few statements: inserts that return their ids in order, plain inserts, and
updates by primary key.

PostgreSQL through psycopg2 has its own path. New rows get their ids from the table's
sequence first (one ``SELECT nextval(...)``), then go in by ``COPY``: the ids are known in
parameter order without ``RETURNING``, and COPY costs a fraction of a multi-row ``INSERT``
on the client (no SQL text to render and parse) and on the server. Updates are one
``UPDATE ... FROM (VALUES ...)`` per set of columns; an executemany of single-row UPDATEs,
even paged, has the server plan and run every row as its own statement.

Every other database takes SQLAlchemy's own bulk statements: a multi-row ``INSERT ...
RETURNING`` where the dialect returns ids in parameter order (SQLite, MariaDB), row by row
where it cannot (MySQL, MSSQL), and the ORM's bulk UPDATE by primary key.

The PostgreSQL path writes through the session's own connection, so it is part of the
caller's transaction; the session is flushed first so that the statements see what the
session holds, and driver errors surface as SQLAlchemy's (``IntegrityError`` and so on),
as on the other path.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from psycopg2.extras import execute_values
from sqlalchemy.types import TypeDecorator

from openspc.extensions import db

_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})
"""COPY text format: the characters that would end a field or a row, escaped."""


def _copy_path() -> bool:
    dialect = db.engine.dialect
    return dialect.name == "postgresql" and dialect.driver == "psycopg2"


def insert_returning_ids(model: type[db.Model], rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert ``rows`` (all with the same keys); the new ids, in ``rows`` order and ascending,
    so that rows inserted in arrival order are read back in that order by id."""
    if not rows:
        return []
    table = model.__table__
    if _copy_path():
        with _cursor() as cursor:
            cursor.execute(
                "SELECT nextval(sequence) FROM pg_get_serial_sequence(%s, 'id') AS sequence,"
                " generate_series(1, %s)", (table.fullname, len(rows)),
            )
            ids = sorted(row[0] for row in cursor.fetchall())
            _copy(cursor, table, rows, ids)
        return ids
    if db.engine.dialect.insert_executemany_returning_sort_by_parameter_order:
        statement = sa.insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(db.session.execute(statement, rows).scalars())
    return [
        db.session.execute(sa.insert(table).values(**row)).inserted_primary_key[0]
        for row in rows
    ]


def insert_rows(model: type[db.Model], rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys) whose ids nobody needs back."""
    if not rows:
        return
    if _copy_path():
        with _cursor() as cursor:
            _copy(cursor, model.__table__, rows)
        return
    db.session.execute(sa.insert(model.__table__), rows)


def update_by_id(model: type[db.Model], rows: Sequence[dict[str, Any]]) -> None:
    """Set, for each row, its columns other than ``id`` on the row of that ``id``.

    Rows may carry different columns; each set of columns is one statement. On PostgreSQL
    the statement also bounds the ids by their range: the join with the VALUES list alone
    is planned as a sequential scan of the whole table while its statistics are small or
    stale, the bound makes it an index range scan.
    """
    if not rows:
        return
    if not _copy_path():
        db.session.execute(sa.update(model), list(rows))
        return
    table = model.__table__
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    dialect = db.engine.dialect
    quote = dialect.identifier_preparer.quote
    with _cursor() as cursor:
        for keys, group in groups.items():
            columns = ["id", *(key for key in keys if key != "id")]
            assignments = ", ".join(
                f"{quote(name)} = CAST(v.{quote(name)} AS "
                f"{table.c[name].type.compile(dialect=dialect)})"
                for name in columns[1:]
            )
            ids = [int(row["id"]) for row in group]
            statement = (
                f"UPDATE {quote(table.name)} SET {assignments} FROM (VALUES %s) AS "
                f"v({', '.join(quote(name) for name in columns)}) "
                f"WHERE {quote(table.name)}.id = v.id "
                f"AND {quote(table.name)}.id BETWEEN {min(ids)} AND {max(ids)}"
            )
            processors = _processors(table, columns)
            execute_values(cursor, statement, [
                tuple(process(row[name]) for name, process in zip(columns, processors,
                                                                  strict=True))
                for row in group
            ], page_size=len(group))


@contextmanager
def _cursor() -> Iterator[Any]:
    """A driver cursor on the session's connection; driver errors as SQLAlchemy's."""
    db.session.flush()
    dbapi = db.engine.dialect.dbapi
    cursor = db.session.connection().connection.dbapi_connection.cursor()
    try:
        yield cursor
    except dbapi.Error as error:
        raise sa.exc.DBAPIError.instance(None, None, error, dbapi.Error) from None
    finally:
        cursor.close()


def _processors(table: sa.Table, columns: Sequence[str]) -> list[Callable[[Any], Any]]:
    """Each column's bind conversion (e.g. UTC for timestamps), as a statement would do it."""
    dialect = db.engine.dialect
    return [table.c[name].type.bind_processor(dialect) or _same for name in columns]


def _same(value: Any) -> Any:
    return value


def _copy(cursor: Any, table: sa.Table, rows: Sequence[dict[str, Any]],
          ids: Sequence[int] | None = None) -> None:
    """COPY ``rows`` into ``table`` (with ``ids`` as their ``id`` column when given). The
    text is built column by column, each column by one comprehension of its own type."""
    names = list(rows[0])
    columns = [_column_text(table.c[name], [row[name] for row in rows]) for name in names]
    if ids is not None:
        names.insert(0, "id")
        columns.insert(0, [str(id_) for id_ in ids])
    lines = io.StringIO("\n".join(map("\t".join, zip(*columns, strict=True))) + "\n")
    quote = db.engine.dialect.identifier_preparer.quote
    cursor.copy_expert(
        f"COPY {quote(table.name)} ({', '.join(quote(name) for name in names)}) FROM STDIN",
        lines, size=1 << 20,
    )


def _column_text(column: sa.Column, values: list[Any]) -> list[str]:
    """One column's values in COPY's text format: ``\\N`` is NULL, floats by ``repr``
    (exact), booleans ``t``/``f``, strings with tab, newline and backslash escaped, JSON as
    the column's serializer writes it."""
    process = column.type.bind_processor(db.engine.dialect)
    if process is not None:
        values = [process(value) for value in values]
    stored = column.type.impl if isinstance(column.type, TypeDecorator) else column.type
    if isinstance(stored, sa.JSON):
        return ["\\N" if value is None else value.translate(_ESCAPES) for value in values]
    try:
        kind = stored.python_type
    except NotImplementedError:
        kind = object
    if kind is float:
        return ["\\N" if value is None else repr(float(value)) for value in values]
    if kind is bool:
        return ["\\N" if value is None else "t" if value else "f" for value in values]
    if kind is int:
        return ["\\N" if value is None else str(int(value)) for value in values]
    if kind is str:
        return ["\\N" if value is None else value.translate(_ESCAPES) for value in values]
    if kind is datetime:
        return ["\\N" if value is None else value.isoformat() for value in values]
    raise TypeError(f"no COPY text for column {column.name} ({column.type})")

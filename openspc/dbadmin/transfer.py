"""Copy every table of the running database into another one migrated to the same head
(``openspc db transfer --to URL``): the way from "tried it on SQLite" to "run it on
PostgreSQL" (or MariaDB) with the data.

Tables go parents first (the models' foreign keys), each in primary-key order and in
batches of ``batch_size`` rows, one transaction per batch; references to a row of the same
table (a hierarchy node's parent) are written after the table's rows, since a parent may
have the higher key. A transfer that stops (a lost
connection, Ctrl-C) is continued with ``resume``: each table carries on after the highest key
the target already holds. The result is verified by counting each table's rows on both
sides. Rows are copied through the models' column types, so timestamps, JSON and floats are
converted for the target dialect rather than copied as text.

The source should not be written meanwhile (stop the web, worker and listener processes):
rows written behind the copy's position in a table would be missed, and the counts would
say so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from openspc.dbadmin.connection import dialect_of

# Rows the migrations write into a new database (the default plant, the listeners' config
# generations); a fresh target's copies are replaced by the source's.
SEEDED_TABLES = ("plant", "listener_config")
# Tables that hold the data people care about: a target where any has rows is not fresh.
DATA_TABLES = ("user", "characteristic", "sample")


class TransferError(Exception):
    """The transfer cannot start or did not verify; the message says why."""


@dataclass
class TableCopy:
    table: str
    source_rows: int
    target_rows: int
    copied: int

    @property
    def verified(self) -> bool:
        return self.source_rows == self.target_rows


def transfer(source: Engine, target: Engine, metadata: sa.MetaData, *, batch_size: int = 5000,
             resume: bool = False, progress: Callable[[str], None] = lambda _line: None,
             ) -> list[TableCopy]:
    """Copy ``metadata``'s tables from ``source`` to ``target`` (both at the same migration
    head); raises ``TransferError`` when a table's counts differ afterwards."""
    if dialect_of(target.url) == "mssql":
        raise TransferError("Transfers into MSSQL are not supported (ids need IDENTITY_INSERT)")
    tables = list(metadata.sorted_tables)
    if not resume:
        _prepare_fresh_target(target, tables)
    copies = []
    for table in tables:
        copied = _copy_table(source, target, table, batch_size, progress)
        with source.connect() as src, target.connect() as dst:
            copies.append(TableCopy(table.name, _count(src, table), _count(dst, table), copied))
        progress(f"{table.name}: {copies[-1].target_rows} rows"
                 f" ({copied} copied now)")
    if dialect_of(target.url) == "postgresql":
        _advance_sequences(target, tables)
    wrong = [c for c in copies if not c.verified]
    if wrong:
        raise TransferError("Row counts differ after the transfer: " + ", ".join(
            f"{c.table} {c.source_rows} in the source, {c.target_rows} in the target"
            for c in wrong))
    return copies


def _count(connection: Connection, table: sa.Table) -> int:
    return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def _prepare_fresh_target(target: Engine, tables: list[sa.Table]) -> None:
    by_name = {t.name: t for t in tables}
    with target.begin() as connection:
        holding = [name for name in by_name if name not in SEEDED_TABLES
                   and _count(connection, by_name[name])]
        if holding:
            raise TransferError(
                f"The target database is not empty ({', '.join(holding)} hold rows): transfer "
                "into a new database, or pass --resume to continue an interrupted transfer")
        for name in SEEDED_TABLES:
            connection.execute(by_name[name].delete())


def _copy_table(source: Engine, target: Engine, table: sa.Table, batch_size: int,
                progress: Callable[[str], None]) -> int:
    key = list(table.primary_key.columns)
    # A row may name a row of its own table with a higher key (a hierarchy node moved under a
    # newer one): such references are written once every row of the table is there.
    own = [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]
    last = _last_key(target, table, key)
    copied = 0
    with source.connect() as src:
        while True:
            query = sa.select(table).order_by(*key).limit(batch_size)
            if last is not None:
                query = query.where(_after(key, last))
            rows = [dict(row._mapping) for row in src.execute(query)]
            if not rows:
                break
            with target.begin() as dst:
                dst.execute(table.insert(), [{**row, **dict.fromkeys(own)} for row in rows])
            copied += len(rows)
            last = tuple(rows[-1][c.name] for c in key)
            if copied % (batch_size * 20) == 0:
                progress(f"{table.name}: {copied} rows copied")
        if own:
            _copy_own_references(src, target, table, key, own)
    return copied


def _copy_own_references(src: Connection, target: Engine, table: sa.Table,
                         key: list[sa.Column], own: list[str]) -> None:
    columns = [table.c[name] for name in own]
    rows = src.execute(sa.select(*key, *columns).where(
        sa.or_(*(c.isnot(None) for c in columns)))).all()
    if not rows:
        return
    names = [c.name for c in key]
    statement = table.update().where(
        *(c == sa.bindparam(f"key_{c.name}") for c in key)).values(
        {name: sa.bindparam(f"own_{name}") for name in own})
    with target.begin() as dst:
        dst.execute(statement, [
            {**{f"key_{n}": row[i] for i, n in enumerate(names)},
             **{f"own_{n}": row[len(names) + i] for i, n in enumerate(own)}}
            for row in rows])


def _last_key(target: Engine, table: sa.Table, key: list[sa.Column]) -> tuple | None:
    with target.connect() as connection:
        row = connection.execute(
            sa.select(*key).order_by(*(c.desc() for c in key)).limit(1)).first()
    return tuple(row) if row else None


def _after(key: list[sa.Column], last: tuple) -> sa.ColumnElement[bool]:
    if len(key) == 1:
        return key[0] > last[0]
    return sa.tuple_(*key) > sa.tuple_(*last)


def _advance_sequences(target: Engine, tables: list[sa.Table]) -> None:
    """Explicit ids do not move PostgreSQL's sequences: set each to its column's maximum."""
    with target.begin() as connection:
        for table in tables:
            column = table.autoincrement_column
            if column is None:
                continue
            name = connection.dialect.identifier_preparer.quote(table.name)
            sequence = connection.execute(sa.text("SELECT pg_get_serial_sequence(:t, :c)"),
                                          {"t": name, "c": column.name}).scalar_one()
            if sequence is None:
                continue
            connection.execute(sa.text(
                f"SELECT setval(:s, COALESCE(MAX({column.name}), 1), MAX({column.name}) IS NOT"
                f" NULL) FROM {name}"), {"s": sequence})

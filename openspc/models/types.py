"""Column types shared by the models."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator

# Float on MySQL/MariaDB is single precision (~7 significant digits): measurements and limits
# would be rounded when stored. DOUBLE there; every other dialect's FLOAT is already 8 bytes
# (PostgreSQL double precision, SQLite REAL, SQL Server float(53)) and stays as it is, so the
# schema built by the migrations needs no change outside MySQL/MariaDB.
Double = sa.Float().with_variant(mysql.DOUBLE(asdecimal=False), "mysql", "mariadb")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC timestamp on every dialect.

    SQLite and MySQL keep no offset, so values are stored as naive UTC there and made aware
    again on load; MySQL gets microsecond precision so that ordering by time keeps arrival order.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if dialect.name in ("sqlite", "mysql", "mariadb"):
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

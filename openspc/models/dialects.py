"""Schema objects that some database dialects hold in another form.

A constraint marked with :func:`except_on` is created everywhere but on the dialects named,
whose migrations put an equivalent in its place (the reason is with each use).
:func:`include_object` tells alembic's model/schema comparison to leave such a constraint
out on those dialects, so that a missing object there is not reported as a difference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa

ConstraintT = TypeVar("ConstraintT", bound=sa.Constraint)


def except_on(constraint: ConstraintT, *dialects: str) -> ConstraintT:
    """``constraint``, created on every dialect but ``dialects``."""
    constraint.info["except_on"] = frozenset(dialects)

    def created(ddl: Any, target: Any, bind: Any, tables: Any = None, state: Any = None, *,
                dialect: sa.Dialect, **kw: Any) -> bool:
        return dialect.name not in dialects

    return constraint.ddl_if(callable_=created)


def include_object(dialect_name: str) -> Callable[..., bool]:
    """alembic's ``include_object`` hook for a database of ``dialect_name``."""

    def include(object_: Any, name: str | None, type_: str, reflected: bool,
                compare_to: Any) -> bool:
        if reflected:
            return True
        return dialect_name not in getattr(object_, "info", {}).get("except_on", ())

    return include

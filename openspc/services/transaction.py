"""The unit of work every service verb runs in: commit on success, roll back on any error."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError

from openspc.errors import Conflict
from openspc.extensions import db

F = TypeVar("F", bound=Callable[..., Any])


def transactional(fn: F) -> F:
    """Run ``fn`` as one transaction (Superset's ``@transaction``): commit, or roll back."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = fn(*args, **kwargs)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        return result

    return wrapper  # type: ignore[return-value]


def flush_or_conflict(message: str) -> None:
    """Flush pending writes; a unique-constraint failure becomes 409 ``message``.

    The constraint, not a prior SELECT, decides: two concurrent creators cannot both win.
    """
    try:
        db.session.flush()
    except IntegrityError:
        raise Conflict(message) from None

"""First-start admin account, so that a new installation can be logged into.

The reference skipped the bootstrap when ``OPENSPC_ADMIN_PASSWORD`` was empty, which left a
fresh installation with no way in. Here an empty password means "generate one": the caller
(the ``openspc`` command) shows it once on the console, and the account must change it at the
first login (``must_change_password``, enforced by the server).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import structlog
from sqlalchemy.exc import IntegrityError

from openspc.auth.passwords import hash_password
from openspc.config import Settings
from openspc.extensions import db
from openspc.models import Plant, User, UserPlantRole

log = structlog.get_logger(__name__)

GENERATED_PASSWORD_BYTES = 18  # 24 url-safe characters, 144 bits


@dataclass(frozen=True)
class BootstrapAdmin:
    """The account created on an empty user table; ``generated_password`` is None when the
    password came from the settings (then it is never shown)."""

    username: str
    generated_password: str | None
    plant_codes: tuple[str, ...]


def bootstrap_admin(settings: Settings) -> BootstrapAdmin | None:
    """Create the admin on an empty user table; None when any user exists already.

    The admin gets the ``admin`` role at every active plant (as the reference). Several
    processes starting at once may race here: the unique username lets one win, and the
    others see None.
    """
    if db.session.execute(db.select(User.id).limit(1)).first() is not None:
        return None
    generated = None if settings.admin_password else secrets.token_urlsafe(
        GENERATED_PASSWORD_BYTES
    )
    plants = db.session.execute(db.select(Plant).filter_by(is_active=True)).scalars().all()
    admin = User(
        username=settings.admin_username,
        hashed_password=hash_password(settings.admin_password or generated),
        must_change_password=True,
        plant_roles=[UserPlantRole(plant_id=p.id, role="admin") for p in plants],
    )
    db.session.add(admin)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return None
    codes = tuple(p.code for p in plants)
    log.info("admin bootstrapped", username=admin.username, plants=list(codes),
             password_source="generated" if generated else "OPENSPC_ADMIN_PASSWORD")
    return BootstrapAdmin(admin.username, generated, codes)

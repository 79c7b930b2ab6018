"""Plants, users, their per-plant roles, refresh tokens and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from openspc.extensions import db
from openspc.models.types import UTCDateTime, utcnow

ROLE_LEVELS = {"operator": 1, "supervisor": 2, "engineer": 3, "admin": 4}


class Plant(db.Model):
    __tablename__ = "plant"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    code: Mapped[str] = mapped_column(sa.String(10), unique=True)
    is_active: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true(), default=True)
    settings: Mapped[dict | None] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=sa.func.now(), default=utcnow
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=sa.func.now(), default=utcnow, onupdate=utcnow
    )


class User(db.Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(50), unique=True)
    email: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    hashed_password: Mapped[str] = mapped_column(sa.String(255))
    is_active: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true(), default=True)
    must_change_password: Mapped[bool] = mapped_column(
        sa.Boolean, server_default=sa.false(), default=False
    )
    token_version: Mapped[int] = mapped_column(sa.Integer, server_default="0", default=0)
    """Carried by every access token as ``ver``; raising it (logout, password change, a
    stolen refresh token) ends every access token issued before."""
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=sa.func.now(), default=utcnow
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=sa.func.now(), default=utcnow, onupdate=utcnow
    )

    plant_roles: Mapped[list[UserPlantRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )


class UserPlantRole(db.Model):
    __tablename__ = "user_plant_role"
    __table_args__ = (sa.UniqueConstraint("user_id", "plant_id", name="uq_user_plant"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    plant_id: Mapped[int] = mapped_column(
        sa.ForeignKey("plant.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(sa.String(20), server_default="operator", default="operator")
    created_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime, server_default=sa.func.now(), default=utcnow
    )

    user: Mapped[User] = relationship(back_populates="plant_roles")
    plant: Mapped[Plant] = relationship(lazy="joined")


class RefreshToken(db.Model):
    """One issued refresh token. A login starts a family (``family_id`` = the first token's
    ``jti``); each rotation marks the token ``rotated_at`` and names its ``replaced_by``;
    logout, a password change or a reuse after the grace interval set ``revoked_at`` on the
    whole family."""

    __tablename__ = "refresh_token"

    jti: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[str] = mapped_column(
        sa.String(36), index=True,
        default=lambda context: context.get_current_parameters()["jti"],
    )
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replaced_by: Mapped[str | None] = mapped_column(sa.String(36))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiKey(db.Model):
    """A data-entry credential. ``key_prefix`` holds a per-key lookup id, so one hash is checked."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(
        sa.String(36), primary_key=True, default=lambda: str(uuid.uuid4())
    )
    name: Mapped[str] = mapped_column(sa.String(255))
    key_hash: Mapped[str] = mapped_column(sa.String(255))
    key_prefix: Mapped[str | None] = mapped_column(sa.String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    permissions: Mapped[dict] = mapped_column(
        sa.JSON, default=lambda: {"characteristics": "all"}
    )
    rate_limit_per_minute: Mapped[int] = mapped_column(
        sa.Integer, server_default="60", default=60
    )
    is_active: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true(), default=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Set by an admin's revocation, which is final: such a key is never active again."""

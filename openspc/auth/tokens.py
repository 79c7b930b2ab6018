"""Access and refresh tokens (HS256, ``sub`` = user id as a string).

Access tokens also carry ``username`` and ``ver``, the user's token version: raising it ends
every access token issued before (checked with the user row each request loads anyway).
Refresh tokens are encoded from claims the database keeps (``jti``, ``iat``, ``exp``), so the
same token can be given again to a concurrent refresh (:mod:`openspc.services.auth`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_jwt_extended import create_access_token, create_refresh_token

from openspc.models import User


def issue_access_token(user: User) -> str:
    return create_access_token(identity=str(user.id), additional_claims={
        "username": user.username, "ver": user.token_version or 0})


@dataclass(frozen=True)
class RefreshClaims:
    """What identifies a refresh token; :meth:`encode` gives the same JWT every time."""

    jti: str
    user_id: int
    issued_at: datetime
    expires_at: datetime

    @classmethod
    def new(cls, user_id: int) -> RefreshClaims:
        """Claims of a fresh token, in whole seconds as the JWT holds them."""
        issued = datetime.fromtimestamp(int(datetime.now(UTC).timestamp()), UTC)
        lifetime: timedelta = current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]
        return cls(str(uuid.uuid4()), user_id, issued, issued + lifetime)

    def encode(self) -> str:
        issued, expires = int(self.issued_at.timestamp()), int(self.expires_at.timestamp())
        return create_refresh_token(identity=str(self.user_id), additional_claims={
            "jti": self.jti, "iat": issued, "nbf": issued, "exp": expires})

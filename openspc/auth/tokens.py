"""Access tokens: HS256, ``sub`` = user id as a string, ``username``, ``type: access``."""

from __future__ import annotations

from flask_jwt_extended import create_access_token

from openspc.models import User


def issue_access_token(user: User) -> str:
    return create_access_token(identity=str(user.id), additional_claims={"username": user.username})

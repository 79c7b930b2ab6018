"""Who is calling: the bearer user, or an API key on the data-entry routes."""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, request
from flask_jwt_extended import decode_token
from jwt import PyJWTError
from sqlalchemy.orm import joinedload

from openspc.errors import Unauthorized
from openspc.extensions import db
from openspc.models import ApiKey, User

BEARER = {"WWW-Authenticate": "Bearer"}


@dataclass
class Caller:
    user: User | None = None
    api_key: ApiKey | None = None


def bearer_user(required: bool = True) -> User | None:
    """The active user of the ``Authorization: Bearer`` access token, else 401 (or None)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        if required:
            raise Unauthorized("Not authenticated", BEARER)
        return None
    try:
        claims = decode_token(token.strip())
    except (PyJWTError, ValueError, KeyError):
        if required:
            raise Unauthorized("Invalid or expired token", BEARER) from None
        return None
    if claims.get("type") != "access":
        if required:
            raise Unauthorized("Invalid or expired token", BEARER)
        return None
    # One query: the roles every role check reads come joined instead of in a second SELECT.
    user = db.session.get(User, int(claims["sub"]), options=[joinedload(User.plant_roles)])
    if user is None or not user.is_active:
        if required:
            raise Unauthorized("User not found or inactive", BEARER)
        return None
    return user


def current_user() -> User:
    """The user authenticated by ``require_role``/``login_required`` for this request."""
    return g.current_user


def current_caller() -> Caller:
    return g.caller

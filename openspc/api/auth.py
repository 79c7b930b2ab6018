"""Authentication (api.md §1): login, refresh, logout, me, change-password.

The refresh token travels only in the ``refresh_token`` cookie (HttpOnly, SameSite=Lax,
Path=/api/v1/auth, Secure iff OPENSPC_COOKIE_SECURE). Login and refresh carry their own rate
limits (OPENSPC_RATE_LIMIT_LOGIN / _REFRESH), checked after body validation as the reference.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from marshmallow import fields
from werkzeug.http import dump_cookie

from openspc import get_settings
from openspc.api.blueprint import Blueprint
from openspc.api.users import UserWithRolesResponse
from openspc.api.validation import Length, Schema
from openspc.auth.client_ip import client_ip
from openspc.auth.current import current_user
from openspc.auth.roles import require_role
from openspc.errors import Unauthorized
from openspc.extensions import limiter
from openspc.services import auth as service

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Authentication")

COOKIE_NAME = "refresh_token"
COOKIE_PATH = "/api/v1/auth"
SESSION_MAX_AGE = 7 * 24 * 3600
REMEMBER_ME_MAX_AGE = 30 * 24 * 3600
CLEAR_COOKIE = f'{COOKIE_NAME}=""; Max-Age=0; Path={COOKIE_PATH}'


class LoginRequest(Schema):
    username = fields.String(required=True)
    password = fields.String(required=True)
    remember_me = fields.Boolean(load_default=False)


class TokenResponse(Schema):
    access_token = fields.String()
    token_type = fields.String()


class LoginResponse(TokenResponse):
    user = fields.Nested(UserWithRolesResponse)
    must_change_password = fields.Boolean()


class ChangePasswordRequest(Schema):
    current_password = fields.String(required=True)
    new_password = fields.String(required=True, validate=Length(min=8))


class MessageResponse(Schema):
    message = fields.String()


@blp.route("/login", methods=["POST"])
@blp.arguments(LoginRequest)
@limiter.limit(lambda: get_settings().rate_limit_login)
@blp.response(200, LoginResponse)
def login(body: dict[str, Any]):
    session = service.login(body["username"], body["password"])
    payload = LoginResponse().dump({
        "access_token": session.access_token, "token_type": "bearer", "user": session.user,
        "must_change_password": service.must_change_password(session.user),
    })
    max_age = REMEMBER_ME_MAX_AGE if body["remember_me"] else SESSION_MAX_AGE
    return _with_refresh_cookie(jsonify(payload), session.refresh_token, max_age)


@blp.route("/refresh", methods=["POST"])
@limiter.limit(lambda: get_settings().rate_limit_refresh)
@blp.response(200, TokenResponse)
def refresh():
    """Rotate: the presented refresh token is replaced by a new one (Max-Age 7 days). The same
    cookie presented again within OPENSPC_REFRESH_REUSE_SECONDS gets the same new token; later,
    the whole session is revoked (``openspc.services.auth``).

    On failure the cookie is cleared (the reference meant to, but its framework dropped it).
    """
    try:
        session = service.rotate(request.cookies.get(COOKIE_NAME), client_ip())
    except Unauthorized as error:
        error.headers["Set-Cookie"] = CLEAR_COOKIE
        raise
    payload = TokenResponse().dump({"access_token": session.access_token, "token_type": "bearer"})
    return _with_refresh_cookie(jsonify(payload), session.refresh_token, SESSION_MAX_AGE)


@blp.route("/logout", methods=["POST"])
@blp.response(200, MessageResponse)
def logout():
    """End the presented refresh token's session (its family and the user's access tokens)
    and clear the cookie. Needs no access token, as in the reference, so a user who must
    change their password can always log out."""
    service.logout(request.cookies.get(COOKIE_NAME))
    response = jsonify(message="Logged out successfully")
    response.headers.add("Set-Cookie", CLEAR_COOKIE)
    return response


@blp.route("/me", methods=["GET"])
@require_role(None, allow_password_change=True)
@blp.response(200, UserWithRolesResponse)
def me():
    return current_user()


@blp.route("/change-password", methods=["POST"])
@require_role(None, allow_password_change=True)
@blp.arguments(ChangePasswordRequest)
@blp.response(200, MessageResponse)
def change_password(body: dict[str, Any]):
    """Also ends every session of the user, so other devices must log in again. The caller
    gets a new refresh cookie: its access token is refused from now on, and the web app's
    refresh-and-retry on a 401 picks up the new session without a new login."""
    session = service.change_password(
        current_user(), body["current_password"], body["new_password"])
    response = jsonify(message="Password changed successfully")
    return _with_refresh_cookie(response, session.refresh_token, SESSION_MAX_AGE)


def _with_refresh_cookie(response: Response, token: str, max_age: int) -> Response:
    """Set the cookie with exactly the reference's attributes (no Expires, as Starlette)."""
    cookie = dump_cookie(
        COOKIE_NAME, token, max_age=max_age, path=COOKIE_PATH, secure=get_settings().cookie_secure,
        httponly=True, samesite="Lax", sync_expires=False,
    )
    response.headers.add("Set-Cookie", cookie)
    return response

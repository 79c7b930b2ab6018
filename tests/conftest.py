"""Shared fixtures: an app on a fresh, migrated SQLite file per test, a client, factories.

The schema comes from the migrations (never ``create_all``): they run once per session into a
template file that each test copies.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient

from openspc import create_app
from openspc.auth import passwords
from openspc.auth.tokens import issue_access_token
from openspc.config import Settings, load_settings
from openspc.extensions import db
from openspc.models import (
    Characteristic,
    CharacteristicRule,
    Hierarchy,
    Plant,
    User,
    UserPlantRole,
)
from openspc.services.characteristics import default_chart_type

passwords.set_hasher_for_tests(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_service(available: bool, reason: str) -> None:
    """Skip an integration test whose service is missing; under CI=true fail instead."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"required service missing under CI=true: {reason}")
    pytest.skip(reason)


def make_settings(tmp_path: Path, **overrides: str) -> Settings:
    env = {
        "OPENSPC_DATABASE_URL": f"sqlite:///{tmp_path / 'openspc.db'}",
        "OPENSPC_JWT_SECRET": "test-secret-" + "x" * 40,
        "OPENSPC_DATA_DIR": str(tmp_path),
        "OPENSPC_LOG_LEVEL": "WARNING",
        "OPENSPC_SAMPLE_WAIT_TIMEOUT": "5",
    }
    env.update(overrides)
    return load_settings(env=env, env_file="")


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory) -> Path:
    from flask_migrate import upgrade

    folder = tmp_path_factory.mktemp("template")
    app = create_app({"RATELIMIT_ENABLED": False}, settings=make_settings(folder))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return folder / "openspc.db"


@pytest.fixture
def settings_overrides() -> dict[str, str]:
    """Override in a test module to change OPENSPC_* settings for its app."""
    return {}


@pytest.fixture
def app(tmp_path, migrated_template, settings_overrides) -> Iterator[Flask]:
    shutil.copy(migrated_template, tmp_path / "openspc.db")
    settings = make_settings(tmp_path, **settings_overrides)
    application = create_app(
        {"TESTING": True, "RATELIMIT_ENABLED": "OPENSPC_RATE_LIMIT_LOGIN" in settings_overrides},
        settings=settings,
    )
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app) -> FlaskClient:
    return app.test_client()


@contextlib.contextmanager
def statements_sent() -> Iterator[list[str]]:
    """The SQL statements sent through SQLAlchemy while the block runs."""
    sent: list[str] = []

    def seen(_connection, _cursor, statement, *_rest) -> None:
        sent.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)


class Factory:
    """One-line creation of the objects tests need, written straight through the models."""

    def __init__(self, app: Flask):
        self.app = app
        self._count = 0

    def _next(self) -> int:
        self._count += 1
        return self._count

    def plant(self, name: str | None = None, code: str | None = None) -> Plant:
        n = self._next()
        plant = Plant(name=name or f"Plant {n}", code=code or f"P{n}", settings={})
        db.session.add(plant)
        db.session.commit()
        return plant

    def default_plant(self) -> Plant:
        return db.session.execute(db.select(Plant).filter_by(code="DEFAULT")).scalar_one()

    def user(self, role: str | None = None, plant: Plant | None = None, *,
             username: str | None = None, password: str = "password123",
             must_change_password: bool = False) -> User:
        user = User(
            username=username or f"user{self._next()}",
            hashed_password=passwords.hash_password(password),
            must_change_password=must_change_password,
        )
        db.session.add(user)
        db.session.flush()
        if role:
            plant = plant or self.default_plant()
            db.session.add(UserPlantRole(user_id=user.id, plant_id=plant.id, role=role))
        db.session.commit()
        db.session.refresh(user)
        return user

    def headers(self, user: User) -> dict[str, str]:
        return {"Authorization": f"Bearer {issue_access_token(user)}"}

    def hierarchy(self, plant: Plant | None = None, parent: Hierarchy | None = None,
                  name: str | None = None, type: str = "Line") -> Hierarchy:
        plant = plant or self.default_plant()
        node = Hierarchy(
            name=name or f"Node {self._next()}", type=type, plant_id=plant.id,
            parent_id=parent.id if parent else None,
        )
        db.session.add(node)
        db.session.commit()
        return node

    def characteristic(self, node: Hierarchy | None = None, *, subgroup_size: int = 1,
                       chart_type: str | None = None, ucl: float | None = None,
                       lcl: float | None = None, center_line: float | None = None,
                       sigma: float | None = None, **fields) -> Characteristic:
        node = node or self.hierarchy()
        chart_type = chart_type or default_chart_type(subgroup_size)
        char = Characteristic(
            hierarchy_id=node.id, name=fields.pop("name", f"Char {self._next()}"),
            subgroup_size=subgroup_size, chart_type=chart_type, ucl=ucl, lcl=lcl,
            stored_center_line=center_line, stored_sigma=sigma, **fields,
        )
        char.rules = [CharacteristicRule(rule_id=r, is_enabled=True) for r in range(1, 9)]
        db.session.add(char)
        db.session.commit()
        return char


@pytest.fixture
def factory(app) -> Factory:
    return Factory(app)

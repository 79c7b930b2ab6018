"""Admin bootstrap on an empty user table (ops.md §2.4, with a generated password)."""

from __future__ import annotations

from openspc.auth.passwords import verify_password
from openspc.config import Settings
from openspc.extensions import db
from openspc.models import Plant, User
from openspc.services.bootstrap import bootstrap_admin


def _users() -> list[User]:
    return db.session.execute(db.select(User).order_by(User.id)).scalars().all()


def test_an_empty_table_gets_an_admin_at_every_active_plant(factory):
    north = factory.plant(code="NORTH")
    closed = factory.plant(code="OLD")
    closed.is_active = False
    db.session.commit()

    created = bootstrap_admin(Settings(admin_username="boss", admin_password=""))

    assert created is not None and created.username == "boss"
    assert sorted(created.plant_codes) == ["DEFAULT", "NORTH"]
    (admin,) = _users()
    assert admin.username == "boss" and admin.must_change_password is True
    roles = {(db.session.get(Plant, r.plant_id).code, r.role) for r in admin.plant_roles}
    assert roles == {("DEFAULT", "admin"), (north.code, "admin")}
    assert verify_password(admin.hashed_password, created.generated_password)


def test_generated_passwords_are_long_and_different_each_time(app):
    first = bootstrap_admin(Settings())
    db.session.execute(db.delete(User))
    db.session.commit()
    second = bootstrap_admin(Settings())
    assert len(first.generated_password) >= 24
    assert first.generated_password != second.generated_password


def test_a_configured_password_is_used_and_not_returned(app):
    created = bootstrap_admin(Settings(admin_password="configured-secret"))
    assert created.generated_password is None
    assert verify_password(_users()[0].hashed_password, "configured-secret")


def test_nothing_happens_once_any_user_exists(factory):
    factory.user("operator", username="someone")
    assert bootstrap_admin(Settings()) is None
    assert [u.username for u in _users()] == ["someone"]


def test_a_second_start_creates_nobody(app):
    assert bootstrap_admin(Settings()) is not None
    assert bootstrap_admin(Settings(admin_username="other")) is None
    assert [u.username for u in _users()] == ["admin"]

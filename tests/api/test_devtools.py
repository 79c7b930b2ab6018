"""Sandbox routes (api.md §18): mounted only with OPENSPC_SANDBOX=true; the seed scripts
build their data through the services, so the evaluator finds the injected causes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from openspc.extensions import db

STATUS = "/api/v1/devtools/status"
SEED = "/api/v1/devtools/reset-and-seed"
SCRIPT_KEYS = ["pharma", "nelson_test", "chart_showcase", "discrete", "continuous", "batch"]
SANDBOX = [{"OPENSPC_SANDBOX": "true"}]


def rows(sql: str, **params) -> list[tuple]:
    return [tuple(r) for r in db.session.execute(sa.text(sql), params).all()]


@pytest.fixture
def admin(factory, plants):
    return factory.headers(factory.user("admin", plants[0], username="root"))


def test_devtools_are_not_served_without_the_sandbox(client, admin):
    assert client.get(STATUS, headers=admin).status_code == 404
    assert client.post(SEED, json={"script": "batch"}, headers=admin).status_code == 404


@pytest.mark.parametrize("settings_overrides", SANDBOX)
def test_status_lists_the_six_scripts(client, admin, engineer):
    denied = client.get(STATUS, headers=engineer)
    assert (denied.status_code, denied.json) == (403, {"detail": "Admin privileges required"})
    body = client.get(STATUS, headers=admin).json
    assert body["sandbox"] is True
    assert [s["key"] for s in body["scripts"]] == SCRIPT_KEYS
    assert all(set(s) == {"key", "name", "description", "estimated_samples"}
               for s in body["scripts"])
    sizes = {s["key"]: s["estimated_samples"] for s in body["scripts"]}
    assert sizes["pharma"] > 30_000 and sizes["chart_showcase"] < 500


@pytest.mark.parametrize("settings_overrides", SANDBOX)
def test_seed_refusals(client, admin, engineer):
    unknown = client.post(SEED, json={"script": "nope"}, headers=admin)
    assert (unknown.status_code, unknown.json) == (
        400, {"detail": f"Unknown script 'nope'. Available: {SCRIPT_KEYS}"})
    missing = client.post(SEED, json={}, headers=admin)
    assert missing.status_code == 422
    assert missing.json["detail"][0]["loc"] == ["body", "script"]
    assert client.post(SEED, json={"script": "batch"}, headers=engineer).status_code == 403


@pytest.mark.parametrize("settings_overrides", SANDBOX)
def test_nelson_script_fires_every_rule_on_its_own_chart(client, admin, plants, char):
    old_name = char.name
    response = client.post(SEED, json={"script": "nelson_test"}, headers=admin)
    assert response.status_code == 200, response.json
    assert response.json["status"] == "complete"
    assert "Seeded 'nelson_test'" in response.json["output"]
    assert len(response.json["output"]) <= 4000
    # The old data is gone, the caller still signed in and admin of the new plant.
    assert rows("SELECT count(*) FROM characteristic WHERE name = :n", n=old_name) == [(0,)]
    plant_list = client.get("/api/v1/plants/", headers=admin).json
    assert [p["code"] for p in plant_list] == ["NELSON"]
    assert rows("SELECT count(*) FROM sample") == [(1200,)]
    assert rows("SELECT DISTINCT status FROM sample") == [("evaluated",)]
    fired = rows(
        "SELECT c.name, v.rule_id FROM violation v JOIN characteristic c ON c.id = v.char_id "
        "GROUP BY c.name, v.rule_id")
    for rule in range(1, 9):
        own = next(name for name, _ in fired if name.startswith(f"Rule {rule} "))
        assert (own, rule) in fired, (rule, fired)
    assert rows("SELECT count(*) FROM annotation") == [(24,)]
    assert rows("SELECT count(*) FROM characteristic WHERE ucl IS NULL") == [(0,)]
    roles = rows("SELECT u.username, r.role FROM user_plant_role r JOIN user u "
                 "ON u.id = r.user_id ORDER BY u.username")
    assert roles == [("demo.admin", "admin"), ("demo.engineer", "engineer"),
                     ("demo.operator", "operator"), ("demo.supervisor", "supervisor"),
                     ("root", "admin")]
    login = client.post("/api/v1/auth/login",
                        json={"username": "demo.operator", "password": "sandbox-demo"})
    assert login.status_code == 200


@pytest.mark.parametrize("settings_overrides", SANDBOX)
def test_showcase_has_every_chart_type_and_history_over_days(client, admin):
    assert client.post(SEED, json={"script": "chart_showcase"}, headers=admin).status_code == 200
    assert {t for (t,) in rows("SELECT chart_type FROM characteristic")} == {
        "xbar_r", "xbar_s", "i_mr", "p", "np", "c", "u"}
    (first, last), = rows("SELECT min(timestamp), max(timestamp) FROM sample")
    assert first[:10] != last[:10]
    assert rows("SELECT count(*) FROM sample WHERE status <> 'evaluated'") == [(0,)]
    assert rows("SELECT count(*) FROM violation")[0][0] > 0

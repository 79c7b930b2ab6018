"""Retention routes (api.md §17, schemas §S "Retention") and the purge they run (ops.md §7.3)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from openspc.extensions import db
from openspc.models import Plant
from tests import retention_scenario
from tests.api.helpers import ENGINEER_ANY, ENGINEER_HERE, OPERATOR_HERE

BASE = "/api/v1/retention"
ADMIN_ANY = "Admin privileges required"
TIME_30D = {"retention_type": "time_delta", "retention_value": 30, "retention_unit": "days"}
COUNT_5 = {"retention_type": "sample_count", "retention_value": 5}
FOREVER = {"retention_type": "forever"}
POLICY_KEYS = {"id", "plant_id", "scope", "hierarchy_id", "characteristic_id", "retention_type",
               "retention_value", "retention_unit", "created_at", "updated_at"}
RUN_KEYS = {"id", "plant_id", "started_at", "completed_at", "status", "samples_deleted",
            "violations_deleted", "characteristics_processed", "error_message"}


@pytest.fixture
def admin(factory, plants):
    return factory.headers(factory.user("admin", plants[1]))


def _value_error(response, message: str) -> None:
    assert response.status_code == 422, response.json
    assert response.json["detail"] == [
        {"type": "value_error", "loc": ["body"], "msg": f"Value error, {message}",
         "input": response.json["detail"][0]["input"]}
    ]


@pytest.mark.parametrize(("body", "message"), [
    ({"retention_type": "forever", "retention_value": 3},
     "retention_value must be null for 'forever' type"),
    ({"retention_type": "forever", "retention_unit": "days"},
     "retention_unit must be null for 'forever' type"),
    ({"retention_type": "sample_count"}, "retention_value is required for 'sample_count' type"),
    ({"retention_type": "sample_count", "retention_value": 3, "retention_unit": "days"},
     "retention_unit must be null for 'sample_count' type"),
    ({"retention_type": "time_delta", "retention_unit": "days"},
     "retention_value is required for 'time_delta' type"),
    ({"retention_type": "time_delta", "retention_value": 3},
     "retention_unit is required for 'time_delta' type"),
])
def test_policy_body_cross_field_rules(client, engineer, plant, body, message):
    response = client.put(f"{BASE}/default?plant_id={plant.id}", json=body, headers=engineer)
    _value_error(response, message)
    assert client.get(f"{BASE}/default?plant_id={plant.id}", headers=engineer).json is None


@pytest.mark.parametrize(("body", "loc", "kind"), [
    ({}, ["body", "retention_type"], "missing"),
    ({"retention_type": "weekly"}, ["body", "retention_type"], "enum"),
    ({"retention_type": "sample_count", "retention_value": 0},
     ["body", "retention_value"], "greater_than_equal"),
    ({"retention_type": "time_delta", "retention_value": 2, "retention_unit": "hours"},
     ["body", "retention_unit"], "enum"),
])
def test_policy_body_fields_are_named(client, engineer, plant, body, loc, kind):
    response = client.put(f"{BASE}/default?plant_id={plant.id}", json=body, headers=engineer)
    assert response.status_code == 422
    assert [(i["loc"], i["type"]) for i in response.json["detail"]] == [(loc, kind)]


def test_plant_id_is_required(client, engineer):
    for response in (client.get(f"{BASE}/default", headers=engineer),
                     client.get(f"{BASE}/overrides", headers=engineer),
                     client.get(f"{BASE}/activity", headers=engineer),
                     client.get(f"{BASE}/next-purge", headers=engineer),
                     client.put(f"{BASE}/default", json=FOREVER, headers=engineer)):
        assert response.status_code == 422
        assert response.json["detail"][0]["loc"] == ["query", "plant_id"]


def test_default_policy_upsert_keeps_one_row(client, engineer, plant):
    first = client.put(f"{BASE}/default?plant_id={plant.id}", json=TIME_30D, headers=engineer)
    assert first.status_code == 200
    assert set(first.json) == POLICY_KEYS
    assert first.json["scope"] == "global" and first.json["plant_id"] == plant.id
    assert first.json["created_at"].endswith("Z")
    second = client.put(f"{BASE}/default?plant_id={plant.id}", json=COUNT_5, headers=engineer)
    assert second.json["id"] == first.json["id"]
    assert (second.json["retention_type"], second.json["retention_value"],
            second.json["retention_unit"]) == ("sample_count", 5, None)
    read = client.get(f"{BASE}/default?plant_id={plant.id}", headers=engineer)
    assert read.json == second.json


def test_write_roles(client, plants, node, char, operator, outsider):
    plant = plants[0]
    targets = [f"{BASE}/default?plant_id={plant.id}", f"{BASE}/hierarchy/{node.id}",
               f"{BASE}/characteristic/{char.id}"]
    for url in targets:
        denied = client.put(url, json=FOREVER, headers=operator)
        assert (denied.status_code, denied.json) == (403, {"detail": ENGINEER_ANY})
        foreign = client.put(url, json=FOREVER, headers=outsider)
        assert (foreign.status_code, foreign.json) == (403, {"detail": ENGINEER_HERE})
    for url in targets[1:]:
        denied = client.delete(url, headers=operator)
        assert (denied.status_code, denied.json) == (403, {"detail": ENGINEER_ANY})
        assert client.delete(url, headers=outsider).status_code == 403


def test_reads_need_a_role_at_the_plant(client, plants, node, char, operator, outsider):
    plant = plants[0]
    urls = [f"{BASE}/default?plant_id={plant.id}", f"{BASE}/hierarchy/{node.id}",
            f"{BASE}/characteristic/{char.id}", f"{BASE}/characteristic/{char.id}/effective",
            f"{BASE}/overrides?plant_id={plant.id}", f"{BASE}/activity?plant_id={plant.id}",
            f"{BASE}/next-purge?plant_id={plant.id}"]
    for url in urls:
        assert client.get(url, headers=operator).status_code == 200, url
        foreign = client.get(url, headers=outsider)
        assert (foreign.status_code, foreign.json) == (403, {"detail": OPERATOR_HERE}), url
        assert client.get(url).status_code == 401


def test_node_and_characteristic_policies(client, engineer, node, char):
    assert client.get(f"{BASE}/hierarchy/{node.id}", headers=engineer).json is None
    put = client.put(f"{BASE}/hierarchy/{node.id}", json=COUNT_5, headers=engineer)
    assert (put.json["scope"], put.json["hierarchy_id"], put.json["characteristic_id"]) == (
        "hierarchy", node.id, None)
    assert client.get(f"{BASE}/hierarchy/{node.id}", headers=engineer).json == put.json
    put_c = client.put(f"{BASE}/characteristic/{char.id}", json=TIME_30D, headers=engineer)
    assert (put_c.json["scope"], put_c.json["characteristic_id"]) == ("characteristic", char.id)
    assert client.delete(f"{BASE}/hierarchy/{node.id}", headers=engineer).status_code == 204
    assert client.delete(f"{BASE}/characteristic/{char.id}", headers=engineer).status_code == 204
    again = client.delete(f"{BASE}/hierarchy/{node.id}", headers=engineer)
    assert (again.status_code, again.json) == (
        404, {"detail": f"No retention override for hierarchy node {node.id}"})
    again = client.delete(f"{BASE}/characteristic/{char.id}", headers=engineer)
    assert (again.status_code, again.json) == (
        404, {"detail": f"No retention override for characteristic {char.id}"})


def test_unknown_targets_are_404(client, engineer):
    for method in ("get", "put", "delete"):
        node = getattr(client, method)(f"{BASE}/hierarchy/9999", json=FOREVER, headers=engineer)
        assert (node.status_code, node.json) == (404, {"detail": "Hierarchy node 9999 not found"})
        char = getattr(client, method)(f"{BASE}/characteristic/9999", json=FOREVER,
                                       headers=engineer)
        assert (char.status_code, char.json) == (404, {"detail": "Characteristic 9999 not found"})
    effective = client.get(f"{BASE}/characteristic/9999/effective", headers=engineer)
    assert effective.status_code == 404


def test_effective_policy_walks_characteristic_nodes_plant_then_forever(
        client, factory, engineer, plant):
    site = factory.hierarchy(plant, name="Site")
    line = factory.hierarchy(plant, parent=site, name="Line")
    cell = factory.hierarchy(plant, parent=line, name="Cell")
    char = factory.characteristic(cell)
    url = f"{BASE}/characteristic/{char.id}/effective"

    def effective():
        return client.get(url, headers=engineer).json

    assert effective() == {"retention_type": "forever", "retention_value": None,
                           "retention_unit": None, "source": "default", "source_id": None,
                           "source_name": None}
    client.put(f"{BASE}/default?plant_id={plant.id}", json=TIME_30D, headers=engineer)
    assert effective() == {**TIME_30D, "source": "global", "source_id": plant.id,
                           "source_name": None}
    client.put(f"{BASE}/hierarchy/{site.id}", json=COUNT_5, headers=engineer)
    assert effective() == {**COUNT_5, "retention_unit": None, "source": "hierarchy",
                           "source_id": site.id, "source_name": "Site"}
    client.put(f"{BASE}/hierarchy/{line.id}", json=FOREVER, headers=engineer)
    assert effective()["source_id"] == line.id  # the nearest ancestor wins
    client.put(f"{BASE}/characteristic/{char.id}", json=COUNT_5, headers=engineer)
    assert effective() == {**COUNT_5, "retention_unit": None, "source": "characteristic",
                           "source_id": char.id, "source_name": None}


def test_overrides_name_their_targets(client, engineer, plant, node, char):
    client.put(f"{BASE}/default?plant_id={plant.id}", json=TIME_30D, headers=engineer)
    client.put(f"{BASE}/hierarchy/{node.id}", json=COUNT_5, headers=engineer)
    client.put(f"{BASE}/characteristic/{char.id}", json=FOREVER, headers=engineer)
    rows = client.get(f"{BASE}/overrides?plant_id={plant.id}", headers=engineer).json
    assert {(r["scope"], r["hierarchy_name"], r["characteristic_name"]) for r in rows} == {
        ("hierarchy", node.name, None), ("characteristic", None, char.name)}
    assert set(rows[0]) == {"id", "scope", "hierarchy_id", "characteristic_id", "hierarchy_name",
                            "characteristic_name", "retention_type", "retention_value",
                            "retention_unit", "updated_at"}


def test_purge_needs_admin(client, engineer, plant):
    denied = client.post(f"{BASE}/purge?plant_id={plant.id}", headers=engineer)
    assert (denied.status_code, denied.json) == (403, {"detail": ADMIN_ANY})


def test_purge_of_unknown_plant_is_404(client, admin):
    response = client.post(f"{BASE}/purge?plant_id=9999", headers=admin)
    assert (response.status_code, response.json) == (404, {"detail": "Plant 9999 not found"})


def test_purge_deletes_exactly_what_the_policies_say(client, admin):
    scenario = retention_scenario.build()
    response = client.post(f"{BASE}/purge?plant_id={scenario.plant_a}", headers=admin)
    assert response.status_code == 200, response.json
    run = response.json
    assert set(run) == RUN_KEYS
    assert run["status"] == "completed" and run["error_message"] is None
    assert {k: run[k] for k in retention_scenario.EXPECTED_RUN} == retention_scenario.EXPECTED_RUN
    retention_scenario.assert_purged_as_computed(scenario)
    again = client.post(f"{BASE}/purge?plant_id={scenario.plant_a}", headers=admin).json
    assert (again["samples_deleted"], again["violations_deleted"]) == (0, 0)
    activity = client.get(f"{BASE}/activity?plant_id={scenario.plant_a}", headers=admin).json
    assert [r["id"] for r in activity] == [again["id"], run["id"]]
    assert len(client.get(f"{BASE}/activity?plant_id={scenario.plant_a}&limit=1",
                          headers=admin).json) == 1


def test_dry_run_reports_and_deletes_nothing(client, admin):
    scenario = retention_scenario.build()
    before = retention_scenario.count("sample"), retention_scenario.count("violation")
    response = client.post(f"{BASE}/purge?plant_id={scenario.plant_a}&dry_run=true",
                           headers=admin)
    assert response.status_code == 200
    plan = response.json
    assert plan["dry_run"] is True
    assert {k: plan[k] for k in retention_scenario.EXPECTED_RUN} == retention_scenario.EXPECTED_RUN
    by_name = {c["name"]: c["samples_deleted"] for c in plan["characteristics"]}
    assert by_name == {"c1": 5, "c3": 6, "c4": 3}
    assert (retention_scenario.count("sample"), retention_scenario.count("violation")) == before
    assert retention_scenario.count("purge_history") == 0


def test_activity_limit_bounds(client, engineer, plant):
    for limit in (0, 101):
        response = client.get(f"{BASE}/activity?plant_id={plant.id}&limit={limit}",
                              headers=engineer)
        assert response.status_code == 422
        assert response.json["detail"][0]["loc"] == ["query", "limit"]


def test_next_purge_is_last_run_plus_interval(client, admin, engineer, plant):
    never = client.get(f"{BASE}/next-purge?plant_id={plant.id}", headers=engineer).json
    assert never == {"next_run_at": None, "interval_hours": 24.0, "last_run": None}
    run = client.post(f"{BASE}/purge?plant_id={plant.id}", headers=admin).json
    upcoming = client.get(f"{BASE}/next-purge?plant_id={plant.id}", headers=engineer).json
    assert upcoming["last_run"] == run
    completed = datetime.fromisoformat(run["completed_at"].replace("Z", "+00:00"))
    next_run = datetime.fromisoformat(upcoming["next_run_at"].replace("Z", "+00:00"))
    assert next_run - completed == timedelta(hours=24)


@pytest.mark.parametrize("settings_overrides", [{"OPENSPC_PURGE_INTERVAL_HOURS": "6"}])
def test_interval_follows_the_setting(app, client, engineer, plant):
    from openspc.extensions import celery

    body = client.get(f"{BASE}/next-purge?plant_id={plant.id}", headers=engineer).json
    assert body["interval_hours"] == 6.0
    assert celery.conf.beat_schedule["retention-purge"]["schedule"] == 6 * 3600.0


def test_scheduled_task_purges_every_active_plant(app, factory):
    from openspc.extensions import db
    from openspc.tasks.maintenance import retention_purge

    scenario = retention_scenario.build()
    inactive = db.session.get(Plant, scenario.plant_b)
    inactive.is_active = False
    db.session.commit()
    run_ids = retention_purge.delay().get()
    active = db.session.query(Plant).filter_by(is_active=True).count()
    assert len(run_ids) == active
    retention_scenario.assert_purged_as_computed(scenario)
    assert retention_scenario.count("purge_history", "plant_id = :b", b=scenario.plant_b) == 0


@pytest.mark.parametrize("settings_overrides", [{"OPENSPC_PURGE_INTERVAL_HOURS": "0.0002"}])
def test_embedded_mode_purges_on_a_thread_of_its_own(app, monkeypatch):
    """No beat without a broker: ``openspc serve`` runs the purge every interval itself."""
    import time

    from openspc.tasks import embedded

    scenario = retention_scenario.build()
    monkeypatch.setattr(embedded, "FIRST_RUN_DELAY", 0.0)
    stop = embedded.start_retention_schedule(app, 0.0002)  # every 0.72 s
    try:
        deadline = time.monotonic() + 20
        while retention_scenario.count("purge_history", "plant_id = :p AND status = 'completed'",
                                       p=scenario.plant_a) < 2:
            assert time.monotonic() < deadline, "the embedded schedule did not run twice"
            db.session.rollback()
            time.sleep(0.1)
    finally:
        stop.set()
    retention_scenario.assert_purged_as_computed(scenario)


def test_a_manual_purge_waits_for_the_run_in_progress_then_answers_409(client, admin, plant,
                                                                        monkeypatch):
    from datetime import timedelta as ttl

    from openspc.api import retention as routes
    from openspc.services import leases, purge

    monkeypatch.setattr(routes, "PURGE_WAIT_SECONDS", 0.3)
    assert leases.acquire(purge.LEASE, "another process", ttl(seconds=30))
    busy = client.post(f"{BASE}/purge?plant_id={plant.id}", headers=admin)
    assert (busy.status_code, busy.json) == (409, {
        "detail": "A retention purge is already running; try again when it has finished"})
    assert retention_scenario.count("purge_history") == 0
    leases.release(purge.LEASE, "another process")
    assert client.post(f"{BASE}/purge?plant_id={plant.id}", headers=admin).status_code == 200

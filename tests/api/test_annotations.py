"""Annotation routes (api.md §7, schemas in §S "Annotations")."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import Annotation, AnnotationHistory, Sample
from tests.api.helpers import OPERATOR_HERE

SUPERVISOR_ANY = "supervisor or higher privileges required"
SUPERVISOR_HERE = "supervisor or higher privileges required for this plant"
PERIOD = {"annotation_type": "period", "text": "Tool change",
          "start_time": "2024-03-01T08:00:00Z", "end_time": "2024-03-01T09:30:00+01:00"}


def annotation_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(Annotation))


def history_count() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AnnotationHistory))


@pytest.fixture
def sample_id(char):
    sample = Sample(char_id=char.id, actual_n=1, mean=1.0)
    db.session.add(sample)
    db.session.commit()
    return sample.id


@pytest.fixture
def supervisor(factory, plants):
    user = factory.user("supervisor", plants[0], username="sam")
    return factory.headers(user)


def url(char_id: int, annotation_id: int | None = None) -> str:
    base = f"/api/v1/characteristics/{char_id}/annotations"
    return base if annotation_id is None else f"{base}/{annotation_id}"


# POST

def test_create_point_annotation(client, char, sample_id, supervisor):
    response = client.post(url(char.id), json={"annotation_type": "point", "text": "Spike",
                                               "sample_id": sample_id, "color": "#ff0000"},
                           headers=supervisor)
    assert response.status_code == 201
    body = response.json
    assert {k: body[k] for k in ("characteristic_id", "annotation_type", "text", "color",
                                 "sample_id", "start_sample_id", "end_sample_id", "start_time",
                                 "end_time", "created_by", "history")} == {
        "characteristic_id": char.id, "annotation_type": "point", "text": "Spike",
        "color": "#ff0000", "sample_id": sample_id, "start_sample_id": None,
        "end_sample_id": None, "start_time": None, "end_time": None, "created_by": "sam",
        "history": [],
    }
    assert body["created_at"].endswith("Z")


def test_second_point_annotation_on_a_sample_updates_the_first(client, char, sample_id,
                                                                supervisor):
    first = client.post(url(char.id), json={"annotation_type": "point", "text": "Spike",
                                            "sample_id": sample_id, "color": "#ff0000"},
                        headers=supervisor).json
    second = client.post(url(char.id), json={"annotation_type": "point", "text": "Gauge slip",
                                             "sample_id": sample_id}, headers=supervisor)
    assert second.status_code == 201
    assert second.json["id"] == first["id"]
    assert (second.json["text"], second.json["color"]) == ("Gauge slip", "#ff0000")
    assert [(h["previous_text"], h["changed_by"]) for h in second.json["history"]] == [
        ("Spike", "sam")]
    same_text = client.post(url(char.id), json={"annotation_type": "point", "text": "Gauge slip",
                                                "sample_id": sample_id, "color": "#00ff00"},
                            headers=supervisor).json
    assert same_text["color"] == "#00ff00"
    assert len(same_text["history"]) == 1
    assert annotation_count() == 1


def test_create_period_annotation_normalises_times_to_utc(client, char, supervisor):
    response = client.post(url(char.id), json=PERIOD, headers=supervisor)
    assert response.status_code == 201
    assert (response.json["start_time"], response.json["end_time"]) == (
        "2024-03-01T08:00:00Z", "2024-03-01T08:30:00Z")
    assert response.json["sample_id"] is None


@pytest.mark.parametrize(("body", "loc", "msg"), [
    ({"annotation_type": "point", "text": "x"}, ["body"],
     "Value error, sample_id is required for point annotations"),
    ({"annotation_type": "point", "text": "x", "sample_id": 1,
      "start_time": "2024-01-01T00:00:00Z"}, ["body"],
     "Value error, start_time and end_time must be null for point annotations"),
    ({**PERIOD, "sample_id": 1}, ["body"],
     "Value error, sample_id must be null for period annotations"),
    ({**PERIOD, "end_time": None}, ["body"],
     "Value error, start_time and end_time are required for period annotations"),
    ({**PERIOD, "end_time": "2024-03-01T08:00:00Z"}, ["body"],
     "Value error, start_time must be before end_time"),
    ({**PERIOD, "end_time": "2024-03-01T07:00:00Z"}, ["body"],
     "Value error, start_time must be before end_time"),
    ({**PERIOD, "start_time": "yesterday"}, ["body", "start_time"],
     "Input should be a valid datetime"),
    ({**PERIOD, "annotation_type": "range"}, ["body", "annotation_type"],
     "Input should be 'point' or 'period'"),
    ({**PERIOD, "text": ""}, ["body", "text"], "String should have at least 1 character"),
    ({**PERIOD, "text": "x" * 501}, ["body", "text"], "String should have at most 500 characters"),
    ({"annotation_type": "period"}, ["body", "text"], "Field required"),
])
def test_create_bad_input_is_422_and_stores_nothing(client, char, supervisor, body, loc, msg):
    response = client.post(url(char.id), json=body, headers=supervisor)
    assert response.status_code == 422
    assert [(e["loc"], e["msg"]) for e in response.json["detail"]] == [(loc, msg)]
    assert annotation_count() == 0


def test_point_on_a_foreign_or_unknown_sample_is_400(client, factory, plants, char, supervisor):
    other = factory.characteristic(factory.hierarchy(plants[0]))
    foreign_sample = Sample(char_id=other.id, actual_n=1, mean=1.0)
    db.session.add(foreign_sample)
    db.session.commit()
    for sample_id in (foreign_sample.id, 999):
        response = client.post(url(char.id), json={"annotation_type": "point", "text": "x",
                                                   "sample_id": sample_id}, headers=supervisor)
        assert response.status_code == 400
        assert response.json == {
            "detail": f"Sample {sample_id} does not belong to characteristic {char.id}"}
    assert annotation_count() == 0


def test_create_roles_and_404(client, factory, plants, char, outsider):
    operator = factory.headers(factory.user("operator", plants[0]))
    denied = client.post(url(char.id), json={}, headers=operator)
    assert (denied.status_code, denied.json) == (403, {"detail": SUPERVISOR_ANY})
    foreign = client.post(url(char.id), json=PERIOD, headers=outsider)
    assert (foreign.status_code, foreign.json) == (403, {"detail": SUPERVISOR_HERE})
    missing = client.post(url(999), json=PERIOD, headers=outsider)
    assert (missing.status_code, missing.json) == (404, {"detail": "Characteristic 999 not found"})
    assert annotation_count() == 0


# GET

def test_list_is_newest_first_and_filters_by_type(client, factory, plants, char, sample_id,
                                                  supervisor):
    older = client.post(url(char.id), json=PERIOD, headers=supervisor).json["id"]
    newer = client.post(url(char.id), json={"annotation_type": "point", "text": "p",
                                            "sample_id": sample_id},
                        headers=supervisor).json["id"]
    operator = factory.headers(factory.user("operator", plants[0]))
    listed = client.get(url(char.id), headers=operator)
    assert listed.status_code == 200
    assert [a["id"] for a in listed.json] == [newer, older]
    periods = client.get(f"{url(char.id)}?annotation_type=period", headers=operator).json
    assert [a["id"] for a in periods] == [older]


def test_list_errors(client, char, outsider):
    foreign = client.get(url(char.id), headers=outsider)
    assert (foreign.status_code, foreign.json) == (403, {"detail": OPERATOR_HERE})
    missing = client.get(url(999), headers=outsider)
    assert (missing.status_code, missing.json) == (404, {"detail": "Characteristic 999 not found"})


# PUT

def test_update_text_keeps_history_and_color_only_when_given(client, char, supervisor):
    created = client.post(url(char.id), json={**PERIOD, "color": "#111"},
                          headers=supervisor).json
    recolor = client.put(url(char.id, created["id"]), json={"color": "#222"}, headers=supervisor)
    assert recolor.status_code == 200
    assert (recolor.json["text"], recolor.json["color"], recolor.json["history"]) == (
        "Tool change", "#222", [])
    retext = client.put(url(char.id, created["id"]), json={"text": "Insert change"},
                        headers=supervisor).json
    assert (retext["text"], retext["color"]) == ("Insert change", "#222")
    assert [h["previous_text"] for h in retext["history"]] == ["Tool change"]
    assert history_count() == 1


def test_update_bad_input_changes_nothing(client, char, supervisor):
    created = client.post(url(char.id), json=PERIOD, headers=supervisor).json
    response = client.put(url(char.id, created["id"]), json={"text": "", "color": "#333"},
                          headers=supervisor)
    assert response.status_code == 422
    assert response.json["detail"][0]["loc"] == ["body", "text"]
    db.session.expire_all()
    stored = db.session.get(Annotation, created["id"])
    assert (stored.text, stored.color) == ("Tool change", None)
    assert history_count() == 0


def test_update_and_delete_404_when_the_annotation_is_elsewhere(client, factory, plants, char,
                                                                supervisor):
    other = factory.characteristic(factory.hierarchy(plants[0]))
    theirs = client.post(url(other.id), json=PERIOD, headers=supervisor).json["id"]
    for response in (client.put(url(char.id, theirs), json={"text": "x"}, headers=supervisor),
                     client.delete(url(char.id, theirs), headers=supervisor)):
        assert response.status_code == 404
        assert response.json == {
            "detail": f"Annotation {theirs} not found for characteristic {char.id}"}
    missing = client.delete(url(char.id, 999), headers=supervisor)
    assert missing.json == {"detail": f"Annotation 999 not found for characteristic {char.id}"}
    assert annotation_count() == 1


def test_update_and_delete_roles(client, factory, plants, char, supervisor, outsider):
    annotation_id = client.post(url(char.id), json=PERIOD, headers=supervisor).json["id"]
    operator = factory.headers(factory.user("operator", plants[0]))
    for call in (lambda h: client.put(url(char.id, annotation_id), json={"text": "x"}, headers=h),
                 lambda h: client.delete(url(char.id, annotation_id), headers=h)):
        denied = call(operator)
        assert (denied.status_code, denied.json) == (403, {"detail": SUPERVISOR_ANY})
        foreign = call(outsider)
        assert (foreign.status_code, foreign.json) == (403, {"detail": SUPERVISOR_HERE})
    db.session.expire_all()
    assert db.session.get(Annotation, annotation_id).text == "Tool change"


# DELETE

def test_delete_removes_the_annotation_and_its_history(client, char, supervisor):
    annotation_id = client.post(url(char.id), json=PERIOD, headers=supervisor).json["id"]
    client.put(url(char.id, annotation_id), json={"text": "changed"}, headers=supervisor)
    response = client.delete(url(char.id, annotation_id), headers=supervisor)
    assert (response.status_code, response.data) == (204, b"")
    assert (annotation_count(), history_count()) == (0, 0)

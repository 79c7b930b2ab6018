"""``POST /samples`` on PostgreSQL's two-round-trip path (services/pg_submission.py).

The path must write exactly what the general (ORM) path writes, take the same decisions, and
hand everything it does not handle to the general path with nothing written and the pooled
connection clean. The same data goes to two identical characteristics, one through each
path, and every stored row, frame and answer is compared."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from openspc.auth.roles import PASSWORD_CHANGE_REQUIRED
from openspc.extensions import db
from openspc.models import Characteristic, OutboxEvent, Sample, Violation
from openspc.models.types import utcnow
from openspc.services import outbox, pg_submission
from openspc.tasks.evaluation import sweep_outbox
from tests.conftest import Factory, statements_sent
from tests.integration.conftest import migrated_app

NAME = "openspc_direct_submission_test"
CENTER, SIGMA, N = 10.0, 1.0, 5
HALF_WIDTH = 3 * SIGMA / N ** 0.5


@pytest.fixture
def app(postgres, tmp_path) -> Iterator:
    with migrated_app(postgres, NAME, tmp_path) as application:
        yield application


@pytest.fixture
def factory(app) -> Factory:
    return Factory(app)


def _chart(factory: Factory, **fields: Any) -> Characteristic:
    return factory.characteristic(
        subgroup_size=N, chart_type="xbar_r", ucl=CENTER + HALF_WIDTH,
        lcl=CENTER - HALF_WIDTH, center_line=CENTER, sigma=SIGMA, **fields)


def _subgroups() -> list[list[float]]:
    """In-control noise, an outlier every 13th, then a shifted stretch (runs, 2-of-3, 4-of-5)
    and a rising trend: several rules fire."""
    rng = random.Random(7)
    groups = []
    for i in range(90):
        shift = 0.8 if 40 <= i < 55 else 0.0
        trend = 0.15 * (i - 70) if 70 <= i < 78 else 0.0
        values = [rng.gauss(CENTER + shift + trend, SIGMA) for _ in range(N)]
        if i % 13 == 12:
            values = [v + 2.5 for v in values]
        groups.append(values)
    return groups


def _stored(characteristic_id: int) -> dict[str, Any]:
    """Everything both paths write for a characteristic, with ids replaced by positions."""
    db.session.expire_all()
    samples = db.session.execute(
        sa.select(Sample).where(Sample.char_id == characteristic_id).order_by(Sample.sequence)
    ).scalars().all()
    position = {s.id: s.sequence for s in samples}
    violations = db.session.execute(
        sa.select(Violation).where(Violation.char_id == characteristic_id)
        .order_by(Violation.id)
    ).scalars().all()
    violation_position = {v.id: n for n, v in enumerate(violations)}
    frames = [frame for row in db.session.execute(
        sa.select(OutboxEvent).where(OutboxEvent.characteristic_id == characteristic_id)
        .order_by(OutboxEvent.id)).scalars() for frame in row.frame]
    characteristic = db.session.get(Characteristic, characteristic_id)
    return {
        "samples": [
            (s.sequence, s.status, s.mean, s.range_value, s.std_dev, s.actual_n,
             s.is_undersized, s.is_excluded, s.is_modified, s.limits_version, s.z_score,
             s.effective_ucl, s.effective_lcl, s.batch_number, s.operator_id,
             [m.value for m in sorted(s.measurements, key=lambda m: m.id)])
            for s in samples
        ],
        "violations": [
            (position[v.sample_id], v.rule_id, v.rule_name, v.severity, v.acknowledged,
             v.requires_acknowledgement, position[v.first_sample_id],
             position[v.last_sample_id], v.limits_version)
            for v in violations
        ],
        "frames": [_frame(f, position, violation_position) for f in frames],
        "sequence": characteristic.eval_sequence,
        "state": {**characteristic.eval_state, "evaluator": {
            **characteristic.eval_state["evaluator"],
            "ids": [position[i] for i in characteristic.eval_state["evaluator"]["ids"]]},
            "newest": [s.sequence for s in samples
                       if s.timestamp.isoformat() == characteristic.eval_state["newest"]]},
    }


def _frame(frame: dict[str, Any], samples: dict[int, int],
           violations: dict[int, int]) -> dict[str, Any]:
    def violation(payload: dict[str, Any]) -> tuple:
        return (violations[payload["id"]], samples[payload["sample_id"]], payload["rule_id"],
                payload["rule_name"], payload["severity"])

    if frame["type"] == "violation":
        return {"type": "violation", "violation": violation(frame["violation"])}
    sample = frame["sample"]
    return {"type": frame["type"], "sample": (samples[sample["id"]], sample["mean"],
                                              sample["zone"], sample["in_control"]),
            "violations": [violation(v) for v in frame["violations"]]}


def _answer(response: Any) -> tuple:
    body = response.json
    return (response.status_code, body["mean"], body["range_value"], body["zone"],
            body["in_control"], body["status"], body["count"], body["sample_size"],
            [(v["rule_id"], v["rule_name"], v["severity"]) for v in body["violations"]])


def test_the_direct_path_writes_and_answers_what_the_general_path_does(app, factory,
                                                                       monkeypatch):
    client = app.test_client()
    headers = factory.headers(factory.user("operator"))
    direct, general = _chart(factory), _chart(factory)
    answers: dict[int, list[tuple]] = {direct.id: [], general.id: []}
    statements = {direct.id: 0, general.id: 0}
    for index, values in enumerate(_subgroups()):
        for characteristic_id in (direct.id, general.id):
            body = {"characteristic_id": characteristic_id, "measurements": values,
                    "batch_number": f"B{index // 10}", "operator_id": "op-7"}
            with monkeypatch.context() as patch:
                if characteristic_id == general.id:
                    patch.setattr(pg_submission, "available", lambda: False)
                with statements_sent() as sent:
                    response = client.post("/api/v1/samples/", json=body, headers=headers)
                statements[characteristic_id] += len(sent)
            assert response.status_code == 201, response.json
            answers[characteristic_id].append(_answer(response))

    # The first sample has no evaluator state yet, so the general path takes it: every
    # later one went the direct way, with no statement through SQLAlchemy.
    assert statements[general.id] >= 90 * 5
    assert statements[direct.id] <= 20
    assert answers[direct.id] == answers[general.id]
    stored = _stored(direct.id)
    assert stored == _stored(general.id)
    assert {v[1] for v in stored["violations"]} >= {1, 2, 5, 6}
    assert [s[1] for s in stored["samples"]] == ["evaluated"] * 90
    assert db.session.execute(sa.select(sa.func.count()).select_from(OutboxEvent).where(
        sa.or_(OutboxEvent.published_at.is_(None),
               OutboxEvent.published_at == outbox.CLAIMED))).scalar() == 0


def test_what_the_direct_path_does_not_take_gets_the_general_answer_and_stores_nothing(
        app, factory):
    client = app.test_client()
    plant = factory.plant()
    chart = _chart(factory)
    operator = factory.headers(factory.user("operator"))
    sample = {"characteristic_id": chart.id, "measurements": [10.0, 10.1, 9.9, 10.2, 9.8]}
    assert client.post("/api/v1/samples/", json=sample, headers=operator).status_code == 201

    refusals = [
        ({**sample, "characteristic_id": 999_999}, operator, 404),
        (sample, factory.headers(factory.user("operator", plant)), 403),
        (sample, factory.headers(factory.user(
            "operator", must_change_password=True)), 403),
        ({**sample, "measurements": [10.0] * 6}, operator, 400),
        ({**sample, "measurements": [10.0] * 26}, operator, 422),
        ({**sample, "timestamp": "2999-01-01T00:00:00Z"}, operator, 422),
        ({**sample, "measurements": [10.0, 10.1, "x", 10.2, 9.8]}, operator, 422),
    ]
    for body, headers, status in refusals:
        response = client.post("/api/v1/samples/", json=body, headers=headers)
        assert response.status_code == status, (body, response.json)
        # The pooled connection is left clean: the next submission is served.
        assert client.post("/api/v1/samples/", json=sample,
                           headers=operator).status_code == 201
    forced = client.post("/api/v1/samples/", json=sample, headers=factory.headers(
        factory.user("operator", must_change_password=True)))
    assert forced.json == {"detail": PASSWORD_CHANGE_REQUIRED}

    inactive = factory.user("operator")
    inactive_headers = factory.headers(inactive)
    inactive.is_active = False
    db.session.commit()
    assert client.post("/api/v1/samples/", json=sample,
                       headers=inactive_headers).status_code == 401

    count = db.session.execute(sa.select(sa.func.count()).select_from(Sample).where(
        Sample.char_id == chart.id)).scalar()
    assert count == 1 + len(refusals)


def test_an_access_token_ended_by_logout_is_refused_and_stores_nothing(app, factory):
    client = app.test_client(use_cookies=False)
    chart = _chart(factory)
    factory.user("operator", username="olivia")
    login = client.post("/api/v1/auth/login",
                        json={"username": "olivia", "password": "password123"})
    headers = {"Authorization": f"Bearer {login.json['access_token']}"}
    sample = {"characteristic_id": chart.id, "measurements": [10.0, 10.1, 9.9, 10.2, 9.8]}
    assert client.post("/api/v1/samples/", json=sample, headers=headers).status_code == 201
    cookie = login.headers["Set-Cookie"].split(";")[0]
    assert client.post("/api/v1/auth/logout", headers={"Cookie": cookie}).status_code == 200
    refused = client.post("/api/v1/samples/", json=sample, headers=headers)
    assert (refused.status_code, refused.json) == (401, {"detail": "Invalid or expired token"})
    assert db.session.execute(sa.select(sa.func.count()).select_from(Sample).where(
        Sample.char_id == chart.id)).scalar() == 1


def test_a_chart_without_limits_keeps_its_samples_pending_until_limits_exist(app, factory):
    client = app.test_client()
    headers = factory.headers(factory.user("engineer"))
    chart = factory.characteristic(subgroup_size=N, chart_type="xbar_r")
    for _ in range(3):
        response = client.post("/api/v1/samples/", headers=headers, json={
            "characteristic_id": chart.id, "measurements": [10.0, 10.4, 9.7, 10.1, 9.9]})
        assert (response.status_code, response.json["status"]) == (201, "pending")
    limits = client.post(f"/api/v1/characteristics/{chart.id}/set-limits", headers=headers,
                         json={"ucl": CENTER + HALF_WIDTH, "lcl": CENTER - HALF_WIDTH,
                               "center_line": CENTER, "sigma": SIGMA})
    assert limits.status_code == 200, limits.json
    response = client.post("/api/v1/samples/", headers=headers, json={
        "characteristic_id": chart.id, "measurements": [13.0, 13.1, 12.9, 13.2, 13.0]})
    assert response.json["status"] == "evaluated"
    assert [v["rule_id"] for v in response.json["violations"]] == [1]
    db.session.expire_all()
    sequences = db.session.execute(sa.select(Sample.sequence).where(
        Sample.char_id == chart.id).order_by(Sample.id)).scalars().all()
    assert sequences == [1, 2, 3, 4]


def test_a_busy_lock_sends_the_sample_the_general_way_stored_once(app, factory):
    """Another transaction holds the characteristic: the direct path gives up after its
    lock timeout and the general path stores and evaluates the sample, once."""
    client = app.test_client()
    headers = factory.headers(factory.user("operator"))
    chart = _chart(factory)
    sample = {"characteristic_id": chart.id, "measurements": [10.0, 10.1, 9.9, 10.2, 9.8]}
    assert client.post("/api/v1/samples/", json=sample, headers=headers).status_code == 201

    holder = db.engine.connect()
    transaction = holder.begin()
    holder.execute(sa.text("SELECT id FROM characteristic WHERE id = :id FOR UPDATE"),
                   {"id": chart.id})
    outcome: dict[str, Any] = {}

    def submit() -> None:
        with app.app_context():
            started = time.perf_counter()
            response = app.test_client().post("/api/v1/samples/", json=sample,
                                              headers=headers)
            outcome.update(status=response.status_code, body=response.json,
                           seconds=time.perf_counter() - started)

    thread = threading.Thread(target=submit)
    thread.start()
    time.sleep(1.0)
    transaction.rollback()
    holder.close()
    thread.join(timeout=30)
    assert outcome["status"] == 201, outcome
    assert outcome["seconds"] >= 0.5
    db.session.expire_all()
    rows = db.session.execute(sa.select(Sample.status, Sample.sequence).where(
        Sample.char_id == chart.id).order_by(Sample.id)).all()
    assert [tuple(r) for r in rows] == [("evaluated", 1), ("evaluated", 2)]


@pytest.mark.parametrize("body", [
    b"{not json", b"[]", b'{"characteristic_id": true, "measurements": [1.0]}',
    b'{"characteristic_id": "1", "measurements": [10.0, 10.1, 9.9, 10.2, 9.8]}',
    b'{"characteristic_id": 1, "measurements": [1e400, 1, 1, 1, 1]}',
    b'{"characteristic_id": 1, "measurements": [10.0, 10.1, 9.9, 10.2, 9.8], '
    b'"batch_number": "' + b"x" * 101 + b'"}',
])
def test_a_body_the_direct_path_does_not_take_gets_the_general_answer(app, factory, body,
                                                                       monkeypatch):
    """Malformed or lax bodies: the answer with the direct path on equals the answer of the
    general path alone (schema errors, or the lax forms it accepts)."""
    client = app.test_client()
    assert _chart(factory).id == 1
    headers = {**factory.headers(factory.user("operator")), "Content-Type": "application/json"}
    first = client.post("/api/v1/samples/", data=body, headers=headers)
    with monkeypatch.context() as patch:
        patch.setattr(pg_submission, "available", lambda: False)
        second = client.post("/api/v1/samples/", data=body, headers=headers)
    answer = (first.status_code, {k: v for k, v in (first.json or {}).items()
                                  if k not in ("sample_id", "timestamp", "processing_time_ms")})
    assert answer == (second.status_code, {
        k: v for k, v in (second.json or {}).items()
        if k not in ("sample_id", "timestamp", "processing_time_ms")})


def test_frames_claimed_by_a_request_that_died_are_left_to_the_sweeper(app, factory,
                                                                       monkeypatch):
    """The direct path writes its outbox row claimed and marks it once it has sent the
    frames. Between the two, publishers leave the row alone (no frame sent twice); if the
    request dies there, the sweeper sends the row once the claim is old."""
    client = app.test_client()
    headers = factory.headers(factory.user("operator"))
    chart = _chart(factory)
    sample = {"characteristic_id": chart.id, "measurements": [10.0, 10.1, 9.9, 10.2, 9.8]}
    assert client.post("/api/v1/samples/", json=sample, headers=headers).status_code == 201
    with monkeypatch.context() as patch:
        patch.setattr(pg_submission, "_publish", lambda *_args: None)  # died after commit
        died = client.post("/api/v1/samples/", json=sample, headers=headers).json
    assert died["status"] == "evaluated"

    def claimed() -> list[int]:
        db.session.rollback()
        rows = db.session.execute(sa.select(OutboxEvent.frame).where(
            OutboxEvent.published_at == outbox.CLAIMED)).scalars().all()
        return [frame["sample"]["id"] for row in rows for frame in row
                if frame["type"] == "sample"]

    assert claimed() == [died["sample_id"]]
    assert outbox.publish_all() == 0
    assert sweep_outbox() == 0  # the claim is still young
    assert claimed() == [died["sample_id"]]
    assert outbox.publish_all(claims_before=utcnow() + outbox.CLAIM_TIMEOUT) == 1
    assert claimed() == []


def test_a_back_dated_sample_leaves_the_direct_path_and_is_judged_in_its_place(app, factory):
    """Nine subgroups in zone C above the centre line, each a minute apart, then one below dated
    between the fifth and the sixth: on the chart the run of nine is broken, so the rule 2
    hit goes, and the late sample is stored once, judged in its place."""
    client = app.test_client()
    headers = factory.headers(factory.user("operator"))
    chart = _chart(factory)

    def post(minute: float, value: float) -> dict[str, Any]:
        timestamp = f"2026-03-01T10:{int(minute):02d}:{int(minute % 1 * 60):02d}Z"
        response = client.post("/api/v1/samples/", headers=headers, json={
            "characteristic_id": chart.id, "measurements": [value] * N, "timestamp": timestamp})
        assert response.status_code == 201, response.json
        return response.json

    run = [post(minute, CENTER + 0.3) for minute in range(9)]
    assert [v["rule_id"] for v in run[8]["violations"]] == [2]
    late = post(4.5, CENTER - 0.3)
    assert late["violations"] == []
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Violation)) == 0
    rows = db.session.execute(
        sa.select(Sample.id, Sample.sequence, Sample.status).where(Sample.char_id == chart.id)
        .order_by(Sample.timestamp)).all()
    assert [row.id for row in rows][5] == late["sample_id"]
    assert {row.status for row in rows} == {"evaluated"}
    assert sorted(row.sequence for row in rows) == list(range(1, 11))

"""``openspc db transfer --to URL``: a plant's data moved from SQLite to PostgreSQL and to
MariaDB, then served from there: the same chart data, and new samples take new ids."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from openspc import create_app
from openspc.cli import main
from openspc.dbadmin.transfer import TransferError
from openspc.extensions import db
from openspc.services.database_admin import transfer_database
from tests.conftest import Factory, make_settings
from tests.integration.rest import characteristic_via_api

TARGET = "openspc_dbadmin_transfer_test"
SECRET = "test-secret-" + "x" * 40


@pytest.fixture
def source(tmp_path, migrated_template) -> Iterator:
    import shutil

    shutil.copy(migrated_template, tmp_path / "openspc.db")
    app = create_app({"TESTING": True, "RATELIMIT_ENABLED": False},
                     settings=make_settings(tmp_path))
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture(params=["postgresql", "mariadb"])
def server(request):
    return request.getfixturevalue("postgres" if request.param == "postgresql" else "mariadb")


@pytest.fixture
def target_url(server) -> Iterator[str]:
    yield server.fresh_database(TARGET)
    server.drop_database(TARGET)


def _plant_history(app) -> tuple[dict, int, dict]:
    """Headers, a characteristic with 120 subgroups (some out of control), an annotation."""
    client = app.test_client()
    headers, char_id = characteristic_via_api(client, Factory(app), subgroup_size=4)
    samples = [{"measurements": [10 + ((i * 5 + k) % 7 - 3) / 10 for k in range(4)]}
               for i in range(120)]
    for i in (30, 31, 90):
        samples[i] = {"measurements": [13.5, 13.6, 13.4, 13.7]}
    for start in range(0, 120, 40):
        posted = client.post("/api/v1/samples/batch", headers=headers, json={
            "characteristic_id": char_id, "samples": samples[start:start + 40]})
        assert posted.status_code == 200, posted.json
        if start == 0:
            limits = client.post(f"/api/v1/characteristics/{char_id}/recalculate-limits",
                                 headers=headers)
            assert limits.status_code == 200, limits.json
    return headers, char_id, _chart(client, headers, char_id)


def _chart(client, headers, char_id) -> dict:
    response = client.get(f"/api/v1/characteristics/{char_id}/chart-data?limit=1000",
                          headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def _counts(engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {t.name: connection.execute(sa.select(sa.func.count()).select_from(t))
                .scalar_one() for t in db.metadata.sorted_tables}


def test_transfer_moves_every_row_and_the_target_serves_the_same_charts(
        source, target_url, tmp_path, monkeypatch, capsys):
    headers, char_id, chart = _plant_history(source)
    assert sum(len(p["violation_ids"]) for p in chart["data_points"]) >= 3
    factory = Factory(source)
    moved_node = factory.hierarchy(name="Cell 7")
    for _ in range(3):
        factory.hierarchy()
    newer = factory.hierarchy(name="Area 2")
    moved_node.parent_id = newer.id  # a parent with a higher id, in a later batch
    db.session.commit()
    moved_id, newer_id = moved_node.id, newer.id
    source_counts = _counts(db.engine)

    monkeypatch.chdir(tmp_path)
    for key, value in {"OPENSPC_DATABASE_URL": f"sqlite:///{tmp_path / 'openspc.db'}",
                       "OPENSPC_DATA_DIR": str(tmp_path), "OPENSPC_JWT_SECRET": SECRET,
                       "OPENSPC_LOG_LEVEL": "WARNING"}.items():
        monkeypatch.setenv(key, value)
    main(["db", "transfer", "--to", target_url, "--batch-size", "3"])
    printed = capsys.readouterr().out
    assert "Verified: " in printed and "OPENSPC_DATABASE_URL=" in printed

    moved = create_app({"TESTING": True, "RATELIMIT_ENABLED": False},
                       settings=make_settings(tmp_path, OPENSPC_DATABASE_URL=target_url))
    with moved.app_context():
        try:
            assert _counts(db.engine) == source_counts
            assert db.session.execute(sa.text("SELECT parent_id FROM hierarchy WHERE id = :i"),
                                      {"i": moved_id}).scalar_one() == newer_id
            client = moved.test_client()
            assert _chart(client, headers, char_id) == chart
            added = client.post("/api/v1/samples/", headers=headers, json={
                "characteristic_id": char_id, "measurements": [10.0, 10.1, 9.9, 10.0]})
            assert added.status_code == 201, added.json
            assert added.json["sample_id"] > max(p["sample_id"] for p in chart["data_points"])
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("server", ["postgresql"], indirect=True)
def test_an_interrupted_transfer_resumes_where_it_stopped(source, target_url):
    _plant_history(source)
    source_counts = _counts(db.engine)

    def stop_inside_the_sample_table(line: str) -> None:
        if line.startswith("sample: ") and "rows copied" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        transfer_database(source, target_url, batch_size=5, resume=False,
                          progress=stop_inside_the_sample_table)
    engine = sa.create_engine(target_url)
    try:
        partial = _counts(engine)
        assert 0 < partial["sample"] < source_counts["sample"]
        with pytest.raises(TransferError, match="not empty"):
            transfer_database(source, target_url, batch_size=5, resume=False,
                              progress=lambda _line: None)
        copies = transfer_database(source, target_url, batch_size=5, resume=True,
                                   progress=lambda _line: None)
        assert {c.table: c.target_rows for c in copies} == source_counts
        assert _counts(engine) == source_counts
    finally:
        engine.dispose()

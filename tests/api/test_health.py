def test_health_reports_a_working_database(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "healthy"}


def test_health_stays_200_when_the_database_is_gone_and_ready_is_503(app, client, tmp_path):
    """/health is the liveness probe (api.md §20: 200 always, the status in the body): a
    database outage must not make an orchestrator restart every web process. /ready is the
    readiness probe and answers 503."""
    from openspc.extensions import db

    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {}
    db.engine.dispose()
    (tmp_path / "openspc.db").unlink()
    (tmp_path / "openspc.db").mkdir()
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "unhealthy"}
    ready = client.get("/ready")
    assert ready.status_code == 503
    assert ready.json == {"status": "not_ready", "checks": {"database": False, "broker": True}}


def test_unknown_path_has_the_reference_body(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json == {"detail": "Not Found"}


def test_openapi_document_and_docs_are_served(client):
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200
    assert client.get("/redoc").status_code == 200

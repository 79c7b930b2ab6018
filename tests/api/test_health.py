def test_health_reports_a_working_database(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "healthy"}


def test_health_is_503_when_the_database_is_gone(app, client, tmp_path):
    from openspc.extensions import db

    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {}
    db.engine.dispose()
    (tmp_path / "openspc.db").unlink()
    (tmp_path / "openspc.db").mkdir()
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json == {"status": "unhealthy"}


def test_unknown_path_has_the_reference_body(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json == {"detail": "Not Found"}


def test_openapi_document_and_docs_are_served(client):
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200
    assert client.get("/redoc").status_code == 200

"""The 422 item shape of api.md §E, as the reference's stack produces it, on the auth routes."""

from __future__ import annotations

import json

import pytest
from marshmallow import fields

from openspc.api.validation import OneOf, Schema, error_items


@pytest.fixture
def admin_headers(factory):
    return factory.headers(factory.user("admin"))


def items(response) -> list[dict]:
    """The items without the optional ``ctx`` (the client reads ``loc`` and ``msg``)."""
    assert response.status_code == 422, response.json
    return [{k: item[k] for k in ("type", "loc", "msg", "input")} for item in
            response.json["detail"]]


def test_missing_body(client, admin_headers):
    response = client.post("/api/v1/users/", headers=admin_headers)
    assert items(response) == [
        {"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]


def test_missing_field_reports_the_whole_body_as_input(client):
    response = client.post("/api/v1/auth/login", json={"username": "a"})
    assert items(response) == [{"type": "missing", "loc": ["body", "password"],
                                "msg": "Field required", "input": {"username": "a"}}]


def test_malformed_json_names_the_character_position(client):
    raw = '{"username": "a", "password": }'
    response = client.post("/api/v1/auth/login", data=raw, content_type="application/json")
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(raw)
    assert response.status_code == 422
    [item] = response.json["detail"]
    assert (item["type"], item["loc"], item["msg"]) == (
        "json_invalid", ["body", expected.value.pos], "JSON decode error")
    assert item["ctx"] == {"error": expected.value.msg}


@pytest.mark.parametrize("method, path, name", [
    ("get", "/api/v1/users/abc", "user_id"), ("get", "/api/v1/plants/1.5", "plant_id"),
    ("delete", "/api/v1/users/1/roles/x", "plant_id"),
])
def test_int_path_parameter(client, admin_headers, method, path, name):
    value = path.rsplit("/", 1)[1]
    response = getattr(client, method)(path, headers=admin_headers)
    assert items(response) == [{
        "type": "int_parsing", "loc": ["path", name],
        "msg": "Input should be a valid integer, unable to parse string as an integer",
        "input": value}]


@pytest.mark.parametrize("value, kind, msg", [
    (0, "greater_than_equal", "Input should be greater than or equal to 1"),
    (1001, "less_than_equal", "Input should be less than or equal to 1000"),
])
def test_number_out_of_range(client, admin_headers, value, kind, msg):
    response = client.post("/api/v1/api-keys/", headers=admin_headers,
                           json={"name": "k", "rate_limit_per_minute": value})
    assert items(response) == [
        {"type": kind, "loc": ["body", "rate_limit_per_minute"], "msg": msg, "input": value}]


@pytest.mark.parametrize("username, kind, msg", [
    ("ab", "string_too_short", "String should have at least 3 characters"),
    ("x" * 51, "string_too_long", "String should have at most 50 characters"),
])
def test_string_length(client, admin_headers, username, kind, msg):
    response = client.post("/api/v1/users/", headers=admin_headers,
                           json={"username": username, "password": "password123"})
    assert items(response) == [
        {"type": kind, "loc": ["body", "username"], "msg": msg, "input": username}]


def test_pattern(client, admin_headers):
    response = client.post("/api/v1/plants/", headers=admin_headers,
                           json={"name": "N", "code": "abc"})
    assert items(response) == [{
        "type": "string_pattern_mismatch", "loc": ["body", "code"],
        "msg": "String should match pattern '^[A-Z0-9_-]+$'", "input": "abc"}]


def test_query_boolean(client, admin_headers):
    response = client.get("/api/v1/users/?active_only=perhaps", headers=admin_headers)
    assert items(response) == [{
        "type": "bool_parsing", "loc": ["query", "active_only"],
        "msg": "Input should be a valid boolean, unable to interpret input", "input": "perhaps"}]


def test_every_failure_of_one_request_is_reported(client, admin_headers):
    response = client.post("/api/v1/users/", headers=admin_headers,
                           json={"username": "ab", "password": "short"})
    assert {tuple(i["loc"]) for i in items(response)} == {
        ("body", "username"), ("body", "password")}


def test_enum():
    """No auth route takes an enum (roles use a pattern, as the reference), so the shared
    validator is checked through the same flattening the parser uses."""

    class Choice(Schema):
        severity = fields.String(validate=OneOf(["WARNING", "CRITICAL"]))

    errors = Choice().validate({"severity": "LOW"})
    assert error_items({"json": errors}, {"json": {"severity": "LOW"}}) == [{
        "type": "enum", "loc": ["body", "severity"],
        "msg": "Input should be 'WARNING' or 'CRITICAL'", "input": "LOW"}]

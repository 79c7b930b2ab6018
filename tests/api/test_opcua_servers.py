"""OPC-UA servers (api.md §14) and node mappings (ours), against a real asyncua server."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import DataSource, MqttBroker, MqttDataSource, OpcuaDataSource, OpcuaServer
from openspc.models.listener import ListenerConfig
from openspc.models.types import utcnow
from openspc.services.connection_status import report_status
from openspc.services.leases import claim_connections
from tests.api.helpers import ENGINEER_ANY, assert_refused
from tests.opcua_server import PASSWORD, USER, free_port, running_server

BASE = "/api/v1/opcua-servers"


@pytest.fixture(scope="module")
def opcua(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("opcua-certs")) as server:
        yield server


@pytest.fixture
def admin(factory):
    return factory.headers(factory.user("admin"))


@pytest.fixture
def operator(factory):
    return factory.headers(factory.user("operator"))


def create(client, headers, **body):
    payload = {"name": "Press line", "endpoint_url": "opc.tcp://127.0.0.1:4840/", **body}
    response = client.post(f"{BASE}/", json=payload, headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def server_count() -> int:
    return db.session.execute(sa.select(sa.func.count(OpcuaServer.id))).scalar_one()


def generation() -> int:
    db.session.expire_all()
    return db.session.get(ListenerConfig, "opcua").generation


class TestServerCrud:
    def test_create_applies_defaults_and_never_returns_the_password(self, client, engineer):
        body = create(client, engineer)
        assert set(body) == {
            "id", "name", "endpoint_url", "auth_mode", "username", "security_policy",
            "security_mode", "is_active", "session_timeout", "publishing_interval",
            "sampling_interval", "plant_id", "created_at", "updated_at"}
        assert (body["auth_mode"], body["security_policy"], body["security_mode"]) == (
            "anonymous", "None", "None")
        assert (body["session_timeout"], body["publishing_interval"],
                body["sampling_interval"], body["is_active"]) == (30000, 1000, 250, True)
        assert body["created_at"].endswith("Z")

    def test_credentials_are_encrypted_at_rest_and_username_returned_plain(
            self, client, engineer):
        body = create(client, engineer, auth_mode="username_password", username="reader",
                      password="pw-123")
        assert body["username"] == "reader"
        row = db.session.get(OpcuaServer, body["id"])
        assert row.username != "reader" and row.password != "pw-123"
        assert "pw-123" not in str(client.get(f"{BASE}/{body['id']}", headers=engineer).json)

    def test_anonymous_create_stores_no_credentials(self, client, engineer):
        body = create(client, engineer, username="reader", password="pw")
        row = db.session.get(OpcuaServer, body["id"])
        assert (body["username"], row.username, row.password) == (None, None, None)

    @pytest.mark.parametrize("field,value,kind", [
        ("endpoint_url", "http://plc:4840", "string_pattern_mismatch"),
        ("endpoint_url", "opc.tcp://" + "h" * 491, "string_too_long"),
        ("name", "x" * 101, "string_too_long"),
        ("auth_mode", "certificate", "enum"),
        ("security_policy", "Basic128Rsa15", "enum"),
        ("security_mode", "Encrypt", "enum"),
        ("session_timeout", 999, "greater_than_equal"),
        ("publishing_interval", 60001, "less_than_equal"),
        ("sampling_interval", 9, "greater_than_equal"),
    ])
    def test_bad_fields_are_refused_naming_the_field_and_nothing_is_stored(
            self, client, engineer, field, value, kind):
        payload = {"name": "A", "endpoint_url": "opc.tcp://h:4840", field: value}
        assert_refused(client.post(f"{BASE}/", json=payload, headers=engineer),
                       ["body", field], kind)
        assert server_count() == 0

    def test_missing_endpoint_is_refused(self, client, engineer):
        assert_refused(client.post(f"{BASE}/", json={"name": "A"}, headers=engineer),
                       ["body", "endpoint_url"], "missing")

    def test_duplicate_name_is_409_across_plants(self, client, engineer, plants):
        create(client, engineer, plant_id=plants[0].id)
        again = client.post(f"{BASE}/", headers=engineer, json={
            "name": "Press line", "endpoint_url": "opc.tcp://x:1", "plant_id": plants[1].id})
        assert (again.status_code, again.json) == (
            409, {"detail": "OPC-UA server with name 'Press line' already exists"})
        assert server_count() == 1

    def test_list_is_paged_and_filtered(self, client, engineer, operator, plants):
        first = create(client, engineer, name="A", plant_id=plants[0].id)
        create(client, engineer, name="B", plant_id=plants[1].id, is_active=False)
        create(client, engineer, name="C")
        page = client.get(f"{BASE}/?limit=2", headers=operator).json
        assert (page["total"], page["offset"], page["limit"]) == (3, 0, 2)
        assert [s["name"] for s in page["items"]] == ["A", "B"]
        assert client.get(f"{BASE}/?offset=2", headers=operator).json["items"][0]["name"] == "C"
        active = client.get(f"{BASE}/?active_only=true", headers=operator).json
        assert [s["name"] for s in active["items"]] == ["A", "C"]
        by_plant = client.get(f"{BASE}?plant_id={plants[0].id}", headers=operator).json
        assert [s["id"] for s in by_plant["items"]] == [first["id"]]
        assert_refused(client.get(f"{BASE}/?limit=1001", headers=operator),
                       ["query", "limit"], "less_than_equal")

    def test_get_patch_delete(self, client, engineer, admin):
        server = create(client, engineer)
        url = f"{BASE}/{server['id']}"
        before = generation()
        patched = client.patch(url, headers=engineer, json={
            "name": "Renamed", "sampling_interval": 100, "auth_mode": "username_password",
            "username": "u", "password": "p"})
        assert patched.status_code == 200, patched.json
        assert (patched.json["name"], patched.json["sampling_interval"],
                patched.json["username"]) == ("Renamed", 100, "u")
        assert generation() == before + 1
        assert client.get(url, headers=engineer).json["name"] == "Renamed"
        assert_refused(client.patch(url, headers=engineer, json={"endpoint_url": "tcp://x"}),
                       ["body", "endpoint_url"], "string_pattern_mismatch")
        assert client.delete(url, headers=engineer).json == {
            "detail": "Admin privileges required"}
        assert client.delete(url, headers=admin).status_code == 204
        assert client.get(url, headers=engineer).json == {
            "detail": f"OPC-UA server {server['id']} not found"}
        assert client.delete(url, headers=admin).status_code == 404

    def test_patch_name_taken_is_409(self, client, engineer):
        create(client, engineer, name="A")
        other = create(client, engineer, name="B")
        response = client.patch(f"{BASE}/{other['id']}", json={"name": "A"}, headers=engineer)
        assert (response.status_code, response.json) == (
            409, {"detail": "OPC-UA server with name 'A' already exists"})


class TestRoles:
    @pytest.mark.parametrize("method,path", [
        ("post", "/"), ("post", "/test"), ("patch", "/1"), ("post", "/1/connect"),
        ("post", "/1/disconnect"), ("get", "/1/browse"), ("get", "/1/browse/value?node_id=i=1"),
        ("get", "/1/read?node_id=i=1"), ("get", "/mappings"), ("post", "/map"),
        ("delete", "/map/1"),
    ])
    def test_engineer_routes_refuse_an_operator(self, client, operator, method, path):
        response = getattr(client, method)(f"{BASE}{path}", headers=operator, json={})
        assert (response.status_code, response.json) == (403, {"detail": ENGINEER_ANY})

    @pytest.mark.parametrize("path", ["/", "/all/status", "/1", "/1/status"])
    def test_reads_need_a_login(self, client, path):
        assert client.get(f"{BASE}{path}").status_code == 401

    def test_delete_needs_admin(self, client, engineer):
        server = create(client, engineer)
        response = client.delete(f"{BASE}/{server['id']}", headers=engineer)
        assert (response.status_code, response.json) == (
            403, {"detail": "Admin privileges required"})


class TestStatus:
    def test_without_a_listener_the_reference_messages(self, client, engineer, operator):
        server = create(client, engineer)
        states = client.get(f"{BASE}/all/status", headers=operator).json["states"]
        assert [(s["server_id"], s["is_connected"], s["error_message"], s["monitored_nodes"])
                for s in states] == [(server["id"], False, "Not connected", [])]
        one = client.get(f"{BASE}/{server['id']}/status", headers=operator).json
        assert (one["is_connected"], one["error_message"]) == (False, "Server is not connected")
        assert client.get(f"{BASE}/999/status", headers=operator).status_code == 404

    def test_the_owning_listener_report_is_shown(self, client, engineer, operator):
        server = create(client, engineer)
        claim_connections("opcua", [server["id"]], "listener-1")
        report_status("opcua", server["id"], "listener-1", is_connected=True,
                      last_connected=utcnow(), subscribed=["ns=2;s=A"],
                      counters={"values": 5, "refused_bad_quality": 1})
        one = client.get(f"{BASE}/{server['id']}/status", headers=operator).json
        assert (one["is_connected"], one["error_message"], one["monitored_nodes"]) == (
            True, None, ["ns=2;s=A"])
        assert one["counters"] == {"values": 5, "refused_bad_quality": 1}
        assert one["last_connected"] is not None

    def test_plant_filter(self, client, engineer, operator, plants):
        create(client, engineer, name="A", plant_id=plants[0].id)
        create(client, engineer, name="B", plant_id=plants[1].id)
        states = client.get(f"{BASE}/all/status?plant_id={plants[1].id}",
                            headers=operator).json["states"]
        assert [s["server_name"] for s in states] == ["B"]


class TestLiveServer:
    def test_test_reads_the_display_name(self, client, engineer, opcua):
        response = client.post(f"{BASE}/test", headers=engineer,
                               json={"endpoint_url": opcua.url})
        body = response.json
        assert (body["success"], body["server_name"]) == (True, "Server")
        assert body["latency_ms"] > 0 and opcua.url in body["message"]

    def test_test_with_credentials(self, client, engineer, opcua):
        good = client.post(f"{BASE}/test", headers=engineer, json={
            "endpoint_url": opcua.url, "auth_mode": "username_password", "username": USER,
            "password": PASSWORD}).json
        bad = client.post(f"{BASE}/test", headers=engineer, json={
            "endpoint_url": opcua.url, "auth_mode": "username_password", "username": USER,
            "password": "wrong"}).json
        assert good["success"] is True
        assert (bad["success"], bad["latency_ms"]) == (False, None)
        assert bad["message"].startswith("Connection failed: ")

    def test_test_of_a_closed_port_fails_without_an_http_error(self, client, engineer):
        response = client.post(f"{BASE}/test", headers=engineer, json={
            "endpoint_url": f"opc.tcp://127.0.0.1:{free_port()}/", "timeout": 1})
        assert response.status_code == 200
        assert response.json["success"] is False

    def test_test_validates(self, client, engineer):
        assert_refused(client.post(f"{BASE}/test", headers=engineer,
                                   json={"endpoint_url": "x", "timeout": 5}),
                       ["body", "endpoint_url"], "string_pattern_mismatch")
        assert_refused(client.post(f"{BASE}/test", headers=engineer,
                                   json={"endpoint_url": "opc.tcp://h", "timeout": 31}),
                       ["body", "timeout"], "less_than_equal")

    def test_browse_from_the_objects_folder(self, client, engineer, opcua):
        server = create(client, engineer, endpoint_url=opcua.url)
        nodes = client.get(f"{BASE}/{server['id']}/browse", headers=engineer).json
        plant = next(n for n in nodes if n["node_id"] == "ns=2;s=Plant")
        assert plant == {"node_id": "ns=2;s=Plant", "browse_name": "Plant",
                         "display_name": "Plant", "node_class": "Object", "data_type": None,
                         "is_readable": False, "children_count": 2}
        assert "i=2253" in {n["node_id"] for n in nodes}

    @pytest.mark.parametrize("param", ["parent_node_id", "node_id"])
    def test_browse_a_level_with_types_and_access_level(self, client, engineer, opcua, param):
        server = create(client, engineer, endpoint_url=opcua.url)
        nodes = client.get(f"{BASE}/{server['id']}/browse?{param}=ns=2;s=Line1",
                           headers=engineer).json
        by_name = {n["browse_name"]: n for n in nodes}
        assert {name: (n["node_class"], n["data_type"], n["is_readable"])
                for name, n in by_name.items()} == {
            "Temperature": ("Variable", "Double", True), "Count": ("Variable", "Int32", True),
            "Running": ("Variable", "Boolean", True), "Label": ("Variable", "String", True),
            "Pressure": ("Variable", "Float", True), "Secret": ("Variable", "Double", False),
            "Stream": ("Variable", "Double", True)}
        many = client.get(f"{BASE}/{server['id']}/browse?parent_node_id=ns=2;s=Plant",
                          headers=engineer).json
        assert {n["browse_name"]: n["children_count"] for n in many} == {"Line1": 7, "Many": 30}

    def test_browse_errors(self, client, engineer, opcua):
        server = create(client, engineer, endpoint_url=opcua.url)
        url = f"{BASE}/{server['id']}/browse"
        unknown = client.get(f"{url}?parent_node_id=ns=2;s=Nope", headers=engineer)
        assert unknown.status_code == 502
        assert unknown.json["detail"].startswith("Failed to browse OPC-UA server: ")
        invalid = client.get(f"{url}?parent_node_id=ns=x;q=1", headers=engineer)
        assert invalid.status_code == 400 and "Invalid node id" in invalid.json["detail"]
        assert client.get(f"{BASE}/999/browse", headers=engineer).status_code == 404

    def test_browse_of_an_unreachable_or_disconnected_server_is_400(self, client, engineer,
                                                                     opcua):
        down = create(client, engineer, name="down",
                      endpoint_url=f"opc.tcp://127.0.0.1:{free_port()}/")
        response = client.get(f"{BASE}/{down['id']}/browse", headers=engineer)
        assert (response.status_code, response.json) == (
            400, {"detail": f"OPC-UA server {down['id']} is not connected"})
        live = create(client, engineer, endpoint_url=opcua.url)
        client.post(f"{BASE}/{live['id']}/disconnect", headers=engineer)
        response = client.get(f"{BASE}/{live['id']}/browse", headers=engineer)
        assert response.status_code == 400

    def test_browse_is_cached_for_a_minute(self, client, engineer, opcua):
        server = create(client, engineer, endpoint_url=opcua.url)
        url = f"{BASE}/{server['id']}/browse?parent_node_id=ns=2;s=Line1"
        first = client.get(url, headers=engineer).json
        db.session.execute(sa.update(OpcuaServer).where(OpcuaServer.id == server["id"])
                           .values(endpoint_url=f"opc.tcp://127.0.0.1:{free_port()}/",
                                   updated_at=db.session.get(OpcuaServer, server["id"]).updated_at))
        db.session.commit()
        assert client.get(url, headers=engineer).json == first

    @pytest.mark.parametrize("path", ["browse/value", "read"])
    def test_read_a_value(self, client, engineer, opcua, path):
        server = create(client, engineer, endpoint_url=opcua.url)
        opcua.write("Line1.Temperature", 21.25)
        body = client.get(f"{BASE}/{server['id']}/{path}?node_id=ns=2;s=Line1.Temperature",
                          headers=engineer).json
        assert (body["node_id"], body["value"], body["data_type"], body["status_code"]) == (
            "ns=2;s=Line1.Temperature", 21.25, "Double", "Good")
        assert body["source_timestamp"].endswith("Z") and body["server_timestamp"]
        label = client.get(f"{BASE}/{server['id']}/{path}?node_id=ns=2;s=Line1.Label",
                           headers=engineer).json
        assert (label["value"], label["data_type"]) == ("A", "String")

    def test_read_errors(self, client, engineer, opcua):
        server = create(client, engineer, endpoint_url=opcua.url)
        url = f"{BASE}/{server['id']}/browse/value"
        assert_refused(client.get(url, headers=engineer), ["query", "node_id"], "missing")
        invalid = client.get(f"{url}?node_id=garbage;;", headers=engineer)
        assert invalid.status_code == 400
        unknown = client.get(f"{url}?node_id=ns=2;s=Nope", headers=engineer).json
        assert unknown["status_code"] == "BadNodeIdUnknown"

    def test_secured_endpoint_with_user(self, client, engineer, opcua, app):
        server = create(client, engineer, endpoint_url=opcua.url,
                        security_policy="Basic256Sha256", security_mode="SignAndEncrypt",
                        auth_mode="username_password", username=USER, password=PASSWORD)
        body = client.get(f"{BASE}/{server['id']}/read?node_id=ns=2;s=Line1.Count",
                          headers=engineer).json
        assert body["value"] == 7
        data_dir = app.extensions["openspc_settings"].data_dir
        assert (__import__("pathlib").Path(data_dir) / "opcua" / "client_cert.der").exists()

    def test_connect_and_disconnect(self, client, engineer, opcua):
        server = create(client, engineer, endpoint_url=opcua.url, is_active=False)
        before = generation()
        connected = client.post(f"{BASE}/{server['id']}/connect", headers=engineer).json
        assert (connected["is_connected"], connected["error_message"]) == (True, None)
        assert db.session.get(OpcuaServer, server["id"]).is_active is True
        assert generation() == before + 1
        gone = client.post(f"{BASE}/{server['id']}/disconnect", headers=engineer).json
        assert (gone["is_connected"], gone["error_message"], gone["monitored_nodes"]) == (
            False, "Disconnected", [])
        db.session.expire_all()
        assert db.session.get(OpcuaServer, server["id"]).is_active is False
        assert client.post(f"{BASE}/999/connect", headers=engineer).status_code == 404

    def test_connect_to_an_unreachable_server_reports_the_error(self, client, engineer):
        server = create(client, engineer, endpoint_url=f"opc.tcp://127.0.0.1:{free_port()}/")
        body = client.post(f"{BASE}/{server['id']}/connect", headers=engineer).json
        assert body["is_connected"] is False and body["error_message"]


class TestMappings:
    def test_map_list_unmap(self, client, engineer, char, plants):
        server = create(client, engineer)
        before = generation()
        response = client.post(f"{BASE}/map", headers=engineer, json={
            "characteristic_id": char.id, "server_id": server["id"],
            "node_id": "ns=2;s=Line1.Temperature", "sampling_interval": 100,
            "trigger_strategy": "on_timer"})
        assert response.status_code == 200, response.json
        mapping = response.json
        assert mapping == {
            "data_source_id": mapping["data_source_id"], "characteristic_id": char.id,
            "characteristic_name": char.name, "server_id": server["id"],
            "server_name": "Press line", "node_id": "ns=2;s=Line1.Temperature",
            "sampling_interval": 100, "publishing_interval": None,
            "trigger_strategy": "on_timer", "is_active": True}
        assert generation() == before + 1
        assert client.get(f"{BASE}/mappings", headers=engineer).json == [mapping]
        assert client.get(f"{BASE}/mappings?server_id=999", headers=engineer).json == []
        assert client.get(f"{BASE}/mappings?plant_id={plants[1].id}",
                          headers=engineer).json == []
        assert client.delete(f"{BASE}/map/{char.id}", headers=engineer).status_code == 204
        assert client.get(f"{BASE}/mappings", headers=engineer).json == []
        again = client.delete(f"{BASE}/map/{char.id}", headers=engineer)
        assert (again.status_code, again.json) == (
            404, {"detail": f"No OPC-UA mapping for characteristic {char.id}"})

    def test_mapping_replaces_any_previous_source(self, client, engineer, char):
        broker = MqttBroker(name="b", host="h")
        db.session.add(broker)
        db.session.flush()
        db.session.add(MqttDataSource(characteristic_id=char.id, broker_id=broker.id, topic="t"))
        db.session.commit()
        server = create(client, engineer)
        for node in ("ns=2;s=A", "ns=2;i=5"):
            assert client.post(f"{BASE}/map", headers=engineer, json={
                "characteristic_id": char.id, "server_id": server["id"],
                "node_id": node}).status_code == 200
        rows = db.session.execute(sa.select(DataSource)).scalars().all()
        assert [(r.type, r.node_id) for r in rows] == [("opcua", "ns=2;i=5")]

    def test_same_node_id_on_two_servers_stays_two_mappings(self, client, engineer, factory, node,
                                                           char):
        other = factory.characteristic(node)
        first, second = create(client, engineer, name="A"), create(client, engineer, name="B")
        for characteristic, server in ((char, first), (other, second)):
            client.post(f"{BASE}/map", headers=engineer, json={
                "characteristic_id": characteristic.id, "server_id": server["id"],
                "node_id": "ns=2;s=Line1.Temperature"})
        listed = client.get(f"{BASE}/mappings", headers=engineer).json
        assert {(m["server_id"], m["characteristic_id"]) for m in listed} == {
            (first["id"], char.id), (second["id"], other.id)}

    def test_bad_input_stores_nothing(self, client, engineer, char):
        server = create(client, engineer)
        url = f"{BASE}/map"
        base = {"characteristic_id": char.id, "server_id": server["id"], "node_id": "ns=2;i=5"}
        assert_refused(client.post(url, headers=engineer, json={**base, "node_id": ""}),
                       ["body", "node_id"], "string_too_short")
        assert_refused(client.post(url, headers=engineer,
                                   json={**base, "trigger_strategy": "on_trigger"}),
                       ["body", "trigger_strategy"], "enum")
        assert_refused(client.post(url, headers=engineer, json={**base, "sampling_interval": 5}),
                       ["body", "sampling_interval"], "greater_than_equal")
        assert_refused(client.post(url, headers=engineer, json={**base, "node_id": "bogus;;x"}),
                       ["body", "node_id"], "value_error")
        missing_char = client.post(url, headers=engineer, json={**base, "characteristic_id": 999})
        assert (missing_char.status_code, missing_char.json) == (
            404, {"detail": "Characteristic 999 not found"})
        missing_server = client.post(url, headers=engineer, json={**base, "server_id": 999})
        assert (missing_server.status_code, missing_server.json) == (
            404, {"detail": "OPC-UA server 999 not found"})
        assert db.session.execute(sa.select(sa.func.count(OpcuaDataSource.id))).scalar_one() == 0

    def test_attribute_chart_is_refused(self, client, engineer, factory):
        attribute = factory.characteristic(chart_type="c")
        server = create(client, engineer)
        assert_refused(client.post(f"{BASE}/map", headers=engineer, json={
            "characteristic_id": attribute.id, "server_id": server["id"],
            "node_id": "ns=2;i=5"}), ["body", "characteristic_id"], "value_error")

    def test_engineer_of_another_plant_cannot_map(self, client, engineer, outsider, char):
        server = create(client, engineer)
        response = client.post(f"{BASE}/map", headers=outsider, json={
            "characteristic_id": char.id, "server_id": server["id"], "node_id": "ns=2;i=5"})
        assert (response.status_code, response.json) == (
            403, {"detail": "engineer or higher privileges required for this plant"})

    def test_server_of_another_plant_is_refused(self, client, engineer, admin, char, plants):
        server = create(client, admin, plant_id=plants[1].id)
        response = client.post(f"{BASE}/map", headers=engineer, json={
            "characteristic_id": char.id, "server_id": server["id"], "node_id": "ns=2;i=5"})
        assert response.status_code == 400

    def test_deleting_the_server_deletes_its_mappings(self, client, engineer, admin, char):
        server = create(client, engineer)
        client.post(f"{BASE}/map", headers=engineer, json={
            "characteristic_id": char.id, "server_id": server["id"], "node_id": "ns=2;i=5"})
        assert client.delete(f"{BASE}/{server['id']}", headers=admin).status_code == 204
        assert client.get(f"{BASE}/mappings", headers=engineer).json == []


def test_the_routes_are_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json["paths"]
    for path in ("/api/v1/opcua-servers/", "/api/v1/opcua-servers/test",
                 "/api/v1/opcua-servers/all/status", "/api/v1/opcua-servers/{server_id}",
                 "/api/v1/opcua-servers/{server_id}/browse",
                 "/api/v1/opcua-servers/{server_id}/browse/value",
                 "/api/v1/opcua-servers/mappings", "/api/v1/opcua-servers/map",
                 "/api/v1/opcua-servers/map/{characteristic_id}"):
        assert path in paths, path

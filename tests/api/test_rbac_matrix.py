"""The RBAC matrix (issue 2): every guarded route family of api.md §2-§11, each kind of caller,
on plant A's object and on plant B's.

The expected answer of each cell is derived from ROUTES, a table written from api.md's role
column plus our documented departures, never from the code:

- reads of a plant's object need >= operator at that plant (the reference let any user read
  anything, ops.md §12 gap 19); lists answer 200 to every user, filtered to readable plants;
- writes to a plant's object need their role at that plant too: set-limits, change-mode,
  rules PUT and config PUT/DELETE need engineer there (reference: engineer anywhere, §D.6),
  hierarchy writes engineer there (reference: anywhere), annotation and sample writes
  supervisor there, data entry by a user operator there (reference: no role);
- an admin at any plant is admin at every plant; users, plant writes and API keys are not a
  plant's objects and stay "role at any plant" (an API key scoped to characteristics needs
  engineer at their plants);
- a user who must change the password gets 403 everywhere except the auth routes.

Check kinds, in api.md's notation:
  ANY   "R": role >= R at any plant, before validation -> 403 with the §E any-plant message.
  PLANT "R@plant": role >= R at the owning plant -> 403 "{R} or higher privileges required for
        this plant".
  BOTH  "R/R@plant": ANY first, then PLANT.
  LOGIN "user": any valid token.  NONE: no authentication.
Batch routes that check each item (batch-acknowledge, data-entry batch) answer 2xx and report
the refusal in the item.

One app and one data set serve the whole module; a route that consumes its target (delete,
acknowledge, ...) gets a fresh one for every call.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient

from openspc import create_app
from openspc.extensions import db
from tests.conftest import Factory, make_settings

ANY, PLANT, BOTH, LOGIN, NONE = "any", "plant", "both", "login", "none"
LEVELS = {"operator": 1, "supervisor": 2, "engineer": 3, "admin": 4}
ANY_PLANT_MESSAGE = {  # api.md §E, dependency level
    "admin": "Admin privileges required",
    "engineer": "Engineer or higher privileges required",
    "supervisor": "supervisor or higher privileges required",
}
PASSWORD_CHANGE = (
    "Password change required: change your password with POST /api/v1/auth/change-password"
)
PLANTS = ("A", "B")
ACK = {"user": "J. Doe", "reason": "Tool Change"}
MANUAL_CONFIG = {"config": {"config_type": "MANUAL", "schedule": {"schedule_type": "NONE"}}}


def plant_message(role: str) -> str:
    return f"{role} or higher privileges required for this plant"


@dataclass(frozen=True)
class Who:
    """A kind of caller: a role at plant A (or none), flags for the odd ones."""

    name: str
    role: str | None = None
    plant: str | None = None
    must_change_password: bool = False
    anonymous: bool = False

    def level_anywhere(self) -> int:
        return LEVELS.get(self.role, 0)

    def level_at(self, plant: str | None) -> int:
        if self.role == "admin" or plant is None or self.plant == plant:
            return self.level_anywhere()
        return 0


CALLERS = (
    Who("operator@A", "operator", "A"),
    Who("supervisor@A", "supervisor", "A"),
    Who("engineer@A", "engineer", "A"),
    Who("admin@A", "admin", "A"),
    Who("no-role"),
    Who("must-change@A", "admin", "A", must_change_password=True),
    Who("anonymous", anonymous=True),
)


@dataclass(frozen=True)
class Route:
    """One (method, path) of api.md with its requirement and how to build a call.

    ``build(world, plant)`` returns ``(path, json_body)``; ``plant`` is "A"/"B" for a route
    on a plant's object, None for one that has no plant. ``item_error`` reads the refusal of
    a per-item route out of its 2xx body (None when the item succeeded).
    """

    name: str
    method: str
    check: str
    role: str | None
    ok: int
    build: Callable[[World, str | None], tuple[str, Any]]
    on_plant: bool = True
    auth_route: bool = False
    item_error: Callable[[Any], str | None] | None = None


def expected(route: Route, who: Who, plant: str | None) -> tuple[int, str | None]:
    """(status, 403 message) of ``who`` calling ``route`` on ``plant``'s object."""
    if route.check == NONE:
        return route.ok, None
    if who.anonymous:
        return 401, "Not authenticated"
    if who.must_change_password and not route.auth_route:
        return 403, PASSWORD_CHANGE
    if route.check in (ANY, BOTH) and who.level_anywhere() < LEVELS[route.role]:
        return 403, ANY_PLANT_MESSAGE[route.role]
    if route.check in (PLANT, BOTH) and who.level_at(plant) < LEVELS[route.role]:
        return 403, plant_message(route.role)
    return route.ok, None


class World:
    """Plants A and B, each with a node, a characteristic with limits, samples, a violation,
    an annotation and a config, plus a second characteristic whose limits the limit-writing
    routes may change; one user per kind of caller. Set up through the API as an admin."""

    def __init__(self, client: FlaskClient, factory: Factory):
        self.client = client
        self.factory = factory
        self._serial = itertools.count(1)
        root = factory.user("admin", factory.default_plant(), username="root")
        self.root = factory.headers(root)
        self.plants = {key: factory.plant(name=f"Plant {key}", code=f"PL{key}") for key in PLANTS}
        self.headers: dict[str, dict[str, str]] = {}
        for who in CALLERS:
            if who.anonymous:
                self.headers[who.name] = {}
                continue
            user = factory.user(
                who.role, self.plants[who.plant] if who.plant else None,
                username=who.name.replace("@", "-at-"),
                must_change_password=who.must_change_password,
            )
            self.headers[who.name] = factory.headers(user)
        self.target_user = factory.user("operator", self.plants["A"]).id
        self.api_key = self.fresh_api_key()
        self.node, self.char, self.scratch = {}, {}, {}
        self.sample, self.violation, self.annotation = {}, {}, {}
        for key, plant in self.plants.items():
            node = factory.hierarchy(plant, name=f"Line {key}")
            self.node[key] = node.id
            self.char[key] = self._chart(node, "Bore").id
            self.scratch[key] = self._chart(node, "Scratch").id
            self.sample[key] = self.fresh_sample(key)
            self.violation[key] = self.fresh_violation(key)
            for value in (10.0, 10.4, 9.7):
                self.post_sample(self.scratch[key], value)
            self.annotation[key] = self.fresh_annotation(key)
            self.setup("PUT", f"/api/v1/characteristics/{self.char[key]}/config", MANUAL_CONFIG)

    def _chart(self, node, name: str):
        return self.factory.characteristic(
            node, ucl=13.0, lcl=7.0, center_line=10.0, sigma=1.0, usl=16.0, lsl=4.0, name=name,
        )

    def unique(self, prefix: str) -> str:
        return f"{prefix}{next(self._serial)}"

    def plant_id(self, key: str) -> int:
        return self.plants[key].id

    def setup(self, method: str, path: str, body: Any = None) -> Any:
        """A preparatory call as root; it must succeed."""
        response = self.client.open(path, method=method, json=body, headers=self.root)
        assert response.status_code < 300, (method, path, response.status_code, response.json)
        return response.json

    def post_sample(self, char_id: int, value: float) -> dict[str, Any]:
        return self.setup("POST", "/api/v1/samples/",
                          {"characteristic_id": char_id, "measurements": [value]})

    def fresh_sample(self, key: str) -> int:
        return self.post_sample(self.char[key], 10.1)["sample_id"]

    def fresh_violation(self, key: str) -> int:
        """A point beyond UCL 13 always fires rule 1."""
        result = self.post_sample(self.char[key], 13.6)
        return next(v["violation_id"] for v in result["violations"] if v["rule_id"] == 1)

    def fresh_annotation(self, key: str) -> int:
        return self.setup(
            "POST", f"/api/v1/characteristics/{self.char[key]}/annotations",
            {"annotation_type": "period", "text": self.unique("note "),
             "start_time": "2024-01-01T06:00:00Z", "end_time": "2024-01-01T14:00:00Z"},
        )["id"]

    def fresh_node(self, key: str) -> int:
        return self.factory.hierarchy(self.plants[key], name=self.unique("Cell ")).id

    def fresh_characteristic(self, key: str) -> int:
        return self.factory.characteristic(
            self.factory.hierarchy(self.plants[key]), name=self.unique("Spare ")
        ).id

    def config_path(self, key: str) -> str:
        """The config of plant ``key``'s characteristic, stored again if a call deleted it."""
        path = f"/api/v1/characteristics/{self.char[key]}/config"
        self.setup("PUT", path, MANUAL_CONFIG)
        return path

    def fresh_user(self, *, active: bool = True, role_at: str | None = None) -> int:
        user = self.factory.user("operator" if role_at else None,
                                 self.plants[role_at] if role_at else None)
        if not active:
            user.is_active = False
            db.session.commit()
        return user.id

    def fresh_api_key(self) -> str:
        return self.setup("POST", "/api/v1/api-keys/", {"name": self.unique("gateway ")})["id"]

    def retention_target(self, kind: str, key: str) -> str:
        """A fresh node or characteristic of plant ``key`` with a retention override."""
        target = self.fresh_node(key) if kind == "hierarchy" else self.fresh_characteristic(key)
        path = f"{R}/{kind}/{target}"
        self.setup("PUT", path, FOREVER)
        return path


def _item_error_of_batch_ack(body: dict[str, Any]) -> str | None:
    return body["results"][0]["error"]


def _item_error_of_entry_batch(body: dict[str, Any]) -> str | None:
    if body["successful"] == 1:
        return None
    (error,) = body["errors"]
    prefix = "Sample 0: "
    assert error.startswith(prefix), error
    return error[len(prefix):]


def _broker(w: World, fresh: bool = False) -> int:
    """A broker at an address that refuses connections at once (port 1): routes that
    connect answer their "not connected" outcome without waiting."""
    if fresh or not hasattr(w, "broker_id"):
        broker_id = w.setup("POST", "/api/v1/brokers/", {"name": w.unique("broker "),
                                                         "host": "127.0.0.1", "port": 1})["id"]
        if fresh:
            return broker_id
        w.broker_id = broker_id
    return w.broker_id


def _mapped_characteristic(w: World) -> int:
    char_id = w.fresh_characteristic("A")
    w.setup("POST", "/api/v1/tags/map", {"characteristic_id": char_id, "broker_id": _broker(w),
                                         "mqtt_topic": "plant/a"})
    return char_id


B = "/api/v1/brokers"

C = "/api/v1/characteristics"
R = "/api/v1/retention"
FOREVER = {"retention_type": "forever"}

ROUTES = (
    # §1 auth: the one route a user who must change the password may still use
    Route("auth.me", "GET", LOGIN, None, 200, lambda w, p: ("/api/v1/auth/me", None),
          on_plant=False, auth_route=True),
    # §2 users: admin at any plant
    Route("users.list", "GET", ANY, "admin", 200, lambda w, p: ("/api/v1/users/", None),
          on_plant=False),
    Route("users.create", "POST", ANY, "admin", 201, lambda w, p: (
        "/api/v1/users/", {"username": w.unique("newuser"), "password": "password123"}),
          on_plant=False),
    Route("users.get", "GET", ANY, "admin", 200,
          lambda w, p: (f"/api/v1/users/{w.target_user}", None), on_plant=False),
    Route("users.update", "PATCH", ANY, "admin", 200, lambda w, p: (
        f"/api/v1/users/{w.target_user}", {"email": "target@example.com"}), on_plant=False),
    Route("users.deactivate", "DELETE", ANY, "admin", 204,
          lambda w, p: (f"/api/v1/users/{w.fresh_user()}", None), on_plant=False),
    Route("users.delete_permanent", "DELETE", ANY, "admin", 204, lambda w, p: (
        f"/api/v1/users/{w.fresh_user(active=False)}/permanent", None), on_plant=False),
    Route("users.assign_role", "POST", ANY, "admin", 200, lambda w, p: (
        f"/api/v1/users/{w.fresh_user()}/roles",
        {"plant_id": w.plant_id(p), "role": "operator"})),
    Route("users.remove_role", "DELETE", ANY, "admin", 204, lambda w, p: (
        f"/api/v1/users/{w.fresh_user(role_at=p)}/roles/{w.plant_id(p)}", None)),
    # §3 plants: reads at the plant, writes admin
    Route("plants.list", "GET", LOGIN, None, 200, lambda w, p: ("/api/v1/plants/", None),
          on_plant=False),
    Route("plants.create", "POST", ANY, "admin", 201, lambda w, p: (
        "/api/v1/plants/", {"name": w.unique("Plant "), "code": w.unique("NEW")}),
          on_plant=False),
    Route("plants.get", "GET", PLANT, "operator", 200,
          lambda w, p: (f"/api/v1/plants/{w.plant_id(p)}", None)),
    Route("plants.update", "PUT", ANY, "admin", 200,
          lambda w, p: (f"/api/v1/plants/{w.plant_id(p)}", {"is_active": True})),
    Route("plants.delete", "DELETE", ANY, "admin", 204,
          lambda w, p: (f"/api/v1/plants/{w.factory.plant().id}", None), on_plant=False),
    # §4 hierarchy
    Route("hierarchy.tree", "GET", LOGIN, None, 200, lambda w, p: ("/api/v1/hierarchy/", None),
          on_plant=False),
    Route("hierarchy.create_root", "POST", ANY, "engineer", 201, lambda w, p: (
        "/api/v1/hierarchy/", {"name": w.unique("Legacy "), "type": "Folder"}),
          on_plant=False),
    Route("hierarchy.create_child", "POST", BOTH, "engineer", 201, lambda w, p: (
        "/api/v1/hierarchy/", {"parent_id": w.node[p], "name": w.unique("Cell "),
                               "type": "Cell"})),
    Route("hierarchy.get", "GET", PLANT, "operator", 200,
          lambda w, p: (f"/api/v1/hierarchy/{w.node[p]}", None)),
    Route("hierarchy.update", "PATCH", BOTH, "engineer", 200,
          lambda w, p: (f"/api/v1/hierarchy/{w.node[p]}", {"type": "Line"})),
    Route("hierarchy.delete", "DELETE", BOTH, "engineer", 204,
          lambda w, p: (f"/api/v1/hierarchy/{w.fresh_node(p)}", None)),
    Route("hierarchy.characteristics", "GET", PLANT, "operator", 200,
          lambda w, p: (f"/api/v1/hierarchy/{w.node[p]}/characteristics", None)),
    Route("hierarchy.plant_tree", "GET", PLANT, "operator", 200,
          lambda w, p: (f"/api/v1/plants/{w.plant_id(p)}/hierarchies/", None)),
    Route("hierarchy.plant_create", "POST", BOTH, "engineer", 201, lambda w, p: (
        f"/api/v1/plants/{w.plant_id(p)}/hierarchies/", {"name": w.unique("Area "),
                                                          "type": "Area"})),
    # §5 characteristics (+ §X.2 capability)
    Route("characteristics.list", "GET", LOGIN, None, 200,
          lambda w, p: (f"{C}/", None), on_plant=False),
    Route("characteristics.create", "POST", BOTH, "engineer", 201, lambda w, p: (
        f"{C}/", {"hierarchy_id": w.node[p], "name": w.unique("Width ")})),
    Route("characteristics.get", "GET", PLANT, "operator", 200,
          lambda w, p: (f"{C}/{w.char[p]}", None)),
    Route("characteristics.update", "PATCH", BOTH, "engineer", 200,
          lambda w, p: (f"{C}/{w.char[p]}", {"description": "checked"})),
    Route("characteristics.delete", "DELETE", BOTH, "engineer", 204,
          lambda w, p: (f"{C}/{w.fresh_characteristic(p)}", None)),
    Route("characteristics.chart_data", "GET", PLANT, "operator", 200,
          lambda w, p: (f"{C}/{w.char[p]}/chart-data", None)),
    Route("characteristics.recalculate_limits", "POST", BOTH, "engineer", 200,
          lambda w, p: (f"{C}/{w.scratch[p]}/recalculate-limits?min_samples=2", None)),
    Route("characteristics.set_limits", "POST", BOTH, "engineer", 200, lambda w, p: (
        f"{C}/{w.scratch[p]}/set-limits",
        {"ucl": 13.0, "lcl": 7.0, "center_line": 10.0, "sigma": 1.0})),
    Route("characteristics.change_mode", "POST", BOTH, "engineer", 200, lambda w, p: (
        f"{C}/{w.scratch[p]}/change-mode", {"new_mode": "NOMINAL_TOLERANCE"})),
    Route("characteristics.rules_get", "GET", PLANT, "operator", 200,
          lambda w, p: (f"{C}/{w.char[p]}/rules", None)),
    Route("characteristics.rules_put", "PUT", BOTH, "engineer", 200, lambda w, p: (
        f"{C}/{w.char[p]}/rules",
        [{"rule_id": 1, "is_enabled": True, "require_acknowledgement": True}])),
    Route("characteristics.capability", "GET", PLANT, "operator", 200,
          lambda w, p: (f"{C}/{w.char[p]}/capability", None)),
    # §6 characteristic config
    Route("config.get", "GET", PLANT, "operator", 200,
          lambda w, p: (f"{C}/{w.char[p]}/config", None)),
    Route("config.put", "PUT", BOTH, "engineer", 200,
          lambda w, p: (f"{C}/{w.char[p]}/config", MANUAL_CONFIG)),
    Route("config.delete", "DELETE", BOTH, "engineer", 204,
          lambda w, p: (w.config_path(p), None)),
    # §7 annotations
    Route("annotations.list", "GET", PLANT, "operator", 200,
          lambda w, p: (f"{C}/{w.char[p]}/annotations", None)),
    Route("annotations.create", "POST", BOTH, "supervisor", 201, lambda w, p: (
        f"{C}/{w.char[p]}/annotations",
        {"annotation_type": "period", "text": "changeover",
         "start_time": "2024-02-01T06:00:00Z", "end_time": "2024-02-01T07:00:00Z"})),
    Route("annotations.update", "PUT", BOTH, "supervisor", 200, lambda w, p: (
        f"{C}/{w.char[p]}/annotations/{w.annotation[p]}", {"color": "#ff0000"})),
    Route("annotations.delete", "DELETE", BOTH, "supervisor", 204, lambda w, p: (
        f"{C}/{w.char[p]}/annotations/{w.fresh_annotation(p)}", None)),
    # §8 samples
    Route("samples.list", "GET", LOGIN, None, 200, lambda w, p: ("/api/v1/samples/", None),
          on_plant=False),
    Route("samples.create", "POST", PLANT, "operator", 201, lambda w, p: (
        "/api/v1/samples/", {"characteristic_id": w.char[p], "measurements": [10.2]})),
    Route("samples.batch", "POST", PLANT, "operator", 200, lambda w, p: (
        "/api/v1/samples/batch",
        {"characteristic_id": w.char[p], "samples": [{"measurements": [9.9]}]})),
    Route("samples.get", "GET", PLANT, "operator", 200,
          lambda w, p: (f"/api/v1/samples/{w.sample[p]}", None)),
    Route("samples.history", "GET", PLANT, "operator", 200,
          lambda w, p: (f"/api/v1/samples/{w.sample[p]}/history", None)),
    Route("samples.update", "PUT", BOTH, "supervisor", 200, lambda w, p: (
        f"/api/v1/samples/{w.fresh_sample(p)}", {"measurements": [10.3], "reason": "retyped"})),
    Route("samples.exclude", "PATCH", BOTH, "supervisor", 200, lambda w, p: (
        f"/api/v1/samples/{w.fresh_sample(p)}/exclude", {"is_excluded": True})),
    Route("samples.delete", "DELETE", BOTH, "supervisor", 204,
          lambda w, p: (f"/api/v1/samples/{w.fresh_sample(p)}", None)),
    # §9 data entry (user callers; API-key scoping is tested in test_data_entry)
    Route("data_entry.submit", "POST", PLANT, "operator", 201, lambda w, p: (
        "/api/v1/data-entry/submit", {"characteristic_id": w.char[p], "measurements": [10.0]})),
    Route("data_entry.batch", "POST", PLANT, "operator", 201, lambda w, p: (
        "/api/v1/data-entry/batch",
        {"samples": [{"characteristic_id": w.char[p], "measurements": [10.0]}]}),
          item_error=_item_error_of_entry_batch),
    Route("data_entry.schema", "GET", NONE, None, 200,
          lambda w, p: ("/api/v1/data-entry/schema", None), on_plant=False),
    # §10 violations
    Route("violations.list", "GET", LOGIN, None, 200,
          lambda w, p: ("/api/v1/violations/", None), on_plant=False),
    Route("violations.stats", "GET", LOGIN, None, 200,
          lambda w, p: ("/api/v1/violations/stats", None), on_plant=False),
    Route("violations.reason_codes", "GET", LOGIN, None, 200,
          lambda w, p: ("/api/v1/violations/reason-codes", None), on_plant=False),
    Route("violations.get", "GET", PLANT, "operator", 200,
          lambda w, p: (f"/api/v1/violations/{w.violation[p]}", None)),
    Route("violations.acknowledge", "POST", PLANT, "supervisor", 200, lambda w, p: (
        f"/api/v1/violations/{w.fresh_violation(p)}/acknowledge", ACK)),
    Route("violations.batch_acknowledge", "POST", PLANT, "supervisor", 200, lambda w, p: (
        "/api/v1/violations/batch-acknowledge",
        {"violation_ids": [w.fresh_violation(p)], **ACK}),
          item_error=_item_error_of_batch_ack),
    # §11 API keys: keys belong to no plant; a key scoped to characteristics needs engineer
    # at their plant
    Route("api_keys.list", "GET", ANY, "engineer", 200,
          lambda w, p: ("/api/v1/api-keys/", None), on_plant=False),
    Route("api_keys.create", "POST", ANY, "engineer", 201,
          lambda w, p: ("/api/v1/api-keys/", {"name": w.unique("key ")}), on_plant=False),
    Route("api_keys.create_scoped", "POST", BOTH, "engineer", 201, lambda w, p: (
        "/api/v1/api-keys/",
        {"name": w.unique("key "), "permissions": {"characteristics": [w.char[p]]}})),
    Route("api_keys.get", "GET", ANY, "engineer", 200,
          lambda w, p: (f"/api/v1/api-keys/{w.api_key}", None), on_plant=False),
    Route("api_keys.update", "PATCH", ANY, "engineer", 200,
          lambda w, p: (f"/api/v1/api-keys/{w.api_key}", {"name": "gateway"}), on_plant=False),
    Route("api_keys.update_scoped", "PATCH", BOTH, "engineer", 200, lambda w, p: (
        f"/api/v1/api-keys/{w.api_key}", {"permissions": {"characteristics": [w.char[p]]}})),
    Route("api_keys.delete", "DELETE", ANY, "admin", 204,
          lambda w, p: (f"/api/v1/api-keys/{w.fresh_api_key()}", None), on_plant=False),
    Route("api_keys.revoke", "POST", ANY, "admin", 200,
          lambda w, p: (f"/api/v1/api-keys/{w.fresh_api_key()}/revoke", None), on_plant=False),
    # §17 retention: reads need a role at the plant (reference: any user)
    Route("retention.get_default", "GET", PLANT, "operator", 200,
          lambda w, p: (f"{R}/default?plant_id={w.plant_id(p)}", None)),
    Route("retention.set_default", "PUT", BOTH, "engineer", 200,
          lambda w, p: (f"{R}/default?plant_id={w.plant_id(p)}", FOREVER)),
    Route("retention.get_node", "GET", PLANT, "operator", 200,
          lambda w, p: (f"{R}/hierarchy/{w.node[p]}", None)),
    Route("retention.set_node", "PUT", BOTH, "engineer", 200,
          lambda w, p: (f"{R}/hierarchy/{w.node[p]}", FOREVER)),
    Route("retention.delete_node", "DELETE", BOTH, "engineer", 204,
          lambda w, p: (w.retention_target("hierarchy", p), None)),
    Route("retention.get_characteristic", "GET", PLANT, "operator", 200,
          lambda w, p: (f"{R}/characteristic/{w.char[p]}", None)),
    Route("retention.set_characteristic", "PUT", BOTH, "engineer", 200,
          lambda w, p: (f"{R}/characteristic/{w.char[p]}", FOREVER)),
    Route("retention.delete_characteristic", "DELETE", BOTH, "engineer", 204,
          lambda w, p: (w.retention_target("characteristic", p), None)),
    Route("retention.effective", "GET", PLANT, "operator", 200,
          lambda w, p: (f"{R}/characteristic/{w.char[p]}/effective", None)),
    Route("retention.overrides", "GET", PLANT, "operator", 200,
          lambda w, p: (f"{R}/overrides?plant_id={w.plant_id(p)}", None)),
    Route("retention.activity", "GET", PLANT, "operator", 200,
          lambda w, p: (f"{R}/activity?plant_id={w.plant_id(p)}", None)),
    Route("retention.next_purge", "GET", PLANT, "operator", 200,
          lambda w, p: (f"{R}/next-purge?plant_id={w.plant_id(p)}", None)),
    Route("retention.purge", "POST", BOTH, "admin", 200,
          lambda w, p: (f"{R}/purge?plant_id={w.plant_id(p)}", None)),
    # §16 database administration: admin at any plant
    *(Route(f"database.{name}", method, ANY, "admin", ok,
            lambda w, p, path=path, body=body: (f"/api/v1/database/{path}", body),
            on_plant=False)
      for name, method, path, body, ok in (
          ("config_get", "GET", "config", None, 200),
          ("config_put", "PUT", "config", {"dialect": "sqlite", "database": "saved.db"}, 200),
          ("test", "POST", "test", {"dialect": "sqlite", "database": "missing.db"}, 200),
          ("status", "GET", "status", None, 200),
          ("backup", "POST", "backup", None, 200),
          ("backups", "GET", "backups", None, 200),
          ("backup_get", "GET", "backups/none.db", None, 404),
          ("vacuum", "POST", "vacuum", None, 200),
          ("migrations", "GET", "migrations", None, 200))),
    # §12 brokers: reads by any user, writes engineer, delete admin (at any plant)
    Route("brokers.list", "GET", LOGIN, None, 200, lambda w, p: (f"{B}/", None), on_plant=False),
    Route("brokers.create", "POST", ANY, "engineer", 201, lambda w, p: (
        f"{B}/", {"name": w.unique("broker "), "host": "127.0.0.1"}), on_plant=False),
    Route("brokers.all_status", "GET", LOGIN, None, 200,
          lambda w, p: (f"{B}/all/status", None), on_plant=False),
    Route("brokers.current_status", "GET", LOGIN, None, 200,
          lambda w, p: (f"{B}/current/status", None), on_plant=False),
    Route("brokers.disconnect", "POST", ANY, "engineer", 200,
          lambda w, p: (f"{B}/disconnect", None), on_plant=False),
    Route("brokers.test", "POST", ANY, "engineer", 200,
          lambda w, p: (f"{B}/test", {"host": "127.0.0.1", "port": 1}), on_plant=False),
    Route("brokers.get", "GET", LOGIN, None, 200,
          lambda w, p: (f"{B}/{_broker(w)}", None), on_plant=False),
    Route("brokers.update", "PATCH", ANY, "engineer", 200,
          lambda w, p: (f"{B}/{_broker(w)}", {"keepalive": 30}), on_plant=False),
    Route("brokers.delete", "DELETE", ANY, "admin", 204,
          lambda w, p: (f"{B}/{_broker(w, fresh=True)}", None), on_plant=False),
    Route("brokers.activate", "POST", ANY, "engineer", 200,
          lambda w, p: (f"{B}/{_broker(w)}/activate", None), on_plant=False),
    Route("brokers.status", "GET", LOGIN, None, 200,
          lambda w, p: (f"{B}/{_broker(w)}/status", None), on_plant=False),
    Route("brokers.connect", "POST", ANY, "engineer", 200,
          lambda w, p: (f"{B}/{_broker(w)}/connect", None), on_plant=False),
    Route("brokers.discover", "POST", ANY, "engineer", 400,
          lambda w, p: (f"{B}/{_broker(w)}/discover", None), on_plant=False),
    Route("brokers.stop_discover", "DELETE", ANY, "engineer", 200,
          lambda w, p: (f"{B}/{_broker(w)}/discover", None), on_plant=False),
    Route("brokers.topics", "GET", ANY, "engineer", 200,
          lambda w, p: (f"{B}/{_broker(w)}/topics", None), on_plant=False),
    # §13 tags: engineer at any plant
    Route("tags.mappings", "GET", ANY, "engineer", 200,
          lambda w, p: ("/api/v1/tags/mappings", None), on_plant=False),
    Route("tags.map", "POST", ANY, "engineer", 200, lambda w, p: (
        "/api/v1/tags/map", {"characteristic_id": w.fresh_characteristic("A"),
                             "broker_id": _broker(w), "mqtt_topic": "plant/b"}),
          on_plant=False),
    Route("tags.unmap", "DELETE", ANY, "engineer", 204,
          lambda w, p: (f"/api/v1/tags/map/{_mapped_characteristic(w)}", None), on_plant=False),
    Route("tags.preview", "POST", ANY, "engineer", 400, lambda w, p: (
        "/api/v1/tags/preview", {"broker_id": _broker(w), "topic": "a", "duration_seconds": 1}),
          on_plant=False),
    # §15 providers (no listener runs here: restart and refresh answer 503)
    Route("providers.status", "GET", LOGIN, None, 200,
          lambda w, p: ("/api/v1/providers/status", None), on_plant=False),
    Route("providers.restart", "POST", ANY, "engineer", 503,
          lambda w, p: ("/api/v1/providers/tag/restart", None), on_plant=False),
    Route("providers.refresh", "POST", ANY, "engineer", 503,
          lambda w, p: ("/api/v1/providers/tag/refresh", None), on_plant=False),
)


@pytest.fixture(scope="module")
def world(tmp_path_factory, migrated_template) -> Iterator[World]:
    """One migrated app and one data set for the whole module (the matrix is read-mostly and
    every consuming route gets a fresh target)."""
    folder = tmp_path_factory.mktemp("rbac")
    shutil.copy(migrated_template, folder / "openspc.db")
    app = create_app({"TESTING": True, "RATELIMIT_ENABLED": False},
                     settings=make_settings(folder))
    with app.app_context():
        yield World(app.test_client(), Factory(app))
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("who", CALLERS, ids=lambda who: who.name)
@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.name)
def test_matrix(world: World, route: Route, who: Who) -> None:
    for plant in PLANTS if route.on_plant else (None,):
        status, message = expected(route, who, plant)
        path, body = route.build(world, plant)
        response = world.client.open(path, method=route.method, json=body,
                                      headers=world.headers[who.name])
        cell = f"{who.name} {route.method} {path} (plant {plant})"
        if route.item_error is not None and status == 403 and message != PASSWORD_CHANGE:
            assert response.status_code == route.ok, (cell, response.json)
            assert route.item_error(response.json) == message, (cell, response.json)
            continue
        assert response.status_code == status, (cell, response.json)
        if message is not None:
            assert response.json == {"detail": message}, cell
        elif route.item_error is not None:
            assert route.item_error(response.json) is None, (cell, response.json)


def _tree_ids(nodes: list[dict[str, Any]]) -> set[int]:
    return {n["id"] for n in nodes} | {i for n in nodes for i in _tree_ids(n["children"])}


def _item_ids(page: dict[str, Any]) -> set[int]:
    return {item["id"] for item in page["items"]}


# list route -> (path on plant p's data, does the answer show plant p's object?)
LISTS: dict[str, tuple[Callable[[World, str], str], Callable[[Any, World, str], bool]]] = {
    "plants": (lambda w, p: "/api/v1/plants/",
               lambda body, w, p: w.plant_id(p) in {plant["id"] for plant in body}),
    "hierarchy": (lambda w, p: "/api/v1/hierarchy/",
                  lambda body, w, p: w.node[p] in _tree_ids(body)),
    "characteristics": (lambda w, p: f"{C}/?limit=1000",
                        lambda body, w, p: w.char[p] in _item_ids(body)),
    "characteristics_of_plant": (lambda w, p: f"{C}/?plant_id={w.plant_id(p)}",
                                 lambda body, w, p: body["total"] > 0),
    "samples": (lambda w, p: f"/api/v1/samples/?characteristic_id={w.char[p]}&limit=1",
                lambda body, w, p: body["total"] > 0),
    "violations": (lambda w, p: f"/api/v1/violations/?characteristic_id={w.char[p]}",
                   lambda body, w, p: w.violation[p] in _item_ids(body)),
    "violation_stats": (lambda w, p: f"/api/v1/violations/stats?characteristic_id={w.char[p]}",
                        lambda body, w, p: body["total"] > 0),
}


@pytest.mark.parametrize("who", [w for w in CALLERS if not (w.anonymous or
                                                              w.must_change_password)],
                         ids=lambda who: who.name)
@pytest.mark.parametrize("name", LISTS)
def test_lists_show_only_readable_plants(world: World, name: str, who: Who) -> None:
    """Lists answer 200 to every user and show a plant's objects only to its members and to
    admins (any role at the plant reads it)."""
    path_of, shows = LISTS[name]
    for plant in PLANTS:
        response = world.client.get(path_of(world, plant), headers=world.headers[who.name])
        assert response.status_code == 200, response.json
        assert shows(response.json, world, plant) == (who.level_at(plant) > 0), (plant,
                                                                                  response.json)


def test_every_guarded_api_route_is_in_the_matrix(world: World) -> None:
    """A new route under /api/v1 must be added to ROUTES (or the matrix silently skips it)."""
    flask_app = world.client.application
    registered = {
        (method, rule.endpoint)
        for rule in flask_app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    covered = set()
    for route in ROUTES:
        path, _ = route.build(world, "A" if route.on_plant else None)
        adapter = flask_app.url_map.bind("localhost")
        endpoint, _ = adapter.match(path.split("?")[0], method=route.method)
        covered.add((route.method, endpoint))
    auth_only = {(m, e) for m, e in registered if e.startswith("auth.") and e != "auth.me"}
    assert registered - auth_only - covered == set()

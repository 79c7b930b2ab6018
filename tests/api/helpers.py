"""Checks and expected messages shared by the API tests (api.md §E)."""

from __future__ import annotations

ENGINEER_ANY = "Engineer or higher privileges required"
OPERATOR_HERE = "operator or higher privileges required for this plant"
ENGINEER_HERE = "engineer or higher privileges required for this plant"


def assert_refused(response, loc: list, kind: str) -> None:
    """A 422 whose only item names ``loc`` with the error type ``kind``."""
    assert response.status_code == 422
    assert [(i["loc"], i["type"]) for i in response.json["detail"]] == [(loc, kind)]


def assert_patch_guarded(client, url: str, missing_url: str, missing_detail: str, *,
                         operator: dict[str, str], outsider: dict[str, str]) -> None:
    """PATCH needs engineer: an operator of the owning plant gets the any-plant 403, an engineer
    of another plant the this-plant 403, and an unknown id 404 ``missing_detail``."""
    denied = client.patch(url, json={"name": "X"}, headers=operator)
    assert (denied.status_code, denied.json) == (403, {"detail": ENGINEER_ANY})
    foreign = client.patch(url, json={"name": "X"}, headers=outsider)
    assert (foreign.status_code, foreign.json) == (403, {"detail": ENGINEER_HERE})
    missing = client.patch(missing_url, json={"name": "X"}, headers=outsider)
    assert (missing.status_code, missing.json) == (404, {"detail": missing_detail})

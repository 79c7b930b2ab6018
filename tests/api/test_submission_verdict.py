"""A sample judged in its own request is answered from the evaluation's own results; the
answer must be byte for byte what reading the sample back after the commit gives."""

from __future__ import annotations

import json
import random
import time

from openspc.api.schemas.samples import SampleProcessingResultSchema
from openspc.services import samples as service


def _post_and_compare(client, headers, body) -> dict:
    response = client.post("/api/v1/samples/", json=body, headers=headers)
    assert response.status_code == 201, response.json
    answered = response.get_json()
    reread = json.loads(json.dumps(SampleProcessingResultSchema().dump(
        service.processing_results([answered["sample_id"]], time.perf_counter())[0]
    ), default=str))
    answered.pop("processing_time_ms")
    reread.pop("processing_time_ms")
    assert answered == reread
    return answered


def test_the_in_request_verdict_equals_the_verdict_read_back(factory, client):
    headers = factory.headers(factory.user("admin"))
    rnd = random.Random(1)
    seen = set()
    xbar = factory.characteristic(subgroup_size=5, ucl=13, lcl=7, center_line=10, sigma=2)
    for i in range(60):
        body = {"characteristic_id": xbar.id,
                "measurements": [rnd.gauss(11 if i > 30 else 10, 2) for _ in range(5)]}
        if i % 7 == 0:
            body["timestamp"] = "2026-01-02T03:04:05.123456+02:00"
        seen.add(_post_and_compare(client, headers, body)["status"])
    individuals = factory.characteristic(ucl=13, lcl=7, center_line=10, sigma=1)
    for value in [14, 6, 10, 12.5, 12.5, 12.5, 9, *[11.9] * 8]:
        answered = _post_and_compare(client, headers,
                                     {"characteristic_id": individuals.id, "measurements": [value]})
        seen.add(len(answered["violations"]) > 1)
    for chart, extra in [("p", {"sample_size": 50}), ("c", {}), ("u", {"sample_size": 3})]:
        attribute = factory.characteristic(
            chart_type=chart, ucl=0.3 if chart == "p" else 9, lcl=0,
            center_line=0.1 if chart == "p" else 4, sigma=0.04 if chart == "p" else 2,
        )
        for count in [1, 5, 30, 2, 0, 12]:
            _post_and_compare(client, headers,
                              {"characteristic_id": attribute.id, "count": count, **extra})
    no_limits = factory.characteristic()
    pending = {"characteristic_id": no_limits.id, "measurements": [1.0]}
    seen.add(_post_and_compare(client, headers, pending)["status"])
    assert {"evaluated", "pending", True} <= seen

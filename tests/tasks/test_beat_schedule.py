"""Beat runs the pending-sample sweeper at the interval the operator configured."""

import pytest


@pytest.fixture
def settings_overrides():
    return {"OPENSPC_PENDING_SWEEP_SECONDS": "7"}


def test_the_sweeper_interval_comes_from_the_settings(app):
    schedule = app.extensions["celery"].conf.beat_schedule
    assert schedule["sweep-pending-samples"] == {"task": "spc.sweep_pending", "schedule": 7.0}
    assert schedule["publish-outbox"]["task"] == "publish.sweep_outbox"

"""Beat runs the database's backup and vacuum at the cron schedules of the settings."""

import pytest
from celery.schedules import crontab

from openspc import create_app
from tests.conftest import make_settings


@pytest.fixture
def settings_overrides():
    return {"OPENSPC_BACKUP_SCHEDULE": "15 1 * * 1-5", "OPENSPC_VACUUM_SCHEDULE": ""}


def test_backup_runs_at_its_cron_and_an_empty_schedule_runs_nothing(app):
    schedule = app.extensions["celery"].conf.beat_schedule
    assert schedule["backup-database"] == {
        "task": "maintenance.backup",
        "schedule": crontab(minute="15", hour="1", day_of_week="1-5")}
    assert "vacuum-database" not in schedule


@pytest.mark.parametrize(("value", "message"), [
    ("0 2 * *", "OPENSPC_BACKUP_SCHEDULE must have five cron fields"),
    ("61 2 * * *", "OPENSPC_BACKUP_SCHEDULE is not a valid cron expression"),
])
def test_a_malformed_schedule_stops_the_start_with_the_variable_named(tmp_path, value,
                                                                      message):
    with pytest.raises(ValueError, match=message):
        create_app({"TESTING": True}, settings=make_settings(
            tmp_path, OPENSPC_BACKUP_SCHEDULE=value))

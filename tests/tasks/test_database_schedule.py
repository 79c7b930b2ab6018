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


def _free_pages(app) -> tuple[int, int]:
    import sqlite3
    from pathlib import Path

    path = Path(app.extensions["openspc_settings"].data_dir) / "openspc.db"
    with sqlite3.connect(path) as raw:
        return (raw.execute("PRAGMA freelist_count").fetchone()[0],
                raw.execute("PRAGMA page_count").fetchone()[0])


def _ballast(megabytes: int) -> None:
    import sqlalchemy as sa

    from openspc.extensions import db

    db.session.execute(sa.text("CREATE TABLE ballast (payload BLOB)"))
    db.session.execute(sa.text(f"INSERT INTO ballast VALUES (zeroblob({megabytes * 10**6}))"))
    db.session.commit()
    db.session.execute(sa.text("DROP TABLE ballast"))
    db.session.commit()
    db.session.remove()


def test_the_scheduled_sqlite_vacuum_rewrites_the_file_only_when_a_fifth_is_free(app):
    from openspc.tasks.maintenance import vacuum

    free, pages = _free_pages(app)
    assert free <= pages / 5
    assert vacuum.delay().get().startswith("PRAGMA optimize completed")
    assert _free_pages(app) == (free, pages)

    _ballast(2)
    free, pages = _free_pages(app)
    assert free > pages / 5
    assert vacuum.delay().get() == "VACUUM and ANALYZE completed successfully"
    assert _free_pages(app)[0] == 0

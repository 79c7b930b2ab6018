"""The client tools a backup needs are found on PATH, or named in the error."""

import pytest

from openspc.dbadmin.backup import BackupError, create_backup, read_record


@pytest.mark.parametrize(("url", "tool"), [
    ("postgresql+psycopg2://spc:pw@127.0.0.1:5432/openspc", "pg_dump"),
    ("mysql+pymysql://spc:pw@127.0.0.1:3306/openspc", "mariadb-dump or mysqldump"),
])
def test_a_missing_tool_fails_the_backup_by_name_and_is_recorded(tmp_path, monkeypatch, url,
                                                                 tool):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(BackupError, match=f"^{tool} not found on PATH"):
        create_backup(url, tmp_path, "openspc_backup_x.dump")
    record = read_record(tmp_path / "openspc_backup_x.dump.json")
    assert record.status == "failed" and record.error.startswith(f"{tool} not found")
    assert not (tmp_path / "openspc_backup_x.dump").exists()

"""MSSQL backups are statements the server runs; with no SQL Server here they are checked as
text: T-SQL quoting of names (``]`` doubled) and of paths (``'`` doubled, N-prefixed)."""

from pathlib import Path

import pytest

from openspc.dbadmin.backup import BackupError, backup_name, mssql_backup_sql, mssql_restore_sql


def test_backup_statement():
    assert mssql_backup_sql("openspc", r"D:\backups\openspc_backup_20260101_020000.bak") == (
        r"BACKUP DATABASE [openspc] TO DISK = N'D:\backups\openspc_backup_20260101_020000.bak'"
        " WITH COPY_ONLY, INIT, FORMAT, CHECKSUM")


def test_restore_statement():
    assert mssql_restore_sql("openspc", "/var/opt/mssql/b.bak") == (
        "RESTORE DATABASE [openspc] FROM DISK = N'/var/opt/mssql/b.bak' WITH CHECKSUM, RECOVERY")


def test_names_and_paths_cannot_end_their_quotes():
    statement = mssql_backup_sql("a]; DROP DATABASE x; --", "C:\\o'neil\\b.bak")
    assert statement.startswith("BACKUP DATABASE [a]]; DROP DATABASE x; --] TO DISK = ")
    assert "N'C:\\o''neil\\b.bak'" in statement


def test_an_mssql_backup_is_named_bak(tmp_path: Path):
    assert backup_name("mssql", tmp_path).endswith(".bak")


def test_restore_of_a_missing_file_says_so(tmp_path: Path):
    from openspc.dbadmin.backup import restore

    with pytest.raises(BackupError, match="Backup file not found"):
        restore(tmp_path / "none.bak", "mssql+pyodbc://sa@db/openspc")

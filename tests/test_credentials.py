"""The one cipher of stored credentials: round trip, key file, wrong key."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.fernet import Fernet

from openspc.credentials import CredentialCipher, CredentialError, credential_cipher
from tests.conftest import make_settings


def test_round_trip_does_not_store_the_clear_text(tmp_path):
    cipher = credential_cipher(make_settings(tmp_path))
    stored = cipher.encrypt("s3cret-pässword")
    assert "s3cret" not in stored
    assert cipher.decrypt(stored) == "s3cret-pässword"
    assert Fernet(cipher_key(tmp_path)).decrypt(stored.encode()).decode() == "s3cret-pässword"


def cipher_key(tmp_path) -> bytes:
    return (tmp_path / ".db_encryption_key").read_bytes()


def test_generated_key_file_is_private_and_reused(tmp_path):
    first = credential_cipher(make_settings(tmp_path)).encrypt("a")
    mode = stat.S_IMODE(os.stat(tmp_path / ".db_encryption_key").st_mode)
    assert mode == 0o600
    assert credential_cipher(make_settings(tmp_path)).decrypt(first) == "a"


def test_configured_key_wins_over_the_file(tmp_path):
    key = Fernet.generate_key().decode()
    stored = credential_cipher(make_settings(tmp_path, OPENSPC_DB_ENCRYPTION_KEY=key)).encrypt("x")
    assert not (tmp_path / ".db_encryption_key").exists()
    assert Fernet(key.encode()).decrypt(stored.encode()) == b"x"


def test_another_key_is_reported_not_bypassed(tmp_path):
    stored = CredentialCipher(Fernet.generate_key().decode()).encrypt("x")
    with pytest.raises(CredentialError, match="encryption key may have changed"):
        CredentialCipher(Fernet.generate_key().decode()).decrypt(stored)


def test_a_malformed_key_names_the_variable():
    with pytest.raises(CredentialError, match="OPENSPC_DB_ENCRYPTION_KEY"):
        CredentialCipher("not-a-key")


def test_empty_credentials_stay_empty(tmp_path):
    cipher = credential_cipher(make_settings(tmp_path))
    assert cipher.encrypt_optional("") is None
    assert cipher.decrypt_optional(None) is None

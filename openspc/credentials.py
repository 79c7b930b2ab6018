"""Stored credentials (MQTT broker, OPC-UA server and database passwords), Fernet-encrypted.

One cipher for every credential of the product, keyed by ``OPENSPC_DB_ENCRYPTION_KEY`` or the
generated key file (``Settings.resolve_encryption_key``). Losing the key makes the stored
credentials unreadable: that is reported as such, never by falling back to the stored text.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken

from openspc.config import Settings


class CredentialError(Exception):
    """A stored credential cannot be read with the configured key."""


class CredentialCipher:
    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.encode())
        except ValueError as exc:
            raise CredentialError(
                "OPENSPC_DB_ENCRYPTION_KEY is not a Fernet key (32 url-safe base64 bytes)"
            ) from exc

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, stored: str) -> str:
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken as exc:
            raise CredentialError(
                "Failed to decrypt a stored credential: the encryption key may have changed"
            ) from exc

    def encrypt_optional(self, secret: str | None) -> str | None:
        """``None`` and ``""`` both mean "no credential" and are stored as ``None``."""
        return self.encrypt(secret) if secret else None

    def decrypt_optional(self, stored: str | None) -> str | None:
        return self.decrypt(stored) if stored else None


@lru_cache(maxsize=4)
def _cipher_for_key(key: str) -> CredentialCipher:
    return CredentialCipher(key)


def credential_cipher(settings: Settings | None = None) -> CredentialCipher:
    """The cipher of ``settings`` (default: the current app's)."""
    if settings is None:
        from openspc import get_settings

        settings = get_settings()
    return _cipher_for_key(settings.resolve_encryption_key())

"""Encryption at rest, keyed hashes and passwords.

Ciphertext layout (version 1)::

    0x01 | key id length (1 byte) | key id (ascii) | 12-byte nonce | AES-256-GCM ciphertext+tag

The associated data is the column's purpose (``report.details`` ...), so a value
moved to another column fails authentication instead of decrypting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json as jsonlib  # the name ``json`` is a keyword argument below
import os
import re
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from config.base import ConfigurationError

VERSION = 1
MIN_INDEX_KEY_LENGTH = 16


class KeyConfigurationError(ConfigurationError, ValueError):
    """DATA_ENCRYPTION_KEYS or BLIND_INDEX_KEY is malformed."""


class DecryptionError(ValueError):
    """A value could not be decrypted with any configured key."""


@dataclass(frozen=True)
class DataKey:
    key_id: str
    aead: AESGCM


class Keyring:
    """The data keys (newest first) and the HMAC key of one deployment."""

    def __init__(self, data_keys: str, index_key: str) -> None:
        self.keys = _parse_data_keys(data_keys)
        self.by_id = {k.key_id: k for k in self.keys}
        # Handles and names are guessable; only a strong key keeps their indexes from
        # being brute-forced out of a stolen database.
        if len(index_key or "") < MIN_INDEX_KEY_LENGTH:
            raise KeyConfigurationError(
                f"BLIND_INDEX_KEY must be at least {MIN_INDEX_KEY_LENGTH} characters"
                " (use a long random value)"
            )
        master = index_key.encode()
        self._case_key_mac = _derive(master, b"safe-report case key v1")
        self._index_mac = _derive(master, b"safe-report blind index v1")

    @property
    def current(self) -> DataKey:
        return self.keys[0]

    # -- encryption ------------------------------------------------------------------
    def encrypt(self, plaintext: bytes, purpose: str) -> bytes:
        key = self.current
        nonce = os.urandom(12)
        kid = key.key_id.encode()
        header = bytes([VERSION, len(kid)]) + kid
        return header + nonce + key.aead.encrypt(nonce, plaintext, purpose.encode())

    def decrypt(self, blob: bytes, purpose: str) -> bytes:
        if len(blob) < 2 or blob[0] != VERSION:
            raise DecryptionError("unknown ciphertext version")
        kid_len = blob[1]
        # header, 12-byte nonce and 16-byte tag: anything shorter was cut off
        if len(blob) < 2 + kid_len + 12 + 16:
            raise DecryptionError("ciphertext is truncated")
        kid = blob[2 : 2 + kid_len].decode("ascii", "replace")
        key = self.by_id.get(kid)
        if key is None:
            raise DecryptionError(f"no data key with id {kid!r} is configured")
        nonce = blob[2 + kid_len : 14 + kid_len]
        try:
            return key.aead.decrypt(nonce, blob[14 + kid_len :], purpose.encode())
        except InvalidTag:
            raise DecryptionError("ciphertext failed authentication") from None

    def key_id_of(self, blob: bytes) -> str:
        """Return the id of the data key ``blob`` was encrypted with."""
        if len(blob) < 2 or blob[0] != VERSION:
            raise DecryptionError("unknown ciphertext version")
        return blob[2 : 2 + blob[1]].decode("ascii", "replace")

    def encrypt_value(self, value: Any, purpose: str, *, json: bool, raw: bool) -> bytes:
        if raw:
            data = bytes(value)
        elif json:
            data = _json_dumps(value).encode()
        else:
            data = str(value).encode()
        return self.encrypt(data, purpose)

    def decrypt_value(self, blob: bytes, purpose: str, *, json: bool, raw: bool) -> Any:
        data = self.decrypt(blob, purpose)
        if raw:
            return data
        if json:
            return jsonlib.loads(data)
        return data.decode()

    # -- keyed hashes ----------------------------------------------------------------
    def case_key_digest(self, passphrase: str) -> str:
        """Return the HMAC under which a case key is stored (the key itself is not)."""
        normalised = normalise_case_key(passphrase)
        return hmac.new(self._case_key_mac, normalised.encode(), hashlib.sha256).hexdigest()

    def blind_index(self, purpose: str, value: str) -> str:
        """Return a keyed, exact-match index of ``value`` (normalised) for ``purpose``."""
        normalised = normalise_for_index(value)
        msg = purpose.encode() + b"\x00" + normalised.encode()
        return hmac.new(self._index_mac, msg, hashlib.sha256).hexdigest()[:32]


def _derive(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


def _json_dumps(value: Any) -> str:
    return jsonlib.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def _parse_data_keys(spec: str) -> list[DataKey]:
    keys: list[DataKey] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        key_id, sep, b64 = part.partition(":")
        if not sep or not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", key_id):
            raise KeyConfigurationError(
                "DATA_ENCRYPTION_KEYS must be comma-separated 'id:base64key' pairs"
            )
        try:
            raw = base64.urlsafe_b64decode(b64 + "=" * (-len(b64) % 4))
        except (ValueError, TypeError):
            raise KeyConfigurationError(
                f"DATA_ENCRYPTION_KEYS: key {key_id!r} is not valid base64"
            ) from None
        if len(raw) != 32:
            raise KeyConfigurationError(
                f"DATA_ENCRYPTION_KEYS: key {key_id!r} must be 32 bytes (256 bits)"
            )
        keys.append(DataKey(key_id, AESGCM(raw)))
    if not keys:
        raise KeyConfigurationError("DATA_ENCRYPTION_KEYS holds no key")
    if len({k.key_id for k in keys}) != len(keys):
        raise KeyConfigurationError("DATA_ENCRYPTION_KEYS repeats a key id")
    return keys


def check_data_keys(spec: str) -> None:
    """Raise :class:`KeyConfigurationError` unless ``spec`` is a usable DATA_ENCRYPTION_KEYS."""
    _parse_data_keys(spec)


def new_data_key_spec(key_id: str) -> str:
    """Return a fresh ``id:base64key`` entry for DATA_ENCRYPTION_KEYS."""
    return f"{key_id}:" + base64.urlsafe_b64encode(os.urandom(32)).decode()


_keyring: Keyring | None = None


def install_keyring(ring: Keyring) -> None:
    """Make ``ring`` the process's keyring (called by the app factory)."""
    global _keyring
    _keyring = ring


def keyring() -> Keyring:
    if _keyring is None:
        raise RuntimeError("no keyring installed: create the app first")
    return _keyring


# -- normalisation --------------------------------------------------------------------
_SEPARATORS = re.compile(r"[\s\-_.,]+")


def normalise_case_key(passphrase: str) -> str:
    """Fold case, spaces and hyphens so a key typed back loosely still matches."""
    return " ".join(w for w in _SEPARATORS.split(passphrase.strip().lower()) if w)


def normalise_for_index(value: str) -> str:
    """Fold case, surrounding ``@`` and inner white space for exact matching."""
    value = " ".join(value.strip().lower().split())
    return value.lstrip("@")


# -- passwords ------------------------------------------------------------------------
_hasher = PasswordHasher()
#: Verified against when the account does not exist, so both paths cost the same.
_DUMMY_HASH = _hasher.hash(base64.b64encode(os.urandom(16)).decode())


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check ``password``; spend the same time when there is no account."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)

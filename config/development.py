"""Development: everything embedded, no server needed but the app itself."""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from config.base import BaseConfig, ConfigurationError, ensure_dir, sqlite_url

_SECRET_NAMES = ("SECRET_KEY", "DATA_ENCRYPTION_KEYS", "BLIND_INDEX_KEY")


class DevelopmentConfig(BaseConfig):
    """SQLite under ``instance/``, kombu's filesystem broker, mail kept in a folder."""

    ENV_NAME = "development"

    def finalise(self) -> None:
        instance = ensure_dir(self.INSTANCE_PATH)
        secrets_file = _local_secrets(instance / "dev-secrets.json")
        self.SECRET_KEY = self.SECRET_KEY or secrets_file["SECRET_KEY"]
        self.DATA_ENCRYPTION_KEYS = self.DATA_ENCRYPTION_KEYS or secrets_file["DATA_ENCRYPTION_KEYS"]
        self.BLIND_INDEX_KEY = self.BLIND_INDEX_KEY or secrets_file["BLIND_INDEX_KEY"]
        self.SQLALCHEMY_DATABASE_URI = self.SQLALCHEMY_DATABASE_URI or sqlite_url(
            instance / "safe-report.sqlite"
        )
        if not self.CELERY_BROKER_URL or self.CELERY_BROKER_URL.startswith("filesystem:"):
            self.use_filesystem_broker()
        if not self.MAIL_SERVER:
            self.MAIL_OUTBOX_DIR = ensure_dir(instance / "mail")
        self.DEBUG = self.environ.get("FLASK_DEBUG") == "1"


def _local_secrets(path: Path) -> dict[str, str]:
    """Read this checkout's development secrets, making them on first use.

    Secrets are random per machine and kept out of git, so no default secret
    exists anywhere in the code.
    """
    if not path.exists():
        _write_secrets_once(path, {
            "SECRET_KEY": secrets.token_urlsafe(48),
            "DATA_ENCRYPTION_KEYS": "k1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "BLIND_INDEX_KEY": secrets.token_urlsafe(48),
        })
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"Cannot read the development secrets in {path} ({type(exc).__name__}); "
            "delete the file to make new ones (data encrypted with the old ones is lost)."
        ) from None
    missing = [k for k in _SECRET_NAMES if not isinstance(data, dict) or not data.get(k)]
    if missing:
        raise ConfigurationError(
            f"{path} lacks {', '.join(missing)}; delete the file to make new secrets."
        )
    return data


def _write_secrets_once(path: Path, data: dict[str, str]) -> None:
    """Write ``data`` to ``path`` (mode 0600) unless another process got there first.

    web, worker and beat may start together: each writes a private temporary
    file and links it into place, so nobody ever reads a half-written file and
    the first one to link wins.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        tmp.unlink(missing_ok=True)

"""Development: everything embedded, no server needed but the app itself."""

from __future__ import annotations

import base64
import json
import os
import secrets

from config.base import BaseConfig, ensure_dir, sqlite_url


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
        if not self.CELERY_BROKER_URL or self.CELERY_BROKER_URL == "filesystem://":
            self.use_filesystem_broker()
        if not self.MAIL_SERVER:
            self.MAIL_OUTBOX_DIR = ensure_dir(instance / "mail")
        self.DEBUG = os.environ.get("FLASK_DEBUG") == "1"


def _local_secrets(path) -> dict[str, str]:
    """Read this checkout's development secrets, making them on first use.

    Secrets are random per machine and kept out of git, so no default secret
    exists anywhere in the code.
    """
    if path.exists():
        return json.loads(path.read_text())
    data = {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATA_ENCRYPTION_KEYS": "k1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "BLIND_INDEX_KEY": secrets.token_urlsafe(48),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    return data

"""Testing: fresh random secrets; the test session supplies its own database."""

from __future__ import annotations

import base64
import secrets

from config.base import BaseConfig, ensure_dir


class TestingConfig(BaseConfig):
    """Used by the test suite; ``tests/conftest.py`` decides the database and broker."""

    ENV_NAME = "testing"

    def finalise(self) -> None:
        self.TESTING = True
        # Tests reuse slugs across databases and change schools in place; the
        # cache has its own tests, which turn it on.
        self.SCHOOL_CACHE_SECONDS = 0
        self.SECRET_KEY = self.SECRET_KEY or secrets.token_urlsafe(32)
        self.DATA_ENCRYPTION_KEYS = self.DATA_ENCRYPTION_KEYS or (
            "t1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        )
        self.BLIND_INDEX_KEY = self.BLIND_INDEX_KEY or secrets.token_urlsafe(32)
        if not self.SQLALCHEMY_DATABASE_URI:
            self.SQLALCHEMY_DATABASE_URI = "sqlite://"
        if not self.MAIL_SERVER:
            self.MAIL_OUTBOX_DIR = ensure_dir(self.INSTANCE_PATH / "test-mail")
        if (self.CELERY_BROKER_URL or "").startswith("filesystem:"):
            self.use_filesystem_broker()
        elif not self.CELERY_BROKER_URL:
            self.CELERY_BROKER_URL = "memory://"

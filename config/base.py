"""Settings shared by every environment."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigurationError(RuntimeError):
    """The environment does not hold a setting the service needs to start."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class BaseConfig:
    """Settings read from an environment mapping; subclasses fill in the defaults."""

    ENV_NAME = "base"

    def __init__(self, environ: dict[str, str]) -> None:
        self.environ = environ
        env = environ.get
        self.INSTANCE_PATH = Path(env("INSTANCE_PATH") or PROJECT_ROOT / "instance")

        self.SECRET_KEY: str | None = env("SECRET_KEY")
        self.SQLALCHEMY_DATABASE_URI: str | None = _normalise_db_url(env("DATABASE_URL"))
        self.REDIS_URL: str | None = env("REDIS_URL") or None
        #: Comma-separated ``id:base64key`` pairs, newest first; the first one encrypts.
        self.DATA_ENCRYPTION_KEYS: str | None = env("DATA_ENCRYPTION_KEYS")
        #: Keys the HMACs of case keys and the blind indexes. Defaults to a key derived
        #: from SECRET_KEY; set it on its own so SECRET_KEY can be rotated freely.
        self.BLIND_INDEX_KEY: str | None = env("BLIND_INDEX_KEY")

        # hide_parameters: a failed statement must not write report data into a log.
        self.SQLALCHEMY_ENGINE_OPTIONS: dict[str, Any] = {"pool_pre_ping": True, "hide_parameters": True}
        self.SQLALCHEMY_RECORD_QUERIES = False

        self.SESSION_COOKIE_NAME = "sr_session"
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _bool(env("SESSION_COOKIE_SECURE"), False)
        self.PERMANENT_SESSION_LIFETIME = timedelta(
            minutes=int(env("STAFF_IDLE_TIMEOUT_MINUTES") or 30)
        )
        self.SESSION_REFRESH_EACH_REQUEST = True
        self.REMEMBER_COOKIE_DURATION = timedelta(seconds=0)
        self.WTF_CSRF_TIME_LIMIT = None  # bound by the session lifetime instead
        self.MAX_CONTENT_LENGTH = int(env("MAX_CONTENT_LENGTH") or 60 * 1024 * 1024)

        self.REQUIRE_TWO_FACTOR = _bool(env("REQUIRE_TWO_FACTOR"), False)
        self.LOGIN_LOCKOUT_THRESHOLD = int(env("LOGIN_LOCKOUT_THRESHOLD") or 5)
        self.PREFERRED_URL_SCHEME = env("PREFERRED_URL_SCHEME") or "http"
        self.SERVER_BASE_URL = (env("SERVER_BASE_URL") or "http://127.0.0.1:5000").rstrip("/")

        self.LOG_FORMAT = env("LOG_FORMAT") or "text"
        self.LOG_LEVEL = env("LOG_LEVEL") or "INFO"

        self.CELERY_BROKER_URL: str | None = env("CELERY_BROKER_URL") or self.REDIS_URL
        self.CELERY_TASK_QUEUE = env("CELERY_TASK_QUEUE") or "safe-report"
        self.CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}

        self.RATELIMIT_STORAGE_URI = env("RATELIMIT_STORAGE_URI") or self.REDIS_URL or "memory://"
        self.RATELIMIT_KEY_PREFIX = env("RATELIMIT_KEY_PREFIX") or "safe-report"
        self.RATELIMIT_HEADERS_ENABLED = False
        self.RATELIMIT_ENABLED = _bool(env("RATELIMIT_ENABLED"), True)

        self.MAIL_SERVER = env("MAIL_SERVER") or None
        self.MAIL_PORT = int(env("MAIL_PORT") or 25)
        self.MAIL_USE_TLS = _bool(env("MAIL_USE_TLS"), False)
        self.MAIL_USERNAME = env("MAIL_USERNAME") or None
        self.MAIL_PASSWORD = env("MAIL_PASSWORD") or None
        self.MAIL_DEFAULT_SENDER = env("MAIL_DEFAULT_SENDER") or "Safe Report <no-reply@localhost>"
        self.MAIL_OUTBOX_DIR: Path | None = None

        self.DEMO_PASSWORD = env("DEMO_PASSWORD") or None
        self.DEBUG = False
        self.TESTING = False

    def as_flask_mapping(self) -> dict[str, Any]:
        """Return the upper-case settings, as Flask's ``config.from_mapping`` wants them."""
        return {k: v for k, v in vars(self).items() if k.isupper()}

    def finalise(self) -> None:
        """Fill derived settings and fail fast on what is missing."""

    def use_filesystem_broker(self) -> None:
        """kombu's filesystem transport: a real broker that needs no server."""
        folder = ensure_dir(Path(self.environ.get("CELERY_BROKER_FOLDER")
                                 or self.INSTANCE_PATH / "broker"))
        self.CELERY_BROKER_URL = "filesystem://"
        self.CELERY_BROKER_TRANSPORT_OPTIONS = {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "store_processed": False,
            "polling_interval": 0.1,
        }


def _normalise_db_url(url: str | None) -> str | None:
    """Map the common ``postgres://`` spellings onto the psycopg 3 driver."""
    if not url:
        return None
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def sqlite_url(path: Path) -> str:
    """Return an SQLAlchemy URL for an SQLite file."""
    return f"sqlite:///{path}"


def ensure_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed and return it."""
    os.makedirs(path, exist_ok=True)
    return path

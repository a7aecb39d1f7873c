"""Settings shared by every environment."""

from __future__ import annotations

import ipaddress
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigurationError(click.ClickException, RuntimeError):
    """The environment does not hold a setting the service needs to start.

    A ``ClickException`` so that ``flask`` (and any click command that builds
    the app) prints ``Error: <message>`` and exits 1 instead of a traceback.
    """


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(environ: dict[str, str], name: str, default: int) -> int:
    """Read a whole number, naming the variable when it is not one."""
    value = (environ.get(name) or "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {value!r}.") from None


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
            minutes=_int(environ, "STAFF_IDLE_TIMEOUT_MINUTES", 30)
        )
        #: However active, a staff session ends this long after sign-in.
        self.STAFF_SESSION_MAX_HOURS = _int(environ, "STAFF_SESSION_MAX_HOURS", 12)
        self.SESSION_REFRESH_EACH_REQUEST = True
        self.REMEMBER_COOKIE_DURATION = timedelta(seconds=0)
        self.WTF_CSRF_TIME_LIMIT = None  # bound by the session lifetime instead
        # Flask-WTF's "SSL strict" check refuses an HTTPS form post without a same-origin
        # Referer, but every page says Referrer-Policy: no-referrer, so browsers send none
        # and every form would fail in production. The token and SameSite cookies remain.
        self.WTF_CSRF_SSL_STRICT = False

        self.EVIDENCE_MAX_BYTES = _int(environ, "EVIDENCE_MAX_MB", 10) * 1024 * 1024
        self.EVIDENCE_MAX_FILES = _int(environ, "EVIDENCE_MAX_FILES", 5)
        # One evidence file plus the form around it; larger bodies get a 413 page.
        self.MAX_CONTENT_LENGTH = self.EVIDENCE_MAX_BYTES + 512 * 1024
        self.QUICK_EXIT_URL = env("QUICK_EXIT_URL") or "https://www.bbc.co.uk/weather"
        self.REQUIRE_TWO_FACTOR = _bool(env("REQUIRE_TWO_FACTOR"), False)
        self.LOGIN_LOCKOUT_THRESHOLD = _int(environ, "LOGIN_LOCKOUT_THRESHOLD", 5)
        self.PREFERRED_URL_SCHEME = env("PREFERRED_URL_SCHEME") or "http"
        self.SERVER_BASE_URL = (env("SERVER_BASE_URL") or "http://127.0.0.1:5000").rstrip("/")

        self.LOG_FORMAT = env("LOG_FORMAT") or "text"
        self.LOG_LEVEL = env("LOG_LEVEL") or "INFO"

        self.CELERY_BROKER_URL: str | None = env("CELERY_BROKER_URL") or self.REDIS_URL
        self.CELERY_RESULT_BACKEND: str | None = env("CELERY_RESULT_BACKEND") or self.REDIS_URL
        self.CELERY_TASK_QUEUE = env("CELERY_TASK_QUEUE") or "safe-report"
        #: The filesystem broker's folder (development); default ``instance/broker``.
        self.CELERY_BROKER_FOLDER: str | None = env("CELERY_BROKER_FOLDER") or None
        self.CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}
        if prefix := env("CELERY_BROKER_KEY_PREFIX"):
            # Lets several deployments (or test runs) share one Redis without meeting.
            self.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = prefix
        #: How often beat asks a worker to record the ``beat`` heartbeat.
        self.HEARTBEAT_INTERVAL_SECONDS = _int(environ, "HEARTBEAT_INTERVAL_SECONDS", 60)
        #: PostgreSQL connect timeout: /readyz must answer quickly when the database is gone.
        self.DATABASE_CONNECT_TIMEOUT = _int(environ, "DATABASE_CONNECT_TIMEOUT", 2)
        #: How long each process keeps a school it looked up for the student pages (0: off).
        self.SCHOOL_CACHE_SECONDS = _int(environ, "SCHOOL_CACHE_SECONDS", 60)

        self.RATELIMIT_STORAGE_URI = env("RATELIMIT_STORAGE_URI") or self.REDIS_URL or "memory://"
        self.RATELIMIT_KEY_PREFIX = env("RATELIMIT_KEY_PREFIX") or "safe-report"
        self.RATELIMIT_HEADERS_ENABLED = False
        self.RATELIMIT_ENABLED = _bool(env("RATELIMIT_ENABLED"), True)
        # Redis down must not stop a student reporting: limits fall back to each process's
        # memory (and are checked again against Redis every so often) instead of a 500.
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.RATELIMIT_SWALLOW_ERRORS = True

        self.MAIL_SERVER = env("MAIL_SERVER") or None
        #: Implicit TLS from the first byte (SMTPS, port 465), instead of STARTTLS.
        self.MAIL_USE_SSL = _bool(env("MAIL_USE_SSL"), False)
        self.MAIL_PORT = _int(environ, "MAIL_PORT", 465 if self.MAIL_USE_SSL else 25)
        self.MAIL_USE_TLS = _bool(env("MAIL_USE_TLS"), False)
        self.MAIL_USERNAME = env("MAIL_USERNAME") or None
        self.MAIL_PASSWORD = env("MAIL_PASSWORD") or None
        self.MAIL_DEFAULT_SENDER = env("MAIL_DEFAULT_SENDER") or "Safe Report <no-reply@localhost>"
        self.MAIL_OUTBOX_DIR: Path | None = None
        #: Seconds smtplib waits for the mail server before the attempt counts as failed.
        self.MAIL_TIMEOUT_SECONDS = _int(environ, "MAIL_TIMEOUT_SECONDS", 20)

        # The notification outbox (see app/notifications/delivery.py).
        #: Hours a notification is retried after temporary mail errors (from the first one)
        #: before it is marked failed and shown to admins: a mail outage shorter than this
        #: delays mail but loses none. Permanent refusals (5xx) fail at once.
        self.NOTIFICATION_RETRY_HOURS = _int(environ, "NOTIFICATION_RETRY_HOURS", 24)
        #: How long a claimed notification is held by one worker before another may retry it
        #: (a worker killed mid-batch leaves its rows due again after this).
        self.NOTIFICATION_LEASE_SECONDS = _int(environ, "NOTIFICATION_LEASE_SECONDS", 120)
        #: First retry delay after a mail error; doubled each attempt (with jitter), up to an hour.
        self.NOTIFICATION_RETRY_BASE_SECONDS = _int(environ, "NOTIFICATION_RETRY_BASE_SECONDS", 30)
        #: Rows one sweep claims per transaction.
        self.NOTIFICATION_BATCH_SIZE = _int(environ, "NOTIFICATION_BATCH_SIZE", 20)
        #: How often beat runs the outbox sweep and the escalation scan.
        self.WORKER_SCAN_INTERVAL_SECONDS = _int(environ, "WORKER_SCAN_INTERVAL_SECONDS", 60)
        #: How often beat runs the stale-case and morning-digest scans.
        self.WORKER_DAILY_SCAN_INTERVAL_SECONDS = _int(
            environ, "WORKER_DAILY_SCAN_INTERVAL_SECONDS", 300)

        self.DEMO_PASSWORD = env("DEMO_PASSWORD") or None
        self.DEBUG = False
        self.TESTING = False

    def as_flask_mapping(self) -> dict[str, Any]:
        """Return the upper-case settings, as Flask's ``config.from_mapping`` wants them."""
        mapping = {k: v for k, v in vars(self).items() if k.isupper()}
        url = self.SQLALCHEMY_DATABASE_URI or ""
        if url.startswith("postgresql") and "connect_timeout" not in url:
            options = dict(self.SQLALCHEMY_ENGINE_OPTIONS)
            options["connect_args"] = {"connect_timeout": self.DATABASE_CONNECT_TIMEOUT,
                                       **options.get("connect_args", {})}
            mapping["SQLALCHEMY_ENGINE_OPTIONS"] = options
        return mapping

    def finalise(self) -> None:
        """Fill derived settings and fail fast on what is missing."""

    def check_keys(self) -> None:
        """Refuse malformed data keys at start-up, not at the first encrypted write."""
        from app.security import check_data_keys  # imported here: the app package imports config

        if self.DATA_ENCRYPTION_KEYS:
            check_data_keys(self.DATA_ENCRYPTION_KEYS)

    def use_filesystem_broker(self) -> None:
        """kombu's filesystem transport: a real broker that needs no server."""
        folder = ensure_dir(Path(self.CELERY_BROKER_FOLDER or self.INSTANCE_PATH / "broker"))
        self.CELERY_BROKER_FOLDER = str(folder)
        # The host part only silences kombu's "No hostname was supplied" warning.
        self.CELERY_BROKER_URL = "filesystem://localhost//"
        self.CELERY_BROKER_TRANSPORT_OPTIONS = {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            # kombu's default is ``control`` relative to the working directory.
            "control_folder": str(folder / "control"),
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


def is_this_host(host: str | None) -> bool:
    """Whether ``host`` names this machine (a loopback name or address)."""
    if not host:
        return False
    if host.strip().lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def sqlite_url(path: Path) -> str:
    """Return an SQLAlchemy URL for an SQLite file."""
    return f"sqlite:///{path}"


def ensure_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed and return it."""
    os.makedirs(path, exist_ok=True)
    return path

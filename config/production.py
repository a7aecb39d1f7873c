"""Production: PostgreSQL, Redis, real SMTP; refuses to start without its secrets."""

from __future__ import annotations

from config.base import BaseConfig, ConfigurationError, _bool

#: Environment variable -> the setting it fills (overrides count as set).
REQUIRED = {
    "SECRET_KEY": "SECRET_KEY",
    "DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
    "REDIS_URL": "REDIS_URL",
    "DATA_ENCRYPTION_KEYS": "DATA_ENCRYPTION_KEYS",
}


class ProductionConfig(BaseConfig):
    """Everything comes from the environment; nothing secret has a default."""

    ENV_NAME = "production"

    def __init__(self, environ: dict[str, str]) -> None:
        super().__init__(environ)
        env = environ.get
        # Safe defaults here, not in finalise(), so explicit overrides still win.
        self.SESSION_COOKIE_SECURE = _bool(env("SESSION_COOKIE_SECURE"), True)
        self.REQUIRE_TWO_FACTOR = _bool(env("REQUIRE_TWO_FACTOR"), True)
        self.PREFERRED_URL_SCHEME = env("PREFERRED_URL_SCHEME") or "https"
        self.LOG_FORMAT = env("LOG_FORMAT") or "json"

    def finalise(self) -> None:
        missing = [name for name, attr in REQUIRED.items()
                   if not str(getattr(self, attr) or "").strip()]
        if missing:
            raise ConfigurationError(
                "Safe Report cannot start in production: set "
                + ", ".join(missing)
                + " in the environment (see README.md, Configuration)."
            )
        if len(self.SECRET_KEY or "") < 32:
            raise ConfigurationError("SECRET_KEY must be at least 32 characters long.")
        if not self.MAIL_SERVER:
            # Kept, not lost: the admin page shows the backlog and README says to set it.
            self.MAIL_OUTBOX_DIR = self.INSTANCE_PATH / "mail"

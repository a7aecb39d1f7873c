"""Production: PostgreSQL, Redis, real SMTP; refuses to start without its secrets."""

from __future__ import annotations

from config.base import BaseConfig, ConfigurationError, _bool

REQUIRED = ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DATA_ENCRYPTION_KEYS")


class ProductionConfig(BaseConfig):
    """Everything comes from the environment; nothing secret has a default."""

    ENV_NAME = "production"

    def finalise(self) -> None:
        missing = [name for name in REQUIRED if not self.environ.get(name)]
        if missing:
            raise ConfigurationError(
                "Safe Report cannot start in production: set "
                + ", ".join(missing)
                + " in the environment (see README.md, Configuration)."
            )
        if len(self.SECRET_KEY or "") < 32:
            raise ConfigurationError("SECRET_KEY must be at least 32 characters long.")
        self.SESSION_COOKIE_SECURE = _bool(self.environ.get("SESSION_COOKIE_SECURE"), True)
        self.REQUIRE_TWO_FACTOR = _bool(self.environ.get("REQUIRE_TWO_FACTOR"), True)
        self.PREFERRED_URL_SCHEME = self.environ.get("PREFERRED_URL_SCHEME") or "https"
        self.LOG_FORMAT = self.environ.get("LOG_FORMAT") or "json"
        if not self.MAIL_SERVER:
            # Kept, not lost: the admin page shows the backlog and README says to set it.
            self.MAIL_OUTBOX_DIR = self.INSTANCE_PATH / "mail"

"""Production: PostgreSQL, Redis, real SMTP; refuses to start without its secrets."""

from __future__ import annotations

from urllib.parse import urlsplit

from config.base import BaseConfig, ConfigurationError, _bool, is_this_host

#: Environment variable -> the setting it fills (overrides count as set).
REQUIRED = {
    "SECRET_KEY": "SECRET_KEY",
    "DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
    "REDIS_URL": "REDIS_URL",
    "DATA_ENCRYPTION_KEYS": "DATA_ENCRYPTION_KEYS",
    # Without it mail would go nowhere; every link in every email starts with the other.
    "MAIL_SERVER": "MAIL_SERVER",
    "SERVER_BASE_URL": "SERVER_BASE_URL",
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
        # No default: a development address here would break every link in every email.
        self.SERVER_BASE_URL = (env("SERVER_BASE_URL") or "").strip().rstrip("/")
        # Encrypted SMTP, unless the server is a relay on this host (finalise() checks).
        self.MAIL_USE_TLS = _bool(env("MAIL_USE_TLS"),
                                  not self.MAIL_USE_SSL and not is_this_host(self.MAIL_SERVER))

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
        url = urlsplit(self.SERVER_BASE_URL or "")
        if url.scheme != "https" or not url.hostname:
            raise ConfigurationError(
                "SERVER_BASE_URL must be the https:// address people use to reach Safe Report "
                f"(every link in every email starts with it), not {self.SERVER_BASE_URL!r}.")
        self._check_mail_transport()
        # Mail goes to MAIL_SERVER or is retried: never to files on the server, which
        # nobody reads and which would hold reporters' addresses in the clear.
        self.MAIL_OUTBOX_DIR = None

    def _check_mail_transport(self) -> None:
        if self.MAIL_USE_TLS and self.MAIL_USE_SSL:
            raise ConfigurationError(
                "Set MAIL_USE_TLS (STARTTLS, usually port 587) or MAIL_USE_SSL (implicit TLS, "
                "usually port 465), not both.")
        if not (self.MAIL_USE_TLS or self.MAIL_USE_SSL) and not is_this_host(self.MAIL_SERVER):
            raise ConfigurationError(
                f"MAIL_SERVER {self.MAIL_SERVER} is not on this host, so mail to it must be "
                "encrypted: set MAIL_USE_TLS=1 (STARTTLS, usually port 587) or MAIL_USE_SSL=1 "
                "(port 465). Plain SMTP is allowed only to a relay on localhost.")

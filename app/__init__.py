"""Safe Report: the application factory."""

from __future__ import annotations

import importlib
import os
from logging import getLogger
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from config import load_config
from config.base import PROJECT_ROOT

BLUEPRINT_MODULES = (
    "app.health",
    "app.auth",
    "app.reporting",
    "app.cases",
    "app.scheduling",
    "app.dashboard",
    "app.admin",
    "app.audit",
    "app.notifications",
)

CSP = {
    "default-src": "'self'",
    "img-src": ["'self'", "data:"],
    "style-src": "'self'",
    "script-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}


def create_app(config_name: str | None = None, overrides: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app for ``config_name`` (default: ``SAFE_REPORT_ENV``)."""
    settings = load_config(config_name, overrides=overrides)

    app = Flask(
        __name__,
        instance_path=str(settings.INSTANCE_PATH),
        instance_relative_config=False,
    )
    # Before any route is added: every <int:...> in a route is a row id, bounded to the
    # id columns so that a longer number is a 404 rather than a database error.
    from app.ids import IdConverter

    app.url_map.converters["int"] = IdConverter
    app.config.from_mapping(settings.as_flask_mapping())
    app.config["ENV_NAME"] = settings.ENV_NAME
    if overrides:
        app.config.update({k: v for k, v in overrides.items() if k.isupper()})
    derived_index_key = not app.config.get("BLIND_INDEX_KEY")
    if derived_index_key:
        app.config["BLIND_INDEX_KEY"] = "derived-from-secret-key:" + app.config["SECRET_KEY"]

    from app.logging import configure_logging, init_request_logging

    configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])
    if derived_index_key and app.config["ENV_NAME"] == "production":
        # (not ``logging.``: the submodule app.logging shadows that name in this package)
        getLogger(__name__).warning(
            "BLIND_INDEX_KEY is not set: case keys and name indexes are keyed from SECRET_KEY, "
            "so rotating SECRET_KEY would lock every reporter out. Set BLIND_INDEX_KEY.")
    init_request_logging(app)

    from app.security import Keyring, install_keyring

    install_keyring(Keyring(app.config["DATA_ENCRYPTION_KEYS"], app.config["BLIND_INDEX_KEY"]))

    proxies = int(os.environ.get("PROXY_FIX_X_FOR", "0") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]

    importlib.import_module("app.models")  # the full metadata, for Alembic and create_all

    from app.sessions import SplitSessionInterface

    app.session_interface = SplitSessionInterface()
    _init_extensions(app)
    _init_api(app)

    from workers.celery_app import celery_init_app

    celery_init_app(app)
    for module in BLUEPRINT_MODULES:
        blueprint = __import__(module, fromlist=["bp"]).bp
        app.register_blueprint(blueprint)

    from app.errors import register_error_handlers
    from app.auth.session import init_staff_sessions
    from app.cli import register_cli
    from app.templating import init_templating

    register_error_handlers(app)
    _never_cache_by_default(app)
    init_staff_sessions(app)
    init_templating(app)
    register_cli(app)
    return app


def _init_extensions(app: Flask) -> None:
    from app.extensions import csrf, db, limiter, login_manager, migrate, talisman
    from app.reporting import sent_forms

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    sent_forms.init_app(app)  # in the rate limits' store, but needed with limits off too
    is_production = app.config["ENV_NAME"] == "production"
    talisman.init_app(
        app,
        force_https=is_production and app.config["PREFERRED_URL_SCHEME"] == "https",
        strict_transport_security=is_production,
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        session_cookie_http_only=True,
        content_security_policy=CSP,
        referrer_policy="no-referrer",
        frame_options="DENY",
        permissions_policy={"geolocation": "()", "camera": "()", "microphone": "()"},
    )


def _never_cache_by_default(app: Flask) -> None:
    """Keep every answer but static files out of browser and proxy caches.

    Case keys (API), TOTP secrets, temporary passwords and case content must
    not stay in a shared computer's cache or a proxy; a view that wants
    caching sets its own Cache-Control.
    """
    from flask import request

    @app.after_request
    def _no_store(response):  # noqa: ANN001, ANN202
        if request.endpoint != "static" and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        return response


def _init_api(app: Flask) -> None:
    """The reporter API and its generated OpenAPI document at /api/v1/openapi.json."""
    from app.api import api
    from app.api import bp as api_bp
    from app.extensions import csrf

    app.config.update(
        API_TITLE="Safe Report reporter API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api/v1",
        OPENAPI_JSON_PATH="openapi.json",
    )
    api.init_app(app, spec_kwargs={"info": {"description": (
        "Submit and follow up a bullying report. Authenticate with the header "
        "`Authorization: CaseKey <case key>`. Errors are RFC 9457 problem+json.")}})
    api.spec.components.security_scheme(
        "CaseKey", {"type": "apiKey", "in": "header", "name": "Authorization",
                    "description": "The words 'CaseKey ' followed by the case key."})
    csrf.exempt(api_bp)
    api.register_blueprint(api_bp)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Make SQLite enforce foreign keys, wait for locks, and let SQLAlchemy run BEGIN.

    pysqlite's own transaction handling breaks SAVEPOINT; handing it to
    SQLAlchemy (``isolation_level = None`` plus the ``begin`` hook below) is the
    documented fix.
    """
    import sqlite3

    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn: Any) -> None:
    if conn.dialect.name == "sqlite":
        # IMMEDIATE: web, worker and beat share one file in development; taking the
        # write lock up front avoids SQLITE_BUSY when a reader later writes.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

"""Test fixtures: one app per run on a fresh database, one rolled-back transaction per test."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import scoped_session, sessionmaker

from tests.backends import REDIS_URL, RUN_ID, Backends, postgres_reachable, redis_reachable
from tests.helpers import unique_address

_BACKENDS: Backends | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _BACKENDS
    tmp = Path(tempfile.mkdtemp(prefix=f"safereport-test-{RUN_ID}-"))
    _BACKENDS = Backends(postgres_reachable(), redis_reachable(), tmp)


def pytest_report_header(config: pytest.Config) -> list[str]:
    return _BACKENDS.describe() if _BACKENDS else []


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001
    if _BACKENDS:
        terminalreporter.section("backends used")
        for line in _BACKENDS.describe():
            terminalreporter.write_line(line)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _BACKENDS:
        _BACKENDS.drop_databases()


@pytest.fixture(scope="session")
def backends() -> Backends:
    assert _BACKENDS is not None
    return _BACKENDS


def make_test_app(backends: Backends, database_url: str, **overrides):
    from app import create_app

    settings = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE_PATH": backends.tmp / "instance",
        "RATELIMIT_KEY_PREFIX": f"sr-test-{RUN_ID}",
        "RATELIMIT_STORAGE_URI": REDIS_URL if backends.has_redis else "memory://",
        "CELERY_TASK_QUEUE": f"sr-test-{RUN_ID}",
        "SERVER_NAME": None,
    }
    settings.update(overrides)
    return create_app("testing", overrides=settings)


@contextmanager
def other_app(backends: Backends, database_url: str, **overrides) -> Iterator[Flask]:
    """An app on another database, for the length of a test.

    Building an app installs its keyring, Celery app and rate-limit store
    process-wide; the run's own are put back after.
    """
    from celery import _state as celery_state

    from app import security
    from app.extensions import db, limiter

    keyring_before, celery_before = security._keyring, celery_state.default_app
    # init_app points the one Limiter at the new app's store: the run's is put back after.
    limiter_before = dict(vars(limiter))
    app = make_test_app(backends, database_url, **overrides)
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()
        security._keyring = keyring_before
        celery_state.default_app = celery_before
        vars(limiter).update(limiter_before)


@contextmanager
def throwaway_app(backends: Backends, label: str, **overrides) -> Iterator[Flask]:
    """An app on a migrated database of its own, inside its app context.

    For tests that commit rows the shared database must not keep (audit_entry
    refuses DELETE); ``overrides`` change its settings.
    """
    import flask_migrate

    with other_app(backends, backends.new_database(label), **overrides) as app, \
            app.app_context():
        flask_migrate.upgrade()
        yield app


@pytest.fixture(scope="session")
def app(backends: Backends):
    """The app on this run's own database, built by running every migration."""
    from flask_migrate import upgrade

    app = make_test_app(backends, backends.new_database("main"))
    with app.app_context():
        upgrade()
    return app


@pytest.fixture(scope="session")
def engine(app):
    from app.extensions import db

    with app.app_context():
        return db.engine


@pytest.fixture
def session(app, engine):
    """A database session whose work is rolled back after the test.

    Requests made through the test client get their own sessions on the same
    connection, so they see the test's rows, and their commits become
    savepoints that the final rollback discards.
    """
    from app.extensions import db

    connection = engine.connect()
    outer = connection.begin()
    factory = sessionmaker(bind=connection, join_transaction_mode="create_savepoint",
                           expire_on_commit=False)
    original = db.session
    db.session = scoped_session(factory, scopefunc=original.registry.scopefunc)
    test_session = factory()
    from tests import factories

    factories.bind(test_session)
    try:
        yield test_session
    finally:
        factories.bind(None)
        test_session.close()
        db.session = original
        if outer.is_active:
            outer.rollback()
        connection.close()


@pytest.fixture
def client(app, session):
    """A test client with an address of its own, so rate-limit buckets never leak across tests."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = unique_address()
    return client

"""Fixtures for the notification tests: a school with every role, an SMTP sink, mail settings."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest

from app.auth.models import StaffUser
from tests.factories import AdminFactory, LeadFactory, SchoolFactory, StaffFactory
from tests.notifications.smtp_sink import SmtpSink

_addresses = itertools.count(1)


@dataclass
class Staffed:
    school: object
    counsellors: list[StaffUser]
    leads: list[StaffUser]
    admin: StaffUser
    disabled_lead: StaffUser


@pytest.fixture
def staffed(session) -> Staffed:
    """A school with two counsellors, a lead, an admin and a disabled lead."""
    school = SchoolFactory()
    return Staffed(
        school=school,
        counsellors=[StaffFactory(school=school), StaffFactory(school=school)],
        leads=[LeadFactory(school=school)],
        admin=AdminFactory(school=school),
        disabled_lead=LeadFactory(school=school, is_enabled=False),
    )


@pytest.fixture
def sink():
    server = SmtpSink()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def mail_config(app, sink) -> dict:
    """The app's settings, sending by SMTP to the sink, with quick retries."""
    return {**app.config, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": sink.port,
            "MAIL_DEFAULT_SENDER": "Safe Report <alerts@school.example>",
            "SERVER_BASE_URL": "https://safe-report.example", "MAIL_TIMEOUT_SECONDS": 5,
            "NOTIFICATION_RETRY_BASE_SECONDS": 10}


@pytest.fixture
def client(app, session):
    """A test client with an address of its own (sign-in is rate limited per address)."""
    c = app.test_client()
    n = next(_addresses)
    c.environ_base["REMOTE_ADDR"] = f"10.91.{n // 250}.{n % 250 + 1}"
    return c

"""A student on a phone reports, keeps the case key, and comes back to a counsellor's reply."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select, text

pytestmark = pytest.mark.browser

SCHOOL_REPLY = "We have read your report. Can you come to the pastoral office at break?"
STUDENT_ANSWER = "Yes, I can come at break tomorrow. Thank you."
QUICK_EXIT = "https://www.bbc.co.uk/**"
#: Set to a folder to keep full-page screenshots of the student pages, for a visual check.
SCREENSHOTS = os.environ.get("BROWSER_TEST_SCREENSHOTS")


@pytest.fixture(scope="module")
def server_app(backends, live_server) -> Iterator[Flask]:  # noqa: ANN001
    """The app in this process, on the live server's database and keys, to act as staff."""
    from app.extensions import db
    from tests.conftest import make_test_app

    env = live_server.env
    app = make_test_app(backends, live_server.database_url, SECRET_KEY=env["SECRET_KEY"],
                        DATA_ENCRYPTION_KEYS=env["DATA_ENCRYPTION_KEYS"],
                        BLIND_INDEX_KEY=env["BLIND_INDEX_KEY"])
    yield app
    with app.app_context():
        db.engine.dispose()


@contextmanager
def acting_on_server(app: Flask) -> Iterator:
    """Push ``app``'s context with the server's keyring; give back the previous keyring after.

    The keyring is process-wide, and other test modules' app uses its own keys.
    """
    from app import security
    from app.extensions import db

    try:
        previous = security.keyring()
    except RuntimeError:
        previous = None
    security.install_keyring(security.Keyring(app.config["DATA_ENCRYPTION_KEYS"],
                                              app.config["BLIND_INDEX_KEY"]))
    try:
        with app.app_context():
            yield db.session
            db.session.rollback()
    finally:
        if previous is not None:
            security.install_keyring(previous)


def _shot(page: Page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


def _group(page: Page, legend: str):  # noqa: ANN202
    """The fieldset whose legend is ``legend``: "Yes" and "No" appear in several."""
    return page.get_by_role("group", name=legend)


def _count_reports(server_db) -> int:  # noqa: ANN001
    with server_db.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM report")).scalar_one()


def _fill_report(page: Page, *, danger: str, details: str) -> None:
    page.goto("/s/demo/report")
    _group(page, "Is anyone in danger right now?").get_by_label(danger, exact=True).check()
    _group(page, "Is anyone thinking about hurting themselves?").get_by_label(
        "No", exact=True).check()
    page.get_by_label("What happened?").fill(details)
    page.get_by_label("Harassment or mean messages").check()
    page.get_by_label("Snapchat").check()
    page.get_by_label("It is happening to me").check()
    expect(page.get_by_label("No, keep me anonymous", exact=False)).to_be_checked()


def _read_case_key(page: Page) -> str:
    key = page.locator("[data-case-key]").inner_text().strip()
    assert re.fullmatch(r"[a-z]+( [a-z]+){6}", key), f"not a 7-word key: {key!r}"
    return key


def _layout_problems(page: Page) -> list[str]:
    """Say what would trouble a thumb on a phone: sideways scrolling and small targets.

    Buttons are at least 44 px (WCAG 2.5.5); a radio or checkbox is tapped through its
    whole label, which must be as tall, while the box itself stays a 24 px square.
    """
    return page.evaluate("""() => {
        const out = [], root = document.scrollingElement;
        if (root.scrollWidth > root.clientWidth) out.push(`scrolls sideways: ${root.scrollWidth}`);
        const size = e => e.getBoundingClientRect();
        const name = e => e.id || e.textContent.trim().slice(0, 30);
        for (const e of document.querySelectorAll(
                'button, .button, .quick-exit, input[type=file]')) {
            const r = size(e);
            if (r.width && (r.width < 44 || r.height < 44)) out.push(`${name(e)}: ${r.width}x${r.height}`);
        }
        for (const e of document.querySelectorAll('input[type=radio], input[type=checkbox]')) {
            const r = size(e), label = e.closest('label'), l = label && size(label);
            if (r.width < 24 || r.height < 24) out.push(`${name(e)} box: ${r.width}x${r.height}`);
            if (!l || l.height < 44) out.push(`${name(e)} label: ${l && l.height}`);
        }
        return out;
    }""")


def _raw_bytes(value: object) -> bytes:
    """A column value as the database holds it, to search for plaintext."""
    return value.encode() if isinstance(value, str) else bytes(value)  # type: ignore[arg-type]


def test_student_reports_keeps_the_key_and_answers_the_school(
        phone_page: Page, live_server, server_db, server_app) -> None:  # noqa: ANN001
    from app.auth.models import StaffUser
    from app.cases.models import Case, CaseEvent, EventKind
    from app.reporting import services as reporting

    page = phone_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    reports_before = _count_reports(server_db)

    _fill_report(page, danger="No", details="They keep posting my messages in a group chat.")
    _shot(page, "student-report-form")
    page.get_by_role("button", name="Send my report").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Your report has been sent")
    expect(page.get_by_text("it will not be shown again, and nobody can recover it")).to_be_visible()
    expect(page.locator("#help-now")).to_have_count(0)
    key = _read_case_key(page)
    assert key not in page.url
    # The copy button appears only with JavaScript, and copies exactly the key.
    page.get_by_role("button", name="Copy the key").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == key
    _shot(page, "student-submitted")
    assert _layout_problems(page) == []
    assert _count_reports(server_db) == reports_before + 1

    with acting_on_server(server_app) as session:
        report = reporting.find_report_by_digest(session, key)
        assert report is not None and report.details.startswith("They keep posting")
        counsellor = session.execute(select(StaffUser).where(
            StaffUser.email == "counsellor@demo.example")).scalar_one()
        reporting.reply_to_reporter(session, counsellor, report.case, SCHOOL_REPLY)
        session.commit()
        report_id = report.id

    page.goto("/s/demo/check")
    page.get_by_label("Your case key").fill(key.upper().replace(" ", "-"))
    page.get_by_role("button", name="Open my report").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Your report")
    expect(page).to_have_url(re.compile(r"/s/demo/check$"))
    expect(page.locator("[data-status]")).to_have_text(
        "We have your report. Someone will read it soon.")
    from_school = page.locator("[data-message=school]")
    expect(from_school).to_have_count(1)
    expect(from_school).to_contain_text("The school")
    expect(from_school).to_contain_text(SCHOOL_REPLY)

    page.get_by_label("Send a message to the school").fill(STUDENT_ANSWER)
    _shot(page, "student-case")
    assert _layout_problems(page) == []
    page.get_by_role("button", name="Send message").click()

    expect(page.get_by_role("status").filter(has_text="Your message was sent.")).to_be_visible()
    mine = page.locator("[data-message=me]")
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text(STUDENT_ANSWER)
    # The school's reply comes first: the thread reads in time order.
    assert page.locator("[data-message]").evaluate_all(
        "els => els.map(e => e.dataset.message)") == ["school", "me"]

    with acting_on_server(server_app) as session:
        events = session.execute(select(CaseEvent).where(
            CaseEvent.report_id == report_id,
            CaseEvent.kind == EventKind.MESSAGE_FROM_REPORTER)).scalars().all()
        assert [e.body for e in events] == [STUDENT_ANSWER]
        assert events[0].actor_id is None
        assert session.get(Case, events[0].case_id).unread_reporter_messages == 1
    with server_db.connect() as conn:
        raw = conn.execute(text("SELECT body FROM case_event WHERE report_id = :id AND "
                                "kind = 'message_from_reporter'"), {"id": report_id}).scalar_one()
    assert STUDENT_ANSWER.encode() not in _raw_bytes(raw)

    # Closing the report on this device forgets it: the next visit asks for the key again.
    page.get_by_role("button", name="Close my report on this device").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check for replies")
    page.goto("/s/demo/check")
    expect(page.get_by_label("Your case key")).to_be_visible()
    expect(page.get_by_text(SCHOOL_REPLY)).to_have_count(0)


def test_danger_answered_yes_shows_help_now_and_alerts_the_leads(
        phone_page: Page, server_app) -> None:  # noqa: ANN001
    from app.notifications.models import Notification
    from app.reporting import services as reporting

    page = phone_page
    _fill_report(page, danger="Yes", details="Someone said they will hurt me after school.")
    page.get_by_role("button", name="Send my report").click()

    help_now = page.locator("#help-now")
    expect(help_now).to_be_visible()
    expect(help_now.get_by_role("heading", name="Get help now")).to_be_visible()
    expect(help_now).to_contain_text("call 999")
    expect(help_now).to_contain_text("Tell a trusted adult today")
    childline = help_now.get_by_role("listitem").filter(has_text="Childline")
    # On a phone a number is one tap away; a "text this" instruction stays plain text.
    expect(childline.get_by_role("link", name="0800 1111")).to_have_attribute(
        "href", "tel:08001111")
    expect(help_now.get_by_role("link", name="999")).to_have_attribute("href", "tel:999")
    expect(help_now.get_by_role("listitem").filter(has_text="Shout").get_by_role("link")
           ).to_have_count(0)
    _shot(page, "student-submitted-critical")
    key = _read_case_key(page)

    with acting_on_server(server_app) as session:
        report = reporting.find_report_by_digest(session, key)
        assert report is not None and report.is_danger
        assert report.case.risk.value == "critical"
        alerts = session.execute(select(Notification).where(
            Notification.case_id == report.case_id)).scalars().all()
        assert alerts and {a.kind for a in alerts} == {"critical_alert"}


def test_empty_report_shows_a_focused_error_summary_and_stores_nothing(
        phone_page: Page, server_db) -> None:  # noqa: ANN001
    page = phone_page
    before = _count_reports(server_db)
    page.goto("/s/demo/report")

    page.get_by_role("button", name="Send my report").click()

    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("There is a problem")
    links = summary.get_by_role("link")
    expected = {
        "Tell us if anyone is in danger right now.": "#is_danger",
        "Tell us if anyone is thinking about hurting themselves.": "#is_self_harm",
        "Tell us what happened.": "#details",
        "Tell us who is reporting.": "#reporter_role",
    }
    for message, href in expected.items():
        expect(links.filter(has_text=message)).to_have_attribute("href", href)
        # Every link leads to something on the page.
        expect(page.locator(href)).to_have_count(1)
    expect(links).to_have_count(len(expected))
    # The text field itself is marked invalid and tied to its message.
    details = page.get_by_label("What happened?")
    expect(details).to_have_attribute("aria-invalid", "true")
    expect(details).to_have_attribute("aria-describedby", re.compile(r"\bdetails-error\b"))
    _shot(page, "student-report-errors")
    # A link focuses its field, and the question stays in view below the sticky header.
    for message, control, question in [
            ("Tell us what happened.", details, page.get_by_text("What happened?", exact=True)),
            ("Tell us if anyone is in danger right now.",
             _group(page, "Is anyone in danger right now?").get_by_label("Yes", exact=True),
             page.get_by_text("Is anyone in danger right now?", exact=True))]:
        links.filter(has_text=message).click()
        expect(control).to_be_focused()
        header = page.locator(".student-header").bounding_box()
        box = question.bounding_box()
        assert header and box and box["y"] >= header["y"] + header["height"], (message, box)
    assert _count_reports(server_db) == before


def test_quick_exit_replaces_the_page_and_its_history_entry(phone_page: Page) -> None:
    page = phone_page
    # The neutral site is the real config's (BBC weather); answer it locally: no network here.
    page.route(QUICK_EXIT, lambda route: route.fulfill(
        body="<title>Weather</title><p>neutral</p>", content_type="text/html"))
    page.goto("/s/demo/")
    page.get_by_role("link", name="Report something").click()
    expect(page).to_have_url(re.compile(r"/s/demo/report$"))

    page.get_by_role("link", name="Leave this site quickly").click()

    expect(page).to_have_url(re.compile(r"^https://www\.bbc\.co\.uk/"))
    expect(page).to_have_title("Weather")
    page.go_back()
    # Back goes to the page before the report form, never the form itself.
    assert not page.url.endswith("/s/demo/report")
    expect(page).to_have_url(re.compile(r"/s/demo/$"))


def test_shift_escape_leaves_quickly_too(phone_page: Page) -> None:
    page = phone_page
    page.route(QUICK_EXIT, lambda route: route.fulfill(
        body="<title>Weather</title><p>neutral</p>", content_type="text/html"))
    page.goto("/s/demo/check")

    page.keyboard.press("Shift+Escape")

    expect(page).to_have_title("Weather")
    assert "/s/demo/" not in page.url


@pytest.mark.parametrize("width", [390, 320])
@pytest.mark.parametrize("path", ["/s/demo/", "/s/demo/report", "/s/demo/check"])
def test_student_pages_fit_a_phone_without_sideways_scrolling(phone_page: Page, width: int,
                                                              path: str) -> None:
    page = phone_page
    page.set_viewport_size({"width": width, "height": 700})
    page.goto(path)

    _shot(page, f"student-{path.strip('/').replace('/', '-')}-{width}")
    assert _layout_problems(page) == [], f"{path} at {width}px"

"""The demo counsellor signs in through a real browser and sees the triage queue."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

pytestmark = pytest.mark.browser

COUNSELLOR = "counsellor@demo.example"
RISK_ORDER = ["Critical", "High", "Medium", "Low"]


def _counsellor_state(server_db) -> dict:  # noqa: ANN001
    with server_db.connect() as conn:
        user = conn.execute(text("SELECT id, failed_logins, last_login_dt FROM staff_user "
                                 "WHERE email = :email"), {"email": COUNSELLOR}).mappings().one()
        actions = conn.execute(text("SELECT action FROM audit_entry WHERE actor_id = :id "
                                    "ORDER BY id"), {"id": user["id"]}).scalars().all()
    return {**user, "actions": actions}


def _sign_in(page: Page, password: str) -> None:
    page.goto("/staff/login")
    # get_by_label only finds the inputs if each <label for> points at its field.
    page.get_by_label("Email address").fill(COUNSELLOR)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_counsellor_signs_in_and_sees_the_queue_most_urgent_first(page: Page, live_server,
                                                                   server_db) -> None:
    before = _counsellor_state(server_db)

    _sign_in(page, live_server.demo_password)

    expect(page).to_have_url(re.compile(r"/staff/cases/(\?.*)?$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Triage queue")
    expect(page.locator(".whoami")).to_contain_text("Casey Counsellor")
    rows = page.locator("tr[data-case]")
    expect(rows.first).to_be_visible()
    # The demo seeds a critical case (a report saying the student is in danger); other
    # browser tests may add more, so compare with the database rather than a constant.
    expect(rows.first.locator(".badge")).to_have_text("Critical")
    risks = rows.locator(".badge").all_inner_texts()
    with server_db.connect() as conn:
        open_critical = conn.execute(text(
            "SELECT count(*) FROM case_file WHERE is_open AND risk = 'critical'")).scalar_one()
    assert risks.count("Critical") == open_critical >= 1
    assert risks == sorted(risks, key=RISK_ORDER.index), "queue not ordered by risk"

    after = _counsellor_state(server_db)
    assert after["last_login_dt"] is not None and after["last_login_dt"] != before["last_login_dt"]
    assert after["failed_logins"] == 0
    assert after["actions"][len(before["actions"]):] == ["auth.login.succeeded"]


def test_wrong_password_shows_a_focused_error_summary_and_counts_the_failure(
        page: Page, server_db) -> None:
    before = _counsellor_state(server_db)

    _sign_in(page, "not the password")

    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("There is a problem")
    expect(summary).to_contain_text("The email address or password is not right.")
    # site.js focuses [data-autofocus] so a screen reader announces the problem at once.
    expect(summary).to_be_focused()
    assert page.evaluate("document.activeElement.id") == "error-summary"
    expect(page).to_have_url(re.compile(r"/staff/login$"))
    expect(page.get_by_role("heading", name="Triage queue")).to_have_count(0)

    after = _counsellor_state(server_db)
    assert after["failed_logins"] == before["failed_logins"] + 1
    assert after["last_login_dt"] == before["last_login_dt"]
    assert after["actions"][len(before["actions"]):] == ["auth.login.failed"]


def test_first_tab_reaches_the_skip_link_which_moves_focus_to_main(page: Page) -> None:
    page.goto("/staff/login")

    page.keyboard.press("Tab")

    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0, "skip link stays off-screen"
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))
    assert page.evaluate("document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    expect(page.get_by_label("Email address")).to_be_focused()

"""A counsellor opens a case from the queue, takes it and replies to the reporter."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

pytestmark = pytest.mark.browser

COUNSELLOR = "counsellor@demo.example"
REPLY = "Thank you for telling us. Can you come to the pastoral office at lunch on Monday?"


def _sign_in(page: Page, password: str) -> None:
    page.goto("/staff/login")
    page.get_by_label("Email address").fill(COUNSELLOR)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Triage queue")


def _case_state(server_db, reference: str) -> dict:  # noqa: ANN001
    with server_db.connect() as conn:
        case = conn.execute(text(
            "SELECT c.id, c.assignee_id, c.first_response_dt, u.id AS counsellor_id "
            "FROM case_file c JOIN school s ON s.id = c.school_id "
            "JOIN staff_user u ON u.school_id = s.id AND u.email = :email "
            "WHERE s.slug = 'demo' AND c.reference = :reference"),
            {"email": COUNSELLOR, "reference": reference}).mappings().one()
        events = conn.execute(text("SELECT kind FROM case_event WHERE case_id = :id ORDER BY id"),
                              {"id": case["id"]}).scalars().all()
        actions = conn.execute(text("SELECT action FROM audit_entry WHERE case_id = :id "
                                    "ORDER BY id"), {"id": case["id"]}).scalars().all()
    return {**case, "events": events, "actions": actions}


def test_counsellor_takes_a_case_from_the_queue_and_replies(page: Page, live_server,
                                                           server_db) -> None:  # noqa: ANN001
    from app.demo import STORIES

    _sign_in(page, live_server.demo_password)
    page.get_by_label("Show").select_option(label="Unassigned")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"scope=unassigned"))
    # The least urgent case nobody has answered yet: other tests leave the critical one alone.
    row = page.locator("tr[data-case]").filter(has_not_text="Responded").last
    expect(row).to_contain_text("Unassigned")
    reference = row.get_attribute("data-case")
    assert reference
    before = _case_state(server_db, reference)
    assert before["assignee_id"] is None and before["first_response_dt"] is None

    row.get_by_role("link", name=reference).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {reference}")
    expect(page.get_by_role("heading", name="What happened")).to_be_visible()
    details = page.locator("[data-report-details]").first.inner_text()
    assert details in {story for story, _, _ in STORIES}
    expect(page.locator("[data-assignee]")).to_have_text("Unassigned")

    page.get_by_role("button", name="Take this case").click()

    expect(page.get_by_role("status").filter(has_text="You have taken this case.")
           ).to_be_visible()
    expect(page.locator("[data-assignee]")).to_have_text("Casey Counsellor")
    expect(page.get_by_role("button", name="Take this case")).to_have_count(0)
    taken = _case_state(server_db, reference)
    assert taken["assignee_id"] == taken["counsellor_id"]

    page.get_by_label("Reply to the reporter").fill(REPLY)
    page.get_by_role("button", name="Send reply").click()

    expect(page.get_by_role("status").filter(has_text="Your reply was sent.")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/staff/cases/{before['id']}$"))
    reply = page.locator("li[data-event=message_to_reporter]")
    expect(reply).to_have_count(1)
    expect(reply).to_contain_text(REPLY)
    expect(reply).to_contain_text("by Casey Counsellor")
    expect(page.locator("li[data-event=assigned]")).to_have_count(1)
    # The reply form is empty again: a reload must not offer to send the reply twice.
    expect(page.get_by_label("Reply to the reporter")).to_have_value("")

    after = _case_state(server_db, reference)
    assert after["assignee_id"] == after["counsellor_id"]
    assert after["first_response_dt"] is not None
    assert after["events"][len(before["events"]):] == ["assigned", "message_to_reporter"]
    new_actions = after["actions"][len(before["actions"]):]
    assert "case.assigned" in new_actions and "case.reply_sent" in new_actions
    with server_db.connect() as conn:
        raw = conn.execute(text("SELECT body FROM case_event WHERE case_id = :id AND "
                                "kind = 'message_to_reporter'"), {"id": before["id"]}).scalar_one()
    assert REPLY.encode() not in (raw.encode() if isinstance(raw, str) else bytes(raw)), \
        "the reply is stored in plain text"

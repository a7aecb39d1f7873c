"""The demo lead opens the dashboard, sees its charts drawn and follows a bar to its cases."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import FrameLocator, Page, expect
from sqlalchemy import text

pytestmark = pytest.mark.browser

LEAD = "lead@demo.example"
COUNSELLOR = "counsellor@demo.example"
#: Every chart on the dashboard, and whether the demo data always draws bars in it (the
#: demo seeds no follow-up sessions; other browser tests may hold some).
CHARTS = {"weekly-kinds": True, "weekly-platforms": True, "kinds": True, "platforms": True,
          "year-groups": True, "workload": False, "outcomes": False}
XLINK = "http://www.w3.org/1999/xlink"
SCREENSHOT = "/tmp/dashboard.png"


def _sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/staff/login")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Triage queue")


def _now_figures(server_db) -> dict[str, int]:  # noqa: ANN001
    """The "Now" figures counted straight from the demo school's rows."""
    with server_db.connect() as conn:
        return dict(conn.execute(text("""
            SELECT
              count(*) FILTER (WHERE c.is_open) AS "open-total",
              count(*) FILTER (WHERE c.is_open AND c.risk = 'critical') AS "open-risk-critical",
              count(*) FILTER (WHERE c.is_open AND c.risk = 'high') AS "open-risk-high",
              count(*) FILTER (WHERE c.is_open AND c.first_response_dt IS NULL
                               AND c.response_due_dt < now()) AS "overdue",
              count(*) FILTER (WHERE c.is_open AND c.assignee_id IS NULL
                               AND c.risk IN ('critical', 'high')) AS "unassigned-urgent",
              coalesce(sum(c.unread_reporter_messages), 0) AS "unread",
              (SELECT count(*) FROM case_event e WHERE e.school_id = s.id
                 AND e.kind = 'escalation' AND e.created_dt > now() - interval '7 days'
              ) AS "escalations"
            FROM case_file c JOIN school s ON s.id = c.school_id
            WHERE s.slug = 'demo' GROUP BY s.id""")).mappings().one())


def _cases_in_year_group(server_db, query: dict[str, list[str]]) -> list[str]:  # noqa: ANN001
    """References of live cases reported in the link's period and year group, oldest first."""
    year = query["year_group"][0]
    with server_db.connect() as conn:
        return list(conn.execute(text(f"""
            SELECT c.reference FROM case_file c JOIN school s ON s.id = c.school_id
            WHERE s.slug = 'demo' AND c.merged_into_id IS NULL
              AND c.created_dt >= (CAST(:start AS date) + time '00:00') AT TIME ZONE s.timezone
              AND c.created_dt < (CAST(:end AS date) + 1 + time '00:00') AT TIME ZONE s.timezone
              AND {"c.year_group IS NULL" if year == "none" else "c.year_group = :year"}
            ORDER BY c.created_dt, c.id"""),
            {"start": query["from"][0], "end": query["to"][0],
             "year": int(year) if year.isdigit() else None}).scalars())


def _chart(page: Page, name: str) -> FrameLocator:
    """The chart's frame, scrolled to: the iframes load lazily, as a reader reaches them."""
    page.locator(f"iframe[data-chart='{name}']").scroll_into_view_if_needed()
    return page.frame_locator(f"iframe[data-chart='{name}']")


def _bar_links(frame: FrameLocator) -> list[str]:
    return frame.locator("a").evaluate_all(
        f"links => links.map(a => a.getAttributeNS('{XLINK}', 'href'))")


def _table_links(page: Page, name: str) -> dict[str, int]:
    """The chart's data table: the link behind each non-zero value, and the value."""
    cells = page.locator(f"table[data-table-for='{name}'] td a").evaluate_all(
        "links => links.map(a => [a.getAttribute('href'), a.textContent.trim()])")
    return {href: int(value) for href, value in cells if value != "0"}


def test_lead_sees_the_dashboard_and_follows_a_bar_to_its_cases(page: Page, live_server,
                                                                server_db) -> None:  # noqa: ANN001
    _sign_in(page, LEAD, live_server.demo_password)
    page.goto("/staff/dashboard/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")

    expected = _now_figures(server_db)
    assert expected["open-risk-critical"] >= 1, "the demo seeds a critical case"
    shown = {name: int(page.locator(f"[data-figure='{name}']").inner_text())
             for name in expected}
    assert shown == expected

    for name, has_bars in CHARTS.items():
        frame = _chart(page, name)
        expect(frame.locator("svg").first).to_be_visible()
        table = _table_links(page, name)
        assert table or not has_bars, f"{name}: the demo's reports should fill this chart"
        # Every bar is a link to its cases, and every non-zero value in the table has its bar.
        assert sorted(_bar_links(frame)) == sorted(table), name
        if not table:
            expect(frame.get_by_text("Nothing in this period")).to_be_visible()
    page.screenshot(path=SCREENSHOT, full_page=True)

    frame = _chart(page, "year-groups")
    bar = frame.locator("a").first
    href = _bar_links(frame)[0]
    value = _table_links(page, "year-groups")[href]
    query = parse_qs(urlsplit(href).query)
    references = _cases_in_year_group(server_db, query)
    assert len(references) == value >= 1

    bar.click()

    expect(page).to_have_url(re.compile(r"/staff/dashboard/cases\?"))
    assert parse_qs(urlsplit(page.url).query) == query
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"{value} case" + ("" if value == 1 else "s"))
    rows = page.locator("tr[data-case]")
    expect(rows).to_have_count(value)
    assert [r.get_attribute("data-case") for r in rows.all()] == references
    year = query["year_group"][0]
    expected_year = "Not given" if year == "none" else year
    assert {row.locator("td").nth(5).inner_text() for row in rows.all()} == {expected_year}


def test_counsellor_is_refused_the_dashboard(page: Page, live_server) -> None:  # noqa: ANN001
    _sign_in(page, COUNSELLOR, live_server.demo_password)

    for path in ("/staff/dashboard/", "/staff/dashboard/chart/kinds.svg",
                 "/staff/dashboard/cases?show=open"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "You do not have permission to see this")
        expect(page.locator("body")).not_to_contain_text("Reports by kind")
        expect(page.locator("tr[data-case]")).to_have_count(0)

"""Numbers too large for an id column: a 404 or a clear message, never a 500.

Regression: every id column is a PostgreSQL ``integer``. A longer number in a
URL (``/staff/cases/99999999999999999999``), a form field (the assignee, the
report whose reporter to reveal, the counsellor of a booking) or the queue's
page link reached the database, which refused to cast it ("integer out of
range"), and the page answered 500. Now a route's ``<int:...>`` does not match
such a number (404, as for an id that does not exist) and a form or query
string gets the message any value that is not one of the list's gets; in both
cases the number never reaches the database and nothing is written.
"""

from __future__ import annotations

import base64
import html
import json
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select
from werkzeug.routing import IntegerConverter

from app.audit.models import AuditEntry
from app.db import utcnow
from app.errors import ValidationFailed
from app.ids import MAX_ID, parse_id
from app.notifications.models import Notification
from app.scheduling.models import FollowUpSession
from tests.api.conftest import WRITTEN_BY_API, report_body, row_counts
from tests.cases.conftest import snapshot, text
from tests.factories import LeadFactory, SchoolFactory

BIG = 99999999999999999999
#: Just past the id columns, and far past them (beyond 64 bits too: SQLite's limit).
OUT_OF_RANGE = (MAX_ID + 1, BIG)
#: ``str.isdigit`` takes it, ``int()`` does not: a 500 of its own where ids were parsed by hand.
SUPERSCRIPT_TWO = "\u00b2"
#: Known when this test was written; the list below finds any route added since by itself.
KNOWN_ID_ROUTES = 23


class BoundValues:
    """Every value bound to a statement sent while active."""

    def __init__(self, engine) -> None:  # noqa: ANN001
        self.engine = engine
        self.values: list[object] = []

    def _seen(self, conn, cursor, statement, parameters,  # noqa: ANN001
              context, executemany) -> None:  # noqa: ANN001
        for params in (parameters if executemany else [parameters]):
            self.values.extend(params.values() if isinstance(params, dict) else params or ())

    def __enter__(self) -> "BoundValues":
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        event.remove(self.engine, "before_cursor_execute", self._seen)


def _id_routes(app) -> list[tuple[object, str]]:  # noqa: ANN001
    """``(rule, argument)`` for each integer argument of each route of the app."""
    return [(rule, name) for rule in app.url_map.iter_rules()
            for name, converter in rule._converters.items()
            if isinstance(converter, IntegerConverter)]


def _request(staff, app, rule, argument: str, value: int):  # noqa: ANN001, ANN202
    """Send ``rule`` with ``argument`` = ``value`` (other ids 1), as a form of the page would."""
    values = {name: value if name == argument else 1 for name in rule.arguments}
    url = app.url_map.bind("localhost").build(rule.endpoint, values)
    method = "GET" if "GET" in rule.methods else "POST"
    return staff.client.open(url, method=method, data={"csrf_token": staff.csrf})


def test_every_id_route_answers_an_id_past_the_columns_with_404_before_any_query(
        app, engine, world, new_case, as_staff):
    new_case()
    routes = _id_routes(app)
    assert len({rule.rule for rule, _ in routes}) >= KNOWN_ID_ROUTES, "routes not found"
    failures = []
    # a lead and an admin between them may open every one of these pages
    for staff in (as_staff(world.lead), as_staff(world.admin)):
        for rule, argument in routes:
            for value in OUT_OF_RANGE:
                with BoundValues(engine) as bound:
                    response = _request(staff, app, rule, argument, value)
                if response.status_code != 404 or value in bound.values:
                    failures.append((staff.user.role_label, rule.rule, argument, value,
                                     response.status_code, value in bound.values))
                elif "Page not found" not in text(response):
                    failures.append((staff.user.role_label, rule.rule, argument, value,
                                     "not the usual not-found page"))
    assert failures == []


def test_the_largest_id_a_column_holds_is_looked_up_as_any_other(app, world, new_case,
                                                                 as_staff):
    """The bound is the columns' own: the last id they can hold is a page that is not there."""
    new_case()
    failures = []
    for staff in (as_staff(world.lead), as_staff(world.admin)):
        for rule, argument in _id_routes(app):
            response = _request(staff, app, rule, argument, MAX_ID)
            if response.status_code not in (403, 404):
                failures.append((staff.user.role_label, rule.rule, argument,
                                 response.status_code))
    assert failures == []


@pytest.mark.parametrize("raw, expected", [
    ("", None), ("  ", None), (None, None), ("0", 0), (" 42 ", 42), (str(MAX_ID), MAX_ID),
])
def test_parse_id_reads_ids(raw, expected) -> None:  # noqa: ANN001
    assert parse_id(raw, field="x", message="Choose one.") == expected


@pytest.mark.parametrize("raw", [
    str(MAX_ID + 1), str(BIG), "9" * 5000, "-1", "+1", "1.0", "abc", SUPERSCRIPT_TWO,
    "\u0663",  # an Arabic-Indic three: int() reads it, but it is not how an id is written
])
def test_parse_id_refuses_what_no_row_could_have(raw) -> None:  # noqa: ANN001
    with pytest.raises(ValidationFailed) as refused:
        parse_id(raw, field="x", message="Choose one.")
    assert (refused.value.message, refused.value.field) == ("Choose one.", "x")


# -- form fields ----------------------------------------------------------------------
def _counts(session) -> dict[str, int]:  # noqa: ANN001
    return {model.__tablename__: session.scalar(select(func.count()).select_from(model))
            for model in (AuditEntry, Notification, FollowUpSession)}


@pytest.mark.parametrize("value", [*map(str, OUT_OF_RANGE), SUPERSCRIPT_TWO])
def test_an_assignee_past_the_id_columns_is_refused_with_the_lists_message(
        session, world, new_case, as_staff, value):
    case = new_case()
    before, counts = snapshot(session, case.id), _counts(session)
    response = as_staff(world.lead).post(case, "assign", "assign", {"assignee": value})
    assert response.status_code == 422
    assert "Choose someone from the list." in html.unescape(text(response))
    assert snapshot(session, case.id) == before  # the case, its chronology, its audit trail
    assert _counts(session)["notification"] == counts["notification"]  # nobody was told


@pytest.mark.parametrize("value", [str(BIG), SUPERSCRIPT_TWO])
def test_a_report_to_move_that_is_no_id_is_refused_with_the_lists_message(
        session, world, new_case, as_staff, value):
    case, other = new_case(), new_case()
    before, other_before = snapshot(session, case.id), snapshot(session, other.id)
    response = as_staff(world.lead).post(case, "merge", "merge", {
        "target": other.reference, "report_id": value, "reason": "The same incident."})
    assert response.status_code == 422
    assert "Choose one of this case's reports." in html.unescape(text(response))
    assert snapshot(session, case.id) == before
    assert snapshot(session, other.id) == other_before


@pytest.mark.parametrize("value", [str(v) for v in OUT_OF_RANGE])
def test_revealing_a_report_past_the_id_columns_shows_and_records_nothing(
        session, world, new_case, as_staff, value):
    case = new_case(is_anonymous=False, reporter_name="Morgan Quillfeather", year_group=9,
                    contact="form 9B")
    lead = as_staff(world.lead)
    response = lead.client.post(f"/staff/cases/{case.id}/identity", data={
        "csrf_token": lead.csrf, "report_id": value})
    # refused as any report number the form cannot read: back to the case, nothing shown
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/staff/cases/{case.id}")
    assert "Quillfeather" not in text(response)
    assert session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action == "case.identity_revealed")) == 0


@pytest.mark.parametrize("field, value, message", [
    ("counsellor_id", str(MAX_ID + 1), "Choose a counsellor of your school from the list."),
    ("counsellor_id", str(BIG), "Choose a counsellor of your school from the list."),
    ("counsellor_id", SUPERSCRIPT_TWO, "Choose a counsellor of your school from the list."),
    # not an id, but a number from the same form: already bounded, kept so
    ("duration", str(BIG), "Give the length as a whole number of minutes."),
])
def test_a_booking_with_a_number_past_its_column_is_refused_at_the_field(
        session, world, new_case, as_staff, field, value, message):
    case = new_case()
    lead = as_staff(world.lead)
    counts = _counts(session)
    start = (utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT10:00")
    response = lead.client.post(f"/staff/sessions/case/{case.id}/new", data={
        "csrf_token": lead.csrf, "start": start, "duration": "60", "kind": "target_check_in",
        "mode": "in_person", "location": "", field: value})
    assert response.status_code == 422, text(response)[:2000]
    page = html.unescape(text(response))
    assert message in page
    assert f'id="{field}-error"' in page or f'href="#{field}"' in page  # said at the field
    assert _counts(session) == counts  # no session, no reminder, nothing audited


# -- query strings --------------------------------------------------------------------
def _cursor(rank: object, case_id: object, due: str = "2025-01-01T00:00:00+00:00") -> str:
    raw = f"{rank}|{due}|{case_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize("after", [
    _cursor(2, BIG), _cursor(2, MAX_ID + 1), _cursor(BIG, 1), _cursor(40000, 1), _cursor(2, ""),
    # moments that overflow when turned into UTC for the query
    _cursor(2, 1, "0001-01-01T00:00:00+01:00"), _cursor(2, 1, "9999-12-31T23:59:59-01:00"),
])
@pytest.mark.parametrize("search", ["", "Morgan"])
def test_a_queue_page_link_past_the_columns_is_a_broken_link(world, as_staff, after, search):
    response = as_staff(world.lead).get(f"/staff/cases/?after={after}&q={search}")
    assert response.status_code == 422
    assert "That page link is broken; start from the first page." in text(response)


@pytest.mark.parametrize("url, message", [
    (f"/staff/audit/?who={BIG}", "Choose who from the list."),
    (f"/staff/audit/?before={BIG}", "That page of the log does not exist."),
    (f"/staff/dashboard/cases?counsellor={BIG}", "Choose a counsellor from the chart."),
    (f"/staff/dashboard/cases?counsellor={SUPERSCRIPT_TWO}", "Choose a counsellor from the chart."),
    # a year group is no id, but was read the same way
    (f"/staff/dashboard/?year_group={SUPERSCRIPT_TWO}", "Choose a year group from the list."),
])
def test_a_filter_no_column_could_hold_gets_its_message(world, as_staff, url, message):
    response = as_staff(world.lead).get(url)
    assert response.status_code == 422
    assert message in text(response)


# -- JSON -----------------------------------------------------------------------------
@pytest.mark.parametrize("year_group", [str(BIG), "1e400"])
def test_a_year_group_past_any_column_in_json_is_refused_and_nothing_is_stored(
        session, client, year_group):
    school = SchoolFactory()
    LeadFactory(school=school)
    session.commit()
    body = report_body(reporter={"name": "Sam Doe", "year_group": 9})
    raw = json.dumps(body).replace('"year_group": 9', f'"year_group": {year_group}')
    before = row_counts(session)
    response = client.post(f"/api/v1/schools/{school.slug}/reports", data=raw,
                           content_type="application/json")
    assert response.status_code == 422
    problem = response.get_json(force=True)
    assert {e["field"] for e in problem["errors"]} == {"reporter.year_group"}
    assert row_counts(session) == before
    assert len(before) == len(WRITTEN_BY_API)

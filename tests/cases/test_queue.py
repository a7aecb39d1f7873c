"""The triage queue: order, overdue marks, filters, blind-index search, keyset pages."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import text as sql

from app.cases import services as cases
from app.cases import workflow
from app.cases.people import PersonInput, record_person
from app.cases.services import QueueFilters, queue_statement, triage_queue
from app.cases.vocabulary import CaseStatus, IncidentKind, Platform, Risk
from app.db import utcnow
from app.reporting.services import send_reporter_message, submit_report
from tests.cases.conftest import text
from tests.factories import make_case, report_input

_ROW = re.compile(r'<tr data-case="([^"]+)"( data-overdue)?>')


def _submit(session, school, *, days_ago: float = 0, **overrides):  # noqa: ANN001, ANN202
    return submit_report(session, school, report_input(**overrides),
                         now=utcnow() - timedelta(days=days_ago)).case


def _refs(page) -> list[str]:  # noqa: ANN001
    return [c.reference for c in page.cases]


def test_critical_first_then_by_deadline_with_overdue_marked(session, world, as_staff):
    s = world.school
    medium_new = _submit(session, s)
    low = _submit(session, s)
    workflow.set_risk(session, world.lead, low.id, "low", reason="Minor", version=low.version)
    medium_old = _submit(session, s, days_ago=12)  # long overdue
    high_new = _submit(session, s, is_ongoing=True)
    critical = _submit(session, s, is_self_harm=True)
    high_old = _submit(session, s, days_ago=9, kinds=["threats"])
    closed = _submit(session, s, is_danger=True, days_ago=20)
    closed.set_status(CaseStatus.CLOSED)
    other_school = _submit(session, world.other_school, is_danger=True)
    session.commit()

    page = triage_queue(session, world.counsellor, QueueFilters())
    expected = [critical, high_old, high_new, medium_old, medium_new, low]
    assert _refs(page) == [c.reference for c in expected]
    keys = [(c.risk_rank, c.response_due_dt, c.id) for c in page.cases]
    assert keys == sorted(keys)
    assert closed.reference not in _refs(page) and other_school.reference not in _refs(page)

    rows = _ROW.findall(text(as_staff(world.counsellor).get("/staff/cases/")))
    assert [ref for ref, _ in rows] == [c.reference for c in expected]
    overdue = {ref for ref, mark in rows if mark}
    # the low case was acted on (its risk was set), so it is not waiting for a response
    assert overdue == {high_old.reference, medium_old.reference}
    page_html = text(as_staff(world.counsellor).get("/staff/cases/"))
    assert page_html.count("Overdue by") == 2
    assert "left</td>" in page_html  # time left shown for the others


def test_unread_messages_and_assignee_are_shown(session, world, as_staff):
    case = make_case(session, world.school)
    send_reporter_message(session, case.reports[0], "Any news?")
    send_reporter_message(session, case.reports[0], "It happened again.")
    cases.take_case(session, world.colleague, case.id, version=case.version)
    session.commit()
    page = text(as_staff(world.counsellor).get("/staff/cases/"))
    row = page[page.index(f'data-case="{case.reference}"'):]
    row = row[:row.index("</tr>")]
    assert 'data-unread="2"' in row and "2 new" in row
    assert world.colleague.name in row


@pytest.fixture
def mixed(session, world):
    """Cases that differ in one filtered property each."""
    s = world.school
    made = {
        "threats_tiktok": make_case(session, s, kinds=["threats"], platforms=["tiktok"]),
        "harassment_insta": make_case(session, s, kinds=["harassment"], platforms=["instagram"]),
        "year9": make_case(session, s, is_anonymous=False, reporter_name="Ali Reporter",
                           year_group=9, kinds=["exclusion"], platforms=["in_school"]),
        "mine": make_case(session, s, kinds=["rumours"], platforms=["whatsapp"]),
        "triaged": make_case(session, s, kinds=["other"], platforms=["other"]),
    }
    cases.take_case(session, world.counsellor, made["mine"].id, version=made["mine"].version)
    workflow.move_status(session, world.lead, made["triaged"].id, "triaged", reason=None,
                         version=made["triaged"].version)
    session.commit()
    return made


@pytest.mark.parametrize("filters,expected", [
    (QueueFilters(kind=IncidentKind.THREATS), {"threats_tiktok"}),
    (QueueFilters(platform=Platform.INSTAGRAM), {"harassment_insta"}),
    (QueueFilters(platform=Platform.TIKTOK, kind=IncidentKind.HARASSMENT), set()),
    (QueueFilters(year_group=9), {"year9"}),
    (QueueFilters(scope="mine"), {"mine"}),
    (QueueFilters(scope="unassigned"), {"threats_tiktok", "harassment_insta", "year9", "triaged"}),
    (QueueFilters(status=CaseStatus.TRIAGED), {"triaged"}),
    (QueueFilters(risk=Risk.HIGH), {"threats_tiktok"}),
    (QueueFilters(risk=Risk.MEDIUM, scope="unassigned"),
     {"harassment_insta", "year9", "triaged"}),
])
def test_filters(session, world, mixed, filters, expected):
    page = triage_queue(session, world.counsellor, filters)
    assert set(_refs(page)) == {mixed[name].reference for name in expected}


def test_filters_from_the_query_string(session, world, mixed, as_staff):
    page = text(as_staff(world.counsellor).get(
        "/staff/cases/?kind=threats&platform=tiktok&scope=all&status=new&risk=high"))
    assert [ref for ref, _ in _ROW.findall(page)] == [mixed["threats_tiktok"].reference]
    assert '<option value="threats" selected>' in page  # the filter stays chosen


def test_search_by_reference_name_or_handle_through_the_blind_index(session, world, as_staff):
    s = world.school
    by_handle = make_case(session, s, handles=[{"platform": "instagram", "handle": "@Night.Owl"}])
    by_name = make_case(session, s)
    record_person(session, world.counsellor, by_name.id,
                  PersonInput(kind="student", role="student_who_bullied", name="Kim Taylor"),
                  version=by_name.version)
    closed = make_case(session, s, handles=[{"platform": "discord", "handle": "night.owl"}])
    closed.set_status(CaseStatus.CLOSED)
    make_case(session, world.other_school,
              handles=[{"platform": "instagram", "handle": "night.owl"}])
    plain = make_case(session, s, details="Night.Owl is mentioned only in the text.")
    session.commit()

    def found(q: str) -> set[str]:
        return set(_refs(triage_queue(session, world.counsellor, QueueFilters(search=q))))

    # any platform, any capitals, with or without @; closed cases too; not the other school,
    # and not the case that only mentions it in its (encrypted) text
    assert found("NIGHT.OWL") == {by_handle.reference, closed.reference}
    assert found("@night.owl") == {by_handle.reference, closed.reference}
    assert found("night") == set()  # exact matches only
    assert found("kim  TAYLOR") == {by_name.reference}
    assert found(plain.reference.lower()) == {plain.reference}
    assert found(f" {plain.reference[:3]} {plain.reference[3:]} ".lower()) == {plain.reference}
    # a status chosen with the search keeps to that status
    assert set(_refs(triage_queue(session, world.counsellor, QueueFilters(
        search="night.owl", status=CaseStatus.NEW)))) == {by_handle.reference}
    page = text(as_staff(world.counsellor).get("/staff/cases/?q=%40Night.Owl"))
    assert {ref for ref, _ in _ROW.findall(page)} == {by_handle.reference, closed.reference}


def test_pages_follow_one_another_without_duplicates_or_gaps(session, world):
    s = world.school
    moment = utcnow()
    made = [submit_report(session, s, report_input(), now=moment).case for _ in range(4)]
    made += [submit_report(session, s, report_input(is_danger=True), now=moment).case
             for _ in range(2)]
    made += [submit_report(session, s, report_input(kinds=["hate"]),
                           now=moment - timedelta(hours=i)).case for i in range(3)]
    session.commit()
    everything = _refs(triage_queue(session, world.counsellor, QueueFilters(), limit=100))
    assert len(everything) == 9

    seen, after, pages = [], None, 0
    while True:
        page = triage_queue(session, world.counsellor, QueueFilters(), after=after, limit=4)
        seen += _refs(page)
        pages += 1
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert pages == 3
    assert seen == everything  # same order, nothing twice, nothing left out


@pytest.mark.parametrize("status", [None, CaseStatus.NEW])
def test_a_search_lists_its_matches_newest_first_page_after_page(session, world, status):
    s = world.school
    handle = [{"platform": "instagram", "handle": "@often.named"}]
    matches = [make_case(session, s, handles=handle, is_self_harm=i % 3 == 0) for i in range(7)]
    matches[2].set_status(CaseStatus.CLOSED)  # history is searched too
    make_case(session, s)  # not naming it
    make_case(session, world.other_school, handles=handle)
    session.commit()
    expected = [c.reference for c in sorted(matches, key=lambda c: c.id, reverse=True)
                if status is None or c.status is status]

    seen, after = [], None
    while True:
        page = triage_queue(session, world.counsellor,
                            QueueFilters(search="often.named", status=status), after=after, limit=3)
        seen += _refs(page)
        if page.next_cursor is None:
            break
        after = page.next_cursor
    # newest first (whatever the risk), each once, the closed one only without a status
    assert seen == expected


def test_next_page_links_keep_the_filters(session, world, as_staff, monkeypatch):
    monkeypatch.setattr(cases, "PAGE_SIZE", 2)
    refs = {make_case(session, world.school, kinds=["threats"]).reference for _ in range(5)}
    make_case(session, world.school, kinds=["harassment"])
    session.commit()
    staff = as_staff(world.counsellor)
    url, seen = "/staff/cases/?kind=threats", []
    while url:
        page = text(staff.get(url))
        seen += [ref for ref, _ in _ROW.findall(page)]
        link = re.search(r'<a href="([^"]+)" rel="next"', page)
        url = link.group(1).replace("&amp;", "&") if link else None
        if url:
            assert "kind=threats" in url
    assert len(seen) == 5 and set(seen) == refs


@pytest.mark.parametrize("filters,after", [
    (QueueFilters(), False),
    (QueueFilters(), True),
    (QueueFilters(kind=IncidentKind.THREATS, scope="unassigned"), True),
    (QueueFilters(status=CaseStatus.CLOSED), False),
])
def test_the_queue_reads_the_queue_index_in_order(session, world, engine, filters, after):
    """Each page is a range of ix_case_queue: no sort, no scan of other schools' rows."""
    if engine.dialect.name != "postgresql":
        pytest.skip("plan checks need PostgreSQL")
    for _ in range(3):
        make_case(session, world.school)
    session.flush()
    cursor = None
    if after:
        cursor = triage_queue(session, world.counsellor, QueueFilters(), limit=1).next_cursor
    stmt = queue_statement(world.counsellor, filters, after=cursor)
    compiled = stmt.compile(dialect=engine.dialect)
    connection = session.connection()
    # Make every alternative to the index as costly as the planner allows, so the plan
    # shows whether the index *can* serve the query in order.
    for setting in ("enable_seqscan", "enable_sort", "enable_bitmapscan"):
        connection.execute(sql(f"SET LOCAL {setting} = off"))
    plan = "\n".join(row[0] for row in connection.exec_driver_sql(
        "EXPLAIN " + str(compiled), compiled.params))
    for setting in ("enable_seqscan", "enable_sort", "enable_bitmapscan"):
        connection.execute(sql(f"RESET {setting}"))
    assert "ix_case_queue" in plan, plan
    assert "Sort" not in plan, plan
    assert "OFFSET" not in str(compiled).upper()
